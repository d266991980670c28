/**
 * CloudWatch GetMetricData for AWS/EC2 NetworkOut and NetworkIn: daily sums per instance, stored as
 * per-resource usage (`NetworkOut-Bytes`, resource_id = instance id) so anomalies and correlate can
 * name the instance that stepped. Wire format and limits: ../shared/research/formats.md §6.
 */
import {
  type CloudWatchClient,
  GetMetricDataCommand,
  ListMetricsCommand,
  type MetricDataQuery,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch'

import {BillwatchError} from '../errors.js'
import type {UsageRow} from '../ingest/write.js'
import {allPages, type AwsConnection, callAws} from './clients.js'
import {type DayRange, dayToEpochSeconds, daysBetween, utcDay} from './window.js'

export const NETWORK_METRICS = ['NetworkOut', 'NetworkIn'] as const
export type NetworkMetric = (typeof NETWORK_METRICS)[number]

/** API limits per GetMetricData call (formats.md §6). */
export const MAX_QUERIES_PER_CALL = 500
export const MAX_POINTS_PER_CALL = 100_800

const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/

/** Checks instance ids given by the user: `i-` and 8 or 17 hex digits. */
export function checkInstanceIds(ids: string[]): string[] {
  for (const id of ids) {
    if (!INSTANCE_ID.test(id)) {
      throw new BillwatchError('E_USAGE', '--instances: bad EC2 instance id', {
        expected: 'i- followed by 8 or 17 hex digits',
        got: id,
      })
    }
  }
  return [...new Set(ids)]
}

/**
 * Every instance that reported NetworkOut in the last two weeks (ListMetrics' horizon). This is the
 * only call that needs cloudwatch:ListMetrics: without it, finding the instances would take
 * ec2:DescribeInstances, which reveals far more than metric names.
 */
export async function listInstances(
  client: CloudWatchClient,
  connection: AwsConnection = {},
): Promise<{instances: string[]; requests: number}> {
  const {pages, requests} = await allPages(
    (token) =>
      callAws('ListMetrics', connection, () =>
        client.send(
          new ListMetricsCommand({
            Dimensions: [{Name: 'InstanceId'}],
            MetricName: 'NetworkOut',
            Namespace: 'AWS/EC2',
            ...(token === undefined ? {} : {NextToken: token}),
          }),
        ),
      ),
    (page) => page.NextToken,
  )
  const instances = new Set<string>()
  for (const metric of pages.flatMap((page) => page.Metrics ?? [])) {
    const dims = metric.Dimensions ?? []
    // Per-instance series only, not the ones also split by image or instance type.
    if (dims.length === 1 && dims[0]?.Name === 'InstanceId' && dims[0].Value) instances.add(dims[0].Value)
  }
  return {instances: [...instances].sort(), requests}
}

export interface QueryBatch {
  queries: MetricDataQuery[]
  /** Query Id → what it measures. */
  ids: Map<string, {instanceId: string; metric: NetworkMetric}>
}

/**
 * Splits the queries into calls that respect both limits: ≤500 queries, and ≤100,800 data points
 * (days × queries) per call. Period 86400 is a multiple of 3600, so it is valid at any age.
 */
export function metricBatches(instances: string[], range: DayRange): QueryBatch[] {
  const days = Math.max(1, daysBetween(range.start, range.end))
  const perCall = Math.max(
    NETWORK_METRICS.length,
    Math.min(MAX_QUERIES_PER_CALL, Math.floor(MAX_POINTS_PER_CALL / days)),
  )
  const instancesPerCall = Math.floor(perCall / NETWORK_METRICS.length)
  const batches: QueryBatch[] = []
  for (let i = 0; i < instances.length; i += instancesPerCall) {
    const batch: QueryBatch = {ids: new Map(), queries: []}
    for (const [offset, instanceId] of instances.slice(i, i + instancesPerCall).entries()) {
      for (const metric of NETWORK_METRICS) {
        const id = `${metric === 'NetworkOut' ? 'out' : 'in'}_${i + offset}`
        batch.ids.set(id, {instanceId, metric})
        batch.queries.push({
          Id: id,
          MetricStat: {
            Metric: {Dimensions: [{Name: 'InstanceId', Value: instanceId}], MetricName: metric, Namespace: 'AWS/EC2'},
            Period: 86_400,
            Stat: 'Sum',
          },
          ReturnData: true,
        })
      }
    }
    batches.push(batch)
  }
  return batches
}

export interface MetricPoint {
  instanceId: string
  metric: NetworkMetric
  day: string
  bytes: number
}

export interface MetricFetch {
  points: MetricPoint[]
  requests: number
  retries: number
}

/** Fetches every batch, following NextToken until each query's StatusCode is Complete. */
export async function fetchNetworkMetrics(
  client: CloudWatchClient,
  instances: string[],
  range: DayRange,
  options: {connection?: AwsConnection; onPage?: (pages: number) => void} = {},
): Promise<MetricFetch> {
  const points: MetricPoint[] = []
  let requests = 0
  let retries = 0
  for (const batch of metricBatches(instances, range)) {
    const fetched = await allPages(
      (token) =>
        callAws('GetMetricData', options.connection, () =>
          client.send(
            new GetMetricDataCommand({
              EndTime: new Date(dayToEpochSeconds(range.end) * 1000),
              MetricDataQueries: batch.queries,
              ScanBy: 'TimestampAscending',
              StartTime: new Date(dayToEpochSeconds(range.start) * 1000),
              ...(token === undefined ? {} : {NextToken: token}),
            }),
          ),
        ),
      (page) => page.NextToken,
      options.onPage && ((pages) => options.onPage?.(requests + pages)),
    )
    requests += fetched.requests
    retries += fetched.retries
    for (const result of fetched.pages.flatMap((page) => page.MetricDataResults ?? []))
      points.push(...pointsOf(result, batch))
  }
  return {points, requests, retries}
}

function pointsOf(result: MetricDataResult, batch: QueryBatch): MetricPoint[] {
  const target = batch.ids.get(result.Id ?? '')
  if (!target) return []
  if (result.StatusCode === 'Forbidden') {
    throw new BillwatchError('E_AWS', `GetMetricData: access denied to ${target.metric} of ${target.instanceId}`, {
      suggestions: ['attach a policy with "Action": "cloudwatch:GetMetricData" to the user or role billwatch runs as'],
    })
  }
  const timestamps = result.Timestamps ?? []
  const values = result.Values ?? []
  return timestamps.map((t, i) => ({
    bytes: values[i] ?? 0,
    day: utcDay(new Date(t)),
    instanceId: target.instanceId,
    metric: target.metric,
  }))
}

/** Daily per-instance rows (periods landing on one UTC day are summed). CloudWatch has no price: cost is null. */
export function metricRows(points: MetricPoint[], region: null | string): UsageRow[] {
  const byKey = new Map<string, UsageRow>()
  for (const point of points) {
    const usageType = `${point.metric}-Bytes`
    const key = `${point.day}\u0000${point.instanceId}\u0000${usageType}`
    const row = byKey.get(key)
    if (row) {
      row.amount = (row.amount ?? 0) + point.bytes
      continue
    }
    byKey.set(key, {
      account: null,
      amount: point.bytes,
      cost: null,
      currency: null,
      day: point.day,
      operation: null,
      region,
      resourceId: point.instanceId,
      service: 'AmazonEC2',
      unit: 'bytes',
      usageType,
    })
  }
  return [...byKey.values()].sort(
    (a, b) =>
      a.day.localeCompare(b.day) ||
      (a.resourceId ?? '').localeCompare(b.resourceId ?? '') ||
      a.usageType.localeCompare(b.usageType),
  )
}
