/**
 * The store a new user fills: a CUR of one account for this year (an office instance busy on weekdays, a batch
 * instance with a one-day spike, an instance whose egress steps ~300x) and, from years earlier, the usage report
 * of the NTP pool server incident, which has no account column. Ingested and analysed by the real CLI.
 */
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {dayNumber, dayString} from '../../src/detect/index.js'
import {daily} from '../detect/synthetic.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'

const GB = 2 ** 30
const MB = 2 ** 20
const ACCOUNT = '111122223333'
const REPORT = 'usage-report-ec2-2013-06-01_2014-06-01.csv'
const STEP_DAY = '2024-04-10'
const SPIKE_DAY = '2024-03-13'
// The CUR 1.0 columns billwatch reads (AWS CUR data dictionary, lineItem/* and bill/* names).
const CUR1_HEADER =
  'identity/LineItemId,identity/TimeInterval,bill/PayerAccountId,bill/BillingPeriodStartDate,bill/BillingPeriodEndDate,lineItem/UsageAccountId,lineItem/LineItemType,lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/ProductCode,lineItem/UsageType,lineItem/Operation,lineItem/ResourceId,lineItem/UsageAmount,lineItem/UnblendedCost,lineItem/CurrencyCode,pricing/unit'

function isWeekend(day: string): boolean {
  const weekday = new Date(`${day}T00:00:00Z`).getUTCDay()
  return weekday === 0 || weekday === 6
}

/** One CUR file per month, January to June 2024, daily lines per instance. */
function writeCurs(dir: string): string[] {
  const days = dayNumber('2024-07-01') - dayNumber('2024-01-01')
  const office = daily('2024-01-01', [[days, 2 * GB]], {noise: 0.1, seed: 31, weekly: 0.05})
  const batch = daily('2024-01-01', [[days, 500 * MB]], {noise: 0.1, seed: 32})
  batch[dayNumber(SPIKE_DAY) - dayNumber('2024-01-01')]!.value = 60 * GB
  const stepAt = dayNumber(STEP_DAY) - dayNumber('2024-01-01')
  const ntp = daily(
    '2024-01-01',
    [
      [stepAt, 30 * MB],
      [days - stepAt, 9 * GB],
    ],
    {noise: 0.1, seed: 33},
  )
  const files: string[] = []
  for (let month = 0; month < 6; month++) {
    const start = dayString(Date.UTC(2024, month, 1) / 86_400_000)
    const end = dayString(Date.UTC(2024, month + 1, 1) / 86_400_000)
    const lines: string[] = []
    for (const [id, series] of [
      ['i-office', office],
      ['i-batch', batch],
      ['i-ntp', ntp],
    ] as const) {
      for (const point of series.filter((p) => p.day >= start && p.day < end)) {
        const next = dayString(dayNumber(point.day) + 1)
        lines.push(
          `${id}-${point.day},x,${ACCOUNT},${start}T00:00:00Z,${end}T00:00:00Z,${ACCOUNT},Usage,${point.day}T00:00:00Z,${next}T00:00:00Z,AmazonEC2,DataTransfer-Out-Bytes,RunInstances,${id},${point.value / GB},${(point.value / GB) * 0.09},USD,GB`,
        )
      }
    }
    const path = join(dir, `cur-2024-${String(month + 1).padStart(2, '0')}.csv`)
    writeFileSync(path, `${CUR1_HEADER}\n${lines.join('\n')}\n`)
    files.push(path)
  }
  return files
}

describe('anomalies on a store holding two unrelated exports', () => {
  const tmp = tempDir()
  const db = join(tmp.dir, 'store.duckdb')
  let json: any
  beforeAll(async () => {
    const ingest = await runCli(['ingest', join(SAMPLES, 'billing', REPORT), ...writeCurs(tmp.dir), '--db', db])
    expect(ingest.code, ingest.stderr).toBe(0)
    const run = await runCli(['anomalies', '--db', db, '--json'])
    expect(run.code, run.stderr).toBe(0)
    json = run.json()
  }, 120_000)
  afterAll(() => tmp.cleanup())

  it('analyses each account apart, the usage report as an account named after its file', () => {
    expect(json.stretches.map((s: any) => [s.account, s.firstDay, s.lastDay])).toEqual([
      [ACCOUNT, '2024-01-01', '2024-06-30'],
      [REPORT, '2013-06-01', '2014-05-31'],
    ])
    expect(json.account).toBe(ACCOUNT)
    expect(json.accounts.sort()).toEqual([ACCOUNT, REPORT])
  })

  it('finds exactly the two real steps, each with its own account, stretch and its driver’s own ratio', () => {
    expect(json.steps.map((s: any) => [s.account, s.date, s.direction, s.tentative])).toEqual([
      [REPORT, '2014-03-30', 'up', false],
      [ACCOUNT, STEP_DAY, 'up', false],
    ])
    const [old, ntp] = json.steps
    expect(old.stretch).toBe('2013-06-01..2014-05-31')
    expect(old.ratio).toBeGreaterThan(1000)
    expect(ntp.stretch).toBe('2024-01-01..2024-06-30')
    // The instance went ~300x; the account's egress (office on weekdays, batch, ntp) about 4.5x.
    const [driver] = ntp.drivers
    expect(driver).toMatchObject({resourceId: 'i-ntp', usageType: 'DataTransfer-Out-Bytes'})
    expect(driver.ratio).toBeGreaterThan(225)
    expect(driver.ratio).toBeLessThan(375)
    expect(driver.levelBefore / MB).toBeCloseTo(30, -1)
    expect(driver.levelAfter / GB).toBeCloseTo(9, 0)
    expect(driver.shareOfChange).toBeGreaterThan(0.9)
    expect(ntp.ratio).toBeGreaterThan(3)
    expect(ntp.ratio).toBeLessThan(6)
    expect(ntp.resourceId).toBe('i-ntp')
  })

  it('reports the one-day spike as a spike of its instance, and no ordinary weekend', () => {
    expect(json.spikes.map((s: any) => [s.account, s.date, s.resourceId])).toEqual([[ACCOUNT, SPIKE_DAY, 'i-batch']])
    expect(json.spikes.some((s: any) => isWeekend(s.date))).toBe(false)
    expect(json.trends).toEqual([])
  })

  it('leads the table with what moved, and --account picks one account', async () => {
    const table = await runCli(['anomalies', '--db', db])
    expect(table.code, table.stderr).toBe(0)
    expect(table.stdout).toMatch(
      /2024-04-10\s+111122223333\s+i-ntp\s+[\d.]+ MB to [\d.]+ GB a day, \d{3}x\s+egress up [\d.]+x/,
    )
    expect(table.stdout).toContain(`account ${REPORT}: 2013-06-01 .. 2014-05-31`)
    const one = await runCli(['anomalies', '--db', db, '--account', ACCOUNT, '--json'])
    expect(one.code, one.stderr).toBe(0)
    expect(one.json().steps.map((s: any) => s.date)).toEqual([STEP_DAY])
    expect(one.json().stretches).toHaveLength(1)
    const none = await runCli(['anomalies', '--db', db, '--account', '999999999999', '--json'])
    expect(none.code).toBe(1)
    expect(none.json().error.code).toBe('E_NO_DATA')
  })
})
