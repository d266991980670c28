import {BillwatchError} from '../errors.js'
import type {Store} from '../store/index.js'
import type {Container, FormatKind} from './sniff.js'
import {STAGING_TABLE} from './write.js'

/** Where each normalized field lives in a columnar export (CUR 1.0, CUR 2.0, FOCUS). */
interface ColumnMap {
  family: 'cur' | 'focus'
  start: string
  /** First column present wins (FOCUS 1.0 x_UsageType, 1.2 SkuMeter). */
  usageType: string[]
  amount: string
  unit?: string
  cost?: string
  currency?: string
  account?: string
  service: string[]
  operation?: string
  resourceId?: string
  region?: string
  /** Rows that make the usage series; other types (Tax, Credit, RIFee …) are counted but not stored. */
  kindColumn: string
  usageKinds: string[]
  /** FOCUS ChargeClass = 'Correction' adjusts earlier periods: kept out of daily usage. */
  excludeColumn?: string
  excludeValues?: string[]
  billingStart?: string
  billingEnd?: string
}

const CUR_USAGE_KINDS = ['Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage']

const MAPS: Record<'cur1' | 'cur2' | 'focus', ColumnMap> = {
  cur1: {
    account: 'lineItem/UsageAccountId', amount: 'lineItem/UsageAmount', billingEnd: 'bill/BillingPeriodEndDate',
    billingStart: 'bill/BillingPeriodStartDate', cost: 'lineItem/UnblendedCost', currency: 'lineItem/CurrencyCode',
    family: 'cur', kindColumn: 'lineItem/LineItemType', operation: 'lineItem/Operation', region: 'product/region',
    resourceId: 'lineItem/ResourceId', service: ['lineItem/ProductCode'], start: 'lineItem/UsageStartDate',
    unit: 'pricing/unit', usageKinds: CUR_USAGE_KINDS, usageType: ['lineItem/UsageType'],
  },
  // CUR 2.0 and CUR 1.0's Athena/Parquet layout share these snake_case names.
  cur2: {
    account: 'line_item_usage_account_id', amount: 'line_item_usage_amount', billingEnd: 'bill_billing_period_end_date',
    billingStart: 'bill_billing_period_start_date', cost: 'line_item_unblended_cost', currency: 'line_item_currency_code',
    family: 'cur', kindColumn: 'line_item_line_item_type', operation: 'line_item_operation', region: 'product_region_code',
    resourceId: 'line_item_resource_id', service: ['line_item_product_code'], start: 'line_item_usage_start_date',
    unit: 'pricing_unit', usageKinds: CUR_USAGE_KINDS, usageType: ['line_item_usage_type'],
  },
  focus: {
    account: 'SubAccountId', amount: 'ConsumedQuantity', billingEnd: 'BillingPeriodEnd', billingStart: 'BillingPeriodStart',
    cost: 'BilledCost', currency: 'BillingCurrency', excludeColumn: 'ChargeClass', excludeValues: ['Correction'],
    family: 'focus', kindColumn: 'ChargeCategory', operation: 'x_Operation', region: 'RegionId', resourceId: 'ResourceId',
    service: ['x_ServiceCode', 'ServiceName'], start: 'ChargePeriodStart', unit: 'ConsumedUnit', usageKinds: ['Usage'],
    usageType: ['x_UsageType', 'SkuMeter'],
  },
}

export interface ColumnarScan {
  lineItems: number
  billingStart: null | string
  billingEnd: null | string
}

let scanCounter = 0

/**
 * Scans one CUR/FOCUS file with DuckDB (CSV, .csv.gz or Parquet), rolls it up to days and appends
 * the usage rows to the staging table. Bad values are collected by DuckDB's reject tables and the
 * first one becomes a located error, so nothing is staged from a bad file.
 */
export async function stageColumnar(store: Store, path: string, kind: FormatKind, container: Container, columns: string[]): Promise<ColumnarScan> {
  try {
    return await scanColumnar(store, path, kind, container, columns)
  } catch (error) {
    // The fast scan stops at whichever bad row a thread meets first; a second scan with reject
    // tables finds the first bad line, so the error names it. Only failing files pay for this.
    // A file with no rows (E_EMPTY) has no bad row to find.
    if (container === 'parquet' || !(error instanceof BillwatchError) || error.code === 'E_HEADER' || error.code === 'E_EMPTY') throw error
    const scratch = await store.scratch()
    try {
      await throwFirstBadRow(scratch, path, kind, container, columns)
    } finally {
      await scratch.close()
    }
    // No reject found: the fast scan's own error stands.
    throw error
  }
}

async function scanColumnar(store: Store, path: string, kind: FormatKind, container: Container, columns: string[]): Promise<ColumnarScan> {
  const {scanTable} = await rollUp(store, path, kind, container, columns)
  await store.run(`INSERT INTO ${STAGING_TABLE}
    SELECT day, account, region, service, usage_type, operation, resource_id, amount, unit, cost, currency
    FROM ${scanTable} WHERE usage_lines > 0 AND usage_type IS NOT NULL AND usage_type <> '' AND day IS NOT NULL`)
  const totals = await store.one<{line_items: number; billing_start: null | string; billing_end: null | string}>(
    `SELECT coalesce(sum(line_items), 0)::BIGINT AS line_items,
            strftime(min(billing_start), '%Y-%m-%d') AS billing_start, strftime(max(billing_end), '%Y-%m-%d') AS billing_end
     FROM ${scanTable}`,
  )
  await store.run(`DROP TABLE ${scanTable}`)
  if (!totals || totals.line_items === 0) throw new BillwatchError('E_EMPTY', 'no line items after the header', {file: path})
  return {billingEnd: totals.billing_end, billingStart: totals.billing_start, lineItems: totals.line_items}
}

/**
 * Rescans a CSV that failed, with DuckDB's reject tables, and throws its first bad row as a located
 * error. Only locates: it stages nothing, and returns when no row was rejected. Runs on a scratch
 * connection (the failed scan aborted the caller's transaction), which has no staging table.
 */
async function throwFirstBadRow(scratch: Store, path: string, kind: FormatKind, container: Container, columns: string[]): Promise<void> {
  const {rejects, scanTable, typed} = await rollUp(scratch, path, kind, container, columns, true)
  await scratch.run(`DROP TABLE ${scanTable}`)
  await throwFirstReject(scratch, path, rejects, typed)
}

/**
 * Rolls the file up to one row per daily usage key, in a temp table. With `collectRejects`, bad CSV
 * rows go to the reject table named in the result instead of failing the scan.
 */
async function rollUp(store: Store, path: string, kind: FormatKind, container: Container, columns: string[], collectRejects = false): Promise<{rejects: string; scanTable: string; typed: Record<string, string>}> {
  const map = MAPS[kind as 'cur1' | 'cur2' | 'focus']
  if (!map) throw new BillwatchError('E_FORMAT', `${kind} is not a columnar export`, {file: path})
  const present = new Set(columns)
  const pick = (names: string[]) => names.find((n) => present.has(n))
  const usageType = pick(map.usageType)
  for (const [field, name] of [['usage start', map.start], ['usage type', usageType ?? map.usageType.join(' or ')], ['usage amount', map.amount], ['charge type', map.kindColumn]] as const) {
    if (!present.has(name)) {
      throw new BillwatchError('E_HEADER', `missing required column for ${kind} (${field})`, {field: name, file: path, line: container === 'parquet' ? undefined : 1})
    }
  }
  const col = (name: string | undefined) => (name && present.has(name) ? quoteIdent(name) : 'NULL')
  const service = pick(map.service)
  const id = ++scanCounter
  const rejects = `bw_rejects_${id}`
  const typed: Record<string, string> = {[map.start]: 'TIMESTAMP', [map.amount]: 'DOUBLE'}
  if (map.cost && present.has(map.cost)) typed[map.cost] = 'DOUBLE'
  if (map.billingStart && present.has(map.billingStart)) typed[map.billingStart] = 'TIMESTAMP'
  if (map.billingEnd && present.has(map.billingEnd)) typed[map.billingEnd] = 'TIMESTAMP'

  const source = container === 'parquet'
    ? `read_parquet(${quoteLiteral(path)})`
    : `read_csv(${quoteLiteral(path)}, header = true, all_varchar = true, quote = '"', escape = '"', delim = ',',
         types = {${Object.entries(typed).map(([k, v]) => `${quoteLiteral(k)}: '${v}'`).join(', ')}},
         compression = '${container === 'csv.gz' ? 'gzip' : 'none'}', max_line_size = 10000000
         ${collectRejects ? `, store_rejects = true, rejects_table = '${rejects}', rejects_scan = '${rejects}_scan'` : ''})`
  const cast = (name: string, type: string) => (container === 'parquet' ? `TRY_CAST(${col(name)} AS ${type})` : col(name))
  const exclude = map.excludeColumn && present.has(map.excludeColumn)
    ? `AND coalesce(${col(map.excludeColumn)}, '') NOT IN (${(map.excludeValues ?? []).map(quoteLiteral).join(', ')})`
    : ''
  const scanTable = `bw_scan_${id}`
  try {
    // Grouping keys are only what identifies a daily usage line; unit, currency and region follow
    // from them (any_value), and non-usage lines are counted by FILTER rather than split by a key.
    // Fewer VARCHAR keys halve the hash aggregate over a multi-GB month.
    const usageLine = `(${col(map.kindColumn)} IN (${map.usageKinds.map(quoteLiteral).join(', ')}) ${exclude})`
    await store.run(`CREATE OR REPLACE TEMP TABLE ${scanTable} AS
      SELECT CAST(${cast(map.start, 'TIMESTAMP')} AS DATE) AS day,
             ${col(map.account)}::VARCHAR AS account, ${col(service)}::VARCHAR AS service,
             ${col(usageType)}::VARCHAR AS usage_type, ${col(map.operation)}::VARCHAR AS operation,
             nullif(${col(map.resourceId)}::VARCHAR, '') AS resource_id,
             any_value(${col(map.region)}::VARCHAR) AS region,
             sum(${cast(map.amount, 'DOUBLE')}) FILTER (WHERE ${usageLine}) AS amount,
             any_value(${col(map.unit)}::VARCHAR) FILTER (WHERE ${usageLine}) AS unit,
             sum(${map.cost ? cast(map.cost, 'DOUBLE') : 'NULL'}) FILTER (WHERE ${usageLine}) AS cost,
             any_value(${col(map.currency)}::VARCHAR) AS currency,
             count(*) FILTER (WHERE ${usageLine}) AS usage_lines,
             count(*) AS line_items,
             min(${map.billingStart ? cast(map.billingStart, 'TIMESTAMP') : 'NULL'}) AS billing_start,
             max(${map.billingEnd ? cast(map.billingEnd, 'TIMESTAMP') : 'NULL'}) AS billing_end
      FROM ${source}
      GROUP BY ALL`)
  } catch (error) {
    throw duckdbError(path, error)
  }
  return {rejects, scanTable, typed}
}

/** Column names of a Parquet file, via DuckDB (used by format sniffing). */
export async function parquetColumns(store: Store, path: string): Promise<string[]> {
  try {
    const rows = await store.all<{column_name: string}>(`SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(${quoteLiteral(path)}))`)
    return rows.map((r) => r.column_name)
  } catch (error) {
    throw duckdbError(path, error)
  }
}

async function throwFirstReject(store: Store, path: string, rejects: string, typed: Record<string, string>): Promise<void> {
  const first = await store.one<{line: number; column_name: null | string; error_type: string; csv_line: null | string; error_message: string}>(
    `SELECT line, column_name, error_type, csv_line, error_message FROM ${rejects} ORDER BY line LIMIT 1`,
  )
  await store.run(`DROP TABLE IF EXISTS ${rejects}; DROP TABLE IF EXISTS ${rejects}_scan`)
  if (!first) return
  if (first.error_type === 'CAST' && first.column_name) {
    const type = typed[first.column_name]
    const got = /Could not convert string "(.*)" to/.exec(first.error_message)?.[1]
    const expected = type === 'DOUBLE' ? 'a number' : 'a valid ISO 8601 UTC timestamp (YYYY-MM-DDTHH:MM:SSZ)'
    throw new BillwatchError('E_VALUE', '', {expected, field: first.column_name, file: path, line: first.line, ...(got === undefined ? {} : {got})})
  }
  const what = first.error_type.toLowerCase().replaceAll('_', ' ')
  throw new BillwatchError('E_FORMAT', `malformed CSV row (${what})`, {expected: 'the same number of fields as the header', file: path, line: first.line})
}

function duckdbError(path: string, error: unknown): BillwatchError {
  const text = error instanceof Error ? error.message : String(error)
  const line = /Line: (\d+)/.exec(text)?.[1]
  const first = text.split('\n')[0] ?? text
  if (/gzip|inflate|compress/i.test(text)) {
    return new BillwatchError('E_TRUNCATED', `compressed data is corrupt (${first})`, {expected: 'a complete .gz file', file: path})
  }
  return new BillwatchError('E_FORMAT', first.replace(/^[A-Za-z ]+Error: /, ''), {file: path, ...(line === undefined ? {} : {line: Number(line)})})
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}
