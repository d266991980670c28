/**
 * Reads of the stored daily usage that `anomalies` builds its series on, as typed rows: per account, provider
 * and usage type (or resource), the days with usage and their amounts and costs, one list each. The SQL lives
 * here; what a series is (stretches, gaps, zero days, currencies never added) is decided in src/anomalies.
 */
import type {ScreenMargins} from '../anomalies/screen-margins.js'
import {isOutOfMemory} from '../errors.js'
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

/** How many distinct resources the selection's lines name. */
export async function resourceCount(store: Store, selection: UsageSelection): Promise<number> {
  const row = await store.one<{n: number}>(
    `SELECT count(DISTINCT u.resource_id)::INTEGER AS n FROM ${await rowsOf(store, selection)}
     WHERE ${WHERE} AND u.resource_id IS NOT NULL`,
    paramsOf(selection),
  )
  return row?.n ?? 0
}

/**
 * The selection per account, provider, usage type and resource, for part `part` of `parts` of the resources
 * (split by a hash of the resource id, so each part's lists fit in memory whatever the store's size); with
 * `only`, just those resource ids of the part.
 */
export async function seriesByResource(
  store: Store,
  selection: UsageSelection,
  part: number,
  parts: number,
  only?: readonly string[],
): Promise<UsageSeriesRow[]> {
  if (!Number.isSafeInteger(part) || !Number.isSafeInteger(parts) || part < 0 || part >= parts)
    throw new RangeError(`resource part ${part} of ${parts}`)
  const some = only === undefined ? '' : ' AND u.resource_id IN (SELECT unnest($only::VARCHAR[]))'
  const rows = await store.all<RawSeriesRow>(
    seriesQuery(
      await rowsOf(store, selection),
      'u.resource_id',
      `${WHERE} AND u.resource_id IS NOT NULL AND hash(u.resource_id) % ${parts} = ${part}${some}`,
    ),
    {...paramsOf(selection), ...(only === undefined ? {} : {only: sqlList([...only])})},
  )
  return rows.map(seriesRow)
}

/** Days first..last (day numbers) of one account at one provider, `covered` of them covered by an export. */
export interface ScreenStretch {
  account: string
  provider: string
  first: number
  last: number
  covered: number
}

/** One resource series on one stretch, as the screen judged it. */
export interface ScreenedSeries {
  /** Index into the stretches screened. */
  stretch: number
  account: string
  provider: string
  usageType: string
  resourceId: string
  /** Whether the series could hold a finding: false only for a series with usage on every covered day. */
  keep: boolean
}

/**
 * One pass over the selection's resource lines of part `part` of `parts` (split as seriesByResource splits them):
 * per resource series and stretch, the natural logs of its days summed per week of the stretch (its smallest and
 * largest day, the sum and count, the sum of the changes from day to day, the sums over its first and last days),
 * and from those whether the series could hold a step, a spike or a trend at the margins given. A series with a
 * day of zero, a covered day without a line, or a day no export covers is always kept; so is every series when
 * the weeks are not all there. Only the verdicts come back, one short row per series. Undefined when DuckDB had
 * not the memory for it.
 */
export async function screenResourceSeries(
  store: Store,
  selection: UsageSelection,
  stretches: readonly ScreenStretch[],
  margins: ScreenMargins,
  part = 0,
  parts = 1,
): Promise<ScreenedSeries[] | undefined> {
  if (stretches.length === 0) return []
  if (!Number.isSafeInteger(part) || !Number.isSafeInteger(parts) || part < 0 || part >= parts)
    throw new RangeError(`resource part ${part} of ${parts}`)
  // The first and last days' tests compare the mean log of a few days with the fortnight beside them: per window
  // [from, to) of days of the stretch (0-based; n is the stretch's length), its sum of logs and its count, summed
  // over the weeks it falls in. Plain sums: DuckDB spills them, where lists gathered per series did not.
  const windows: Record<string, [string, string]> = {}
  const edgeDays = Array.from({length: margins.edgeDays}, (_, i) => i + 1)
  for (const k of edgeDays) {
    windows[`l${k}`] = [`n - ${k}`, 'n']
    windows[`p${k}`] = [`n - ${k + 14}`, `n - ${k}`]
    if (k > 1) {
      windows[`f${k}`] = ['0', String(k)]
      windows[`g${k}`] = [String(k), String(k + 14)]
    }
  }
  // The days of week b inside the window, sliced (a lambda per day costs more than the rest of the screen).
  const inWindow = ([from, to]: [string, string]) => {
    const [lo, hi] = [`greatest(${from} - 7 * b, 0)`, `least(${to} - 7 * b, 7)`]
    return `CASE WHEN ${hi} > ${lo} THEN z[${lo} + 1:${hi}] END`
  }
  const weekSums = Object.entries(windows)
    .map(([name, window]) => `list_sum(${inWindow(window)}) AS ${name}_s, list_count(${inWindow(window)}) AS ${name}_c`)
    .join(',\n                ')
  const seriesSums = Object.keys(windows)
    .map((name) => `sum(${name}_s) / nullif(sum(${name}_c), 0) AS ${name}`)
    .join(', ')
  const edgeTests = edgeDays.flatMap((k) => {
    const margin = `greatest($tail, $tail_noise * coalesce(noise, 0) / sqrt(${k}))`
    return [
      `coalesce(abs(l${k} - p${k}), 0) > ${margin}`,
      ...(k > 1 ? [`coalesce(abs(f${k} - g${k}), 0) > ${margin}`] : []),
    ]
  })
  interface Judged {
    stretch: number
    account: string
    provider: string
    usage_type: string
    resource_id: string
    keep: boolean
  }
  let rows: Judged[]
  try {
    rows = await store.all<Judged>(
      `WITH st AS (
         SELECT unnest($s_account::VARCHAR[]) AS account, unnest($s_provider::VARCHAR[]) AS provider,
                unnest($s_first::INTEGER[]) AS first, unnest($s_last::INTEGER[]) AS last,
                unnest($s_covered::INTEGER[]) AS covered, unnest(range(len($s_first::INTEGER[]))) AS stretch
       ), lines AS (
         SELECT u.account_key AS account, coalesce(u.provider, 'AWS') AS provider, u.usage_type, u.resource_id,
                (u.day - DATE '1970-01-01')::INTEGER AS d, u.amount
         FROM ${await rowsOf(store, selection)}
         WHERE ${WHERE} AND u.resource_id IS NOT NULL AND hash(u.resource_id) % ${parts} = ${part}
       ), weeks AS (
         SELECT st.stretch, l.account, l.provider, l.usage_type, l.resource_id, st.last - st.first + 1 AS n, st.covered,
                (l.d - st.first) // 7 AS b,
                [${[0, 1, 2, 3, 4, 5, 6].map((k) => `sum(l.amount) FILTER (WHERE (l.d - st.first) % 7 = ${k})`).join(', ')}] AS v
         FROM lines l JOIN st ON st.account = l.account AND st.provider = l.provider AND l.d BETWEEN st.first AND st.last
         GROUP BY ALL
       ), week AS (
         SELECT *, list_filter(v, x -> x IS NOT NULL) AS p FROM weeks
       ), binned AS (
         SELECT stretch, account, provider, usage_type, resource_id, n, covered, b,
                len(p) AS cnt, list_min(p) AS vmin, list_max(p) AS vmax,
                CASE WHEN list_min(p) > 0 THEN list_sum(list_transform(p, x -> ln(x))) END AS s,
                CASE WHEN list_min(p) > 0 THEN ln(list_min(p)) END AS lo,
                CASE WHEN list_min(p) > 0 THEN ln(list_max(p)) END AS hi,
                CASE WHEN list_min(p) > 0 AND len(p) > 1
                  THEN list_sum(list_transform(range(1, len(p)), k -> abs(ln(p[k + 1]) - ln(p[k])))) END AS dsum,
                greatest(len(p) - 1, 0) AS dn,
                list_transform(v, x -> CASE WHEN x > 0 THEN ln(x) END) AS z
         FROM week
       ), edged AS (
         SELECT *, ${weekSums} FROM binned
       ), windowed AS (
         -- Week m's neighbours: fortnights [7m − 14, 7m) and [7m, 7m + 14) are weeks m − 2, m − 1 and m, m + 1.
         SELECT *, lag(s) OVER w AS s_1, lag(cnt) OVER w AS c_1, lead(s) OVER w AS s1, lead(cnt) OVER w AS c1,
                lead(s, 2) OVER w AS s2, lead(cnt, 2) OVER w AS c2, lag(z) OVER w AS z_1,
                -- The weeks before this one, and the whole series: the split at this week's start.
                sum(s) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS s_before,
                sum(cnt) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS c_before,
                sum(s) OVER whole AS s_all, sum(cnt) OVER whole AS c_all
         FROM edged
         WINDOW whole AS (PARTITION BY stretch, account, provider, usage_type, resource_id),
                w AS (PARTITION BY stretch, account, provider, usage_type, resource_id ORDER BY b)
       ), weekly AS (
         SELECT *,
           abs((coalesce(s_1, 0) + s) / (coalesce(c_1, 0) + cnt) - (s1 + coalesce(s2, 0)) / (c1 + coalesce(c2, 0))) AS step,
           -- The same in units of its noise: √(1/days left + 1/days right) of the day-to-day noise.
           abs((coalesce(s_1, 0) + s) / (coalesce(c_1, 0) + cnt) - (s1 + coalesce(s2, 0)) / (c1 + coalesce(c2, 0)))
             / sqrt(1 / (coalesce(c_1, 0) + cnt) + 1 / (c1 + coalesce(c2, 0))) AS step_units,
           -- The fortnights on either side of the cut, when whole (a shorter one is too noisy to span a ramp).
           CASE WHEN coalesce(c_1, 0) + cnt = 14 THEN (coalesce(s_1, 0) + s) / 14 END AS fortnight,
           CASE WHEN c1 + coalesce(c2, 0) = 14 THEN (s1 + coalesce(s2, 0)) / 14 END AS fortnight_after,
           -- The means of all the days before this week and from it on (the detector's change cost sees a slow
           -- change over months), and the same in units of its noise.
           abs(s_before / c_before - (s_all - s_before) / (c_all - c_before)) AS split,
           abs(s_before / c_before - (s_all - s_before) / (c_all - c_before))
             / sqrt(1 / c_before + 1 / (c_all - c_before)) AS split_units,
           -- The change from the week before's last day to this week's first.
           abs(z[1] - z_1[7]) AS across,
           -- A day against the mean of its week and the weeks beside it.
           greatest(hi - (coalesce(s_1, 0) + s + coalesce(s1, 0)) / (coalesce(c_1, 0) + cnt + coalesce(c1, 0)),
                    (coalesce(s_1, 0) + s + coalesce(s1, 0)) / (coalesce(c_1, 0) + cnt + coalesce(c1, 0)) - lo) AS spike,
           -- The mean of two or three days ending on each day of the week (zz: last week's days, then this week's).
           list_max(list_transform(range(7), i -> abs(list_avg(zz[7 + i:8 + i])
             - (coalesce(s_1, 0) + s + coalesce(s1, 0)) / (coalesce(c_1, 0) + cnt + coalesce(c1, 0))))) AS run2,
           list_max(list_transform(range(7), i -> abs(list_avg(zz[6 + i:8 + i])
             - (coalesce(s_1, 0) + s + coalesce(s1, 0)) / (coalesce(c_1, 0) + cnt + coalesce(c1, 0))))) AS run3,
           list_transform(range(1, 8), k -> abs(z[k] - z_1[k])) AS apart
         FROM (SELECT *, list_concat(coalesce(z_1, list_transform(range(7), k -> NULL::DOUBLE)), z) AS zz FROM windowed)
       ), noisy AS (
         SELECT stretch, account, provider, usage_type, resource_id, any_value(n) AS n, any_value(covered) AS covered,
                sum(cnt) AS days, min(vmin) AS vmin, max(vmax) AS vmax, count(*) AS weeks, max(b) AS last_week,
                count(s) AS logged, max(step) AS step, max(step_units) AS step_units, max(spike) AS spike,
                max(run2) AS run2, max(run3) AS run3, max(split_units) FILTER (WHERE split > $split) AS split_units,
                -- The lowest and highest fortnight apart (a slow ramp moves no two neighbours apart).
                greatest(max(fortnight), max(fortnight_after)) - least(min(fortnight), min(fortnight_after)) AS spread,
                -- The noise from differences a week apart when smaller: the detector removes a weekly pattern.
                least((coalesce(sum(dsum), 0) + coalesce(sum(across), 0)) / nullif(sum(dn) + count(across), 0),
                      sum(list_sum(apart)) / nullif(sum(list_count(apart)), 0)) * sqrt(pi()) / 2 AS noise,
                ${seriesSums}
         FROM weekly GROUP BY stretch, account, provider, usage_type, resource_id
       )
       SELECT stretch::INTEGER AS stretch, account, provider, usage_type, resource_id,
         NOT (days = covered AND logged = weeks AND weeks = last_week + 1 AND vmin > 0 AND (
           days < 6 OR vmax < $min_ratio * vmin OR NOT (
             coalesce(step, 0) > $step AND coalesce(step_units, 0) > $step_noise * coalesce(noise, 0)
             OR coalesce(spread, 0) > greatest($step, $spread_noise * coalesce(noise, 0))
             OR coalesce(split_units, 0) > $split_noise * sqrt(3 * ln(greatest(n, 2))) * coalesce(noise, 0)
             OR ${edgeTests.join(' OR ')}
             OR coalesce(spike, 0) > greatest($spike, $spike_noise * greatest(0.5, 1 - 2 / sqrt(n)) * coalesce(noise, 0))
             OR coalesce(run2, 0) > greatest($spike, $spike_noise * coalesce(noise, 0) / sqrt(2))
             OR coalesce(run3, 0) > greatest($spike, $spike_noise * coalesce(noise, 0) / sqrt(3))))) AS keep
       FROM noisy WHERE vmax > 0`,
      {
        ...paramsOf(selection),
        min_ratio: margins.minRatio,
        s_account: sqlList(stretches.map((s) => s.account)),
        s_covered: sqlList(stretches.map((s) => s.covered)),
        s_first: sqlList(stretches.map((s) => s.first)),
        s_last: sqlList(stretches.map((s) => s.last)),
        s_provider: sqlList(stretches.map((s) => s.provider)),
        spike: margins.spike,
        spike_noise: margins.spikeNoise,
        step: margins.step,
        split: margins.split,
        split_noise: margins.splitNoise,
        spread_noise: margins.spreadNoise,
        step_noise: margins.stepNoise,
        tail: margins.tail,
        tail_noise: margins.tailNoise,
      },
    )
  } catch (error) {
    // The screen only saves reading series: without the memory for it, every series is read, as before it.
    if (isOutOfMemory(error)) return undefined
    throw error
  }
  return rows.map((r) => ({
    account: r.account,
    keep: r.keep,
    provider: r.provider,
    resourceId: r.resource_id,
    stretch: Number(r.stretch),
    usageType: r.usage_type,
  }))
}
