import {BillwatchError} from '../errors.js'
import type {Store} from '../store/index.js'
import {readCsv} from './csv-text.js'
import type {Container, FormatKind} from './sniff.js'
import {EXPECTED_AMOUNT, EXPECTED_COST, expectedDay, parsePlainNumber, PLAIN_NUMBER, type Problem, usageError, usageProblem, usageProblemSql} from './validate.js'
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
    // The fast scan stops at whichever bad row a thread meets first, and names no column; a strict
    // second read finds the first bad line and says what is wrong with it. Only failing files pay
    // for it. (DuckDB's own reject tables are not used: on a byte that is not UTF-8 they can abort
    // the whole database.) A file with no rows (E_EMPTY) has no bad row to find.
    if (!(error instanceof BillwatchError) || error.code === 'E_HEADER' || error.code === 'E_EMPTY') throw error
    if (container === 'parquet') await locateParquetProblem(store, path, kind, columns)
    else await locateCsvProblem(path, kind, container, columns)
    // Nothing found: the fast scan's own error stands.
    throw error
  }
}

async function scanColumnar(store: Store, path: string, kind: FormatKind, container: Container, columns: string[]): Promise<ColumnarScan> {
  const {scanTable} = await rollUp(store, path, kind, container, columns)
  const totals = await store.one<{line_items: number; problems: number; billing_start: null | string; billing_end: null | string}>(
    `SELECT coalesce(sum(line_items), 0)::BIGINT AS line_items, coalesce(sum(problems), 0)::BIGINT AS problems,
            strftime(min(billing_start), '%Y-%m-%d') AS billing_start, strftime(max(billing_end), '%Y-%m-%d') AS billing_end
     FROM ${scanTable}`,
  )
  if (totals && totals.problems > 0) {
    await store.run(`DROP TABLE ${scanTable}`)
    throw new BillwatchError('E_VALUE', 'a value breaks the usage rule', {file: path})
  }
  await store.run(`INSERT INTO ${STAGING_TABLE}
    SELECT day, account, region, service, usage_type, operation, resource_id, amount, unit, cost, currency
    FROM ${scanTable} WHERE usage_lines > 0 AND usage_type IS NOT NULL AND usage_type <> '' AND day IS NOT NULL`)
  await store.run(`DROP TABLE ${scanTable}`)
  if (!totals || totals.line_items === 0) throw new BillwatchError('E_EMPTY', 'no line items after the header', {file: path})
  return {billingEnd: totals.billing_end, billingStart: totals.billing_start, lineItems: totals.line_items}
}

/** Which columns a scan reads, for this kind and header. */
function columnsOf(kind: FormatKind, columns: string[], path: string, container: Container) {
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
  const has = (name: string | undefined): name is string => name !== undefined && present.has(name)
  return {
    billingEnd: has(map.billingEnd) ? map.billingEnd : undefined,
    billingStart: has(map.billingStart) ? map.billingStart : undefined,
    cost: has(map.cost) ? map.cost : undefined,
    map,
    present,
    service: pick(map.service),
    usageType,
  }
}

/**
 * Reads a CSV that failed the fast scan strictly (src/ingest/csv-text.ts: UTF-8, quotes, field
 * counts, with true line numbers) and applies the usage rule line by line, throwing the first
 * problem with its line and column. Returns when it finds none.
 */
async function locateCsvProblem(path: string, kind: FormatKind, container: Container, columns: string[]): Promise<void> {
  const {billingEnd, billingStart, cost, map} = columnsOf(kind, columns, path, container)
  let index = new Map<string, number>()
  for await (const {fields, header, line} of readCsv(path, {gzip: container === 'csv.gz'})) {
    if (header) {
      index = new Map(fields.map((name, i) => [name.trim(), i]))
      continue
    }
    const text = (name: string | undefined) => (name === undefined || !index.has(name) ? '' : (fields[index.get(name) as number] ?? '').trim())
    const located = {file: path, line}
    const day = (name: string) => {
      const raw = text(name)
      if (raw === '') return undefined
      const parsed = timestampDay(raw)
      if (parsed === undefined) throw new BillwatchError('E_VALUE', '', {...located, expected: 'a valid ISO 8601 UTC timestamp (YYYY-MM-DDTHH:MM:SSZ)', field: name, got: raw})
      const problem = usageProblem({amount: null, cost: null, day: parsed})
      if (problem) throw usageError(problem, {...located, fields: {day: name}, raw: {day: raw}})
      return parsed
    }
    const number = (name: string | undefined) => {
      const raw = text(name)
      if (name === undefined || raw === '') return null
      const value = parsePlainNumber(raw)
      if (value !== undefined) return value
      // What DuckDB reads as a double but no bill can hold: NaN, infinities, beyond a double's range.
      if (/^[-+]?(nan|inf(inity)?)$/i.test(raw) || new RegExp(`^${PLAIN_NUMBER}$`).test(raw)) return Number.NaN
      throw new BillwatchError('E_VALUE', '', {...located, expected: 'a number', field: name, got: raw})
    }
    const start = day(map.start)
    if (billingStart) day(billingStart)
    if (billingEnd) day(billingEnd)
    // Every line's numbers must read as numbers (DuckDB types the whole column); the rule holds on usage lines.
    const amount = number(map.amount)
    const costValue = number(cost)
    const usageLine = map.usageKinds.includes(text(map.kindColumn)) && !(map.excludeColumn && (map.excludeValues ?? []).includes(text(map.excludeColumn)))
    if (!usageLine || start === undefined) continue
    const problem = usageProblem({amount, cost: costValue, day: start})
    if (problem) throw usageError(problem, {...located, fields: {amount: map.amount, cost, day: map.start}, raw: {amount: text(map.amount), cost: text(cost), day: text(map.start)}})
  }
}

/** The UTC day of an ISO 8601 timestamp as exports write it (`2024-03-01T00:00:00Z`, `2024-03-01 00:00:00`, `2024-03-01`). */
function timestampDay(text: string): string | undefined {
  const match = /^(-?\d{4,})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2}|UTC)?$/i.exec(text)
  if (!match) return undefined
  const [, year, month, day, hh = '0', mi = '0', ss = '0'] = match
  const date = new Date(0)
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day))
  if (date.getUTCMonth() !== Number(month) - 1 || Number(hh) > 23 || Number(mi) > 59 || Number(ss) > 60) return undefined
  return `${year}-${month}-${day}`
}

/** The first Parquet row that breaks the usage rule, as a located error (Parquet has rows, not lines). */
async function locateParquetProblem(store: Store, path: string, kind: FormatKind, columns: string[]): Promise<void> {
  const {billingEnd, billingStart, cost, map} = columnsOf(kind, columns, path, 'parquet')
  const problem = rowProblemSql(kind, columns, path, 'parquet')
  const first = await store.one<{row: number; problem: Problem['field'] | 'billing'}>(
    `SELECT file_row_number + 1 AS row, problem FROM (SELECT file_row_number, ${problem} AS problem FROM read_parquet(${quoteLiteral(path)}, file_row_number = true))
     WHERE problem IS NOT NULL ORDER BY file_row_number LIMIT 1`,
  )
  if (!first) return
  const field = first.problem === 'amount' ? map.amount : first.problem === 'cost' ? (cost ?? 'cost') : first.problem === 'billing' ? [billingStart, billingEnd].filter(Boolean).join(' or ') : map.start
  const expected = first.problem === 'amount' ? EXPECTED_AMOUNT : first.problem === 'cost' ? EXPECTED_COST : expectedDay()
  throw new BillwatchError('E_VALUE', `row ${first.row}`, {expected, field, file: path})
}

/**
 * The usage rule over one scanned row: the field that breaks it, else NULL. Parquet values that
 * are not numbers at all count as breaking it (a CSV's fail the typed scan instead).
 */
function rowProblemSql(kind: FormatKind, columns: string[], path: string, container: Container): string {
  const {billingEnd, billingStart, cost, map, present} = columnsOf(kind, columns, path, container)
  const col = (name: string | undefined) => (name && present.has(name) ? quoteIdent(name) : 'NULL')
  const parquet = container === 'parquet'
  const timestamp = (name: string) => (parquet ? `TRY_CAST(${col(name)} AS TIMESTAMP)` : col(name))
  const double = (name: string) => (parquet ? `coalesce(TRY_CAST(${col(name)} AS DOUBLE), CASE WHEN ${col(name)} IS NULL THEN NULL ELSE 'NaN'::DOUBLE END)` : col(name))
  const exclude = map.excludeColumn && present.has(map.excludeColumn)
    ? `AND coalesce(${col(map.excludeColumn)}::VARCHAR, '') NOT IN (${(map.excludeValues ?? []).map(quoteLiteral).join(', ')})`
    : ''
  const usageLine = `(${col(map.kindColumn)}::VARCHAR IN (${map.usageKinds.map(quoteLiteral).join(', ')}) ${exclude})`
  const rule = usageProblemSql({
    amount: double(map.amount), ...(cost ? {cost: double(cost)} : {}), day: timestamp(map.start), valuesOnlyWhen: usageLine,
  })
  const billing = [billingStart, billingEnd].filter((name): name is string => name !== undefined).map(timestamp)
  if (billing.length === 0) return rule
  const billingRule = usageProblemSql({day: billing[0] as string, extraDays: billing.slice(1)})
  return `coalesce(${rule}, CASE WHEN ${billingRule} IS NOT NULL THEN 'billing' END)`
}

/** Rolls the file up to one row per daily usage key, in a temp table, counting the lines that break the usage rule. */
async function rollUp(store: Store, path: string, kind: FormatKind, container: Container, columns: string[]): Promise<{scanTable: string}> {
  const {billingEnd, billingStart, cost, map, present, service, usageType} = columnsOf(kind, columns, path, container)
  const col = (name: string | undefined) => (name && present.has(name) ? quoteIdent(name) : 'NULL')
  const id = ++scanCounter
  const typed: Record<string, string> = {[map.start]: 'TIMESTAMP', [map.amount]: 'DOUBLE'}
  if (cost) typed[cost] = 'DOUBLE'
  if (billingStart) typed[billingStart] = 'TIMESTAMP'
  if (billingEnd) typed[billingEnd] = 'TIMESTAMP'

  const source = container === 'parquet'
    ? `read_parquet(${quoteLiteral(path)})`
    : `read_csv(${quoteLiteral(path)}, header = true, all_varchar = true, quote = '"', escape = '"', delim = ',',
         types = {${Object.entries(typed).map(([k, v]) => `${quoteLiteral(k)}: '${v}'`).join(', ')}},
         compression = '${container === 'csv.gz' ? 'gzip' : 'none'}', max_line_size = 10000000)`
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
             sum(${cost ? cast(cost, 'DOUBLE') : 'NULL'}) FILTER (WHERE ${usageLine}) AS cost,
             any_value(${col(map.currency)}::VARCHAR) AS currency,
             count(*) FILTER (WHERE ${usageLine}) AS usage_lines,
             count(*) AS line_items,
             count(*) FILTER (WHERE ${rowProblemSql(kind, columns, path, container)} IS NOT NULL) AS problems,
             min(${billingStart ? cast(billingStart, 'TIMESTAMP') : 'NULL::TIMESTAMP'}) AS billing_start,
             max(${billingEnd ? cast(billingEnd, 'TIMESTAMP') : 'NULL::TIMESTAMP'}) AS billing_end
      FROM ${source}
      GROUP BY ALL`)
  } catch (error) {
    throw duckdbError(path, error)
  }
  return {scanTable}
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

export function duckdbError(path: string, error: unknown): BillwatchError {
  const text = error instanceof Error ? error.message : String(error)
  const line = /Line: (\d+)/.exec(text)?.[1]
  // Only DuckDB's first line, and without what it quotes: its messages can carry the file's content.
  const first = (text.split('\n')[0] ?? text).replaceAll(/"[^"]*"|'[^']*'/g, '…')
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
