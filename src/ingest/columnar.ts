import {BillwatchError} from '../errors.js'
import type {Store} from '../store/index.js'
import {DUCKDB_CSV_BOUNDS, readCsv} from './csv-text.js'
import {duckdbError} from './duckdb-errors.js'
import {dbrPlan} from './dbr.js'
import {focusPlan} from './focus.js'
import {DUCKDB, type SqlDialect} from './dialect.js'
import type {Container, FormatKind} from './sniff.js'
import {EXPECTED_AMOUNT, EXPECTED_COST, expectedDay, parsePlainNumber, usageProblemSql} from './validate.js'
import {STAGED_CHARGES, STAGING_TABLE} from './write.js'

/**
 * How one columnar export becomes staged rows: SQL expressions over its columns for every
 * normalized field, built per format (CUR here, FOCUS in focus.ts, the DBR in dbr.ts) from the
 * columns the file has. `columns` quotes a name and records the type a CSV must read it as.
 */
export interface ScanPlan {
  /** The usage start column: its day is the row's day. */
  start: string
  account: string
  service: string
  usageType: string
  operation: string
  resourceId: string
  region: string
  amount: string
  unit: string
  /** The real charge (effective / net cost) and the list (public on-demand) cost beside it. */
  cost: string
  listCost: string
  currency: string
  provider: string
  /** Set only for rows whose base usage type the format decides (another provider's internet egress). */
  usageBase: string
  /** Rows of the usage series; `charge` rows are kept as cost under `category`; others (report totals) are skipped. */
  usageLine: string
  chargeLine: string
  category: string
  /** Per row; the file's billing period is min(start) .. max(end). */
  billingStart: string
  billingEnd: string
  /**
   * FOCUS: the literal null (any case) and empty fields are null (the spec names no CSV spelling; the sample writes
   * NULL, the spec's own examples null).
   */
  nullStrings: boolean
  /** Which cost column `cost` holds, in the file's own column names. */
  costBasis: string
  /** Per-row values the other expressions refer to by name, each computed once, in order. */
  derived?: [string, string][]
}

/** Column access for plan builders: quoted names, numeric and timestamp reads, presence. */
export class Columns {
  readonly typed: Record<string, string> = {}
  private readonly byLower = new Map<string, string>()

  constructor(
    readonly names: string[],
    private readonly parquet: boolean,
    /** FOCUS after a Glue crawler is all lower case; match names without case where the format allows it. */
    private readonly anyCase = false,
    /** The engine the expressions are written for: the local store, or Athena over the same columns. */
    readonly dialect: SqlDialect = DUCKDB,
  ) {
    for (const name of names) if (!this.byLower.has(name.toLowerCase())) this.byLower.set(name.toLowerCase(), name)
  }

  /** The file's spelling of the first of `names` it has. */
  find(...names: string[]): string | undefined {
    for (const name of names) {
      if (this.names.includes(name)) return name
      const other = this.anyCase ? this.byLower.get(name.toLowerCase()) : undefined
      if (other !== undefined) return other
    }
    return undefined
  }

  has(...names: string[]): boolean {
    return this.find(...names) !== undefined
  }

  /** A text column (NULL when absent). */
  text(...names: string[]): string {
    const name = this.find(...names)
    return name === undefined ? 'CAST(NULL AS VARCHAR)' : `CAST(${quoteIdent(name)} AS VARCHAR)`
  }

  number(...names: string[]): string {
    return this.typedRead('DOUBLE', names)
  }

  timestamp(...names: string[]): string {
    return this.typedRead('TIMESTAMP', names)
  }

  private typedRead(type: string, names: string[]): string {
    const name = this.find(...names)
    if (name === undefined) return `CAST(NULL AS ${type})`
    if (this.parquet) return `TRY_CAST(${quoteIdent(name)} AS ${type})`
    this.typed[name] = type
    return quoteIdent(name)
  }
}

/** The CUR columns billwatch reads, as CUR 1.0 CSV names them and as CUR 2.0 / Athena (snake_case) do. */
const CUR_NAMES = {
  account: ['lineItem/UsageAccountId', 'line_item_usage_account_id'],
  amount: ['lineItem/UsageAmount', 'line_item_usage_amount'],
  billingEnd: ['bill/BillingPeriodEndDate', 'bill_billing_period_end_date'],
  billingStart: ['bill/BillingPeriodStartDate', 'bill_billing_period_start_date'],
  currency: ['lineItem/CurrencyCode', 'line_item_currency_code'],
  kind: ['lineItem/LineItemType', 'line_item_line_item_type'],
  netReservationCost: ['reservation/NetEffectiveCost', 'reservation_net_effective_cost'],
  netSavingsPlanCost: ['savingsPlan/NetSavingsPlanEffectiveCost', 'savings_plan_net_savings_plan_effective_cost'],
  netUnblended: ['lineItem/NetUnblendedCost', 'line_item_net_unblended_cost'],
  operation: ['lineItem/Operation', 'line_item_operation'],
  publicCost: ['pricing/publicOnDemandCost', 'pricing_public_on_demand_cost'],
  region: ['product/region', 'product_region_code', 'product_region'],
  reservationArn: ['reservation/ReservationARN', 'reservation_reservation_a_r_n'],
  reservationCost: ['reservation/EffectiveCost', 'reservation_effective_cost'],
  resourceId: ['lineItem/ResourceId', 'line_item_resource_id'],
  riUnusedFee: [
    'reservation/UnusedAmortizedUpfrontFeeForBillingPeriod',
    'reservation_unused_amortized_upfront_fee_for_billing_period',
  ],
  riUnusedRecurring: ['reservation/UnusedRecurringFee', 'reservation_unused_recurring_fee'],
  savingsPlanCost: ['savingsPlan/SavingsPlanEffectiveCost', 'savings_plan_savings_plan_effective_cost'],
  service: ['lineItem/ProductCode', 'line_item_product_code'],
  spCommitment: ['savingsPlan/TotalCommitmentToDate', 'savings_plan_total_commitment_to_date'],
  spUsed: ['savingsPlan/UsedCommitment', 'savings_plan_used_commitment'],
  start: ['lineItem/UsageStartDate', 'line_item_usage_start_date'],
  unblended: ['lineItem/UnblendedCost', 'line_item_unblended_cost'],
  unit: ['pricing/unit', 'pricing_unit'],
  usageType: ['lineItem/UsageType', 'line_item_usage_type'],
} as const

const CUR_USAGE_KINDS = ['Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage']

/**
 * CUR 1.0 and 2.0: usage lines are Usage, DiscountedUsage and SavingsPlanCoveredUsage; every other
 * line (Tax, Credit, Refund, Fee, RIFee, SavingsPlan fees …) is a charge. Cost is the amortized,
 * net-where-present charge as AWS's Cloud Intelligence Dashboards compute it
 * (../shared/research/billing-exports-2.md §2.3): Savings Plan covered usage at its effective
 * cost, reserved usage at the reservation's, the negation of covered usage at 0, and the rest at
 * net unblended cost (unblended without a discount column).
 */
export function curPlan(cols: Columns): ScanPlan {
  const n = (key: keyof typeof CUR_NAMES) => cols.find(...CUR_NAMES[key])
  const num = (key: keyof typeof CUR_NAMES) => cols.number(...CUR_NAMES[key])
  const kind = cols.text(...CUR_NAMES.kind)
  const base = n('netUnblended') ? `coalesce(${num('netUnblended')}, ${num('unblended')})` : num('unblended')
  const savings = n('netSavingsPlanCost')
    ? `coalesce(${num('netSavingsPlanCost')}, ${num('savingsPlanCost')})`
    : num('savingsPlanCost')
  const reserved = n('netReservationCost')
    ? `coalesce(${num('netReservationCost')}, ${num('reservationCost')})`
    : num('reservationCost')
  const cases = [`WHEN 'SavingsPlanNegation' THEN 0`, `WHEN 'SavingsPlanUpfrontFee' THEN 0`]
  const said: string[] = []
  if (n('savingsPlanCost')) {
    cases.push(`WHEN 'SavingsPlanCoveredUsage' THEN coalesce(${savings}, ${base})`)
    said.push(`${n('netSavingsPlanCost') ?? n('savingsPlanCost')} on Savings Plan covered lines`)
  }
  if (n('reservationCost')) {
    cases.push(`WHEN 'DiscountedUsage' THEN coalesce(${reserved}, ${base})`)
    said.push(`${n('netReservationCost') ?? n('reservationCost')} on reserved lines`)
  }
  if (n('spCommitment') && n('spUsed'))
    cases.push(`WHEN 'SavingsPlanRecurringFee' THEN coalesce(${num('spCommitment')} - ${num('spUsed')}, ${base})`)
  if (n('riUnusedFee') && n('riUnusedRecurring'))
    cases.push(`WHEN 'RIFee' THEN coalesce(${num('riUnusedFee')} + ${num('riUnusedRecurring')}, ${base})`)
  const upfrontRi = n('reservationArn')
    ? `WHEN ${kind} = 'Fee' AND coalesce(${cols.text(...CUR_NAMES.reservationArn)}, '') <> '' THEN 0`
    : ''
  const cost = `CASE ${upfrontRi ? `${upfrontRi} ELSE CASE ${kind} ${cases.join(' ')} ELSE ${base} END` : `${kind} ${cases.join(' ')} ELSE ${base}`} END`
  const usageLine = `${kind} IN (${CUR_USAGE_KINDS.map(quoteLiteral).join(', ')})`
  const list = n('publicCost') ? `coalesce(${num('publicCost')}, ${num('unblended')})` : num('unblended')
  said.push(`${n('netUnblended') ?? n('unblended') ?? 'UnblendedCost'} elsewhere`)
  return {
    account: cols.text(...CUR_NAMES.account),
    amount: num('amount'),
    billingEnd: cols.timestamp(...CUR_NAMES.billingEnd),
    billingStart: cols.timestamp(...CUR_NAMES.billingStart),
    category: kind,
    chargeLine: `NOT (${usageLine})`,
    cost,
    costBasis: `effective cost: ${said.join(', ')}; list cost: ${n('publicCost') ?? n('unblended') ?? 'UnblendedCost'}`,
    currency: cols.text(...CUR_NAMES.currency),
    listCost: `CASE WHEN ${kind} = 'SavingsPlanNegation' THEN 0 ELSE ${list} END`,
    nullStrings: false,
    operation: cols.text(...CUR_NAMES.operation),
    provider: `'AWS'`,
    region: cols.text(...CUR_NAMES.region),
    resourceId: `nullif(${cols.text(...CUR_NAMES.resourceId)}, '')`,
    service: cols.text(...CUR_NAMES.service),
    start: n('start') ?? CUR_NAMES.start[0],
    unit: cols.text(...CUR_NAMES.unit),
    usageBase: 'CAST(NULL AS VARCHAR)',
    usageLine,
    usageType: cols.text(...CUR_NAMES.usageType),
  }
}

/** Columns a format cannot be read without: [what it is, the names it may have]. */
const REQUIRED: Record<'cur1' | 'cur2', [string, readonly string[]][]> = {
  cur1: [
    ['usage start', ['lineItem/UsageStartDate']],
    ['usage type', ['lineItem/UsageType']],
    ['usage amount', ['lineItem/UsageAmount']],
    ['charge type', ['lineItem/LineItemType']],
  ],
  cur2: [
    ['usage start', ['line_item_usage_start_date']],
    ['usage type', ['line_item_usage_type']],
    ['usage amount', ['line_item_usage_amount']],
    ['charge type', ['line_item_line_item_type']],
  ],
}

/** Builds the plan of a columnar kind, after checking the columns it needs. */
export type PlanBuilder = (cols: Columns, path: string, line: number | undefined) => ScanPlan

const PLANS: Partial<Record<FormatKind, {anyCase?: boolean; build: PlanBuilder}>> = {
  cur1: {
    build: (cols, path, line) => (requireColumns(cols, REQUIRED.cur1, 'a CUR 1.0 export', path, line), curPlan(cols)),
  },
  cur2: {
    build: (cols, path, line) => (requireColumns(cols, REQUIRED.cur2, 'a CUR 2.0 export', path, line), curPlan(cols)),
  },
  dbr: {build: dbrPlan},
  focus: {anyCase: true, build: focusPlan},
}

/** The plan of a columnar kind over `cols` (checked for the columns it needs). */
export function buildPlan(kind: FormatKind, cols: Columns, path: string, line: number | undefined): ScanPlan {
  const entry = PLANS[kind]
  if (!entry) throw new BillwatchError('E_FORMAT', `${kind} is not a columnar export`, {file: path})
  return entry.build(cols, path, line)
}

/** Whether a kind's columns are matched without case (FOCUS after a Glue crawler). */
export function matchesAnyCase(kind: FormatKind): boolean {
  return PLANS[kind]?.anyCase === true
}

export function requireColumns(
  cols: Columns,
  required: [string, readonly string[]][],
  kind: string,
  path: string,
  line: number | undefined,
): void {
  for (const [field, names] of required) {
    if (!cols.has(...names))
      throw new BillwatchError('E_HEADER', `missing required column (the ${field})`, {
        expected: `${kind} to have it`,
        field: names.join(' or '),
        file: path,
        line,
      })
  }
}

/** How FOCUS CSVs spell null: empty, NULL (the FinOps sample data), null (the specification's examples). */
const FOCUS_NULLS = ['', 'NULL', 'null', 'Null']

export interface ColumnarScan {
  lineItems: number
  billingStart: null | string
  billingEnd: null | string
  costBasis: string
}

let scanCounter = 0

/**
 * Scans one CUR/FOCUS/DBR file with DuckDB (CSV, .csv.gz or Parquet), rolls it up to days and
 * appends the usage rows and the other charges to the staging tables. Bad values are collected by
 * DuckDB's reject tables and the first one becomes a located error, so nothing is staged from a
 * bad file. `readPath` is where the bytes are (an extracted zip member); errors name `path`.
 */
export async function stageColumnar(
  store: Store,
  path: string,
  kind: FormatKind,
  container: Container,
  columns: string[],
  readPath = path,
): Promise<ColumnarScan> {
  try {
    return await scanColumnar(store, path, kind, container, columns, readPath)
  } catch (error) {
    // The fast scan stops at whichever bad row a thread meets first and names no column. A strict
    // read (csv-text.ts: UTF-8, quotes, field counts, true line numbers) goes first, since DuckDB's
    // reject tables can abort the whole database on a byte that is not UTF-8; then the reject tables
    // name a value that is not of its type, then the usage rule names a value no bill can hold.
    // Only failing files pay for this. A file with no rows (E_EMPTY) has no bad row to find.
    if (!(error instanceof BillwatchError) || error.code === 'E_HEADER' || error.code === 'E_EMPTY') throw error
    if (container !== 'parquet') {
      for await (const _ of readCsv(readPath, {file: path, gzip: container === 'csv.gz'})) {
        // Each record is checked as it is read; the first bad one throws.
      }
    }
    const scratch = await store.scratch()
    try {
      if (container !== 'parquet') await throwFirstBadRow(scratch, path, kind, container, columns, readPath)
      await throwFirstRuleBreak(scratch, path, kind, container, columns, readPath)
    } catch (located) {
      // A locating read that fails on its own (a damaged Parquet page it reaches) adds nothing to the scan's error.
      throw located instanceof BillwatchError ? located : error
    } finally {
      await scratch.close()
    }
    // Nothing found: the fast scan's own error stands.
    throw error
  }
}

async function scanColumnar(
  store: Store,
  path: string,
  kind: FormatKind,
  container: Container,
  columns: string[],
  readPath: string,
): Promise<ColumnarScan> {
  const {costBasis, scanTable} = await rollUp(store, path, kind, container, columns, readPath)
  return {costBasis, ...(await stageRollup(store, scanTable, path))}
}

/**
 * Moves one roll-up (a table of ROLLUP_COLUMNS) into the staging tables and drops it: usage rows to
 * staged_usage, the other charges to staged_charges. Refuses a roll-up with a rule break or no line items.
 */
export async function stageRollup(
  store: Store,
  scanTable: string,
  path: string,
): Promise<Omit<ColumnarScan, 'costBasis'>> {
  const totals = await store.one<{
    line_items: number
    problems: number
    billing_start: null | string
    billing_end: null | string
  }>(
    `SELECT coalesce(sum(line_items), 0)::BIGINT AS line_items, coalesce(sum(problems), 0)::BIGINT AS problems,
            strftime(min(billing_start), '%Y-%m-%d') AS billing_start, strftime(max(billing_end), '%Y-%m-%d') AS billing_end
     FROM ${scanTable}`,
  )
  if (totals && totals.problems > 0) {
    await store.run(`DROP TABLE ${scanTable}`)
    throw new BillwatchError('E_VALUE', 'a value breaks the usage rule', {file: path})
  }
  await store.run(`INSERT INTO ${STAGING_TABLE} (day, account, region, service, usage_type, operation, resource_id, amount, unit, cost, currency, provider, usage_base, list_cost)
    SELECT day, account, region, service, usage_type, operation, resource_id, amount, unit, cost, currency, provider, usage_base, list_cost
    FROM ${scanTable} WHERE row_kind = 'usage' AND usage_lines > 0 AND usage_type IS NOT NULL AND usage_type <> '' AND day IS NOT NULL`)
  // A charge without a date (a DBR's rounding line) belongs to the month the file bills.
  await store.run(`INSERT INTO ${STAGED_CHARGES} (day, provider, account, region, service, category, cost, list_cost, currency)
    SELECT coalesce(day, (SELECT date_trunc('month', min(day)) FROM ${scanTable})), provider, account, region, service, category, cost, list_cost, currency
    FROM ${scanTable} WHERE row_kind = 'charge'`)
  await store.run(`DROP TABLE ${scanTable}`)
  if (!totals || totals.line_items === 0)
    throw new BillwatchError('E_EMPTY', 'no line items after the header', {file: path})
  return {billingEnd: totals.billing_end, billingStart: totals.billing_start, lineItems: totals.line_items}
}

/**
 * Rescans a CSV that failed, with DuckDB's reject tables, and throws its first bad row as a located
 * error. Only locates: it stages nothing, and returns when no row was rejected. Runs on a scratch
 * connection (the failed scan aborted the caller's transaction), which has no staging table.
 */
async function throwFirstBadRow(
  scratch: Store,
  path: string,
  kind: FormatKind,
  container: Container,
  columns: string[],
  readPath: string,
): Promise<void> {
  const {rejects, scanTable, typed} = await rollUp(scratch, path, kind, container, columns, readPath, true)
  await scratch.run(`DROP TABLE ${scanTable}`)
  await throwFirstReject(scratch, path, rejects, typed)
}

async function throwFirstReject(
  store: Store,
  path: string,
  rejects: string,
  typed: Record<string, string>,
): Promise<void> {
  const first = await store.one<{
    line: number
    column_name: null | string
    error_type: string
    csv_line: null | string
    error_message: string
  }>(`SELECT line, column_name, error_type, csv_line, error_message FROM ${rejects} ORDER BY line LIMIT 1`)
  await store.run(`DROP TABLE IF EXISTS ${rejects}; DROP TABLE IF EXISTS ${rejects}_scan`)
  if (!first) return
  if (first.error_type === 'CAST' && first.column_name) {
    const type = typed[first.column_name]
    const got = /Could not convert string "(.*)" to/.exec(first.error_message)?.[1]
    const expected =
      type === 'DOUBLE'
        ? 'a number'
        : got === undefined
          ? 'a valid ISO 8601 UTC timestamp (YYYY-MM-DDTHH:MM:SSZ)'
          : expectedDay(undefined, got)
    throw new BillwatchError('E_VALUE', '', {
      expected,
      field: first.column_name,
      file: path,
      line: first.line,
      ...(got === undefined ? {} : {got}),
    })
  }
  const what = first.error_type.toLowerCase().replaceAll('_', ' ')
  throw new BillwatchError('E_FORMAT', `malformed CSV row (${what})`, {
    expected: 'the same number of fields as the header',
    file: path,
    line: first.line,
  })
}

/**
 * The plan of one columnar file and the DuckDB source that reads it: typed CSV columns, FOCUS's
 * null spellings, and (with `rejects`) bad rows collected into that reject table instead of failing.
 */
function planScan(
  path: string,
  kind: FormatKind,
  container: Container,
  columns: string[],
  readPath: string,
  rejects?: string,
) {
  const cols = new Columns(columns, container === 'parquet', matchesAnyCase(kind))
  const plan = buildPlan(kind, cols, path, container === 'parquet' ? undefined : 1)
  const start = cols.timestamp(plan.start)
  const typed = cols.typed
  const source =
    container === 'parquet'
      ? `read_parquet(${quoteLiteral(readPath)})`
      : `read_csv(${quoteLiteral(readPath)}, header = true, all_varchar = true, quote = '"', escape = '"', delim = ',',
         types = {${Object.entries(typed)
           .map(([k, v]) => `${quoteLiteral(k)}: '${v}'`)
           .join(', ')}},
         ${plan.nullStrings ? `nullstr = [${FOCUS_NULLS.map(quoteLiteral).join(', ')}], ` : ''}
         compression = '${container === 'csv.gz' ? 'gzip' : 'none'}', ${DUCKDB_CSV_BOUNDS}
         ${rejects ? `, store_rejects = true, rejects_table = '${rejects}', rejects_scan = '${rejects}_scan'` : ''})`
  return {plan, rowKind: rowKindSql(plan), source, start, typed}
}

/**
 * Rolls the file up to one row per daily usage key (and per day and category of other charges), in
 * a temp table. With `collectRejects`, bad CSV rows go to the reject table named in the result
 * instead of failing the scan.
 */
async function rollUp(
  store: Store,
  path: string,
  kind: FormatKind,
  container: Container,
  columns: string[],
  readPath: string,
  collectRejects = false,
): Promise<{costBasis: string; rejects: string; scanTable: string; typed: Record<string, string>}> {
  const id = ++scanCounter
  const rejects = `bw_rejects_${id}`
  const {plan, source, start, typed} = planScan(
    path,
    kind,
    container,
    columns,
    readPath,
    collectRejects ? rejects : undefined,
  )
  const scanTable = `bw_scan_${id}`
  try {
    await store.run(`CREATE OR REPLACE TEMP TABLE ${scanTable} AS ${dailyRollupSql(plan, {source, start})}`)
  } catch (error) {
    throw duckdbError(path, error, container === 'csv.gz' ? 'csv.gz' : container === 'parquet' ? 'parquet' : 'csv')
  }
  return {costBasis: plan.costBasis, rejects, scanTable, typed}
}

function rowKindSql(plan: ScanPlan): string {
  return `CASE WHEN ${plan.usageLine} THEN 'usage' WHEN ${plan.chargeLine} THEN 'charge' ELSE 'skip' END`
}

/** The columns of a roll-up, in order: the grouping keys first (GROUP BY 1 … ROLLUP_KEYS). */
export const ROLLUP_COLUMNS = [
  'day',
  'row_kind',
  'account',
  'service',
  'provider',
  'usage_type',
  'operation',
  'resource_id',
  'usage_base',
  'category',
  'region',
  'amount',
  'unit',
  'cost',
  'list_cost',
  'currency',
  'usage_lines',
  'line_items',
  'problems',
  'billing_start',
  'billing_end',
] as const
const ROLLUP_KEYS = 10

/**
 * THE daily aggregation: one row per daily usage key (and per day and category of the other
 * charges) over `source`, in the plan's dialect. The local scan runs it over the file in DuckDB;
 * `ingest --athena` runs the same query, rendered for Trino, over the table where it lives.
 */
export function dailyRollupSql(plan: ScanPlan, options: {source: string; start: string; dialect?: SqlDialect}): string {
  const dialect = options.dialect ?? DUCKDB
  const {start} = options
  const rowKind = rowKindSql(plan)
  // Grouping keys are only what identifies a daily usage line; unit, currency and region follow
  // from them (anyValue), and a charge line is keyed by its category alone. Fewer VARCHAR keys
  // halve the hash aggregate over a multi-GB month.
  const usageOnly = (expression: string) => `CASE WHEN bw_row_kind = 'usage' THEN ${expression} END`
  return `WITH ${derivedSteps(plan.derived ?? [], options.source)}
       lines AS (SELECT *, ${rowKind} AS bw_row_kind FROM bw_derived_${(plan.derived ?? []).length})
  SELECT CAST(${start} AS DATE) AS day, bw_row_kind AS row_kind,
         ${plan.account} AS account, ${plan.service} AS service, ${plan.provider} AS provider,
         ${usageOnly(plan.usageType)} AS usage_type, ${usageOnly(plan.operation)} AS operation,
         ${usageOnly(plan.resourceId)} AS resource_id, ${usageOnly(plan.usageBase)} AS usage_base,
         CASE WHEN bw_row_kind = 'charge' THEN coalesce(${plan.category}, 'Other') END AS category,
         ${dialect.anyValue(plan.region)} AS region,
         sum(${plan.amount}) FILTER (WHERE bw_row_kind = 'usage') AS amount,
         ${dialect.anyValue(plan.unit)} FILTER (WHERE bw_row_kind = 'usage') AS unit,
         sum(${plan.cost}) FILTER (WHERE bw_row_kind <> 'skip') AS cost,
         sum(${plan.listCost}) FILTER (WHERE bw_row_kind <> 'skip') AS list_cost,
         ${dialect.anyValue(plan.currency)} AS currency,
         count(*) FILTER (WHERE bw_row_kind = 'usage') AS usage_lines,
         count(*) AS line_items,
         count(*) FILTER (WHERE ${ruleBreak(plan, start, dialect)} IS NOT NULL) AS problems,
         min(${plan.billingStart}) AS billing_start,
         max(${plan.billingEnd}) AS billing_end
  FROM lines
  GROUP BY ${Array.from({length: ROLLUP_KEYS}, (_, i) => i + 1).join(', ')}`
}

/** CTEs bw_derived_0 (the file) … bw_derived_n, each adding one derived column to the one before. */
function derivedSteps(derived: [string, string][], source: string): string {
  const steps = [`bw_derived_0 AS (SELECT * FROM ${source}),`]
  derived.forEach(([name, expression], i) =>
    steps.push(`bw_derived_${i + 1} AS (SELECT *, ${expression} AS ${name} FROM bw_derived_${i}),`),
  )
  return steps.join('\n')
}

/**
 * The usage rule (validate.ts) over one line of a plan: the field that breaks it, else NULL. Amounts
 * and costs count only on usage lines (a credit is negative by right); every line's days count.
 */
function ruleBreak(plan: ScanPlan, start: string, dialect: SqlDialect = DUCKDB): string {
  const usage = usageProblemSql(
    {amount: plan.amount, cost: plan.cost, day: start, valuesOnlyWhen: "bw_row_kind = 'usage'"},
    undefined,
    dialect,
  )
  const billing = usageProblemSql(
    {day: `coalesce(${plan.billingStart}, ${start})`, extraDays: [`coalesce(${plan.billingEnd}, ${start})`]},
    undefined,
    dialect,
  )
  return `coalesce(${usage}, CASE WHEN ${billing} IS NOT NULL THEN 'billing' END)`
}

/** The file's columns an expression reads (its quoted names that are columns), in order, for naming one in an error. */
function sourceColumns(expression: string, columns: string[]): string[] {
  const names: string[] = []
  for (const match of expression.matchAll(/"((?:[^"]|"")+)"/g)) {
    const name = match[1]!.replaceAll('""', '"')
    if (columns.includes(name) && !names.includes(name)) names.push(name)
  }
  return names
}

/**
 * Finds the first line whose values break the usage rule and throws it located: the record's line
 * (counted by the strict reader, which knows quoted newlines) or Parquet row, and the column.
 */
async function throwFirstRuleBreak(
  scratch: Store,
  path: string,
  kind: FormatKind,
  container: Container,
  columns: string[],
  readPath: string,
): Promise<void> {
  if (!PLANS[kind]) return
  const {plan, rowKind, source, start, typed} = planScan(path, kind, container, columns, readPath)
  // One thread keeps the rows in file order, so the row number is the record's.
  await scratch.run('SET threads = 1')
  const first = await scratch.one<{row: number; problem: string}>(
    `WITH ${derivedSteps(plan.derived ?? [], source)}
          lines AS (SELECT *, ${rowKind} AS bw_row_kind, row_number() OVER () AS bw_row FROM bw_derived_${(plan.derived ?? []).length})
     SELECT bw_row AS row, problem FROM (SELECT bw_row, ${ruleBreak(plan, start)} AS problem FROM lines)
     WHERE problem IS NOT NULL ORDER BY bw_row LIMIT 1`,
  )
  if (!first) return
  const field =
    (
      {amount: plan.amount, billing: `${plan.billingStart} or ${plan.billingEnd}`, cost: plan.cost} as Record<
        string,
        string
      >
    )[first.problem] ?? plan.start
  const expected =
    first.problem === 'amount' ? EXPECTED_AMOUNT : first.problem === 'cost' ? EXPECTED_COST : expectedDay()
  // Derived values hide their columns: the numeric columns the scan types come after the expression's own.
  const numeric = Object.entries(typed)
    .filter(([, type]) => type === 'DOUBLE')
    .map(([name]) => name)
  const valueProblem = first.problem === 'amount' || first.problem === 'cost'
  const own = sourceColumns(field, columns)
  const candidates = valueProblem ? [...new Set([...own.filter((name) => numeric.includes(name)), ...numeric])] : own
  const fallback = candidates[0] ?? field
  if (container === 'parquet')
    throw new BillwatchError('E_VALUE', `row ${first.row}`, {expected, field: fallback, file: path})
  let record = 0
  let index = new Map<string, number>()
  for await (const {fields, header, line} of readCsv(readPath, {file: path, gzip: container === 'csv.gz'})) {
    if (header) index = new Map(fields.map((f, i) => [f.trim(), i]))
    else if (++record === Number(first.row)) {
      const raw = (name: string) => fields[index.get(name) ?? -1]?.trim() ?? ''
      // Of the columns the expression reads, the one whose own text breaks the rule.
      const breaks = (name: string) => {
        if (raw(name) === '') return false
        const value = parsePlainNumber(raw(name))
        return value === undefined || (first.problem === 'amount' && value < 0)
      }
      const name = (valueProblem ? candidates.find(breaks) : undefined) ?? fallback
      const got = index.has(name) ? raw(name) : undefined
      const told = valueProblem || got === undefined ? expected : expectedDay(undefined, got)
      throw new BillwatchError('E_VALUE', '', {
        expected: told,
        field: name,
        file: path,
        line,
        ...(got === undefined ? {} : {got}),
      })
    }
  }
  throw new BillwatchError('E_VALUE', `record ${first.row}`, {expected, field: fallback, file: path})
}

/** Column names of a Parquet file, via DuckDB (used by format sniffing). */
export async function parquetColumns(store: Store, path: string): Promise<string[]> {
  try {
    const rows = await store.all<{column_name: string}>(
      `SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(${quoteLiteral(path)}))`,
    )
    return rows.map((r) => r.column_name)
  } catch (error) {
    throw duckdbError(path, error, 'parquet')
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}
