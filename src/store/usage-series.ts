/**
 * Reads of the stored daily usage that `anomalies` builds its series on, as typed rows: per account, provider
 * and usage type (or resource), the days with usage and their amounts and costs, one list each. The SQL lives
 * here; what a series is (stretches, gaps, zero days, currencies never added) is decided in src/anomalies.
 */
import {sqlList, type Store} from './index.js'
import {FAMILY_RANK, unnamedAccountSql} from './schema.js'

/** Which usage lines a series reads. */
export interface UsageSelection {
  /** The usage types (exact names) to read. */
  usageTypes: string[]
  /** First and last UTC day, YYYY-MM-DD, inclusive; null: no bound. */
  since: null | string
  until: null | string
  /** Only this account (an account id, or the source name of an export without an account column). */
  account: null | string
  /** How the rows are read (see usageRows); found once per selection, when absent on every query. */
  rows?: UsageRows
}

/**
 * The rows of the store's `usage` view, each with its account (`account_key`), as a FROM item `(…) u`. The view
 * names the account of a row without one by a regular expression over its export's path, row by row, and keeps
 * per day, usage type and account only the richest family's rows, by a join over every row: some 40 s of CPU on
 * 36.5M rows. Here the name is taken once per export, and when no account has exports of two families (so the
 * view drops nothing) the rows are read as they are stored: the same rows, a tenth of the time.
 */
export interface UsageRows {
  sql: string
}

const SOURCES_KEYED = `(SELECT id, ${unnamedAccountSql('path')} AS unnamed,
    CASE family ${Object.entries(FAMILY_RANK)
      .map(([f, r]) => `WHEN '${f}' THEN ${r}`)
      .join(' ')} ELSE 99 END AS family_rank
  FROM sources)`

/** How to read the store's usage rows now (see UsageRows). */
export async function usageRows(store: Store): Promise<UsageRows> {
  const contested = await store.one<{n: number}>(
    `SELECT count(*)::INTEGER AS n FROM (
       SELECT coalesce(d.account, s.unnamed) AS account_key
       FROM (SELECT DISTINCT source_id, account FROM usage_daily) d JOIN ${SOURCES_KEYED} s ON s.id = d.source_id
       GROUP BY 1 HAVING count(DISTINCT s.family_rank) > 1)`,
  )
  // The view joins on provider, so a row without one is never in it (the column defaults to 'AWS').
  if ((contested?.n ?? 0) === 0)
    return {
      sql: `(SELECT u.*, coalesce(u.account, s.unnamed) AS account_key
        FROM usage_daily u JOIN ${SOURCES_KEYED} s ON s.id = u.source_id WHERE u.provider IS NOT NULL) u`,
    }
  return {
    sql: `(WITH tagged AS NOT MATERIALIZED (
        SELECT u.*, coalesce(u.account, s.unnamed) AS account_key, s.family_rank
        FROM usage_daily u JOIN ${SOURCES_KEYED} s ON s.id = u.source_id
      ), best AS (
        SELECT day, provider, usage_type, account_key, min(family_rank) AS family_rank FROM tagged GROUP BY ALL
      )
      SELECT t.* EXCLUDE (family_rank) FROM tagged t JOIN best b USING (day, provider, usage_type, account_key, family_rank)
    ) u`,
  }
}

async function rowsOf(store: Store, selection: UsageSelection): Promise<string> {
  return (selection.rows ?? (await usageRows(store))).sql
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
  read?: UsageRows,
): Promise<{usageType: string; usageBase: string}[]> {
  const from = (read ?? (await usageRows(store))).sql
  const rows = await store.all<{usage_type: string; usage_base: string}>(
    glob === undefined
      ? `SELECT DISTINCT usage_type, usage_base FROM ${from} ORDER BY 1, 2`
      : `SELECT DISTINCT usage_type, usage_base FROM ${from} WHERE usage_type GLOB $1 ORDER BY 1, 2`,
    glob === undefined ? [] : [glob],
  )
  return rows.map((r) => ({usageBase: r.usage_base, usageType: r.usage_type}))
}

const WHERE = `list_contains($types, u.usage_type) AND ($since::DATE IS NULL OR u.day >= $since::DATE)
    AND ($until::DATE IS NULL OR u.day <= $until::DATE)
    AND ($account::VARCHAR IS NULL OR u.account_key = $account::VARCHAR)`

function paramsOf(selection: UsageSelection) {
  return {
    account: selection.account,
    since: selection.since,
    types: sqlList(selection.usageTypes),
    until: selection.until,
  }
}

/** Per (account, provider, usage type[, resource]) the days, amounts and costs, one list each. */
function seriesQuery(rows: string, resource: string, where: string): string {
  return `
    WITH daily AS (
      SELECT u.account_key AS account, coalesce(u.provider, 'AWS') AS provider, u.usage_type, ${resource}, u.day,
             any_value(u.unit) AS unit, sum(u.amount) AS amount,
             CASE WHEN count(u.cost) = 0 THEN NULL ELSE sum(u.cost) END AS cost
      FROM ${rows} WHERE ${where} GROUP BY ALL
    )
    SELECT account, provider, usage_type, resource_id, unit, list_transform(l, x -> x.d) AS days,
           list_transform(l, x -> x.a) AS amounts, list_transform(l, x -> x.c) AS costs
    FROM (
      -- One list of (day, amount, cost), sorted after it is built: a list aggregate with ORDER BY keeps a sort per
      -- group, and at thousands of series those run out of memory where the plain lists take megabytes.
      SELECT account, provider, usage_type, resource_id, any_value(unit) AS unit,
             list_sort(list({d: (day - DATE '1970-01-01')::INTEGER, a: coalesce(amount, 0), c: cost})) AS l
      FROM daily GROUP BY account, provider, usage_type, resource_id
    ) ORDER BY account, provider, usage_type, resource_id`
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
  const rows = await store.all<RawSeriesRow>(
    seriesQuery(await rowsOf(store, selection), 'NULL::VARCHAR AS resource_id', WHERE),
    paramsOf(selection),
  )
  return rows.map(seriesRow)
}

/** Every account with usage of the selection's types and days, whichever account the selection names. */
export async function accountsWithUsage(store: Store, selection: UsageSelection): Promise<string[]> {
  const {since, types, until} = paramsOf(selection)
  const rows = await store.all<{account: string}>(
    `SELECT DISTINCT u.account_key AS account FROM ${await rowsOf(store, selection)}
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
    `SELECT u.account_key AS account, coalesce(u.provider, 'AWS') AS provider,
            list(DISTINCT u.currency ORDER BY u.currency) FILTER (WHERE u.currency IS NOT NULL) AS currencies,
            list(DISTINCT s.format || ': ' || s.cost_basis ORDER BY s.format || ': ' || s.cost_basis)
              FILTER (WHERE s.cost_basis IS NOT NULL) AS bases
     FROM ${await rowsOf(store, selection)} JOIN sources s ON s.id = u.source_id
     WHERE ${WHERE} AND u.cost IS NOT NULL GROUP BY ALL`,
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
    `SELECT u.account_key AS account, coalesce(u.provider, 'AWS') AS provider,
            coalesce(s.cover_start, min(u.day)) - DATE '1970-01-01' AS start,
            least(coalesce(s.cover_end, max(u.day) + 1), max(u.day) + 1) - DATE '1970-01-01' AS "end"
     FROM (SELECT u.*, coalesce(u.account, k.unnamed) AS account_key
           FROM usage_daily u JOIN ${SOURCES_KEYED} k ON k.id = u.source_id) u JOIN sources s ON s.id = u.source_id
     GROUP BY u.account_key, coalesce(u.provider, 'AWS'), s.id, s.cover_start, s.cover_end`,
  )
  return rows.map((r) => ({account: r.account, end: Number(r.end), provider: r.provider, start: Number(r.start)}))
}

/** One resource series of a part of the selection (see resourceKeysByPart). */
export interface ResourceKey {
  account: string
  provider: string
  usageType: string
  resourceId: string
  unit: null | string
}

/** One chunk of resourceLines: row i is a line of series `key[i]` on day `day[i]` (a day number). */
export interface ResourceLines {
  rows: number
  key: Int32Array
  day: Int32Array
  /** 0 where the line states no amount. */
  amount: Float64Array
  /** NaN where the line states no cost. */
  cost: Float64Array
}

function checkPart(part: number, parts: number): void {
  if (!Number.isSafeInteger(part) || !Number.isSafeInteger(parts) || part < 0 || part >= parts)
    throw new RangeError(`resource part ${part} of ${parts}`)
}

/** The selection's lines that name a resource, of part `part` of `parts` (split by a hash of the resource id). */
function resourceLinesSql(rows: string, part: number, parts: number): string {
  return `SELECT u.account_key AS account, coalesce(u.provider, 'AWS') AS provider, u.usage_type, u.resource_id,
      u.unit, (u.day - DATE '1970-01-01')::INTEGER AS d, u.amount, u.cost
    FROM ${rows} WHERE ${WHERE} AND u.resource_id IS NOT NULL AND hash(u.resource_id) % ${parts} = ${part}`
}

/** The key order resourceKeysByPart lists series in. */
const KEY_ORDER = 'account, provider, usage_type, resource_id'

/**
 * The resource series (account, provider, usage type, resource) of the selection, each with its unit, split into
 * `partsFor(number of distinct resources)` parts by a hash of the resource id, each part in that key order. One
 * query for every part (a query per part scanned every line once more): resourceLines reads a part's lines by
 * these lists, naming a series by its index in its part's list. A part bounds the days held in memory at once
 * whatever the store's size.
 */
export async function resourceKeysByPart(
  store: Store,
  selection: UsageSelection,
  partsFor: (resources: number) => number,
): Promise<ResourceKey[][]> {
  const rows = await store.all<{
    account: string
    provider: string
    usage_type: string
    resource_id: string
    unit: null | string
    h: bigint | number | string
  }>(
    `SELECT ${KEY_ORDER}, any_value(unit) AS unit, any_value(h) AS h FROM (
       SELECT u.account_key AS account, coalesce(u.provider, 'AWS') AS provider, u.usage_type, u.resource_id, u.unit,
              hash(u.resource_id) AS h
       FROM ${await rowsOf(store, selection)} WHERE ${WHERE} AND u.resource_id IS NOT NULL)
     GROUP BY ${KEY_ORDER} ORDER BY ${KEY_ORDER}`,
    paramsOf(selection),
  )
  const parts = partsFor(new Set(rows.map((r) => r.resource_id)).size)
  checkPart(0, parts)
  const byPart: ResourceKey[][] = Array.from({length: parts}, () => [])
  for (const r of rows) {
    // The part resourceLinesSql selects: hash(resource_id) % parts, the hash an unsigned 64-bit integer.
    const part = Number(BigInt(r.h) % BigInt(parts))
    byPart[part]!.push({
      account: r.account,
      provider: r.provider,
      resourceId: r.resource_id,
      unit: r.unit,
      usageType: r.usage_type,
    })
  }
  return byPart
}

/**
 * Every line of part `part` of `parts` that names a resource, handed over a chunk at a time in no order: its series'
 * index in `keys` (that part's list from resourceKeysByPart), its day, amount and cost. Plain numbers, so a series
 * is added up day by day in a typed array where lists per series cost seconds to build and convert.
 */
export async function resourceLines(
  store: Store,
  selection: UsageSelection,
  part: number,
  parts: number,
  keys: readonly ResourceKey[],
  visit: (lines: ResourceLines) => void,
): Promise<void> {
  checkPart(part, parts)
  if (keys.length === 0) return
  const lines: ResourceLines = {
    amount: new Float64Array(0),
    cost: new Float64Array(0),
    day: new Int32Array(0),
    key: new Int32Array(0),
    rows: 0,
  }
  // The part's series come as lists, numbered by position: joined on them, not numbered again from the lines (a
  // DISTINCT and a window over every line of the part took as long as reading them).
  await store.forEachChunk(
    `WITH keys AS (
       SELECT unnest($keyAccounts::VARCHAR[]) AS account, unnest($keyProviders::VARCHAR[]) AS provider,
              unnest($keyUsageTypes::VARCHAR[]) AS usage_type, unnest($keyResources::VARCHAR[]) AS resource_id,
              (generate_subscripts($keyResources::VARCHAR[], 1) - 1)::INTEGER AS k
     )
     SELECT keys.k, lines.d, lines.amount, lines.cost
     FROM (${resourceLinesSql(await rowsOf(store, selection), part, parts)}) lines JOIN keys USING (${KEY_ORDER})`,
    {
      ...paramsOf(selection),
      keyAccounts: sqlList(keys.map((k) => k.account)),
      keyProviders: sqlList(keys.map((k) => k.provider)),
      keyResources: sqlList(keys.map((k) => k.resourceId)),
      keyUsageTypes: sqlList(keys.map((k) => k.usageType)),
    },
    (chunk) => {
      const n = chunk.rowCount
      if (lines.key.length < n) {
        lines.key = new Int32Array(n)
        lines.day = new Int32Array(n)
        lines.amount = new Float64Array(n)
        lines.cost = new Float64Array(n)
      }
      const [key, day, amount, cost] = [0, 1, 2, 3].map((c) => chunk.getColumnVector(c))
      for (let i = 0; i < n; i++) {
        lines.key[i] = key!.getItem(i) as number
        lines.day[i] = day!.getItem(i) as number
        lines.amount[i] = (amount!.getItem(i) as null | number) ?? 0
        lines.cost[i] = (cost!.getItem(i) as null | number) ?? Number.NaN
      }
      lines.rows = n
      visit(lines)
    },
  )
}
