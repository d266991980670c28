import {describe, expect, it} from 'vitest'

import {MAX_POINTS_PER_CALL, MAX_QUERIES_PER_CALL, metricBatches} from '../../src/aws/cloudwatch.js'
import {ingestCloudWatch} from '../../src/aws/index.js'
import {isBillwatchError} from '../../src/errors.js'
import type {MetricSeries} from '../helpers/aws-endpoint.js'
import {costsFromUsageReport, metricSeries, useStoreAndEndpoint} from './fixtures.js'

const NTP_SERVER = 'i-0a1b2c3d'
const WEB_SERVER = 'i-0123456789abcdef0'
const APRIL_15 = new Date('2014-04-15T09:30:00Z')

// The NTP server's NetworkOut is its billed egress (the usage report); the web server is steady.
const costs = await costsFromUsageReport()
const METRICS: MetricSeries[] = [
  metricSeries(costs, {instanceId: NTP_SERVER, metric: 'NetworkOut', usageType: 'DataTransfer-Out-Bytes'}),
  metricSeries(costs, {instanceId: NTP_SERVER, metric: 'NetworkIn', usageType: 'DataTransfer-In-Bytes'}),
  {
    daily: Object.fromEntries(costs.filter((c) => c.usageType === 'BoxUsage:t1.micro').map((c) => [c.day, 7e8])),
    instanceId: WEB_SERVER,
    metric: 'NetworkOut',
  },
]

const context = useStoreAndEndpoint()

const connection = (region?: string) => context.connection({}, region)

async function perInstance(): Promise<
  {resource_id: string; usage_type: string; days: number; bytes: number; region: string}[]
> {
  return context.store
    .all(`SELECT resource_id, usage_type, count(*)::INTEGER AS days, sum(amount) AS bytes, any_value(region) AS region FROM usage
                    WHERE family = 'cloudwatch' GROUP BY ALL ORDER BY resource_id, usage_type`)
}

describe('ingestCloudWatch', () => {
  it('stores daily NetworkOut/NetworkIn per instance across NextToken pages', async () => {
    await context.start({cwPointsPerPage: 15, metrics: METRICS})
    const result = await ingestCloudWatch(context.store, {
      ...connection(),
      days: 20,
      instances: [NTP_SERVER, WEB_SERVER],
      now: APRIL_15,
    })
    // 20 + 20 + 20 points (the web server has no NetworkIn) at 15 per page.
    expect(result.requests).toBe(4)
    expect(result).toMatchObject({
      days: 20,
      instances: [NTP_SERVER, WEB_SERVER],
      region: 'us-east-1',
      rows: 60,
      status: 'ingested',
    })

    const call = context.endpoint.callsOf('GetMetricData')[0]!
    expect(call.headers['x-amz-target']).toBe('GraniteServiceVersion20100801.GetMetricData')
    expect(call.headers['content-type']).toBe('application/x-amz-json-1.0')
    expect(call.headers['x-amzn-query-mode']).toBe('true')
    expect(call.body.StartTime).toBe(Date.parse('2014-03-26T00:00:00Z') / 1000)
    expect(call.body.MetricDataQueries[0]).toEqual({
      Id: 'out_0',
      MetricStat: {
        Metric: {Dimensions: [{Name: 'InstanceId', Value: NTP_SERVER}], MetricName: 'NetworkOut', Namespace: 'AWS/EC2'},
        Period: 86_400,
        Stat: 'Sum',
      },
      ReturnData: true,
    })

    const step = await context.store.all(
      `SELECT strftime(day, '%Y-%m-%d') AS day, amount FROM usage WHERE resource_id = $1 AND usage_type = 'NetworkOut-Bytes'
                                  AND day BETWEEN '2014-03-29' AND '2014-03-30' ORDER BY day`,
      [NTP_SERVER],
    )
    expect(step).toEqual([
      {amount: 4_404_019, day: '2014-03-29'},
      {amount: 8_900_113_820, day: '2014-03-30'},
    ])
    expect(await perInstance()).toEqual([
      {bytes: 20 * 7e8, days: 20, region: 'us-east-1', resource_id: WEB_SERVER, usage_type: 'NetworkOut-Bytes'},
      {
        bytes: expect.any(Number),
        days: 20,
        region: 'us-east-1',
        resource_id: NTP_SERVER,
        usage_type: 'NetworkIn-Bytes',
      },
      {
        bytes: expect.any(Number),
        days: 20,
        region: 'us-east-1',
        resource_id: NTP_SERVER,
        usage_type: 'NetworkOut-Bytes',
      },
    ])
  })

  it('--all-instances lists instances with ListMetrics (paged) and reads them all', async () => {
    await context.start({cwMetricsPerPage: 1, metrics: METRICS})
    const result = await ingestCloudWatch(context.store, {...connection(), allInstances: true, days: 10, now: APRIL_15})
    expect(result.instances).toEqual([WEB_SERVER, NTP_SERVER].sort())
    // Two NetworkOut metrics at 1 per page: 2 ListMetrics calls, then 1 GetMetricData.
    expect(context.endpoint.callsOf('ListMetrics')).toHaveLength(2)
    expect(context.endpoint.callsOf('ListMetrics')[0]!.body).toEqual({
      Dimensions: [{Name: 'InstanceId'}],
      MetricName: 'NetworkOut',
      Namespace: 'AWS/EC2',
    })
    expect(result.requests).toBe(3)
  })

  it('splits 300 instances into calls of at most 500 queries', async () => {
    const many = Array.from({length: 300}, (_, i) => `i-${(0x10000000 + i).toString(16)}`)
    await context.start({metrics: METRICS})
    await ingestCloudWatch(context.store, {...connection(), days: 5, instances: many, now: APRIL_15})
    expect(context.endpoint.callsOf('GetMetricData').map((c) => c.body.MetricDataQueries.length)).toEqual([500, 100])
  })

  it('keeps batches under both API limits (queries and data points)', () => {
    const instances = Array.from({length: 1000}, (_, i) => `i-${(0x10000000 + i).toString(16)}`)
    for (const days of [1, 90, 202, 455]) {
      const batches = metricBatches(instances, {
        end: '2015-01-01',
        start: new Date(Date.parse('2015-01-01') - days * 86_400_000).toISOString().slice(0, 10),
      })
      expect(batches.reduce((n, b) => n + b.queries.length, 0)).toBe(2000)
      for (const batch of batches) {
        expect(batch.queries.length).toBeLessThanOrEqual(MAX_QUERIES_PER_CALL)
        expect(batch.queries.length * days).toBeLessThanOrEqual(MAX_POINTS_PER_CALL)
      }
    }
  })

  it('backs off on Throttling and succeeds', async () => {
    await context.start({faults: [{action: 'GetMetricData', kind: 'throttle', times: 1}], metrics: METRICS})
    const result = await ingestCloudWatch(context.store, {
      ...connection(),
      days: 5,
      instances: [NTP_SERVER],
      now: APRIL_15,
    })
    expect(context.endpoint.callsOf('GetMetricData').map((c) => c.status)).toEqual([400, 200])
    expect(result.throttledRetries).toBe(1)
    expect(result.rows).toBe(10)
  })

  it('names cloudwatch:GetMetricData (or ListMetrics) when access is denied', async () => {
    await context.start({
      faults: [
        {action: 'GetMetricData', kind: 'deny', times: 1},
        {action: 'ListMetrics', kind: 'deny', times: 1},
      ],
      metrics: METRICS,
    })
    const denied = await ingestCloudWatch(context.store, {
      ...connection(),
      instances: [NTP_SERVER],
      now: APRIL_15,
    }).catch((e: unknown) => e)
    expect(isBillwatchError(denied) && denied.message).toBe(
      'GetMetricData: access denied: arn:aws:iam::123456789012:user/billwatch lacks permission cloudwatch:GetMetricData',
    )
    const list = await ingestCloudWatch(context.store, {...connection(), allInstances: true, now: APRIL_15}).catch(
      (e: unknown) => e,
    )
    expect(isBillwatchError(list) && list.message).toContain('lacks permission cloudwatch:ListMetrics')
  })

  it("a later fetch of another instance or region keeps the first one's rows", async () => {
    await context.start({metrics: METRICS})
    await ingestCloudWatch(context.store, {...connection(), days: 10, instances: [NTP_SERVER], now: APRIL_15})
    const other = await ingestCloudWatch(context.store, {
      ...connection('eu-west-1'),
      days: 10,
      instances: [WEB_SERVER],
      now: APRIL_15,
    })
    expect(other.replacedRows).toBe(0)
    expect((await perInstance()).map((r) => [r.resource_id, r.usage_type, r.days, r.region])).toEqual([
      [WEB_SERVER, 'NetworkOut-Bytes', 10, 'eu-west-1'],
      [NTP_SERVER, 'NetworkIn-Bytes', 10, 'us-east-1'],
      [NTP_SERVER, 'NetworkOut-Bytes', 10, 'us-east-1'],
    ])
    // Re-reading the first instance replaces its own rows only.
    const again = await ingestCloudWatch(context.store, {
      ...connection(),
      days: 12,
      instances: [NTP_SERVER],
      now: APRIL_15,
    })
    expect(again.replacedRows).toBe(20)
    expect((await perInstance()).map((r) => r.days)).toEqual([10, 12, 12])
  })

  it('an instance without data gives no rows; a malformed id is a usage error', async () => {
    await context.start({metrics: METRICS})
    const quiet = await ingestCloudWatch(context.store, {
      ...connection(),
      days: 5,
      instances: ['i-0fffffffffffffff0'],
      now: APRIL_15,
    })
    expect(quiet).toMatchObject({requests: 1, rows: 0})
    const bad = await ingestCloudWatch(context.store, {...connection(), instances: ['web-1']}).catch((e: unknown) => e)
    expect(isBillwatchError(bad) && [bad.code, bad.message]).toEqual([
      'E_USAGE',
      '--instances: bad EC2 instance id, expected i- followed by 8 or 17 hex digits, got "web-1"',
    ])
  })
})
