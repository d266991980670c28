/**
 * The query billwatch sends Athena: the local ingest's daily roll-up (src/store/rollup-sql.ts, over the scan
 * plans of src/ingest/columnar.ts), rendered for Trino over a catalogued table and pruned to a day range. No
 * store connection here (rollup-sql.ts is SQL text only), so the scheduled Lambda's bundle can use it too.
 */
import type {AthenaClient} from '@aws-sdk/client-athena'
import type {GlueClient} from '@aws-sdk/client-glue'

import type {AwsConnection} from '../aws/clients.js'
import type {DayRange} from '../aws/window.js'
import {utcDay} from '../aws/window.js'
import {formatBytes, formatUsd} from '../core/units.js'
import {BillwatchError} from '../errors.js'
import {buildPlan, Columns, quoteIdent, quoteLiteral} from '../ingest/columnar.js'
import type {UsageRow} from '../ingest/rows.js'
import {BYTES_PER_GB} from '../pricing/egress.js'
import {TRINO} from '../ingest/dialect.js'
import {type ROLLUP_COLUMNS, tableRollupSql} from '../store/rollup-sql.js'
import {type AthenaTable, estimateScan, partitionPredicate, type ScanEstimate} from './catalog.js'
import {type QueryOptions, type QueryResult, runQuery, scanCostUsd} from './query.js'

const GB = 2 ** 30
export {DEFAULT_MAX_SCAN_GB} from './limits.js'

const DAY = /^\d{4}-\d{2}-\d{2}$/

/** The table argument: TABLE or DATABASE.TABLE (a --database given too must agree). */
export function parseTableName(table: string, database: string | undefined): {database: string; name: string} {
  const parts = table.split('.')
  const name = parts.at(-1) ?? ''
  const db = parts.length === 2 ? parts[0] : database
  const ident = /^[A-Za-z0-9_-]{1,255}$/
  if (parts.length > 2 || !ident.test(name))
    throw new BillwatchError('E_USAGE', '--athena: not a table name', {
      expected: 'TABLE or DATABASE.TABLE (letters, digits, _ and -)',
      field: '--athena',
      got: table,
    })
  if (db === undefined)
    throw new BillwatchError('E_USAGE', '--athena: which database?', {
      expected: 'DATABASE.TABLE or --database DB',
      field: '--database',
    })
  if (!ident.test(db))
    throw new BillwatchError('E_USAGE', '--database: not a database name', {field: '--database', got: db})
  if (parts.length === 2 && database !== undefined && database !== db)
    throw new BillwatchError('E_USAGE', `--athena names database ${db}, --database ${database}`, {field: '--database'})
  return {database: db, name}
}

export function checkDay(day: string, flag: string): string {
  if (!DAY.test(day) || utcDay(new Date(`${day}T00:00:00Z`)) !== day)
    throw new BillwatchError('E_USAGE', `${flag}: not a day`, {expected: 'YYYY-MM-DD', field: flag, got: day})
  return day
}

/** The query for a table and day range, and the plan behind it (rendered from the local ingest's definition). */
export function athenaQuery(table: AthenaTable, range: DayRange): {sql: string; costBasis: string} {
  const names = [...table.columns, ...table.partitionKeys]
  const cols = new Columns(
    names.map((c) => c.name),
    true,
    true,
    TRINO,
  )
  const where = `${table.database}.${table.name}`
  const plan = buildPlan(table.kind === 'focus' ? 'focus' : 'cur2', cols, where, undefined)
  const startColumn = cols.find(plan.start)!
  const startType = names.find((c) => c.name === startColumn)?.type ?? ''
  // A timestamp column is compared bare, so Athena can skip Parquet row groups by their statistics.
  const startRead = startType.startsWith('timestamp') ? quoteIdent(startColumn) : cols.timestamp(startColumn)
  const filters = [
    partitionPredicate(table.partitionKeys, range),
    `${startRead} >= TIMESTAMP ${quoteLiteral(`${range.start} 00:00:00`)}`,
    `${startRead} < TIMESTAMP ${quoteLiteral(`${range.end} 00:00:00`)}`,
  ].filter((f) => f !== null)
  return {
    costBasis: plan.costBasis,
    sql: tableRollupSql(plan, {
      database: table.database,
      dialect: TRINO,
      filters,
      start: cols.timestamp(plan.start),
      table: table.name,
    }),
  }
}

/**
 * Checks the scan estimate against the limit, then runs the roll-up over `range` and returns its
 * rows (ROLLUP_COLUMNS, as text). Refused before anything is billed when the estimate is unknown or too large.
 */
export async function queryRollup(
  glue: GlueClient,
  athena: AthenaClient,
  connection: AwsConnection,
  table: AthenaTable,
  range: DayRange,
  options: Omit<QueryOptions, 'database'> & {maxScanGb: number},
): Promise<{costBasis: string; estimate: ScanEstimate; result: QueryResult; sql: string}> {
  if (table.kind === 'vpc')
    throw new BillwatchError('E_FORMAT', 'a VPC Flow Logs table, not a billing export', {
      expected: 'a CUR 1.0, CUR 2.0 or FOCUS table',
      file: `${table.database}.${table.name}`,
    })
  const {costBasis, sql} = athenaQuery(table, range)
  return {costBasis, ...(await queryWithinLimit(glue, athena, connection, table, range, sql, options))}
}

/** Runs `sql` over `range` of the table once the pruned partitions' size is known and within --max-scan-gb. */
export async function queryWithinLimit(
  glue: GlueClient,
  athena: AthenaClient,
  connection: AwsConnection,
  table: AthenaTable,
  range: DayRange,
  sql: string,
  options: Omit<QueryOptions, 'database'> & {maxScanGb: number},
): Promise<{estimate: ScanEstimate; result: QueryResult; sql: string}> {
  const where = `${table.database}.${table.name}`
  const estimate = await estimateScan(glue, connection, table, range)
  if (estimate.bytes === null) {
    throw new BillwatchError(
      'E_USAGE',
      `cannot estimate the scan: the Glue Data Catalog states no size for ${estimate.unsized} of ${Math.max(1, estimate.partitions)} partition(s) of ${where}`,
      {
        field: '--max-scan-gb',
        suggestions: ["run the table's Glue crawler (it records each partition's sizeKey), then run billwatch again"],
      },
    )
  }
  if (estimate.bytes > options.maxScanGb * GB) {
    throw new BillwatchError(
      'E_USAGE',
      `the query would scan up to ${formatBytes(estimate.bytes)} (${estimate.partitions} partitions, about ${formatUsd(scanCostUsd(estimate.bytes))}), above --max-scan-gb ${options.maxScanGb}`,
      {
        field: '--max-scan-gb',
        suggestions: [`narrow --since/--until, or raise --max-scan-gb to ${Math.ceil(estimate.bytes / GB)}`],
      },
    )
  }
  const {maxScanGb: _, ...query} = options
  const result = await runQuery(athena, connection, sql, {...query, database: table.database})
  return {estimate, result, sql}
}

/**
 * The usage lines of a roll-up answer as UsageRows, amounts of byte usage in bytes (AWS GB = 2^30),
 * for readers without a store (the scheduled Lambda); the store path converts the same way on commit.
 */
export function rollupUsageRows(result: Pick<QueryResult, 'columns' | 'rows'>): UsageRow[] {
  const at = (name: (typeof ROLLUP_COLUMNS)[number]) => result.columns.indexOf(name)
  const [kind, day, usageType, usageBase, amount, unit, cost, listCost] = (
    ['row_kind', 'day', 'usage_type', 'usage_base', 'amount', 'unit', 'cost', 'list_cost'] as const
  ).map(at)
  const text = (row: (null | string)[], i: number | undefined) => (i === undefined || i < 0 ? null : (row[i] ?? null))
  const number = (row: (null | string)[], i: number | undefined) => {
    const value = text(row, i)
    return value === null ? null : Number(value)
  }
  return result.rows
    .filter((row) => text(row, kind) === 'usage' && text(row, usageType))
    .map((row) => {
      const type = text(row, usageBase) ?? text(row, usageType)!
      const gb = type.endsWith('Bytes') && ['GB', 'GiB'].includes(text(row, unit) ?? '')
      const value = number(row, amount)
      return {
        account: text(row, at('account')),
        amount: value === null ? null : gb ? value * BYTES_PER_GB : value,
        cost: number(row, cost),
        currency: text(row, at('currency')),
        day: text(row, day)!.slice(0, 10),
        listCost: number(row, listCost),
        operation: text(row, at('operation')),
        provider: text(row, at('provider')),
        region: text(row, at('region')),
        resourceId: text(row, at('resource_id')),
        service: text(row, at('service')),
        unit: gb ? 'bytes' : text(row, unit),
        usageType: type,
      }
    })
}
