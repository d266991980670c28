/**
 * The detector against labelled scenarios (bench/detect/scenarios.ts) through a real store: a few hundred
 * scenarios of every class drawn from a fast-check seed, written by the ingest write path and analysed by
 * `analyseAnomalies`, as `billwatch anomalies --min-ratio 1.4` runs. The full suite is `bench/detect/run.ts`.
 */
import {join} from 'node:path'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {generateScenarios, headline, renderScore, score, writeScenarios} from '../../bench/detect/scenarios.js'
import {analyseAnomalies} from '../../src/anomalies/index.js'
import {dayNumber} from '../../src/detect/index.js'
import {Store} from '../../src/store/index.js'
import {tempDir} from '../helpers/cli.js'

describe('anomalies on labelled scenarios in a real store', () => {
  it('finds the true steps with their drivers and few false steps or spikes, on any seed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({max: 1_000_000, min: 1}), async (seed) => {
        const tmp = tempDir('billwatch-ground-truth-')
        const store = await Store.open(join(tmp.dir, 'store.duckdb'))
        try {
          const scenarios = generateScenarios(210, seed)
          await writeScenarios(store, scenarios)
          const result = await analyseAnomalies(store, {minRatio: 1.4})
          // Every finding names an account the scenarios hold and a stretch that contains its day.
          const accounts = new Set(scenarios.flatMap((s) => s.accounts))
          const stretches = new Map(result.stretches.map((s) => [`${s.account} ${s.stretch}`, s]))
          for (const finding of [...result.steps, ...result.spikes]) {
            expect(accounts.has(finding.account)).toBe(true)
            const stretch = stretches.get(`${finding.account} ${finding.stretch}`)!
            expect(dayNumber(finding.date)).toBeGreaterThanOrEqual(dayNumber(stretch.firstDay))
            expect(dayNumber(finding.date)).toBeLessThanOrEqual(dayNumber(stretch.lastDay))
          }
          for (const step of result.steps) {
            expect(step.drivers.map((d) => d.shareOfChange)).toEqual(
              [...step.drivers.map((d) => d.shareOfChange)].sort((a, b) => b - a),
            )
            // A tentative step is one near the end of its stretch.
            if (step.tentative)
              expect(
                dayNumber(stretches.get(`${step.account} ${step.stretch}`)!.lastDay) - dayNumber(step.date),
              ).toBeLessThan(7)
          }
          const scored = score(scenarios, result)
          const figures = headline(scored)
          const table = `seed ${seed}\n${renderScore(scored)}`
          expect(figures.precision, table).toBeGreaterThanOrEqual(0.9)
          expect(figures.recall, table).toBeGreaterThanOrEqual(0.93)
          expect(figures.falseStepsPerSeriesYear, table).toBeLessThanOrEqual(0.1)
          expect(figures.falseSpikesPerSeriesYear, table).toBeLessThanOrEqual(0.5)
          expect(figures.driverRight, table).toBeGreaterThanOrEqual(0.93)
        } finally {
          await store.close()
          tmp.cleanup()
        }
      }),
      {numRuns: 1},
    )
  }, 900_000)
})
