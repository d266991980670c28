/**
 * Reads of the stored daily usage that `anomalies` builds its series on, as typed rows: per account, provider
 * and usage type (or resource), the days with usage and their amounts and costs, one list each. The SQL lives
 * here; what a series is (stretches, gaps, zero days, currencies never added) is decided in src/anomalies.
 */
import {sqlList, type Store} from './index.js'
import {ACCOUNT_OF_ROW} from './schema.js'

/** Which usage lines a series reads. */
export interface UsageSelection {
  /** The usage types (exact names) to read. */
  usageTypes: string[]
  /** First and last UTC day, YYYY-MM-DD, inclusive; null: no bound. */
  since: null | string
  until: null | string
  /** Only this account (an account id, or the source name of an export without an account column). */
  account: null | string
}

/** One series as lists: index k of `days` (day numbers, days since 1970-01-01) goes with `amounts[k]`, `costs[k]`. */
export interface UsageSeriesRow {
  account: string
  provider: string
  usageType: string
  resourceId: null | string
  unit: null | string
  days: number[]
  amounts: number[]
  /** Null on a day no line of the series stated a cost. */
  costs: (null | number)[]
}

/** Per account and provider of a selection: the currencies its costs are in, and the cost columns they came from. */
export interface UsageMoney {
  account: string
  provider: string
  currencies: string[]
  costBases: string[]
}

/** Days [start, end) (day numbers) one export covers for an account at a provider. */
export interface UsageCoverage {
  account: string
  provider: string
  start: number
  end: number
}

interface RawSeriesRow {
  account: string
  provider: string
  usage_type: string
  resource_id: null | string
  unit: null | string
  days: number[]
  amounts: number[]
  costs: (null | number)[]
}

/** Every usage type in the store with its base usage type (the type without its region prefix), sorted. */
export async function usageTypesIn(
  store: Store,
  glob: string | undefined,
): Promise<{usageType: string; usageBase: string}[]> {
  const rows = await store.all<{usage_type: string; usage_base: string}>(
    glob === undefined
      ? 'SELECT DISTINCT usage_type, usage_base FROM usage ORDER BY 1, 2'
      : 'SELECT DISTINCT usage_type, usage_base FROM usage WHERE usage_type GLOB $1 ORDER BY 1, 2',
    glob === undefined ? [] : [glob],
  )
  return rows.map((r) => ({usageBase: r.usage_base, usageType: r.usage_type}))
}

const WHERE = `list_contains($types, u.usage_type) AND ($since::DATE IS NULL OR u.day >= $since::DATE)
    AND ($until::DATE IS NULL OR u.day <= $until::DATE)
    AND ($account::VARCHAR IS NULL OR ${ACCOUNT_OF_ROW} = $account::VARCHAR)`

function paramsOf(selection: UsageSelection) {
  return {
    account: selection.account,
    since: selection.since,
    types: sqlList(selection.usageTypes),
    until: selection.until,
  }
}

/** Per (account, provider, usage type[, resource]) the days, amounts and costs, one list each. */
function seriesQuery(resource: string, where: string): string {
  return `
    WITH daily AS (
      SELECT ${ACCOUNT_OF_ROW} AS account, coalesce(u.provider, 'AWS') AS provider, u.usage_type, ${resource}, u.day,
             any_value(u.unit) AS unit, sum(u.amount) AS amount,
             CASE WHEN count(u.cost) = 0 THEN NULL ELSE sum(u.cost) END AS cost
      FROM usage u JOIN sources s ON s.id = u.source_id WHERE ${where} GROUP BY ALL
    )
    SELECT account, provider, usage_type, resource_id, any_value(unit) AS unit,
           list(day - DATE '1970-01-01' ORDER BY day) AS days,
           list(coalesce(amount, 0) ORDER BY day) AS amounts, list(cost ORDER BY day) AS costs
    FROM daily GROUP BY ALL ORDER BY ALL`
}

function seriesRow(r: RawSeriesRow): UsageSeriesRow {
  return {
    account: r.account,
    amounts: r.amounts,
    costs: r.costs,
    days: r.days,
    provider: r.provider,
    resourceId: r.resource_id,
    unit: r.unit,
    usageType: r.usage_type,
  }
}

/** The selection summed per account, provider and usage type (over every resource). */
export async function seriesByUsageType(store: Store, selection: UsageSelection): Promise<UsageSeriesRow[]> {
  const rows = await store.all<RawSeriesRow>(seriesQuery('NULL::VARCHAR AS resource_id', WHERE), paramsOf(selection))
  return rows.map(seriesRow)
}

/** Every account with usage of the selection's types and days, whichever account the selection names. */
export async function accountsWithUsage(store: Store, selection: UsageSelection): Promise<string[]> {
  const {since, types, until} = paramsOf(selection)
  const rows = await store.all<{account: string}>(
    `SELECT DISTINCT ${ACCOUNT_OF_ROW} AS account FROM usage u JOIN sources s ON s.id = u.source_id
     WHERE list_contains($types, u.usage_type) AND ($since::DATE IS NULL OR u.day >= $since::DATE)
       AND ($until::DATE IS NULL OR u.day <= $until::DATE) ORDER BY 1`,
    {since, types, until},
  )
  return rows.map((r) => r.account)
}

/** Per account and provider of the selection: the currencies of its costs and the cost columns they came from. */
export async function usageMoney(store: Store, selection: UsageSelection): Promise<UsageMoney[]> {
  const rows = await store.all<{
    account: string
    provider: string
    currencies: (null | string)[] | null
    bases: (null | string)[] | null
  }>(
    `SELECT ${ACCOUNT_OF_ROW} AS account, coalesce(u.provider, 'AWS') AS provider,
            list(DISTINCT u.currency ORDER BY u.currency) FILTER (WHERE u.currency IS NOT NULL) AS currencies,
            list(DISTINCT s.format || ': ' || s.cost_basis ORDER BY s.format || ': ' || s.cost_basis)
              FILTER (WHERE s.cost_basis IS NOT NULL) AS bases
     FROM usage u JOIN sources s ON s.id = u.source_id WHERE ${WHERE} AND u.cost IS NOT NULL GROUP BY ALL`,
    paramsOf(selection),
  )
  const strings = (list: (null | string)[] | null) => (list ?? []).filter((v): v is string => v !== null)
  return rows.map((r) => ({
    account: r.account,
    costBases: strings(r.bases),
    currencies: strings(r.currencies),
    provider: r.provider,
  }))
}

/**
 * Per export, account and provider, the day range [start, end) the export covers (capped at its last day with
 * usage), over every usage type.
 */
export async function usageCoverage(store: Store): Promise<UsageCoverage[]> {
  const rows = await store.all<{account: string; provider: string; start: number; end: number}>(
    `SELECT ${ACCOUNT_OF_ROW} AS account, coalesce(u.provider, 'AWS') AS provider,
            coalesce(s.cover_start, min(u.day)) - DATE '1970-01-01' AS start,
            least(coalesce(s.cover_end, max(u.day) + 1), max(u.day) + 1) - DATE '1970-01-01' AS "end"
     FROM usage_daily u JOIN sources s ON s.id = u.source_id
     GROUP BY ${ACCOUNT_OF_ROW}, coalesce(u.provider, 'AWS'), s.id, s.cover_start, s.cover_end`,
  )
  return rows.map((r) => ({account: r.account, end: Number(r.end), provider: r.provider, start: Number(r.start)}))
}

/** How many distinct resources the selection's lines name. */
export async function resourceCount(store: Store, selection: UsageSelection): Promise<number> {
  const row = await store.one<{n: number}>(
    `SELECT count(DISTINCT u.resource_id)::INTEGER AS n FROM usage u JOIN sources s ON s.id = u.source_id
     WHERE ${WHERE} AND u.resource_id IS NOT NULL`,
    paramsOf(selection),
  )
  return row?.n ?? 0
}

/**
 * The selection per account, provider, usage type and resource, for part `part` of `parts` of the resources
 * (split by a hash of the resource id, so each part's lists fit in memory whatever the store's size).
 */
export async function seriesByResource(
  store: Store,
  selection: UsageSelection,
  part: number,
  parts: number,
): Promise<UsageSeriesRow[]> {
  if (!Number.isSafeInteger(part) || !Number.isSafeInteger(parts) || part < 0 || part >= parts)
    throw new RangeError(`resource part ${part} of ${parts}`)
  const rows = await store.all<RawSeriesRow>(
    seriesQuery('u.resource_id', `${WHERE} AND u.resource_id IS NOT NULL AND hash(u.resource_id) % ${parts} = ${part}`),
    paramsOf(selection),
  )
  return rows.map(seriesRow)
}
