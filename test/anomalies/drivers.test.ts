/**
 * Drivers and the day of a sum's step (analyseSeriesSet, the pure analysis `billwatch anomalies` and the Lambda run):
 * one resource steps while the others only add noise to the sum.
 */
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {analyseSeriesSet} from '../../src/anomalies/analyse.js'
import type {DailySeries} from '../../src/anomalies/series.js'
import {dayNumber} from '../../src/detect/index.js'
import {daily} from '../detect/synthetic.js'

const GB = 2 ** 30

function series(usageType: string, resourceId: null | string, points: {day: string; value: number}[]): DailySeries {
  return {points: points.map((p) => ({cost: null, day: p.day, value: p.value})), resourceId, unit: 'bytes', usageType}
}

describe('a step of the sum, dated and led by the resource that moved', () => {
  it("is one finding on the stepping resource's day (within one), its driver that resource with its own ratio, however noisy the others", () => {
    fc.assert(
      fc.property(
        fc.record({
          at: fc.integer({max: 150, min: 40}),
          others: fc.array(
            fc.record({
              level: fc.double({max: 1, min: 0.1, noNaN: true}),
              noise: fc.double({max: 0.5, min: 0.1, noNaN: true}),
            }),
            {
              maxLength: 3,
              minLength: 1,
            },
          ),
          ratio: fc.double({max: Math.log(300), min: Math.log(3), noNaN: true}).map(Math.exp),
          seed: fc.integer({max: 1e6, min: 1}),
          sameType: fc.boolean(),
          up: fc.boolean(),
        }),
        ({at, others, ratio, seed, sameType, up}) => {
          const factor = up ? ratio : 1 / ratio
          const mover = daily(
            '2024-01-01',
            [
              [at, GB],
              [190 - at, factor * GB],
            ],
            {noise: 0.15, seed},
          )
          // The others sum to at most the mover's level before its step: it carries most of any change of the sum.
          const rest = others.map((o, k) =>
            daily('2024-01-01', [[190, (o.level / others.length) * GB]], {noise: o.noise, seed: seed + k + 1}),
          )
          const types = rest.map((_, k) => (sameType ? 'DataTransfer-Out-Bytes' : `R${k}-DataTransfer-Out-Bytes`))
          const byResource = [
            series('DataTransfer-Out-Bytes', 'i-mover', mover),
            ...rest.map((r, k) => series(types[k]!, `i-other${k}`, r)),
          ]
          const total = series(
            'DataTransfer-Out',
            null,
            mover.map((p, d) => ({day: p.day, value: p.value + rest.reduce((s, r) => s + r[d]!.value, 0)})),
          )
          const typeNames = [...new Set(['DataTransfer-Out-Bytes', ...types])]
          const byUsageType =
            typeNames.length > 1
              ? typeNames.map((t) =>
                  series(
                    t,
                    null,
                    mover.map((p, d) => ({
                      day: p.day,
                      value: byResource.filter((r) => r.usageType === t).reduce((s, r) => s + r.points[d]!.value, 0),
                    })),
                  ),
                )
              : []
          const result = analyseSeriesSet({byResource, byUsageType, total, usageTypes: typeNames}, {minRatio: 1.4})
          const near = result.steps.filter((s) => Math.abs(dayNumber(s.date) - dayNumber(mover[at]!.day)) <= 3)
          expect(near, JSON.stringify(result.steps)).toHaveLength(1)
          const step = near[0]!
          expect(Math.abs(dayNumber(step.date) - dayNumber(mover[at]!.day))).toBeLessThanOrEqual(1)
          const lead =
            step.resourceId === 'i-mover' && step.drivers.length === 0
              ? {ratio: step.ratio, resourceId: step.resourceId}
              : step.drivers.find((d) => d.resourceId !== null)
          expect(lead?.resourceId).toBe('i-mover')
          expect(Math.abs(Math.log(lead!.ratio / factor))).toBeLessThan(Math.log(1.25))
        },
      ),
      {
        numRuns: 150,
        // Cases random runs once found, kept: a 2- or 3-day over- or undershoot beside a 28-300x step (read as a
        // second, small step back), and a step whose level after was measured up to a wobble too small to report.
        examples: [
          [{at: 150, others: [{level: 0.1, noise: 0.171}], ratio: 300, seed: 3, sameType: false, up: false}],
          [
            {
              at: 150,
              others: [
                {level: 0.263, noise: 0.274},
                {level: 0.928, noise: 0.237},
                {level: 0.122, noise: 0.107},
              ],
              ratio: 27.74,
              seed: 250718,
              sameType: false,
              up: true,
            },
          ],
          [{at: 133, others: [{level: 0.145, noise: 0.267}], ratio: 224.8, seed: 234747, sameType: false, up: false}],
          [{at: 129, others: [{level: 0.391, noise: 0.215}], ratio: 300, seed: 168909, sameType: true, up: false}],
          [
            {
              at: 132,
              others: [
                {level: 0.122, noise: 0.157},
                {level: 0.791, noise: 0.261},
              ],
              ratio: 13.54,
              seed: 802174,
              sameType: false,
              up: true,
            },
          ],
        ],
      },
    )
  })
})
