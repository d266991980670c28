import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {ingestCostExplorer} from '../../src/aws/index.js'
import {isBillwatchError} from '../../src/errors.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {Store} from '../../src/store/index.js'
import type {CostRecord} from '../helpers/aws-endpoint.js'
import {tempDir} from '../helpers/cli.js'
import {costsFromUsageReport, USAGE_REPORT, useStoreAndEndpoint} from './fixtures.js'

const APRIL_15 = new Date('2014-04-15T09:30:00Z')
const costs = await costsFromUsageReport()

const context = useStoreAndEndpoint()
const connection = context.connection

async function dailyEgress(): Promise<{day: string; bytes: number; rows: number}[]> {
  return context.store
    .all(`SELECT strftime(day, '%Y-%m-%d') AS day, sum(amount) AS bytes, count(*)::INTEGER AS rows FROM usage
                    WHERE usage_type = 'DataTransfer-Out-Bytes' GROUP BY day ORDER BY day`)
}

async function failure(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!isBillwatchError(error)) throw new Error(`expected a BillwatchError, got ${String(error)}`)
  return error
}

describe('ingestCostExplorer', () => {
  it("follows NextPageToken and stores Cunnie's March 30 step in bytes (GB = 2^30)", async () => {
    await context.start({ceResultsPerPage: 7, costs})
    const result = await ingestCostExplorer(context.store, {...connection(), days: 20, now: APRIL_15})

    expect(result.window).toEqual({end: '2014-04-15', start: '2014-03-26'})
    expect(result.fetched).toEqual(result.window)
    // 20 days at 7 per page: 3 billed pages.
    expect(result.requests).toBe(3)
    expect(result.requestCostUsd).toBe(0.03)
    const calls = context.endpoint.callsOf('GetCostAndUsage')
    expect(calls.map((c) => c.body.NextPageToken === undefined)).toEqual([true, false, false])
    expect(calls[0]!.headers['x-amz-target']).toBe('AWSInsightsIndexService.GetCostAndUsage')
    expect(calls[0]!.headers['content-type']).toBe('application/x-amz-json-1.1')
    expect(calls[0]!.body).toMatchObject({
      Granularity: 'DAILY',
      GroupBy: [
        {Key: 'USAGE_TYPE', Type: 'DIMENSION'},
        {Key: 'SERVICE', Type: 'DIMENSION'},
      ],
      Metrics: ['UsageQuantity', 'UnblendedCost'],
      TimePeriod: {End: '2014-04-15', Start: '2014-03-26'},
    })

    const egress = await dailyEgress()
    expect(egress).toHaveLength(20)
    const byDay = Object.fromEntries(egress.map((d) => [d.day, d.bytes]))
    expect(byDay['2014-03-29']).toBeCloseTo(4_404_019, 3)
    expect(byDay['2014-03-30']).toBeCloseTo(8_900_113_820, 3)
    const row = await context.store.one<{region: string; service: string; family: string; unit: string; cost: number}>(
      `SELECT region, service, family, unit, cost FROM usage WHERE day = '2014-03-30' AND usage_type = 'DataTransfer-Out-Bytes'`,
    )
    expect(row).toMatchObject({family: 'cost-explorer-api', region: 'us-east-1', service: 'AmazonEC2', unit: 'bytes'})
    expect(row!.cost).toBeCloseTo((8_900_113_820 / 2 ** 30) * 0.12, 6)
    // The default filter keeps data transfer only.
    expect(
      await context.store.one(`SELECT count(*)::INTEGER AS n FROM usage WHERE usage_type LIKE 'BoxUsage%'`),
    ).toEqual({n: 0})
  })

  it('stores what the usage report export of the same days stores', async () => {
    await context.start({costs})
    await ingestCostExplorer(context.store, {...connection(), days: 90, now: new Date('2014-06-01T12:00:00Z')})
    const fromApi = await context.store.all(SAME_ROWS)
    expect(fromApi.length).toBeGreaterThan(250)

    const other = tempDir()
    const csvStore = await Store.open(join(other.dir, 'csv.duckdb'))
    try {
      await ingestFiles(csvStore, [USAGE_REPORT])
      expect(await csvStore.all(SAME_ROWS)).toEqual(fromApi)
    } finally {
      await csvStore.close()
      other.cleanup()
    }
  })

  it('fetches only the days the store lacks plus the restated last 3 days, and never double-counts', async () => {
    await context.start({costs})
    await ingestCostExplorer(context.store, {...connection(), days: 20, now: APRIL_15})
    const before = await dailyEgress()

    const nextDay = await ingestCostExplorer(context.store, {
      ...connection(),
      days: 20,
      now: new Date('2014-04-16T09:30:00Z'),
    })
    expect(nextDay.fetched).toEqual({end: '2014-04-16', start: '2014-04-13'})
    expect(nextDay.restatedDays).toBe(2)
    expect(nextDay.requests).toBe(1)
    expect(context.endpoint.callsOf('GetCostAndUsage').at(-1)!.body.TimePeriod).toEqual({
      End: '2014-04-16',
      Start: '2014-04-13',
    })

    const after = await dailyEgress()
    expect(after.every((d) => d.rows === 1)).toBe(true)
    expect(after.slice(0, before.length)).toEqual(before)
    expect(after.at(-1)!.day).toBe('2014-04-15')

    // A re-run the same day with the same answer is a no-op.
    const again = await ingestCostExplorer(context.store, {
      ...connection(),
      days: 20,
      now: new Date('2014-04-16T18:00:00Z'),
    })
    expect(again.status).toBe('unchanged')
    expect(await dailyEgress()).toEqual(after)
  })

  it('replaces a day AWS restated since the last run', async () => {
    await context.start({costs, estimatedFrom: '2014-04-14'})
    const first = await ingestCostExplorer(context.store, {...connection(), days: 10, now: APRIL_15})
    expect(first.estimatedDays).toEqual(['2014-04-14'])
    const restated = costs.map((c): CostRecord =>
      c.day === '2014-04-14' && c.usageType === 'DataTransfer-Out-Bytes' ? {...c, quantity: 12} : c,
    )
    context.endpoint.setData({costs: restated, estimatedFrom: undefined})

    const second = await ingestCostExplorer(context.store, {
      ...connection(),
      days: 10,
      now: new Date('2014-04-16T09:30:00Z'),
    })
    expect(second.replacedRows).toBeGreaterThan(0)
    const day = (await dailyEgress()).find((d) => d.day === '2014-04-14')
    expect(day).toEqual({bytes: 12 * 2 ** 30, day: '2014-04-14', rows: 1})
  })

  it('backs off on LimitExceededException and succeeds; throttled attempts are not billed', async () => {
    await context.start({costs, faults: [{action: 'GetCostAndUsage', kind: 'throttle', times: 2}]})
    const result = await ingestCostExplorer(context.store, {...connection(), days: 5, now: APRIL_15})
    expect(result.throttledRetries).toBe(2)
    expect(result.requests).toBe(1)
    expect(context.endpoint.callsOf('GetCostAndUsage').map((c) => c.status)).toEqual([400, 400, 200])
    expect(result.rows).toBeGreaterThan(0)
  })

  it('gives up after the attempts run out, with one line and nothing written', async () => {
    await context.start({
      costs,
      faults: [{action: 'GetCostAndUsage', kind: 'throttle', times: Number.POSITIVE_INFINITY}],
    })
    const error = await failure(
      ingestCostExplorer(context.store, {...connection(), days: 5, maxAttempts: 2, now: APRIL_15}),
    )
    expect(error.code).toBe('E_AWS')
    expect(error.message).toBe(
      'GetCostAndUsage: still throttled (LimitExceededException) after 2 attempts with backoff',
    )
    expect(await context.store.one('SELECT count(*)::INTEGER AS n FROM sources')).toEqual({n: 0})
  })

  it('names the missing permission when access is denied', async () => {
    await context.start({costs, faults: [{action: 'GetCostAndUsage', kind: 'deny', times: 1}]})
    const error = await failure(ingestCostExplorer(context.store, {...connection(), now: APRIL_15}))
    expect(error.code).toBe('E_AWS')
    expect(error.message).toBe(
      'GetCostAndUsage: access denied: arn:aws:iam::123456789012:user/billwatch lacks permission ce:GetCostAndUsage',
    )
    expect(error.message).not.toContain('\n')
    expect(await context.store.one('SELECT count(*)::INTEGER AS n FROM sources')).toEqual({n: 0})
  })

  it('says the credentials were rejected: wrong secret, unknown key', async () => {
    await context.start({costs})
    const wrongSecret = await failure(
      ingestCostExplorer(context.store, {...connection({secretAccessKey: 'not-the-secret'}), now: APRIL_15}),
    )
    expect(wrongSecret.message).toMatch(/^GetCostAndUsage: AWS rejected the credentials \(InvalidSignatureException\)/)
    const unknownKey = await failure(
      ingestCostExplorer(context.store, {...connection({accessKeyId: 'AKIDUNKNOWN'}), now: APRIL_15}),
    )
    expect(unknownKey.message).toMatch(/^GetCostAndUsage: AWS rejected the credentials \(UnrecognizedClientException\)/)
    expect(unknownKey.suggestions.join(' ')).toContain('--profile')
  })

  it('records an empty period as fetched, so the next run does not ask again', async () => {
    await context.start({costs: []})
    const empty = await ingestCostExplorer(context.store, {...connection(), days: 30, now: APRIL_15})
    expect(empty).toMatchObject({days: 30, requests: 1, rows: 0, status: 'ingested'})
    const next = await ingestCostExplorer(context.store, {
      ...connection(),
      days: 30,
      now: new Date('2014-04-16T09:30:00Z'),
    })
    expect(next.fetched).toEqual({end: '2014-04-16', start: '2014-04-13'})
  })

  it('--all-usage adds every usage type; a data-transfer fetch does not count as coverage for it', async () => {
    await context.start({costs})
    await ingestCostExplorer(context.store, {...connection(), days: 10, now: APRIL_15})
    const all = await ingestCostExplorer(context.store, {...connection(), allUsage: true, days: 10, now: APRIL_15})
    expect(all.fetched.start).toBe('2014-04-05')
    expect(context.endpoint.callsOf('GetCostAndUsage').at(-1)!.body.Filter).toEqual({
      Not: {Dimensions: {Key: 'RECORD_TYPE', Values: ['Credit', 'Refund']}},
    })
    const hours = await context.store.one<{amount: number; unit: string}>(
      `SELECT amount, unit FROM usage WHERE usage_type = 'BoxUsage:t1.micro' AND day = '2014-04-10'`,
    )
    expect(hours).toEqual({amount: 24, unit: 'hours'})
  })

  it('HOURLY sums hours into days and is limited to the 14 days AWS keeps', async () => {
    await context.start({ceResultsPerPage: 24, costs})
    const hourly = await ingestCostExplorer(context.store, {
      ...connection(),
      days: 2,
      granularity: 'HOURLY',
      now: APRIL_15,
    })
    expect(hourly.requests).toBe(2)
    expect(context.endpoint.callsOf('GetCostAndUsage')[0]!.body.TimePeriod).toEqual({
      End: '2014-04-15T00:00:00Z',
      Start: '2014-04-13T00:00:00Z',
    })
    const egress = await dailyEgress()
    expect(egress.map((d) => d.day)).toEqual(['2014-04-13', '2014-04-14'])
    const daily = costs.find((c) => c.day === '2014-04-13' && c.usageType === 'DataTransfer-Out-Bytes')!
    expect(egress[0]!.bytes).toBeCloseTo(daily.quantity * 2 ** 30, 0)

    const error = await failure(
      ingestCostExplorer(context.store, {...connection(), days: 30, granularity: 'HOURLY', now: APRIL_15}),
    )
    expect(error.code).toBe('E_USAGE')
    expect(error.message).toContain('--days between 1 and 14')
  })
})

/** The store contents both paths must agree on (operation aside: Cost Explorer is not grouped by it). */
const SAME_ROWS = `SELECT strftime(day, '%Y-%m-%d') AS day, region, service, usage_type, usage_base, unit, round(sum(amount), 3) AS amount
  FROM usage WHERE usage_type LIKE 'DataTransfer-%' AND day >= '2014-03-03' AND day < '2014-06-01'
  GROUP BY ALL ORDER BY day, usage_type`
