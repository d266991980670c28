import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {analyseAnomalies} from '../../src/anomalies/index.js'
import {BYTES_PER_GB, DAYS_PER_MONTH, monthlyCostUsd} from '../../src/pricing/egress.js'
import {daily} from '../detect/synthetic.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'
import {storeWith, type UsageRow} from './store-fixture.js'

const GB = BYTES_PER_GB
const MB = 2 ** 20
const SEED_REPORT = join(SAMPLES, 'billing/usage-report-ec2-2013-06-01_2014-06-01.csv')

describe("anomalies on the NTP pool server incident's usage report (ingested by the real CLI)", () => {
  const tmp = tempDir()
  const db = join(tmp.dir, 'seed.duckdb')
  let json: any
  beforeAll(async () => {
    const ingest = await runCli(['ingest', SEED_REPORT, '--db', db])
    expect(ingest.code, ingest.stderr).toBe(0)
    const run = await runCli(['anomalies', '--db', db, '--json'])
    expect(run.code, run.stderr).toBe(0)
    json = run.json()
  })
  afterAll(() => tmp.cleanup())

  it('finds exactly one step: up, first day 2014-03-30, 1000x–3000x, nothing in the quiet months', () => {
    expect(json.steps).toHaveLength(1)
    const [step] = json.steps
    expect(step).toMatchObject({
      date: '2014-03-30',
      direction: 'up',
      lastDayBefore: '2014-03-29',
      resourceId: null,
      tentative: false,
      usageType: 'DataTransfer-Out',
    })
    expect(step.ratio).toBeGreaterThan(1000)
    expect(step.ratio).toBeLessThan(3000)
    // The post: 2-6 MB/day before, 8-12 GB/day after.
    expect(step.levelBefore).toBeGreaterThan(2 * MB)
    expect(step.levelBefore).toBeLessThan(6 * MB)
    expect(step.levelAfter).toBeGreaterThan(8 * GB)
    expect(step.levelAfter).toBeLessThan(12 * GB)
    expect(json.spikes).toEqual([])
    expect(json.series).toHaveLength(365)
    expect(json.missingDays).toBe(0)
  })

  it('prices it at the stated default (no cost column in 2014) and dates the cost step after the free 100 GB', () => {
    const [step] = json.steps
    expect(json.pricing.source).toBe('pricing')
    expect(json.pricing.label).toMatch(/first 100 GB\/month free, \$0\.09\/GB/)
    const expected =
      monthlyCostUsd((step.levelAfter * DAYS_PER_MONTH) / GB) -
      monthlyCostUsd(((step.levelAfter - (step.levelAfter - step.levelBefore)) * DAYS_PER_MONTH) / GB)
    expect(step.monthlyCostUsd).toBeCloseTo(expected, 1)
    expect(step.yearlyCostUsd).toBeCloseTo(step.monthlyCostUsd * 12, 1)
    // March 30–31 add ~19 GB; April's allowance is used up on its ~11th day at ~9.4 GB/day.
    expect(step.costStepDate > '2014-04-05' && step.costStepDate < '2014-04-15').toBe(true)
  })

  it('draws the log chart with the step marked, and writes the SVG', async () => {
    const svg = join(tmp.dir, 'egress.svg')
    const run = await runCli(['anomalies', '--db', db, '--log-scale', '--svg', svg])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/2014-03-30\s+DataTransfer-Out\s+[\d.]+ MB to [\d.]+ GB a day, 2\d{3}x/)
    expect(run.stdout).toContain('▲ 2014-03-30  up')
    expect(run.stdout).toContain('Cost: AWS internet egress')
    const image = readFileSync(svg, 'utf8')
    expect(image.startsWith('<svg')).toBe(true)
    expect(image).toContain('2014-03-30  up')
    expect(image).toContain('costs from 2014-04-')
  })

  it('--until before the step finds no step; --usage-type reads other usage', async () => {
    const quiet = await runCli(['anomalies', '--db', db, '--until', '2014-03-20', '--json'])
    expect(quiet.json().steps).toEqual([])
    expect(quiet.json().lastDay).toBe('2014-03-20')
    const box = await runCli(['anomalies', '--db', db, '--usage-type', '*BoxUsage*', '--json'])
    expect(box.code, box.stderr).toBe(0)
    expect(box.json()).toMatchObject({steps: [], usageType: '*BoxUsage*', usageTypes: ['BoxUsage:t1.micro']})
  })

  it('rejects a bad --since with one line naming the flag, exit 2', async () => {
    const run = await runCli(['anomalies', '--db', db, '--since', '30/03/2014', '--json'])
    expect(run.code).toBe(2)
    expect(run.json().error).toMatchObject({code: 'E_USAGE', field: '--since'})
    const human = await runCli(['anomalies', '--db', db, '--since', '30/03/2014'])
    expect(human.stderr.trim().split('\n')[0]).toBe(
      'billwatch: --since: expected a UTC day YYYY-MM-DD, got "30/03/2014"',
    )
    // Checked before the store is opened: a usage error, not "no store", and no store created.
    const noStore = join(tmp.dir, 'none.duckdb')
    const reversed = await runCli(['anomalies', '--db', noStore, '--since', '2014-04-01', '--until', '2014-03-01'])
    expect([reversed.code, reversed.stderr.trim()]).toEqual([
      2,
      'billwatch: --since: 2014-04-01 is after --until 2014-03-01',
    ])
    expect(existsSync(noStore)).toBe(false)
  })
})

function rows(
  usageType: string,
  series: {day: string; value: number}[],
  extra: Partial<UsageRow> = {},
  cost?: (v: number) => number,
): UsageRow[] {
  return series.map((p) => ({amount: p.value, day: p.day, usageType, ...extra, ...(cost ? {cost: cost(p.value)} : {})}))
}

describe('analyseAnomalies on a store written directly', () => {
  it('sums egress over regions, analyses each usage type and resource, and names the resource that stepped', async () => {
    const quiet = daily('2024-01-01', [[150, 2 * GB]], {seed: 21})
    const stepping = daily(
      '2024-01-01',
      [
        [100, 50 * MB],
        [50, 20 * GB],
      ],
      {seed: 22},
    )
    const fixture = await storeWith([
      ...rows('DataTransfer-Out-Bytes', quiet, {resourceId: 'i-quiet'}),
      ...rows('USW2-DataTransfer-Out-Bytes', stepping, {resourceId: 'i-ntp'}),
      ...rows('USW2-USE1-AWS-Out-Bytes', daily('2024-01-01', [[150, 900 * GB]], {seed: 23})),
    ])
    try {
      const result = await analyseAnomalies(fixture.store)
      expect(result.usageTypes).toEqual(['DataTransfer-Out-Bytes', 'USW2-DataTransfer-Out-Bytes'])
      expect(result.seriesAnalysed).toBe(5)
      expect(result.steps).toHaveLength(1)
      expect(result.steps[0]).toMatchObject({
        date: '2024-04-10',
        direction: 'up',
        resourceId: 'i-ntp',
        usageType: 'DataTransfer-Out',
      })
      // 2 GB/day quiet + ~50 MB before; ~22 GB/day after: about 11x in the total.
      expect(result.steps[0]!.ratio).toBeGreaterThan(8)
      expect(result.steps[0]!.ratio).toBeLessThan(14)
    } finally {
      await fixture.cleanup()
    }
  })

  it('names every resource that stepped the same day as a driver of the one step, each with its own ratio and share', async () => {
    const fixture = await storeWith([
      ...rows(
        'DataTransfer-Out-Bytes',
        daily(
          '2024-01-01',
          [
            [100, 100 * MB],
            [50, 10 * GB],
          ],
          {seed: 27},
        ),
        {resourceId: 'i-a'},
      ),
      ...rows(
        'DataTransfer-Out-Bytes',
        daily(
          '2024-01-01',
          [
            [100, 100 * MB],
            [50, 10 * GB],
          ],
          {seed: 28},
        ),
        {resourceId: 'i-b'},
      ),
    ])
    try {
      const {steps} = await analyseAnomalies(fixture.store)
      expect(steps.map((s) => [s.date, s.usageType])).toEqual([['2024-04-10', 'DataTransfer-Out']])
      const drivers = steps[0]!.drivers
      expect(drivers.map((d) => d.resourceId).sort()).toEqual(['i-a', 'i-b'])
      for (const d of drivers) {
        expect(d.ratio).toBeGreaterThan(75)
        expect(d.ratio).toBeLessThan(125)
        expect(d.shareOfChange).toBeGreaterThan(0.35)
        expect(d.shareOfChange).toBeLessThan(0.65)
      }
    } finally {
      await fixture.cleanup()
    }
  })

  it('keeps days no export covers out of the series (gaps, not zeros) and finds no step across them', async () => {
    const series = daily('2024-01-01', [[120, 3 * GB]], {seed: 24}).filter((_, i) => i < 50 || i >= 64)
    // Two exports, 2024-01-01..02-19 and 03-05..04-29: the two weeks between are covered by neither.
    const fixture = await storeWith(
      rows('DataTransfer-Out-Bytes', series).map((r) => ({
        ...r,
        account: '111111111111',
        source: r.day < '2024-02-20' ? 0 : 1,
      })),
      'cur',
      [
        ['2024-01-01', '2024-02-20'],
        ['2024-03-05', '2024-04-30'],
      ],
    )
    try {
      const result = await analyseAnomalies(fixture.store)
      expect(result.missingDays).toBe(14)
      expect(result.series.map((p) => p.day)).not.toContain('2024-02-25')
      expect(result.steps).toEqual([])
      expect(result.spikes).toEqual([])
    } finally {
      await fixture.cleanup()
    }
  })

  it('uses the store cost when every day has one, and --price-per-gb when given', async () => {
    const series = daily(
      '2024-01-01',
      [
        [90, 1 * GB],
        [60, 30 * GB],
      ],
      {seed: 25},
    )
    const fixture = await storeWith(rows('DataTransfer-Out-Bytes', series, {}, (bytes) => (bytes / GB) * 0.09))
    try {
      const billed = await analyseAnomalies(fixture.store)
      expect(billed.pricing.source).toBe('store')
      const [step] = billed.steps
      expect(step!.date).toBe('2024-03-31')
      // Store cost is linear in bytes here, with no allowance: Δ level × $0.09/GB × days per month.
      expect(step!.monthlyCostUsd).toBeCloseTo(((step!.levelAfter - step!.levelBefore) / GB) * 0.09 * DAYS_PER_MONTH, 0)
      expect(step!.costStepDate).toBe('2024-03-31')

      const flat = await analyseAnomalies(fixture.store, {pricePerGb: 0.12})
      expect(flat.pricing).toEqual({currency: 'USD', label: '$0.12/GB flat (given)', source: 'pricing'})
      expect(flat.steps[0]!.costStepDate).toBe('2024-03-31')
      expect(flat.steps[0]!.monthlyCostUsd).toBeCloseTo(
        ((flat.steps[0]!.levelAfter - flat.steps[0]!.levelBefore) / GB) * 0.12 * DAYS_PER_MONTH,
        0,
      )
    } finally {
      await fixture.cleanup()
    }
  })

  it('says a step that never uses up the free allowance costs nothing', async () => {
    const series = daily(
      '2024-01-01',
      [
        [90, 10 * MB],
        [60, 1 * GB],
      ],
      {seed: 26},
    )
    const fixture = await storeWith(rows('DataTransfer-Out-Bytes', series))
    try {
      const [step] = (await analyseAnomalies(fixture.store)).steps
      expect(step).toMatchObject({costStepDate: null, direction: 'up', monthlyCostUsd: 0, yearlyCostUsd: 0})
    } finally {
      await fixture.cleanup()
    }
  })

  it('fails with E_NO_DATA when the store has no egress', async () => {
    const fixture = await storeWith(rows('BoxUsage:t1.micro', daily('2024-01-01', [[30, 24]])))
    try {
      await expect(analyseAnomalies(fixture.store)).rejects.toMatchObject({code: 'E_NO_DATA'})
    } finally {
      await fixture.cleanup()
    }
  })

  it('refuses a store that does not exist', async () => {
    const tmp = tempDir()
    const db = join(tmp.dir, 'none.duckdb')
    const run = await runCli(['anomalies', '--db', db, '--json'])
    expect(run.code).toBe(1)
    expect(run.json().error.code).toBe('E_NO_DATA')
    expect(existsSync(db)).toBe(false)
    tmp.cleanup()
  })
})
