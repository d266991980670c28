/**
 * Daily series for `anomalies`, read from the store's `usage` view: per account, and per stretch of days the
 * exports cover. Inside an export's covered period a day without a line for a usage type is zero usage; a
 * day no export covers is a gap, and a gap longer than MAX_GAP_DAYS ends a stretch.
 */

import {isInternetEgress} from '../aws/usage-types.js'
import {dayString} from '../detect/index.js'
import {BillwatchError} from '../errors.js'
import {sqlList, type Store} from '../store/index.js'
import {ACCOUNT_OF_ROW} from '../store/schema.js'

/** The label of the default series: internet egress of every region, summed per day. */
export const EGRESS_LABEL = 'DataTransfer-Out'

/** A gap longer than this (days no export covers) splits an account's days into separate stretches. */
export const MAX_GAP_DAYS = 28

export interface DailyPoint {
  day: string
  /** Usage in the series' unit (bytes for data transfer). */
  value: number
  /** Cost in USD as the store holds it; null when the export had none for that day. */
  costUsd: null | number
}

/** A series as plain points (the Lambda builds these from Cost Explorer and CloudWatch). */
export interface DailySeries {
  /** A usage type, 'DataTransfer-Out' for the egress sum, or the --usage-type glob for a sum over types. */
  usageType: string
  resourceId: null | string
  unit: string
  /** One point per day with usage; a day without a point is a gap, never a zero. */
  points: DailyPoint[]
}

export interface SeriesSet {
  /** The sum over every selected usage type (and region). */
  total: DailySeries
  /** Per usage type, when more than one is selected. */
  byUsageType: DailySeries[]
  /** Per resource id, where the exports name resources. */
  byResource: DailySeries[]
  usageTypes: string[]
  /** Whose usage this is; default '-' (one unnamed account). */
  account?: string
}

/** One series on a stretch's days: index i is day `first + i` (a day number); NaN is a gap. */
export interface DenseSeries {
  usageType: string
  resourceId: null | string
  unit: string
  values: Float64Array
  /** Cost per day in USD, NaN where the store has none; absent when no day has one. */
  costs?: Float64Array
}

/** Consecutive days of one account that the exports cover, gaps of at most MAX_GAP_DAYS inside. */
export interface Stretch {
  account: string
  /** Day numbers (days since 1970-01-01) of the first and last day. */
  first: number
  last: number
  total: DenseSeries
  /** Per usage type, when more than one is selected. */
  byUsageType: DenseSeries[]
}

export interface SeriesSelection {
  /** GLOB over usage types (DuckDB GLOB, case-sensitive); default: internet egress (`isInternetEgress`). */
  usageType?: string
  since?: string
  until?: string
  /** Only this account (an account id, or the source name of an export without an account column). */
  account?: string
}

export interface StoreSeries {
  stretches: Stretch[]
  usageTypes: string[]
  /** Every account with selected usage, before --account picks one. */
  accounts: string[]
  /** Calls `visit` with the stretches' resource series, a bounded batch at a time. */
  forEachResourceBatch(visit: (batch: Array<{stretch: Stretch; series: DenseSeries}>) => void): Promise<void>
}

/** An export without an account column is its own account, named after its file (unless ingest --account named it). */
const ACCOUNT_SQL = ACCOUNT_OF_ROW
/** Resource series read per query: bounds the memory the lists take whatever the store's size. */
const RESOURCES_PER_BATCH = 20_000

interface Row {
  account: string
  usage_type: string
  resource_id: null | string
  unit: null | string
  days: number[]
  amounts: number[]
  costs?: Array<null | number>
}

/** Reads the selected usage as stretches of per-account series; resource series come in batches. */
export async function loadStoreSeries(store: Store, selection: SeriesSelection): Promise<StoreSeries> {
  const usageTypes = await selectUsageTypes(store, selection.usageType)
  const label = selection.usageType ?? EGRESS_LABEL
  const suggestions = ['billwatch status (lists the usage types the store holds)', 'billwatch ingest FILE…']
  if (usageTypes.length === 0) {
    if (selection.usageType === undefined) throw new BillwatchError('E_NO_DATA', `no internet egress (${EGRESS_LABEL}) usage in store ${store.path}`, {suggestions})
    throw new BillwatchError('E_NO_DATA', `no usage type matches ${selection.usageType} in store ${store.path}`, {field: '--usage-type', suggestions})
  }
  const params = {account: selection.account ?? null, since: selection.since ?? null, types: sqlList(usageTypes), until: selection.until ?? null}
  const where = `list_contains($types, u.usage_type) AND ($since::DATE IS NULL OR u.day >= $since::DATE) AND ($until::DATE IS NULL OR u.day <= $until::DATE)
    AND ($account::VARCHAR IS NULL OR ${ACCOUNT_SQL} = $account::VARCHAR)`
  const byType = await store.all<Row>(seriesQuery('NULL::VARCHAR AS resource_id', where, true), params)
  const accounts = [...new Set((await store.all<{account: string}>(
    `SELECT DISTINCT ${ACCOUNT_SQL} AS account FROM usage u JOIN sources s ON s.id = u.source_id
     WHERE list_contains($types, u.usage_type) AND ($since::DATE IS NULL OR u.day >= $since::DATE) AND ($until::DATE IS NULL OR u.day <= $until::DATE) ORDER BY 1`,
    {since: params.since, types: params.types, until: params.until},
  )).map((r) => r.account))]
  if (byType.length === 0) {
    const range = [selection.since && `from ${selection.since}`, selection.until && `until ${selection.until}`].filter(Boolean).join(' ')
    if (selection.account !== undefined) {
      throw new BillwatchError('E_NO_DATA', `no ${label} usage of account ${selection.account} ${range} in store ${store.path}`.replace('  ', ' '), {
        field: '--account', suggestions: accounts.length > 0 ? [`accounts with ${label} usage: ${accounts.slice(0, 10).join(', ')}`] : suggestions,
      })
    }
    throw new BillwatchError('E_NO_DATA', `no ${label} usage ${range || 'at all'} in store ${store.path}`, {suggestions: ['billwatch status']})
  }
  const unitOf = (row: Row | undefined) => row?.unit ?? byType.find((r) => r.unit !== null)?.unit ?? 'units'
  const coverage = await loadCoverage(store, selection)
  const stretches: Stretch[] = []
  for (const account of [...new Set(byType.map((r) => r.account))].sort()) {
    const rows = byType.filter((r) => r.account === account)
    for (const span of stretchesOf(coverage.get(account) ?? [], rows)) {
      const types = rows.map((row) => densify(row, span, row.usage_type, null, unitOf(row)))
      const total = sumDense(types, label, unitOf(undefined))
      if (!total.values.some((v) => v > 0)) continue
      stretches.push({account, byUsageType: types.length > 1 ? types : [], first: span.first, last: span.last, total})
    }
  }
  if (stretches.length === 0) throw new BillwatchError('E_NO_DATA', `no ${label} usage above zero in store ${store.path}`, {suggestions: ['billwatch status']})

  return {
    accounts,
    async forEachResourceBatch(visit) {
      const count = await store.one<{n: number}>(`SELECT count(DISTINCT u.resource_id)::INTEGER AS n FROM usage u JOIN sources s ON s.id = u.source_id WHERE ${where} AND u.resource_id IS NOT NULL`, params)
      const parts = Math.max(1, Math.ceil((count?.n ?? 0) / RESOURCES_PER_BATCH))
      for (let part = 0; part < parts; part++) {
        const rows = await store.all<Row>(seriesQuery('u.resource_id', `${where} AND u.resource_id IS NOT NULL AND hash(u.resource_id) % ${parts} = ${part}`, true), params)
        const batch: Array<{stretch: Stretch; series: DenseSeries}> = []
        for (const row of rows) {
          for (const stretch of stretches) {
            if (stretch.account !== row.account) continue
            const series = densify(row, {covered: coveredOf(stretch), first: stretch.first, last: stretch.last}, row.usage_type, row.resource_id, unitOf(row))
            if (series.values.some((v) => v > 0)) batch.push({series, stretch})
          }
        }
        visit(batch)
      }
    },
    stretches,
    usageTypes,
  }
}

/** Per (account, usage type[, resource]) the days, amounts and costs, one list each. */
function seriesQuery(resource: string, where: string, withCosts: boolean): string {
  return `
    WITH daily AS (
      SELECT ${ACCOUNT_SQL} AS account, u.usage_type, ${resource}, u.day, any_value(u.unit) AS unit, sum(u.amount) AS amount,
             CASE WHEN count(u.cost) = 0 THEN NULL ELSE sum(u.cost) END AS cost
      FROM usage u JOIN sources s ON s.id = u.source_id WHERE ${where} GROUP BY ALL
    )
    SELECT account, usage_type, resource_id, any_value(unit) AS unit, list(day - DATE '1970-01-01' ORDER BY day) AS days,
           list(coalesce(amount, 0) ORDER BY day) AS amounts${withCosts ? ', list(cost ORDER BY day) AS costs' : ''}
    FROM daily GROUP BY ALL ORDER BY ALL`
}

/** Per account, the day ranges [start, end) its exports cover (capped at each export's last day with usage). */
async function loadCoverage(store: Store, selection: SeriesSelection): Promise<Map<string, Array<[number, number]>>> {
  const rows = await store.all<{account: string; start: number; end: number}>(
    `SELECT ${ACCOUNT_SQL} AS account,
            coalesce(s.cover_start, min(u.day)) - DATE '1970-01-01' AS start,
            least(coalesce(s.cover_end, max(u.day) + 1), max(u.day) + 1) - DATE '1970-01-01' AS "end"
     FROM usage_daily u JOIN sources s ON s.id = u.source_id GROUP BY ${ACCOUNT_SQL}, s.id, s.cover_start, s.cover_end`,
  )
  const since = selection.since === undefined ? Number.NEGATIVE_INFINITY : Date.parse(selection.since) / 86_400_000
  const until = selection.until === undefined ? Number.POSITIVE_INFINITY : Date.parse(selection.until) / 86_400_000 + 1
  const byAccount = new Map<string, Array<[number, number]>>()
  for (const row of rows) {
    const start = Math.max(Number(row.start), since)
    const end = Math.min(Number(row.end), until)
    if (end <= start) continue
    const list = byAccount.get(row.account) ?? []
    list.push([start, end])
    byAccount.set(row.account, list)
  }
  return byAccount
}

interface Span {
  first: number
  last: number
  /** 1 where an export covers the day. */
  covered: Uint8Array
}

/** The account's covered days cut at gaps longer than MAX_GAP_DAYS; days with usage count as covered. */
function stretchesOf(ranges: Array<[number, number]>, rows: Row[]): Span[] {
  const all = [...ranges]
  for (const row of rows) for (const day of row.days) all.push([Number(day), Number(day) + 1])
  all.sort((a, b) => a[0] - b[0])
  const merged: Array<[number, number]> = []
  for (const [start, end] of all) {
    const last = merged.at(-1)
    if (last && start <= last[1]) last[1] = Math.max(last[1], end)
    else merged.push([start, end])
  }
  const spans: Span[] = []
  let group: Array<[number, number]> = []
  const flush = () => {
    if (group.length === 0) return
    const first = group[0]![0]
    const last = group.at(-1)![1] - 1
    const covered = new Uint8Array(last - first + 1)
    for (const [start, end] of group) covered.fill(1, start - first, end - first)
    spans.push({covered, first, last})
    group = []
  }
  for (const range of merged) {
    const previous = group.at(-1)
    if (previous && range[0] - previous[1] > MAX_GAP_DAYS) flush()
    group.push(range)
  }
  flush()
  return spans
}

const coveredCache = new WeakMap<Stretch, Uint8Array>()
function coveredOf(stretch: Stretch): Uint8Array {
  let covered = coveredCache.get(stretch)
  if (!covered) {
    covered = Uint8Array.from(stretch.total.values, (v) => (Number.isNaN(v) ? 0 : 1))
    coveredCache.set(stretch, covered)
  }
  return covered
}

/** The row's days inside `span` as a dense series: zero on covered days without a line, NaN on gaps. */
function densify(row: Row, span: Span, usageType: string, resourceId: null | string, unit: string): DenseSeries {
  const length = span.last - span.first + 1
  const values = new Float64Array(length)
  for (let i = 0; i < length; i++) values[i] = span.covered[i] ? 0 : Number.NaN
  let costs: Float64Array | undefined
  for (let k = 0; k < row.days.length; k++) {
    const i = Number(row.days[k]) - span.first
    if (i < 0 || i >= length) continue
    values[i] = Number(row.amounts[k])
    const cost = row.costs?.[k]
    if (cost !== null && cost !== undefined) {
      costs ??= new Float64Array(length).fill(Number.NaN)
      costs[i] = Number(cost)
    }
  }
  return {resourceId, unit, usageType, values, ...(costs ? {costs} : {})}
}

/** Day-by-day sum; a day's cost is NaN only when no part has a cost that day (as SQL sum). */
export function sumDense(parts: DenseSeries[], usageType: string, unit: string): DenseSeries {
  const length = parts[0]?.values.length ?? 0
  const values = new Float64Array(length).fill(Number.NaN)
  let costs: Float64Array | undefined
  for (const part of parts) {
    for (let i = 0; i < length; i++) {
      const v = part.values[i] as number
      if (!Number.isNaN(v)) values[i] = (Number.isNaN(values[i] as number) ? 0 : (values[i] as number)) + v
      const c = part.costs?.[i]
      if (c !== undefined && !Number.isNaN(c)) {
        costs ??= new Float64Array(length).fill(Number.NaN)
        costs[i] = (Number.isNaN(costs[i] as number) ? 0 : (costs[i] as number)) + c
      }
    }
  }
  return {resourceId: null, unit, usageType, values, ...(costs ? {costs} : {})}
}

/** A series' observed days as points (for costing and charts). */
export function pointsOf(series: DenseSeries, first: number): DailyPoint[] {
  const points: DailyPoint[] = []
  series.values.forEach((value, i) => {
    if (Number.isNaN(value)) return
    const cost = series.costs?.[i]
    points.push({costUsd: cost === undefined || Number.isNaN(cost) ? null : cost, day: dayString(first + i), value})
  })
  return points
}

/** Points as a dense series from `first` to `last` (days without a point are gaps). */
export function denseOf(series: DailySeries, first: number, last: number): DenseSeries {
  const values = new Float64Array(last - first + 1).fill(Number.NaN)
  let costs: Float64Array | undefined
  for (const p of series.points) {
    const i = Math.round(Date.parse(`${p.day}T00:00:00Z`) / 86_400_000) - first
    if (i < 0 || i > last - first) continue
    values[i] = (Number.isNaN(values[i] as number) ? 0 : (values[i] as number)) + p.value
    if (p.costUsd !== null) {
      costs ??= new Float64Array(values.length).fill(Number.NaN)
      costs[i] = (Number.isNaN(costs[i] as number) ? 0 : (costs[i] as number)) + p.costUsd
    }
  }
  return {resourceId: series.resourceId, unit: series.unit, usageType: series.usageType, values, ...(costs ? {costs} : {})}
}

async function selectUsageTypes(store: Store, glob: string | undefined): Promise<string[]> {
  const rows = await store.all<{usage_type: string}>(
    glob === undefined ? 'SELECT DISTINCT usage_type FROM usage ORDER BY 1' : 'SELECT DISTINCT usage_type FROM usage WHERE usage_type GLOB $1 ORDER BY 1',
    glob === undefined ? [] : [glob],
  )
  const all = rows.map((r) => r.usage_type)
  return glob === undefined ? all.filter((t) => isInternetEgress(t)) : all
}
