/**
 * What AWS would hold for Cunnie's NTP server (seed 004): the legacy usage report in samples/,
 * aggregated the way Cost Explorer serves it (GB = 2^30 bytes, CE service names, 2014 prices).
 */
import {join} from 'node:path'

import {afterEach, beforeEach} from 'vitest'

import {parseUsageReport} from '../../src/ingest/usage-report.js'
import {BYTES_PER_GB} from '../../src/pricing/egress.js'
import {Store} from '../../src/store/index.js'
import {
  type AwsEndpoint,
  type AwsEndpointOptions,
  type CostRecord,
  type MetricSeries,
  startAwsEndpoint,
} from '../helpers/aws-endpoint.js'
import {SAMPLES, tempDir} from '../helpers/cli.js'

export const USAGE_REPORT = join(SAMPLES, 'billing/usage-report-ec2-2013-06-01_2014-06-01.csv')

/** 2014: $0.12/GB out to the internet, $0.01/GB regional, inbound free. */
const USD_PER_GB: Record<string, number> = {'DataTransfer-Out-Bytes': 0.12, 'DataTransfer-Regional-Bytes': 0.01}

export async function costsFromUsageReport(path = USAGE_REPORT): Promise<CostRecord[]> {
  const {rows} = await parseUsageReport(path)
  const byDayAndType = new Map<string, CostRecord>()
  for (const row of rows) {
    const bytes = row.usageType.endsWith('Bytes')
    const key = `${row.day} ${row.usageType}`
    const quantity = bytes ? (row.amount ?? 0) / BYTES_PER_GB : (row.amount ?? 0)
    const record = byDayAndType.get(key) ?? {
      costUsd: 0,
      day: row.day,
      quantity: 0,
      service: row.usageType.startsWith('BoxUsage') ? 'Amazon Elastic Compute Cloud - Compute' : 'EC2 - Other',
      unit: bytes ? 'GB' : row.usageType.startsWith('BoxUsage') ? 'Hrs' : 'GB-Mo',
      usageType: row.usageType,
    }
    record.quantity += quantity
    record.costUsd += quantity * (USD_PER_GB[row.usageType] ?? 0)
    byDayAndType.set(key, record)
  }
  return [...byDayAndType.values()]
}

/** The CloudWatch series of one instance whose daily bytes are the costs' daily GB of one usage type. */
export function metricSeries(
  costs: CostRecord[],
  series: {usageType: string; instanceId: string; metric: MetricSeries['metric']},
): MetricSeries {
  return {
    daily: Object.fromEntries(
      costs.filter((c) => c.usageType === series.usageType).map((c) => [c.day, Math.round(c.quantity * BYTES_PER_GB)]),
    ),
    instanceId: series.instanceId,
    metric: series.metric,
  }
}

/** The same records moved so that `from` falls on `to` (the CLI reads "today" from the clock). */
export function shiftDays<T extends {day: string}>(records: T[], from: string, to: string): T[] {
  const offset = Date.parse(to) - Date.parse(from)
  return records.map((r) => ({...r, day: new Date(Date.parse(r.day) + offset).toISOString().slice(0, 10)}))
}

export interface StoreAndEndpoint {
  store: Store
  endpoint: AwsEndpoint
  /** Starts this test's endpoint (closed after the test). */
  start(options?: AwsEndpointOptions): Promise<AwsEndpoint>
  /** Static credentials and endpoint for the SDK clients, optionally with a wrong key or secret. */
  connection: (
    overrides?: Partial<AwsEndpoint['credentials']>,
    region?: string,
  ) => {credentials: AwsEndpoint['credentials']; endpoint: string; region: string}
}

/** A fresh store file per test and the test's endpoint, both torn down after it. */
export function useStoreAndEndpoint(): StoreAndEndpoint {
  let cleanup = (): void => undefined
  const context = {
    connection: (overrides = {}, region = 'us-east-1') => ({
      credentials: {...context.endpoint.credentials, ...overrides},
      endpoint: context.endpoint.url,
      region,
    }),
    async start(options: AwsEndpointOptions = {}) {
      context.endpoint = await startAwsEndpoint(options)
      return context.endpoint
    },
  } as StoreAndEndpoint
  beforeEach(async () => {
    const temp = tempDir()
    cleanup = temp.cleanup
    context.store = await Store.open(join(temp.dir, 'bw.duckdb'))
  })
  afterEach(async () => {
    await context.store.close()
    await context.endpoint?.close()
    cleanup()
  })
  return context
}
