/** Daily series for `anomalies`, read from the store's `usage` view (one family per day and usage type). */

import {isEgressUsage} from '../aws/usage-types.js'
import {dayString} from '../detect/index.js'
import {BillwatchError} from '../errors.js'
import {sqlList, type Store} from '../store/index.js'

/** The label of the default series: internet egress of every region, summed per day. */
export const EGRESS_LABEL = 'DataTransfer-Out'

export interface DailyPoint {
  day: string
  /** Usage in the series' unit (bytes for data transfer). */
  value: number
  /** Cost as the store holds it, in the series' currency; null when the export had none for that day. */
  cost: null | number
}

export interface DailySeries {
  /** A usage type, 'DataTransfer-Out' for the egress sum, or the --usage-type glob for a sum over types. */
  usageType: string
  resourceId: null | string
  unit: string
  /** One point per day with usage; a day without rows is a gap, never a zero. */
  points: DailyPoint[]
  /** Currency of the points' cost (null: no cost). Costs in several currencies are never added: see SeriesSet. */
  currency?: null | string
}

export interface SeriesSelection {
  /** GLOB over usage types (DuckDB GLOB, case-sensitive); default: internet egress (`isInternetEgress`). */
  usageType?: string
  since?: string
  until?: string
}

export interface SeriesSet {
  /** The sum over every selected usage type (and region). */
  total: DailySeries
  /** Per usage type, when more than one is selected. */
  byUsageType: DailySeries[]
  /** Per resource id, where the exports name resources. */
  byResource: DailySeries[]
  usageTypes: string[]
  /** Currencies the selected costs are in; with more than one, the points carry no cost. */
  currencies: string[]
  /** Which cost column of each export the store's cost is ("cur1: effective cost: …"). */
  costBases: string[]
}

interface Row {
  usage_type: null | string
  resource_id: null | string
  unit: null | string
  days: number[]
  amounts: number[]
  costs: Array<null | number>
}

/** Reads the selected usage as daily series: the total, per usage type and per resource. */
export async function loadSeries(store: Store, selection: SeriesSelection): Promise<SeriesSet> {
  const usageTypes = await selectUsageTypes(store, selection.usageType)
  const label = selection.usageType ?? EGRESS_LABEL
  if (usageTypes.length === 0) {
    const suggestions = ['billwatch status (lists the usage types the store holds)', 'billwatch ingest FILE…']
    if (selection.usageType === undefined) throw new BillwatchError('E_NO_DATA', `no internet egress (${EGRESS_LABEL}) usage in store ${store.path}`, {suggestions})
    throw new BillwatchError('E_NO_DATA', `no usage type matches ${selection.usageType} in store ${store.path}`, {field: '--usage-type', suggestions})
  }
  const where = `list_contains($types, usage_type) AND ($since::DATE IS NULL OR day >= $since::DATE) AND ($until::DATE IS NULL OR day <= $until::DATE)`
  // Days come back as day numbers (days since 1970-01-01): one list per series is far cheaper than a row per day.
  const query = (groupBy: string) => `
    WITH daily AS (
      SELECT ${groupBy}, day, any_value(unit) AS unit, sum(amount) AS amount, CASE WHEN count(cost) = 0 THEN NULL ELSE sum(cost) END AS cost
      FROM usage WHERE ${where} GROUP BY ALL
    )
    SELECT ${groupBy}, any_value(unit) AS unit, list(day - DATE '1970-01-01' ORDER BY day) AS days,
           list(coalesce(amount, 0) ORDER BY day) AS amounts, list(cost ORDER BY day) AS costs
    FROM daily GROUP BY ALL ORDER BY ALL`
  const sqlParams = {since: selection.since ?? null, types: sqlList(usageTypes), until: selection.until ?? null}
  const currencyRows = await store.all<{currency: string}>(`SELECT DISTINCT currency FROM usage WHERE ${where} AND cost IS NOT NULL AND currency IS NOT NULL ORDER BY 1`, sqlParams)
  const currencies = currencyRows.map((r) => r.currency)
  const bases = await store.all<{format: string; cost_basis: string}>(
    `SELECT DISTINCT s.format, s.cost_basis FROM usage u JOIN sources s ON s.id = u.source_id
     WHERE list_contains($types, u.usage_type) AND ($since::DATE IS NULL OR u.day >= $since::DATE) AND ($until::DATE IS NULL OR u.day <= $until::DATE)
       AND u.cost IS NOT NULL AND s.cost_basis IS NOT NULL ORDER BY 1, 2`,
    sqlParams,
  )
  const byType = await store.all<Row>(query('usage_type, NULL::VARCHAR AS resource_id'), sqlParams)
  const byResource = await store.all<Row>(query('NULL::VARCHAR AS usage_type, resource_id').replace('GROUP BY ALL\n', 'AND resource_id IS NOT NULL GROUP BY ALL\n'), sqlParams)
  const unitOf = (row: Row | undefined) => row?.unit ?? byType.find((r) => r.unit !== null)?.unit ?? 'units'
  // Amounts in two currencies are never added: such a selection carries no cost (it is priced instead).
  const currency = currencies.length === 1 ? (currencies[0] as string) : null
  const withCurrency = (series: DailySeries): DailySeries => (currencies.length > 1 ? {...series, currency: null, points: series.points.map((p) => ({...p, cost: null}))} : {...series, currency})
  const typeSeries = byType.map((row) => withCurrency(toSeries(row, row.usage_type ?? label, null, unitOf(row))))
  const total = withCurrency(sumSeries(typeSeries, label, unitOf(undefined)))
  if (total.points.length === 0) {
    const range = [selection.since && `from ${selection.since}`, selection.until && `until ${selection.until}`].filter(Boolean).join(' ')
    throw new BillwatchError('E_NO_DATA', `no ${label} usage ${range || 'at all'} in store ${store.path}`, {suggestions: ['billwatch status']})
  }
  return {
    byResource: byResource.map((row) => withCurrency(toSeries(row, label, row.resource_id, unitOf(row)))),
    byUsageType: typeSeries.length > 1 ? typeSeries : [],
    costBases: bases.map((b) => `${b.format}: ${b.cost_basis}`),
    currencies,
    total,
    usageTypes,
  }
}

async function selectUsageTypes(store: Store, glob: string | undefined): Promise<string[]> {
  const rows = await store.all<{usage_type: string; usage_base: string}>(
    glob === undefined ? 'SELECT DISTINCT usage_type, usage_base FROM usage ORDER BY 1, 2' : 'SELECT DISTINCT usage_type, usage_base FROM usage WHERE usage_type GLOB $1 ORDER BY 1, 2',
    glob === undefined ? [] : [glob],
  )
  // Every provider's internet egress: AWS usage types, and other clouds' meters ingest marked as egress.
  const selected = glob === undefined ? rows.filter((r) => isEgressUsage(r.usage_type, r.usage_base)) : rows
  return [...new Set(selected.map((r) => r.usage_type))]
}

function toSeries(row: Row | undefined, usageType: string, resourceId: null | string, unit: string): DailySeries {
  const points: DailyPoint[] = []
  if (row) {
    row.days.forEach((day, i) => {
      points.push({cost: row.costs[i] ?? null, day: dayString(Number(day)), value: Number(row.amounts[i])})
    })
  }
  return {points, resourceId, unit, usageType}
}

/** Day-by-day sum of several series; a day's cost is null only when no series has a cost that day (as SQL sum). */
function sumSeries(parts: DailySeries[], usageType: string, unit: string): DailySeries {
  const byDay = new Map<string, DailyPoint>()
  for (const part of parts) {
    for (const p of part.points) {
      const sum = byDay.get(p.day)
      if (sum === undefined) byDay.set(p.day, {...p})
      else {
        sum.value += p.value
        if (p.cost !== null) sum.cost = (sum.cost ?? 0) + p.cost
      }
    }
  }
  const points = [...byDay.values()].sort((a, b) => (a.day < b.day ? -1 : 1))
  return {points, resourceId: null, unit, usageType}
}
