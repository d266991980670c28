/**
 * The daily roll-up of a billing export as SQL text, from its scan plan (src/ingest/columnar.ts): the query the
 * store runs over a file in DuckDB (usage-scan.ts), and the one `ingest --athena` and the scheduled Lambda send
 * Athena, rendered for Trino. Text only: no connection, so the Lambda's bundle carries no store.
 */
import {quoteIdent, type ScanPlan} from '../ingest/columns.js'
import {DUCKDB, type SqlDialect} from '../ingest/dialect.js'
import {usageProblemSql} from '../ingest/validate.js'

export function rowKindSql(plan: ScanPlan): string {
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
 *
 * Per line it computes only the keys and the values it sums. The row kind is a grouping key, so what holds for
 * usage lines only is decided once per group (a CASE around the aggregate), not by a FILTER on every line; and
 * `problems` (more than 0: a line breaks the usage rule, which the locator then finds) is decided per group too:
 * the day is a key, the billing days are their group's min and max, and only the values of usage lines are
 * tested line by line. Together these halve the query's own CPU beside the file's read.
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
         ${usageOnly(`sum(${plan.amount})`)} AS amount,
         ${usageOnly(dialect.anyValue(plan.unit))} AS unit,
         CASE WHEN bw_row_kind <> 'skip' THEN sum(${plan.cost}) END AS cost,
         CASE WHEN bw_row_kind <> 'skip' THEN sum(${plan.listCost}) END AS list_cost,
         ${dialect.anyValue(plan.currency)} AS currency,
         CASE WHEN bw_row_kind = 'usage' THEN count(*) ELSE 0 END AS usage_lines,
         count(*) AS line_items,
         ${groupRuleBreaks(plan, start, dialect)} AS problems,
         min(${plan.billingStart}) AS billing_start,
         max(${plan.billingEnd}) AS billing_end
  FROM lines
  GROUP BY ${Array.from({length: ROLLUP_KEYS}, (_, i) => i + 1).join(', ')}`
}

/**
 * The usage rule (validate.ts) over one group of the roll-up: more than 0 when one of its lines breaks it. A line's
 * day breaks it exactly when the group's day does (a day is the start's date, and the bounds are midnights); a line's
 * billing day breaks it when it is outside the bounds (the group's min or max is) or, absent, its start's day does.
 * Amounts and costs count only on usage lines (a credit is negative by right), and are tested line by line: a sum
 * or a min and max would hide or invent a break (an overflow, a NaN).
 */
function groupRuleBreaks(plan: ScanPlan, start: string, dialect: SqlDialect): string {
  const days = usageProblemSql(
    {
      day: `CAST(${start} AS DATE)`,
      extraDays: [
        `min(${plan.billingStart})`,
        `max(${plan.billingStart})`,
        `min(${plan.billingEnd})`,
        `max(${plan.billingEnd})`,
      ],
    },
    undefined,
    dialect,
  )
  const values = usageProblemSql({amount: plan.amount, cost: plan.cost}, undefined, dialect)
  return `CASE WHEN ${days} IS NOT NULL THEN 1 WHEN bw_row_kind = 'usage' THEN count(CASE WHEN ${values} IS NOT NULL THEN 1 END) ELSE 0 END`
}

/** CTEs bw_derived_0 (the file) … bw_derived_n, each adding one derived column to the one before. */
export function derivedSteps(derived: [string, string][], source: string): string {
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
export function ruleBreak(plan: ScanPlan, start: string, dialect: SqlDialect = DUCKDB): string {
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

/**
 * The daily roll-up of a table where it lives (`ingest --athena`: Athena over a CUR 2.0 or FOCUS table), over the
 * rows every one of `filters` (partition and day predicates, in the plan's dialect) holds for.
 */
export function tableRollupSql(
  plan: ScanPlan,
  options: {database: string; table: string; filters: string[]; start: string; dialect: SqlDialect},
): string {
  const where = options.filters.map((f) => `(${f})`).join(' AND ')
  const source = `(SELECT * FROM ${quoteIdent(options.database)}.${quoteIdent(options.table)} WHERE ${where})`
  return dailyRollupSql(plan, {dialect: options.dialect, source, start: options.start})
}
