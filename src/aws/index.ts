/**
 * Live AWS ingestion: Cost Explorer and CloudWatch into the store, through the same write path as
 * file exports (src/store/usage-import.ts), so a re-run never double-counts and richer families win.
 */
import {createHash} from 'node:crypto'

import type {ProgressCallback} from '../core/progress.js'
import {BillwatchError} from '../errors.js'
import type {Family, SourceMeta, UsageRow} from '../ingest/rows.js'
import type {Store} from '../store/index.js'
import {coveredDayRanges} from '../store/sources.js'
import {findSourceByHash, writeUsage} from '../store/usage-import.js'
import {type AwsConnection, cloudWatchClient, costExplorerClient} from './clients.js'
import {checkInstanceIds, fetchNetworkMetrics, listInstances, metricRows} from './cloudwatch.js'
import {costRows, fetchCostAndUsage, type Granularity, USD_PER_CE_REQUEST} from './cost-explorer.js'
import {addDays, CE_RESTATE_DAYS, type DayRange, daysBetween, planWindow, utcDay} from './window.js'

/** Cost Explorer keeps DAILY data 13 months and HOURLY data 14 days (formats.md §5.3). */
export const MAX_DAYS: Record<Granularity, number> = {DAILY: 395, HOURLY: 14}
export const DEFAULT_DAYS = 90

export interface CostExplorerIngestOptions extends AwsConnection {
  /** Complete days before today to hold; default 90 (DAILY) or 14 (HOURLY). */
  days?: number
  granularity?: Granularity
  /** Every usage type, not only data transfer. */
  allUsage?: boolean
  /** "Today" (tests); default the current UTC day. */
  now?: Date
  onProgress?: ProgressCallback
}

export interface AwsIngestResult {
  source: 'cloudwatch' | 'cost-explorer'
  /** 'unchanged' when AWS returned exactly what an earlier run stored (a no-op). */
  status: 'ingested' | 'unchanged'
  /** The days asked for, [start, end). */
  window: DayRange
  /** The days fetched, [start, end): what the store lacked plus the restated tail. */
  fetched: DayRange
  /** API requests made (pages). Each Cost Explorer request costs $0.01; throttled attempts are free. */
  requests: number
  requestCostUsd: number
  throttledRetries: number
  /** Days fetched, and how many of them the store already held (re-fetched because AWS restates them). */
  days: number
  restatedDays: number
  /** Daily rows written, and older rows of the same family they replaced. */
  rows: number
  replacedRows: number
  sourceId: null | number
}

export interface CostExplorerIngestResult extends AwsIngestResult {
  source: 'cost-explorer'
  granularity: Granularity
  allUsage: boolean
  /** Days Cost Explorer marked Estimated: refetched on the next run. */
  estimatedDays: string[]
}

/**
 * Fetches from Cost Explorer what the store lacks (plus the last CE_RESTATE_DAYS days) and writes
 * it as one 'cost-explorer-api' source. Credentials and region: the SDK's standard chain.
 */
export async function ingestCostExplorer(
  store: Store,
  options: CostExplorerIngestOptions = {},
): Promise<CostExplorerIngestResult> {
  const granularity = options.granularity ?? 'DAILY'
  const allUsage = options.allUsage ?? false
  const days = options.days ?? Math.min(DEFAULT_DAYS, MAX_DAYS[granularity])
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS[granularity]) {
    throw new BillwatchError('E_USAGE', `Cost Explorer keeps ${granularity} data for ${MAX_DAYS[granularity]} days`, {
      expected: `--days between 1 and ${MAX_DAYS[granularity]}`,
      got: String(days),
    })
  }
  const today = utcDay(options.now ?? new Date())
  // A data-transfer fetch covers only data transfer: it does not count as coverage for --all-usage.
  const format = allUsage ? 'cost-explorer-all' : 'cost-explorer-data-transfer'
  const formats = allUsage ? [format] : [format, 'cost-explorer-all']
  const plan = planWindow({
    covered: await coveredDayRanges(store, {family: 'cost-explorer-api', formats}),
    days,
    restateDays: CE_RESTATE_DAYS,
    today,
  })

  const fetched = await fetchCostAndUsage(
    costExplorerClient(options),
    {allUsage, granularity, range: plan.fetch},
    {
      connection: options,
      ...(options.onProgress ? {onPage: (pages: number) => options.onProgress?.(pages)} : {}),
    },
  )
  const converted = costRows(fetched.results)
  const written = await writeSource(store, {
    family: 'cost-explorer-api',
    format,
    path: `aws:cost-explorer:${granularity}:${plan.fetch.start}..${plan.fetch.end}`,
    range: plan.fetch,
    rows: converted.rows,
    scope: 'listed',
  })
  return {
    allUsage,
    days: daysBetween(plan.fetch.start, plan.fetch.end),
    estimatedDays: converted.estimatedDays,
    fetched: plan.fetch,
    granularity,
    replacedRows: written.replacedRows,
    requestCostUsd: round2(fetched.requests * USD_PER_CE_REQUEST),
    requests: fetched.requests,
    restatedDays: plan.restated,
    rows: written.rows,
    source: 'cost-explorer',
    sourceId: written.sourceId,
    status: written.status,
    throttledRetries: fetched.retries,
    window: plan.wanted,
  }
}

export interface CloudWatchIngestOptions extends AwsConnection {
  /** Instance ids to read; or `allInstances` to list them (needs cloudwatch:ListMetrics). */
  instances?: string[]
  allInstances?: boolean
  days?: number
  now?: Date
  onProgress?: ProgressCallback
}

export interface CloudWatchIngestResult extends AwsIngestResult {
  source: 'cloudwatch'
  region: string
  instances: string[]
}

/** CloudWatch keeps hourly points 455 days; older data is gone. */
export const MAX_CLOUDWATCH_DAYS = 455

/**
 * Daily NetworkOut/NetworkIn per instance for the whole window, written as one 'cloudwatch' source
 * that restates only the instances it names. Not incremental on purpose: GetMetricData is priced per
 * metric requested, not per day, so fetching fewer days would save nothing.
 */
export async function ingestCloudWatch(
  store: Store,
  options: CloudWatchIngestOptions = {},
): Promise<CloudWatchIngestResult> {
  const days = options.days ?? DEFAULT_DAYS
  if (!Number.isInteger(days) || days < 1 || days > MAX_CLOUDWATCH_DAYS) {
    throw new BillwatchError('E_USAGE', `CloudWatch keeps daily sums for ${MAX_CLOUDWATCH_DAYS} days`, {
      expected: `--days between 1 and ${MAX_CLOUDWATCH_DAYS}`,
      got: String(days),
    })
  }
  const given = checkInstanceIds(options.instances ?? [])
  if (given.length === 0 && !options.allInstances) {
    throw new BillwatchError('E_USAGE', '--cloudwatch needs instances', {
      expected: '--instances ID… or --all-instances',
    })
  }
  const client = cloudWatchClient(options)
  const region = await client.config.region()
  let requests = 0
  let instances = given
  if (options.allInstances) {
    const listed = await listInstances(client, options)
    requests += listed.requests
    instances = [...new Set([...given, ...listed.instances])].sort()
  }
  const today = utcDay(options.now ?? new Date())
  const range = {end: today, start: addDays(today, -days)}
  const fetched =
    instances.length === 0
      ? {points: [], requests: 0, retries: 0}
      : await fetchNetworkMetrics(client, instances, range, {
          connection: options,
          ...(options.onProgress ? {onPage: (pages: number) => options.onProgress?.(pages)} : {}),
        })
  requests += fetched.requests
  const written = await writeSource(store, {
    family: 'cloudwatch',
    format: 'cloudwatch-ec2-network',
    path: `aws:cloudwatch:${region}:${range.start}..${range.end}:${instances.length <= 3 ? instances.join(',') : `${instances.length} instances`}`,
    range,
    rows: metricRows(fetched.points, region),
    scope: 'resources',
  })
  return {
    days,
    fetched: range,
    instances,
    region,
    replacedRows: written.replacedRows,
    requestCostUsd: 0,
    requests,
    restatedDays: 0,
    rows: written.rows,
    source: 'cloudwatch',
    sourceId: written.sourceId,
    status: written.status,
    throttledRetries: fetched.retries,
    window: range,
  }
}

interface SourceToWrite {
  family: Family
  format: string
  path: string
  range: DayRange
  rows: UsageRow[]
  scope: SourceMeta['scope']
}

/** One source per fetch; identical content (same window, same answer) is recognised and skipped. */
async function writeSource(
  store: Store,
  source: SourceToWrite,
): Promise<{status: 'ingested' | 'unchanged'; rows: number; replacedRows: number; sourceId: null | number}> {
  const canonical = JSON.stringify({format: source.format, range: source.range, rows: source.rows, scope: source.scope})
  const contentHash = createHash('sha256').update(canonical).digest('hex')
  const previous = await findSourceByHash(store, contentHash)
  if (previous) return {replacedRows: 0, rows: previous.rows, sourceId: previous.sourceId, status: 'unchanged'}
  const outcome = await writeUsage(
    store,
    {
      bytes: Buffer.byteLength(canonical),
      container: 'api',
      contentHash,
      coverEnd: source.range.end,
      coverStart: source.range.start,
      family: source.family,
      format: source.format,
      lineItems: source.rows.length,
      path: source.path,
      scope: source.scope,
    },
    source.rows,
  )
  return {replacedRows: outcome.replacedRows, rows: outcome.rows, sourceId: outcome.sourceId, status: 'ingested'}
}

function round2(usd: number): number {
  return Math.round(usd * 100) / 100
}

export interface LiveIngestOptions extends AwsConnection {
  costExplorer?: Omit<CostExplorerIngestOptions, keyof AwsConnection>
  cloudWatch?: Omit<CloudWatchIngestOptions, keyof AwsConnection>
  onProgress?: ProgressCallback
}

export interface LiveIngestResult {
  store: string
  costExplorer: CostExplorerIngestResult | null
  cloudWatch: CloudWatchIngestResult | null
  /** API requests of both; only Cost Explorer's are billed ($0.01 each). */
  requests: number
  requestCostUsd: number
}

/**
 * `billwatch ingest --cost-explorer/--cloudwatch`: each source is written in its own transaction, so a
 * CloudWatch failure keeps the Cost Explorer data already paid for.
 */
export async function ingestLive(store: Store, options: LiveIngestOptions): Promise<LiveIngestResult> {
  const {cloudWatch, costExplorer, onProgress, ...connection} = options
  const progress = onProgress ? {onProgress} : {}
  const ce = costExplorer ? await ingestCostExplorer(store, {...connection, ...costExplorer, ...progress}) : null
  const cw = cloudWatch ? await ingestCloudWatch(store, {...connection, ...cloudWatch, ...progress}) : null
  const requests = (ce?.requests ?? 0) + (cw?.requests ?? 0)
  return {cloudWatch: cw, costExplorer: ce, requestCostUsd: ce?.requestCostUsd ?? 0, requests, store: store.path}
}
