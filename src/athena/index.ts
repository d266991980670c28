/**
 * `billwatch ingest --athena TABLE`: the daily roll-up the local ingest runs over a file, rendered
 * for Trino and run by Athena over the export's table where it lives; only the daily rows come back,
 * and they enter the store through the same staging and commit as a file's.
 */
import {createHash} from 'node:crypto'

import type {GlueClient} from '@aws-sdk/client-glue'

import {type AwsConnection, athenaClient, glueClient} from '../aws/clients.js'
import {addDays, type DayRange, planRange, utcDay} from '../aws/window.js'

export {athenaQuery, DEFAULT_MAX_SCAN_GB, parseTableName} from './plan.js'
import {BillwatchError} from '../errors.js'
import type {SourceMeta} from '../ingest/rows.js'
import type {Store} from '../store/index.js'
import {coveredFlowDays, flowsQuery} from '../store/athena-flows.js'
import {coveredDayRanges} from '../store/sources.js'
import {ROLLUP_COLUMNS} from '../store/rollup-sql.js'
import {writeRollupAnswer} from '../store/usage-scan.js'
import {type AthenaTable, describeTable} from './catalog.js'
import {writeFlowRollup} from './flows.js'
import {checkDay, DEFAULT_MAX_SCAN_GB, parseTableName, queryRollup, queryWithinLimit} from './plan.js'

export const DEFAULT_ATHENA_DAYS = 90
/**
 * AWS keeps restating a billing period's CUR/FOCUS rows until the month is closed, a few days into
 * the next (billing-exports-2.md: replace a whole period, never append): so the open month, and the
 * previous one during the first days of a month, are queried again on every run.
 */
export const CLOSE_DAYS = 5
/** Flow logs: a day's records are all delivered within minutes of its end; the day before today is read again. */
export const FLOW_SETTLE_DAYS = 1

export interface AthenaIngestOptions extends AwsConnection {
  table: string
  database?: string
  workgroup?: string
  output?: string
  /** Days [since, until); default the 90 days before today, today excluded. */
  since?: string
  until?: string
  maxScanGb?: number
  /** A VPC Flow Logs table without flow-direction: the interfaces' address (records from it are egress). */
  host?: string
  now?: Date
  signal?: AbortSignal
  pollMs?: number
  onPoll?: (state: string) => void
}

export interface AthenaIngestResult {
  store: string
  source: 'athena'
  table: string
  kind: AthenaTable['kind']
  status: 'ingested' | 'unchanged' | 'up to date'
  window: DayRange
  fetched: DayRange
  restatedDays: number
  partitions: number
  estimatedScanBytes: null | number
  maxScanBytes: number
  queryExecutionId: null | string
  bytesScanned: number
  scanCostUsd: number
  rows: number
  replacedRows: number
  resultPages: number
  throttledRetries: number
  sourceId: null | number
  sql: string
}

const GB = 2 ** 30

/**
 * Reads what the store lacks from the table (plus the restatement window), after checking the
 * scan estimate against --max-scan-gb, and writes it as one source in one transaction.
 */
export async function ingestAthena(store: Store, options: AthenaIngestOptions): Promise<AthenaIngestResult> {
  const {database, name} = parseTableName(options.table, options.database)
  const maxScanGb = options.maxScanGb ?? DEFAULT_MAX_SCAN_GB
  if (!(maxScanGb > 0))
    throw new BillwatchError('E_USAGE', '--max-scan-gb: must be more than 0', {
      field: '--max-scan-gb',
      got: String(maxScanGb),
    })
  if (options.output !== undefined && !/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(options.output)) {
    throw new BillwatchError('E_USAGE', '--output: not an S3 location', {
      expected: 's3://bucket/prefix/',
      field: '--output',
      got: options.output,
    })
  }
  const today = utcDay(options.now ?? new Date())
  const until = options.until === undefined ? today : checkDay(options.until, '--until')
  const since = options.since === undefined ? addDays(until, -DEFAULT_ATHENA_DAYS) : checkDay(options.since, '--since')
  if (since >= until)
    throw new BillwatchError('E_USAGE', '--since must come before --until', {
      field: '--since',
      got: `${since}..${until}`,
    })

  const glue = glueClient(options)
  const table = await describeTable(glue, options, database, name)
  if (table.kind === 'vpc')
    return ingestAthenaFlows(store, glue, table, {...options, maxScanGb}, {end: until, start: since}, today)
  const format = `athena-${table.kind}`
  const path = `athena:${database}.${name}`
  const covered = await coveredDayRanges(store, {formats: [format], pathPrefix: `${path}:`})
  const closing = addDays(today, -CLOSE_DAYS)
  const plan = planRange({covered, restateFrom: `${closing.slice(0, 7)}-01`, wanted: {end: until, start: since}})
  const base = startingResult(store, table, plan, maxScanGb, `${database}.${name}`)
  if (plan.fetch.start >= plan.fetch.end) return {...base, sql: '', status: 'up to date'}

  const {costBasis, estimate, result, sql} = await queryRollup(
    glue,
    athenaClient(options),
    options,
    table,
    plan.fetch,
    {...options, maxScanGb},
  )
  const ran = {
    ...base,
    bytesScanned: result.bytesScanned,
    estimatedScanBytes: estimate.bytes,
    partitions: estimate.partitions,
    queryExecutionId: result.queryExecutionId,
    resultPages: result.pages,
    scanCostUsd: result.costUsd,
    sql,
    throttledRetries: result.retries,
  }
  const written = await writeRollup(store, result.columns, result.rows, {
    bytes: result.bytesScanned,
    container: 'athena',
    contentHash: '',
    costBasis,
    coverEnd: plan.fetch.end,
    coverStart: plan.fetch.start,
    family: table.kind === 'focus' ? 'focus' : 'cur',
    format,
    lineItems: 0,
    path: `${path}:${plan.fetch.start}..${plan.fetch.end}`,
    scope: 'all',
  })
  return {...ran, ...written}
}

/** An ingest's result before any query runs: nothing fetched, scanned or billed yet. */
function startingResult(
  store: Store,
  table: AthenaTable,
  plan: ReturnType<typeof planRange>,
  maxScanGb: number,
  tableName: string,
) {
  return {
    bytesScanned: 0,
    estimatedScanBytes: null as null | number,
    fetched: plan.fetch,
    kind: table.kind,
    maxScanBytes: maxScanGb * GB,
    partitions: 0,
    queryExecutionId: null as null | string,
    replacedRows: 0,
    restatedDays: plan.restated,
    resultPages: 0,
    rows: 0,
    scanCostUsd: 0,
    source: 'athena' as const,
    sourceId: null as null | number,
    store: store.path,
    table: tableName,
    throttledRetries: 0,
    window: plan.wanted,
  }
}

/**
 * A VPC Flow Logs table: the days no earlier answer of this table covered, and yesterday again (its
 * last records are delivered after midnight), rolled up per day and port by Athena into the flow store.
 */
async function ingestAthenaFlows(
  store: Store,
  glue: GlueClient,
  table: AthenaTable,
  options: AthenaIngestOptions & {maxScanGb: number},
  wanted: DayRange,
  today: string,
): Promise<AthenaIngestResult> {
  const plan = planRange({
    covered: await coveredFlowDays(store, table),
    restateFrom: addDays(today, -FLOW_SETTLE_DAYS),
    wanted,
  })
  const base = startingResult(store, table, plan, options.maxScanGb, `${table.database}.${table.name}`)
  if (plan.fetch.start >= plan.fetch.end) return {...base, sql: '', status: 'up to date'}
  const sql = flowsQuery(table, plan.fetch, options.host === undefined ? [] : [options.host])
  // The query reads one day's partitions more than it keeps (see flowsQuery): so does the estimate.
  const {estimate, result} = await queryWithinLimit(
    glue,
    athenaClient(options),
    options,
    table,
    {end: addDays(plan.fetch.end, 1), start: plan.fetch.start},
    sql,
    options,
  )
  const written = await writeFlowRollup(store, table, plan.fetch, result.columns, result.rows)
  return {
    ...base,
    bytesScanned: result.bytesScanned,
    estimatedScanBytes: estimate.bytes,
    partitions: estimate.partitions,
    queryExecutionId: result.queryExecutionId,
    replacedRows: written.replacedRows,
    resultPages: result.pages,
    rows: written.rows,
    scanCostUsd: result.costUsd,
    sourceId: written.sourceId,
    sql,
    status: written.status,
    throttledRetries: result.retries,
  }
}

/**
 * Athena's answer (text cells in ROLLUP_COLUMNS order) into the store in one transaction: typed in
 * DuckDB, staged and committed as a file's roll-up is. The same answer for the same days is a no-op.
 */
async function writeRollup(
  store: Store,
  columns: string[],
  rows: (null | string)[][],
  meta: SourceMeta,
): Promise<{status: 'ingested' | 'unchanged'; rows: number; replacedRows: number; sourceId: null | number}> {
  const expected = ROLLUP_COLUMNS.join(',')
  if (columns.join(',') !== expected)
    throw new BillwatchError('E_AWS', 'Athena answered other columns than the query asked for', {
      expected,
      got: columns.join(','),
    })
  const canonical = JSON.stringify({
    cover: [meta.coverStart, meta.coverEnd],
    format: meta.format,
    path: meta.path,
    rows,
  })
  const contentHash = createHash('sha256').update(canonical).digest('hex')
  return writeRollupAnswer(store, rows, {...meta, contentHash})
}
