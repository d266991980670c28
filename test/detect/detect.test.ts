import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {linearPelt, MeanCost, pelt} from '../../src/detect/changepoint.js'
import {analyseValues, dayNumber, dayString, detectChangePoints, detectSteps} from '../../src/detect/index.js'
import {daily, gaussian, rng} from './synthetic.js'

const MB = 2 ** 20
const GB = 2 ** 30

describe('detectSteps on synthetic daily series', () => {
  it('finds the incident-like thousand-fold step up on its first day, with robust levels', () => {
    const series = daily('2013-06-01', [
      [301, 4.2 * MB],
      [63, 8.9 * GB],
    ])
    const {spikes, steps} = detectSteps(series)
    expect(steps).toHaveLength(1)
    const [step] = steps
    expect(step).toMatchObject({date: '2014-03-29', direction: 'up', lastDayBefore: '2014-03-28', tentative: false})
    expect(step!.ratio).toBeGreaterThan(1500)
    expect(step!.ratio).toBeLessThan(2700)
    expect(step!.levelBefore / MB).toBeCloseTo(4.2, 0)
    expect(step!.confidence).toBeGreaterThan(0.99)
    expect(spikes).toEqual([])
  })

  it('finds a 10x step in usage that grows and then falls with its own ratio, the growth a trend up to its turn', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const normal = gaussian(rng(seed))
      const first = dayNumber('2024-01-01')
      // 1% a day up for 120 days, then 1% a day down, and 10x from day 170 on.
      const series = Array.from({length: 240}, (_, t) => ({
        day: dayString(first + t),
        value:
          GB *
          Math.exp(
            0.01 * Math.min(t, 120) - 0.01 * Math.max(0, t - 120) + (t >= 170 ? Math.log(10) : 0) + 0.05 * normal(),
          ),
      }))
      const {steps, trends} = detectSteps(series, {minRatio: 2, scale: 'log'})
      expect(steps.map((s) => s.date)).toEqual([dayString(first + 170)])
      expect(Math.abs(Math.log(steps[0]!.ratio / 10))).toBeLessThan(Math.log(1.25))
      expect(trends[0]).toMatchObject({direction: 'up', firstDay: '2024-01-01'})
      expect(Math.abs(dayNumber(trends[0]!.lastDay) - (first + 120))).toBeLessThanOrEqual(7)
    }
  })

  it('finds a step down', () => {
    const {steps} = detectSteps(
      daily(
        '2024-01-01',
        [
          [90, 50 * GB],
          [90, 5 * GB],
        ],
        {seed: 2},
      ),
    )
    expect(steps.map((s) => [s.date, s.direction])).toEqual([['2024-03-31', 'down']])
    expect(steps[0]!.ratio).toBeGreaterThan(0.07)
    expect(steps[0]!.ratio).toBeLessThan(0.13)
  })

  it('finds two steps, including a mere doubling', () => {
    const {steps} = detectSteps(
      daily(
        '2024-01-01',
        [
          [80, 1 * GB],
          [60, 2 * GB],
          [80, 40 * GB],
        ],
        {noise: 0.15, seed: 3},
      ),
    )
    expect(steps.map((s) => s.date)).toEqual(['2024-03-21', '2024-05-20'])
    expect(steps[0]!.ratio).toBeGreaterThan(1.7)
    expect(steps[0]!.ratio).toBeLessThan(2.3)
  })

  it('does not cry wolf on weekly seasonality (weekends at a fifth of weekdays)', () => {
    for (const seed of [4, 5, 6]) {
      const result = detectSteps(daily('2024-01-01', [[182, 10 * GB]], {seed, weekly: 0.2}))
      expect(result.steps).toEqual([])
      expect(result.spikes).toEqual([])
      expect(result.weekly).toBe(true)
    }
  })

  it('still finds a step inside a weekly pattern', () => {
    const {steps} = detectSteps(
      daily(
        '2024-01-01',
        [
          [120, 1 * GB],
          [60, 6 * GB],
        ],
        {seed: 7, weekly: 0.3},
      ),
    )
    expect(steps.map((s) => s.date)).toEqual(['2024-04-30'])
  })

  it('reports a one-day spike as a spike, not a step', () => {
    const series = daily('2024-01-01', [[150, 2 * GB]], {seed: 8})
    series[70]!.value = 300 * GB
    const {spikes, steps} = detectSteps(series)
    expect(steps).toEqual([])
    expect(spikes).toHaveLength(1)
    expect(spikes[0]).toMatchObject({date: '2024-03-11', value: 300 * GB})
    expect(spikes[0]!.ratio).toBeGreaterThan(100)
  })

  it('treats missing days as gaps, not zeros', () => {
    const series = daily(
      '2024-01-01',
      [
        [100, 3 * GB],
        [60, 30 * GB],
      ],
      {seed: 9},
    )
    // A week missing in the quiet part, and the five days before the step.
    const gapped = series.filter((_, i) => !(i >= 40 && i < 47) && !(i >= 95 && i < 100))
    const {spikes, steps} = detectSteps(gapped)
    expect(steps).toHaveLength(1)
    expect(steps[0]).toMatchObject({date: '2024-04-10', lastDayBefore: '2024-04-04'})
    expect(spikes).toEqual([])
  })

  it('finds nothing in a series of zeros', () => {
    const zeros = daily('2024-01-01', [[60, 0]])
    expect(zeros.every((p) => p.value === 0)).toBe(true)
    expect(detectSteps(zeros)).toEqual({partialLastDay: false, spikes: [], steps: [], trends: [], weekly: false})
  })

  it('finds nothing in a 3-day series, and does not fail', () => {
    expect(
      detectSteps(
        daily('2024-01-01', [
          [2, MB],
          [1, GB],
        ]),
      ),
    ).toEqual({partialLastDay: false, spikes: [], steps: [], trends: [], weekly: false})
  })

  it('reports a step on the last day as tentative', () => {
    const {spikes, steps} = detectSteps(
      daily(
        '2024-01-01',
        [
          [120, 4 * MB],
          [1, 9 * GB],
        ],
        {seed: 10},
      ),
    )
    expect(spikes).toEqual([])
    expect(steps).toHaveLength(1)
    expect(steps[0]).toMatchObject({date: '2024-04-30', direction: 'up', pointsAfter: 1, tentative: true})
    expect(steps[0]!.confidence).toBeLessThan(0.5)
  })

  it('finds a $1/day change as surely as a $1,000/day one (scale-free)', () => {
    const shape: [number, number][] = [
      [100, 1],
      [80, 3],
    ]
    const small = detectSteps(daily('2024-01-01', shape, {seed: 11}).map((p) => ({...p, value: p.value * 0.01})))
    const large = detectSteps(daily('2024-01-01', shape, {seed: 11}).map((p) => ({...p, value: p.value * 1e4})))
    expect(small.steps.map((s) => s.date)).toEqual(['2024-04-10'])
    expect(large.steps.map((s) => [s.date, s.ratio.toFixed(6)])).toEqual(
      small.steps.map((s) => [s.date, s.ratio.toFixed(6)]),
    )
  })

  it('honours minRatio', () => {
    const series = daily(
      '2024-01-01',
      [
        [100, 1 * GB],
        [80, 1.6 * GB],
      ],
      {noise: 0.1, seed: 12},
    )
    expect(detectSteps(series).steps).toHaveLength(1)
    expect(detectSteps(series, {minRatio: 2}).steps).toEqual([])
  })

  it('rejects a malformed day with a located error', () => {
    expect(() => detectSteps([{day: '03/30/14', value: 1}])).toThrow(/field|day/)
  })
})

describe('zero-usage days around a step', () => {
  // A covered day without usage is a zero; one or two of them right after a step (the new level seen once, then
  // a quiet day) are a dip at the new level: the step keeps its first day, and no second step appears.
  it('a covered zero day right after a step never moves the step', () => {
    fc.assert(
      fc.property(
        fc.integer({max: 60, min: 20}),
        fc.integer({max: 60, min: 20}),
        fc.double({max: 4, min: Math.log10(3), noNaN: true}),
        fc.boolean(),
        fc.integer({max: 2, min: 1}),
        fc.integer({max: 2, min: 1}),
        fc.integer({max: 1000, min: 1}),
        (before, after, log10Ratio, up, offset, zeros, seed) => {
          const low = 3 * MB
          const high = low * 10 ** log10Ratio
          const series = daily(
            '2024-01-01',
            up
              ? [
                  [before, low],
                  [after, high],
                ]
              : [
                  [before, high],
                  [after, low],
                ],
            {noise: 0.1, seed},
          )
          // Zeros only on the new level's days, never on the step day itself; a down step to a level near zero
          // hides a zero in its new level (nothing to find), so only steps up and falls to a tenth or more count.
          if (!up && log10Ratio > 1) return
          const big = (detection: ReturnType<typeof detectSteps>) =>
            detection.steps.filter((s) => Math.max(s.ratio, 1 / s.ratio) >= 2).map((s) => [s.date, s.direction])
          const without = big(detectSteps(series))
          expect(without).toHaveLength(1)
          for (let k = 0; k < zeros; k++) series[before + offset + k]!.value = 0
          expect(big(detectSteps(series))).toEqual(without)
        },
      ),
      {numRuns: 200, seed: 19},
    )
  })
})

describe('change-point core', () => {
  it('PELT returns the exact optimum that brute-force optimal partitioning finds', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({max: 20, min: -20}), {maxLength: 14, minLength: 4}),
        fc.integer({max: 6, min: 1}),
        (ints, penalty) => {
          const y = ints.map((v) => v / 4)
          const costs = new MeanCost(y, 1)
          const objective = (cps: number[]) => {
            const b = [0, ...cps, y.length]
            let total = penalty * cps.length
            for (let i = 0; i + 1 < b.length; i++) total += costs.cost(b[i]!, b[i + 1]!)
            return total
          }
          let bestValue = Number.POSITIVE_INFINITY
          for (let mask = 0; mask < 1 << (y.length - 1); mask++) {
            const cps = [...Array(y.length - 1).keys()].map((k) => k + 1).filter((k) => (mask >> (k - 1)) & 1)
            const b = [0, ...cps, y.length]
            if (b.some((v, i) => i > 0 && v - b[i - 1]! < 2)) continue
            bestValue = Math.min(bestValue, objective(cps))
          }
          expect(objective(pelt(y, 1, {penalty}))).toBeCloseTo(bestValue, 9)
        },
      ),
      {numRuns: 200},
    )
  })

  it('linear PELT returns the exact optimum of pieces of three or more points, each with its own line', () => {
    // Each piece's cost: the residual sum of squares around its least-squares line, by the normal equations.
    const lineCost = (y: number[]) => {
      const m = y.length
      const tMean = (m - 1) / 2
      const yMean = y.reduce((a, v) => a + v, 0) / m
      let ctt = 0
      let cty = 0
      y.forEach((v, t) => {
        ctt += (t - tMean) ** 2
        cty += (t - tMean) * (v - yMean)
      })
      return y.reduce((a, v, t) => a + (v - yMean - (cty / ctt) * (t - tMean)) ** 2, 0)
    }
    fc.assert(
      fc.property(
        fc.array(fc.integer({max: 20, min: -20}), {maxLength: 14, minLength: 6}),
        fc.integer({max: 6, min: 1}),
        (ints, penalty) => {
          const y = ints.map((v) => v / 4)
          const objective = (cps: number[]) => {
            const b = [0, ...cps, y.length]
            let total = penalty * cps.length
            for (let i = 0; i + 1 < b.length; i++) total += lineCost(y.slice(b[i], b[i + 1]))
            return total
          }
          let bestValue = Number.POSITIVE_INFINITY
          for (let mask = 0; mask < 1 << (y.length - 1); mask++) {
            const cps = [...Array(y.length - 1).keys()].map((k) => k + 1).filter((k) => (mask >> (k - 1)) & 1)
            const b = [0, ...cps, y.length]
            if (b.some((v, i) => i > 0 && v - b[i - 1]! < 3)) continue
            bestValue = Math.min(bestValue, objective(cps))
          }
          const found = linearPelt(y, 1, {penalty})
          expect([0, ...found, y.length].every((v, i, b) => i === 0 || v - b[i - 1]! >= 3)).toBe(true)
          expect(objective(found)).toBeCloseTo(bestValue, 9)
        },
      ),
      {numRuns: 200},
    )
  })

  it('cuts a series that rises, levels off and falls at its two turns, each slope a trend, and reports no step', () => {
    const normal = gaussian(rng(21))
    const y = Array.from({length: 200}, (_, t) => (t < 60 ? t / 4 : t < 130 ? 15 : 15 - (t - 130) / 5) + 0.4 * normal())
    const {steps, trends} = analyseValues(y, {scale: 'linear'})
    expect(steps).toEqual([])
    expect(trends.map((t) => t.direction)).toEqual(['up', 'down'])
    const changes = detectChangePoints(y, {scale: 'linear'})
    expect(changes).toHaveLength(2)
    expect(Math.abs(changes[0]! - 60)).toBeLessThanOrEqual(5)
    expect(Math.abs(changes[1]! - 130)).toBeLessThanOrEqual(5)
  })

  it('PELT, pruning by segment means, chooses exactly what optimal partitioning over every start chooses', () => {
    // Long series (where the pruning drops most starts), with steps, spikes, runs of equal values (ties) and
    // variances from a tenth to ten times the noise: the same change points as the plain recursion with the
    // same arithmetic, which keeps every start and takes the first of equal values.
    const minSegment = 2
    const optimalPartitioning = (y: number[], variance: number, penalty: number): number[] => {
      const costs = new MeanCost(y, 1)
      const best = [-penalty]
      const last = [-1]
      for (let t = 1; t <= y.length; t++) {
        best[t] = Number.POSITIVE_INFINITY
        last[t] = -1
        if (t < minSegment) continue
        for (let s = 0; s <= t - minSegment; s++) {
          if (s > 0 && s < minSegment) continue
          const sum = costs.s1[t]! - costs.s1[s]!
          const rss = costs.s2[t]! - costs.s2[s]! - (sum * sum) / (t - s)
          const value = best[s]! + Math.max(0, rss) / variance + penalty
          if (value < best[t]!) {
            best[t] = value
            last[t] = s
          }
        }
      }
      const cuts: number[] = []
      for (let t = y.length; last[t]! > 0; t = last[t]!) cuts.push(last[t]!)
      return cuts.reverse()
    }
    fc.assert(
      fc.property(
        fc.integer({max: 300, min: 20}),
        fc.integer({max: 1_000_000, min: 1}),
        fc.constantFrom(0.1, 1, 10),
        fc.boolean(),
        (n, seed, varianceFactor, quantised) => {
          const normal = gaussian(rng(seed))
          const level = new Float64Array(n).fill(20)
          for (let k = 0; k < 3; k++) {
            const at = Math.floor(Math.abs(normal() * 1e6)) % n
            const until = k === 1 ? at + 1 + (Math.floor(Math.abs(normal() * 1e6)) % 3) : n
            for (let i = at; i < Math.min(n, until); i++) level[i]! += 2 * normal()
          }
          // Quarters of a unit, and a run of equal values: starts whose values tie exactly.
          const y = Array.from(level, (l) =>
            quantised ? Math.round(4 * (l + 0.5 * normal())) / 4 : l + 0.5 * normal(),
          )
          y.fill(y[0]!, 0, Math.min(n, 15))
          const penalty = 3 * Math.log(n)
          expect(pelt(y, 0.25 * varianceFactor, {penalty})).toEqual(
            optimalPartitioning(y, 0.25 * varianceFactor, penalty),
          )
        },
      ),
      {numRuns: 300, seed: 7},
    )
  })

  it('finds the level shift in a generic (linear-scale, signed) series', () => {
    const normal = gaussian(rng(13))
    const y = Array.from({length: 200}, (_, i) => (i < 120 ? -1 : 1.5) + 0.5 * normal())
    expect(detectChangePoints(y, {scale: 'linear'})).toEqual([120])
  })

  it('does not cut a random walk into steps', () => {
    const normal = gaussian(rng(14))
    let level = 0
    const walk = Array.from({length: 300}, () => (level += 0.3 * normal()))
    expect(detectChangePoints(walk, {scale: 'linear'}).length).toBeLessThanOrEqual(1)
  })

  it('dates a step of 3x or more in noise of sd up to 0.25 within a day, also when its first day is partial or the week has a pattern', () => {
    fc.assert(
      fc.property(
        fc
          .record({
            days: fc.integer({max: 300, min: 90}),
            noise: fc.double({max: 0.25, min: 0.02, noNaN: true}),
            partial: fc.option(fc.double({max: 0.9, min: 0.1, noNaN: true}), {nil: undefined}),
            ratio: fc.double({max: Math.log(1000), min: Math.log(3), noNaN: true}).map(Math.exp),
            seed: fc.integer({max: 1e6, min: 1}),
            up: fc.boolean(),
            weekend: fc.option(fc.double({max: 0.5, min: 0.1, noNaN: true}), {nil: undefined}),
          })
          .chain((c) => fc.record({at: fc.integer({max: c.days - 30, min: 30})}).map((p) => ({...c, ...p}))),
        ({at, days, noise, partial, ratio, seed, up, weekend}) => {
          const factor = up ? ratio : 1 / ratio
          const series = daily(
            '2024-01-01',
            [
              [at, 1 * GB],
              [days - at, factor * GB],
            ],
            {noise, seed, weekly: weekend},
          )
          // A step that began mid-day: its first day holds part of each level.
          if (partial !== undefined) series[at]!.value *= partial + (1 - partial) / factor
          // On the log scale and at the least ratio (2) that billwatch anomalies reports by default.
          const {steps} = detectSteps(series, {minRatio: 2, scale: 'log'})
          expect(steps).toHaveLength(1)
          expect(Math.abs(dayNumber(steps[0]!.date) - dayNumber(series[at]!.day))).toBeLessThanOrEqual(1)
          expect(steps[0]!.direction).toBe(up ? 'up' : 'down')
          // Levels are medians of the raw days, which a strong weekly pattern pulls: the bench holds them to 25%.
          expect(Math.abs(Math.log(steps[0]!.ratio / factor))).toBeLessThan(Math.log(1.5))
        },
      ),
      // A fixed seed: the property once found the case below, which stays open (a run must not fail at random).
      {numRuns: 300, seed: 19},
    )
  })

  // Once open: the weekly profile is learned on ln(x + c), and with c taken from the median level it flattened the
  // weekends of a level 235x lower, so the first weekend read as a dip and the Monday after it as a 3.4x rise.
  it('a 235x drop with a late-start first day and a strong weekday/weekend pattern is one step', () => {
    const [at, days, factor] = [227, 258, 1 / 234.75788287931934]
    const series = daily(
      '2024-01-01',
      [
        [at, 1 * GB],
        [days - at, factor * GB],
      ],
      {noise: 0.02, seed: 444899, weekly: 0.2924553171979576},
    )
    series[at]!.value *= 0.10079474414135194 + (1 - 0.10079474414135194) / factor
    expect(detectSteps(series, {minRatio: 2, scale: 'log'}).steps).toHaveLength(1)
  })
})
