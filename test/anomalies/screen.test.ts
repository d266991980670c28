/**
 * The screen (couldMatter, on every resource series as read from the store) against the full analysis of every
 * resource series: on generated series with and without steps, spikes, ramps and weekly patterns of any size
 * from the smallest ratio reported up to 10,000x, the screen keeps every series the full analysis reports a
 * finding on, and `anomalies` with the screen reports exactly what it reports analysing every series fully. The
 * worker threads that judge a large batch give each series the verdict the calling thread gives it.
 */
import {join} from 'node:path'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {analyseAnomalies, type AnomaliesResult} from '../../src/anomalies/index.js'
import {couldMatter, judgeSeries, type SeriesJudge} from '../../src/anomalies/analyse.js'
import {JudgePool} from '../../src/anomalies/judge-pool.js'
import {Store} from '../../src/store/index.js'
import {tempDir} from '../helpers/cli.js'

const FIRST_DAY = Date.UTC(2024, 0, 1) / 86_400_000

/** Mulberry32: the same series for the same seed. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

type Shape = 'flat' | 'ramp' | 'spike' | 'step' | 'steps' | 'weekly' | 'weekly-spike' | 'weekly-step'
const SHAPES: Shape[] = [
  'flat',
  'flat',
  'flat',
  'step',
  'steps',
  'spike',
  'ramp',
  'weekly',
  'weekly-step',
  'weekly-spike',
]

/** One resource's daily usage: log-normal noise around a level, with the shape's changes at random days. */
function series(rand: () => number, days: number, minRatio: number): {shape: Shape; values: number[]} {
  const shape = SHAPES[Math.floor(rand() * SHAPES.length)]!
  const noise = [0.02, 0.1, 0.3][Math.floor(rand() * 3)]!
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
  // Any size from just above the smallest ratio reported to 10,000x, up or down.
  const ratio = () => Math.exp(Math.log(minRatio * 1.02) + rand() * (Math.log(10_000) - Math.log(minRatio * 1.02)))
  const sign = () => (rand() < 0.5 ? 1 : -1)
  const level = new Float64Array(days).fill(Math.log(10 ** (6 + 4 * rand())))
  const shift = (from: number, to: number, by: number) => {
    for (let i = Math.max(0, from); i < Math.min(days, to); i++) level[i]! += by
  }
  if (shape === 'step' || shape === 'weekly-step') shift(Math.floor(rand() * days), days, sign() * Math.log(ratio()))
  if (shape === 'steps') {
    shift(Math.floor(rand() * days), days, sign() * Math.log(ratio()))
    shift(Math.floor(rand() * days), days, sign() * Math.log(ratio()))
  }
  if (shape === 'spike' || shape === 'weekly-spike') {
    const at = Math.floor(rand() * days)
    shift(at, at + 1 + Math.floor(rand() * 3), sign() * Math.log(ratio()))
  }
  if (shape === 'ramp') {
    const start = Math.floor(rand() * days)
    const width = 10 + Math.floor(rand() * 40)
    const by = sign() * Math.log(ratio())
    for (let i = start; i < days; i++) level[i]! += by * Math.min(1, (i - start) / width)
  }
  if (shape.startsWith('weekly')) {
    const weekend = Math.log(1 + rand() * 20)
    for (let i = 0; i < days; i++) if ((FIRST_DAY + i + 3) % 7 >= 5) level[i]! -= weekend
  }
  return {shape, values: Array.from(level, (l) => Math.exp(l + noise * gauss()))}
}

async function writeStore(store: Store, all: number[][]): Promise<void> {
  await store.run(
    `INSERT INTO sources (path, format, family, content_hash, scope) VALUES ('/exports/screen.csv', 'cur', 'cur', 'screen', 'all')`,
  )
  const d: number[] = []
  const r: number[] = []
  const v: number[] = []
  all.forEach((values, resource) =>
    values.forEach((value, day) => {
      d.push(day)
      r.push(resource)
      v.push(value)
    }),
  )
  const {sqlList} = await import('../../src/store/index.js')
  await store.run(
    `INSERT INTO usage_daily (source_id, day, account, region, service, usage_type, usage_base, resource_id, amount, unit)
     SELECT 1, DATE '2024-01-01' + x.d, '111122223333', 'us-east-1', 'AmazonEC2', 'DataTransfer-Out-Bytes',
            'DataTransfer-Out-Bytes', printf('i-%04d', x.r), x.v, 'bytes'
     FROM (SELECT unnest($1::INTEGER[]) AS d, unnest($2::INTEGER[]) AS r, unnest($3::DOUBLE[]) AS v) x`,
    [sqlList(d), sqlList(r), sqlList(v)],
  )
}

/** As JSON, numbers to 12 significant figures: DuckDB adds a day's usage in the order its threads finish. */
function comparable(result: AnomaliesResult): string {
  return JSON.stringify(result, (_, value: unknown) =>
    typeof value === 'number' && Number.isFinite(value) ? Number(value.toPrecision(12)) : value,
  )
}

/** Every resource a finding of the result names: its own step, spike or trend, or a driver of a step. */
function reported(result: AnomaliesResult): Set<string> {
  const ids = [
    ...result.steps.flatMap((s) => [s.resourceId, ...s.drivers.map((d) => d.resourceId)]),
    ...result.spikes.map((s) => s.resourceId),
    ...result.trends.map((t) => t.resourceId),
  ]
  return new Set(ids.filter((id): id is string => id !== null))
}

describe('the screen before the full analysis of resource series', () => {
  it('keeps every series the full analysis reports, and anomalies finds the same with it as without', async () => {
    let dropped = 0
    let kept = 0
    await fc.assert(
      fc.asyncProperty(
        fc.integer({max: 1_000_000, min: 1}),
        fc.constantFrom(1.4, 2, 5),
        fc.integer({max: 200, min: 30}),
        async (seed, minRatio, days) => {
          const tmp = tempDir('billwatch-screen-')
          const store = await Store.open(join(tmp.dir, 'store.duckdb'))
          try {
            const rand = random(seed)
            const generated = Array.from({length: 40}, () => series(rand, days, minRatio))
            await writeStore(
              store,
              generated.map((g) => g.values),
            )
            const full = await analyseAnomalies(store, {minRatio, screen: false})
            const screened = await analyseAnomalies(store, {minRatio})
            // Without the total's changes (those only add series to keep): what a series could show by itself.
            const keep = new Map(
              generated.map((g, i) => [
                `i-${String(i).padStart(4, '0')}`,
                couldMatter(Float64Array.from(g.values), [], minRatio),
              ]),
            )
            for (const id of reported(full)) {
              const shape = generated[Number(id.slice(2))]!.shape
              const driver = full.steps.some((s) => s.drivers.some((d) => d.resourceId === id))
              if (!driver)
                expect(keep.get(id), `${id} (${shape}, seed ${seed}, min ratio ${minRatio}, ${days} days)`).toBe(true)
            }
            // What the screen leaves out never changes the findings.
            const missing = [...reported(full)].filter((id) => !reported(screened).has(id))
            expect(missing.map((id) => `${id} (${generated[Number(id.slice(2))]!.shape})`)).toEqual([])
            expect(comparable(screened)).toBe(comparable(full))
            for (const k of keep.values())
              if (k) kept++
              else dropped++
          } finally {
            await store.close()
            tmp.cleanup()
          }
        },
      ),
      {numRuns: 12},
    )
    // A screen that keeps everything proves nothing: most flat and weekly series are left out.
    expect(dropped).toBeGreaterThan(0.2 * (dropped + kept))
  }, 600_000)

  it('judges a large batch on worker threads as the calling thread does', async () => {
    const rand = random(19)
    const days = 120
    const generated = Array.from({length: 2_400}, () => series(rand, days, 2))
    const judges: SeriesJudge[] = [
      {detectOptions: {minRatio: 2, scale: 'log'}, first: FIRST_DAY, minRatio: 2, screen: true, totalChanges: []},
      {
        detectOptions: {minRatio: 1.4, scale: 'log'},
        first: FIRST_DAY,
        minRatio: 1.4,
        screen: true,
        totalChanges: [{delta: 1e9, index: 60}],
      },
    ]
    const all = generated.map((g) => ({
      resourceId: null,
      unit: 'bytes',
      usageType: 'DataTransfer-Out-Bytes',
      values: Float64Array.from(g.values),
    }))
    const judgeOf = Int32Array.from(all, (_, i) => i % 2)
    const pool = new JudgePool(2)
    try {
      const verdicts = await pool.judge(all, judgeOf, judges)
      expect(verdicts).toHaveLength(all.length)
      let found = 0
      all.forEach((s, i) => {
        const here = judgeSeries(s.values, judges[judgeOf[i]!]!)
        const holds = here && here.steps.length + here.spikes.length + here.trends.length > 0
        if (holds) found++
        // Only a detection with a finding comes back from a worker: a series without one is never kept.
        expect(verdicts[i] ?? undefined, `series ${i} (${generated[i]!.shape})`).toEqual(holds ? here : undefined)
      })
      expect(found).toBeGreaterThan(500)
    } finally {
      await pool.close()
    }
  }, 120_000)
})
