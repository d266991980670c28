/**
 * The one numeric and date rule for everything that enters the store, whichever path it takes
 * (usage report, Cost Explorer CSV, CUR 1.0/2.0 and FOCUS CSV or Parquet, the Cost Explorer and
 * CloudWatch APIs). `usageProblem` states it for a row in JavaScript; `usageProblemSql` states the
 * same rule over a DuckDB scan, from the same constants (test/ingest/validate.test.ts checks that
 * the two agree).
 */
import {BillwatchError, type ErrorLocation} from '../errors.js'
import {DUCKDB, type SqlDialect} from './dialect.js'

/** AWS began billing in 2006; nothing in a bill can be older. */
export const FIRST_USAGE_YEAR = 2006

/** A bill can run to the end of next year at most (a billing period ends a month ahead). */
export function lastUsageYear(now = new Date()): number {
  return now.getUTCFullYear() + 1
}

/** [first, end) as ISO days. */
export function usageDayRange(now = new Date()): {first: string; end: string} {
  return {end: `${lastUsageYear(now) + 1}-01-01`, first: `${FIRST_USAGE_YEAR}-01-01`}
}

export type UsageField = 'amount' | 'cost' | 'day'

export interface Problem {
  field: UsageField
  expected: string
}

/**
 * What a day field should hold, worded for the value that broke it: AWS and FOCUS write ISO 8601, so a
 * value of another shape (`4/1/25`) is told the format, one of the right shape that is no calendar
 * day (`2014-02-30`) is told so, and only a real day is told the years a bill can hold.
 */
export function expectedDay(now = new Date(), got?: string): string {
  const years = `${FIRST_USAGE_YEAR}–${lastUsageYear(now)}`
  const text = got?.trim() ?? ''
  if (text === '') return `a date in ${years}`
  const iso = /^(\d{4})-(\d{2})-(\d{2})(?:$|[T ])/.exec(text)
  if (!iso) return `an ISO 8601 date such as 2024-03-01 or 2024-03-01T00:00:00Z, in ${years}`
  const [year, month, day] = [Number(iso[1]), Number(iso[2]), Number(iso[3])]
  const date = new Date(Date.UTC(year, month - 1, day))
  const real = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
  return real ? `a date in ${years}` : `a calendar date (YYYY-MM-DD) in ${years}`
}

export const EXPECTED_AMOUNT = 'a finite number, 0 or more (a usage quantity)'
export const EXPECTED_COST = 'a finite number'

/**
 * What is wrong with one usage line, if anything: a day outside the years a bill can hold, a
 * usage quantity that is not a finite number of 0 or more, or a cost that is not finite (a cost
 * may be negative: credits and refunds are). `null` is "not stated" and passes.
 */
export function usageProblem(
  row: {day: string; amount: null | number; cost: null | number},
  now = new Date(),
): Problem | undefined {
  const {end, first} = usageDayRange(now)
  if (!/^\d{4}-\d{2}-\d{2}$/.test(row.day) || row.day < first || row.day >= end)
    return {expected: expectedDay(now), field: 'day'}
  if (row.amount !== null && !(Number.isFinite(row.amount) && row.amount >= 0))
    return {expected: EXPECTED_AMOUNT, field: 'amount'}
  if (row.cost !== null && !Number.isFinite(row.cost)) return {expected: EXPECTED_COST, field: 'cost'}
  return undefined
}

/**
 * The same rule as a DuckDB expression: the name of the first field that breaks it, else NULL.
 * `day` may be a DATE or TIMESTAMP expression; the `extraDays` (billing period bounds) follow the
 * day rule too. Without `day`, the values alone.
 */
export function usageProblemSql(
  columns: {day?: string; amount?: string; cost?: string; extraDays?: string[]; valuesOnlyWhen?: string},
  now = new Date(),
  dialect: SqlDialect = DUCKDB,
): string {
  const {end, first} = usageDayRange(now)
  const outside = (expression: string) => `(${expression} < DATE '${first}' OR ${expression} >= DATE '${end}')`
  const dayList = [...(columns.day === undefined ? [] : [columns.day]), ...(columns.extraDays ?? [])]
  const days = dayList.length === 0 ? '' : `WHEN ${dayList.map(outside).join(' OR ')} THEN 'day'`
  // Amounts and costs count only on the lines that make the usage series (not Tax, Credit, …).
  const only = columns.valuesOnlyWhen ? `(${columns.valuesOnlyWhen}) AND ` : ''
  const amount = columns.amount
    ? `WHEN ${only}(NOT ${dialect.isFinite(columns.amount)} OR ${columns.amount} < 0) THEN 'amount'`
    : ''
  const cost = columns.cost ? `WHEN ${only}NOT ${dialect.isFinite(columns.cost)} THEN 'cost'` : ''
  return `CASE ${days} ${amount} ${cost} END`
}

/** Throws the located E_VALUE error for a row that breaks the rule; `fields` names the source's columns. */
export function checkUsageRow(
  row: {day: string; amount: null | number; cost: null | number},
  where: ErrorLocation & {fields: Partial<Record<UsageField, string>>; raw?: Partial<Record<UsageField, string>>},
): void {
  const problem = usageProblem(row)
  if (!problem) return
  throw usageError(problem, where)
}

export function usageError(
  problem: Problem,
  where: ErrorLocation & {fields: Partial<Record<UsageField, string>>; raw?: Partial<Record<UsageField, string>>},
): BillwatchError {
  const got = where.raw?.[problem.field] ?? where.got
  return new BillwatchError('E_VALUE', '', {
    expected: problem.field === 'day' && got !== undefined ? expectedDay(undefined, got) : problem.expected,
    field: where.fields[problem.field] ?? problem.field,
    ...(where.file === undefined ? {} : {file: where.file}),
    ...(where.line === undefined ? {} : {line: where.line}),
    ...(got === undefined ? {} : {got}),
  })
}

/** A decimal number as billing CSVs write it (a regular expression both JavaScript and DuckDB read). */
export const PLAIN_NUMBER = String.raw`[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?`

/**
 * A plain decimal number as billing CSVs write it (`12`, `-0.5`, `1.2e-7`): no thousands
 * separators, no `NaN`/`inf`; undefined for anything else or for a value beyond a double.
 */
export function parsePlainNumber(text: string): number | undefined {
  const trimmed = text.trim()
  if (!new RegExp(`^${PLAIN_NUMBER}$`).test(trimmed)) return undefined
  const value = Number(trimmed)
  return Number.isFinite(value) ? value : undefined
}
