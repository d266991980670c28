/**
 * Daily series for `anomalies`, read from the store's `usage` view: per account, and per stretch of days the
 * exports cover. Inside an export's covered period a day without a line for a usage type is zero usage; a
 * day no export covers is a gap, and a gap longer than MAX_GAP_DAYS ends a stretch. Each provider's usage is
 * its own series, and costs keep the currency they were billed in: two currencies are never added.
 */

import {isEgressUsage} from '../aws/usage-types.js'
import {dayString} from '../detect/index.js'
import {BillwatchError} from '../errors.js'
import {isFlowUsageType, loadFlowSeries} from '../flows/series.js'
import type {Store} from '../store/index.js'
import {
  accountsWithUsage,
  type ResourceKey,
  resourceKeysByPart,
  resourceLines,
  seriesByUsageType,
  usageCoverage,
  usageMoney,
  usageRows,
  type UsageRows,
  type UsageSelection,
  type UsageSeriesRow,
  usageTypesIn,
} from '../store/usage-series.js'

/** The label of the default series: internet egress of every region, summed per day. */
export const EGRESS_LABEL = 'DataTransfer-Out'

/** A gap longer than this (days no export covers) splits an account's days into separate stretches. */
export const MAX_GAP_DAYS = 28

export interface DailyPoint {
  day: string
  /** Usage in the series' unit (bytes for data transfer). */
  value: number
  /** Cost as the store holds it, in the series' currency; null when the export had none for that day. */
  cost: null | number
}

/** A series as plain points (the Lambda builds these from Cost Explorer and CloudWatch). */
export interface DailySeries {
  /** A usage type, 'DataTransfer-Out' for the egress sum, or the --usage-type glob for a sum over types. */
  usageType: string
  resourceId: null | string
  unit: string
  /** One point per day with usage; a day without a point is a gap, never a zero. */
  points: DailyPoint[]
  /** Currency of the points' cost (null: no cost). Costs in several currencies are never added: see SeriesSet. */
  currency?: null | string
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
  currencies?: string[]
  /** Which cost column of each export the store's cost is ("cur1: effective cost: …"). */
  costBases?: string[]
  /** Whose usage this is; default '-' (one unnamed account). */
  account?: string
  /** Whose cloud; default 'AWS'. */
  provider?: string
}

/** One series on a stretch's days: index i is day `first + i` (a day number); NaN is a gap. */
export interface DenseSeries {
  usageType: string
  resourceId: null | string
  unit: string
  values: Float64Array
  /** Cost per day in the stretch's currency, NaN where the store has none; absent when no day has one. */
  costs?: Float64Array
}

/** Consecutive days of one account that the exports cover, gaps of at most MAX_GAP_DAYS inside. */
export interface Stretch {
  account: string
  /** The provider whose usage this is ('AWS', 'Microsoft', …): providers' usage is never added together. */
  provider: string
  /** Currency of the costs (null: none, or several: then the series carry no cost). */
  currency: null | string
  /** Every currency the stretch's costs were billed in. */
  currencies: string[]
  /** Which cost column of each export the cost is ("cur1: effective cost: …"). */
  costBases: string[]
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
  /** Days (day numbers) with a usage line of the selection: a covered day without one is zero usage. */
  dayNumbersWithRows: number[]
  /**
   * Calls `visit` with the stretches' resource series, a bounded batch at a time (awaited before the next is read).
   * The series' arrays are views into the batch's buffer: copy one to keep it past the visit.
   */
  forEachResourceBatch(visit: (batch: {stretch: Stretch; series: DenseSeries}[]) => Promise<void> | void): Promise<void>
}

/** Resource series read per query: bounds the memory they take whatever the store's size. */
const RESOURCES_PER_BATCH = 20_000
/** Days of resource series (8 bytes each, and as much again for costs) held per query: a year of 20,000 series. */
const DAYS_PER_BATCH = RESOURCES_PER_BATCH * 366

type Row = UsageSeriesRow

/** Reads the selected usage as stretches of per-account series; resource series come in batches. */
export async function loadStoreSeries(store: Store, selection: SeriesSelection): Promise<StoreSeries> {
  // `flow:udp/123`: a port's daily egress from flow records (src/flows), cut into stretches as usage is.
  if (isFlowUsageType(selection.usageType))
    return storeSeriesOfSet(await loadFlowSeries(store, {...selection, usageType: selection.usageType}), 'flow records')
  const rows = await usageRows(store)
  const usageTypes = await selectUsageTypes(store, selection.usageType, rows)
  const label = selection.usageType ?? EGRESS_LABEL
  const suggestions = ['billwatch status (lists the usage types the store holds)', 'billwatch ingest FILE…']
  if (usageTypes.length === 0) {
    if (selection.usageType === undefined)
      throw new BillwatchError('E_NO_DATA', `no internet egress (${EGRESS_LABEL}) usage in store ${store.path}`, {
        suggestions,
      })
    throw new BillwatchError('E_NO_DATA', `no usage type matches ${label} in store ${store.path}`, {
      field: '--usage-type',
      suggestions,
    })
  }
  const query: UsageSelection = {
    account: selection.account ?? null,
    rows,
    since: selection.since ?? null,
    until: selection.until ?? null,
    usageTypes,
  }
  const byType = await seriesByUsageType(store, query)
  // Without --account, the accounts are those of the series just read (in the store's order): no second pass.
  const accounts = [
    ...new Set(selection.account === undefined ? byType.map((r) => r.account) : await accountsWithUsage(store, query)),
  ]
  if (byType.length === 0) {
    const range = [selection.since && `from ${selection.since}`, selection.until && `until ${selection.until}`]
      .filter(Boolean)
      .join(' ')
    if (selection.account !== undefined) {
      throw new BillwatchError(
        'E_NO_DATA',
        `no ${label} usage of account ${selection.account} ${range} in store ${store.path}`.replace('  ', ' '),
        {
          field: '--account',
          suggestions:
            accounts.length > 0 ? [`accounts with ${label} usage: ${accounts.slice(0, 10).join(', ')}`] : suggestions,
        },
      )
    }
    throw new BillwatchError('E_NO_DATA', `no ${label} usage ${range || 'at all'} in store ${store.path}`, {
      suggestions: ['billwatch status'],
    })
  }
  const unitOf = (row: {unit: null | string} | undefined) =>
    row?.unit ?? byType.find((r) => r.unit !== null)?.unit ?? 'units'
  const coverage = await loadCoverage(store, selection)
  const money = await loadMoney(store, query)
  const stretches: Stretch[] = []
  for (const key of [...new Set(byType.map((r) => seriesKey(r.account, r.provider)))].sort()) {
    const rows = byType.filter((r) => seriesKey(r.account, r.provider) === key)
    const {account, provider} = rows[0]!
    const {costBases = [], currencies = []} = money.get(key) ?? {}
    // Amounts in two currencies are never added: such a stretch carries no cost (it is priced instead).
    const withCosts = currencies.length <= 1
    for (const span of stretchesOf(coverage.get(key) ?? [], rows)) {
      const types = rows.map((row) => densify(row, span, row.usageType, null, unitOf(row), withCosts))
      const total = sumDense(types, label, unitOf(undefined))
      if (!total.values.some((v) => v > 0)) continue
      stretches.push({
        account,
        byUsageType: types.length > 1 ? types : [],
        costBases,
        currencies,
        currency: currencies.length === 1 ? currencies[0]! : null,
        first: span.first,
        last: span.last,
        provider,
        total,
      })
    }
  }
  if (stretches.length === 0)
    throw new BillwatchError('E_NO_DATA', `no ${label} usage above zero in store ${store.path}`, {
      suggestions: ['billwatch status'],
    })

  return {
    accounts,
    dayNumbersWithRows: [...new Set(byType.flatMap((r) => r.days.map(Number)))],
    async forEachResourceBatch(visit) {
      // Each account's stretches laid out once: a series holds every day of them.
      const byAccount = new Map<string, Stretch[]>()
      for (const stretch of stretches) {
        const id = seriesKey(stretch.account, stretch.provider)
        const own = byAccount.get(id)
        if (own) own.push(stretch)
        else byAccount.set(id, [stretch])
      }
      const layouts = new Map([...byAccount].map(([id, own]) => [id, layoutOfStretches(own)]))
      const layoutOf = (key: ResourceKey) => layouts.get(seriesKey(key.account, key.provider))
      // Years of days make a part of fewer series.
      const days = Math.max(0, ...[...layouts.values()].map((layout) => layout.days))
      const keysByPart = await resourceKeysByPart(store, query, (count) =>
        Math.max(1, Math.ceil(count / RESOURCES_PER_BATCH), Math.ceil((count * days) / DAYS_PER_BATCH)),
      )
      const parts = keysByPart.length
      // Part by part (a hash of the resource id), so the days held stay bounded whatever the store's size: each
      // series' days on every stretch of its account, one row of `values` a series, added up from the lines.
      for (let part = 0; part < parts; part++) {
        const keys = keysByPart[part]!
        const layoutOfKey = keys.map(layoutOf)
        const base = new Int32Array(keys.length + 1)
        keys.forEach((_, k) => (base[k + 1] = base[k]! + (layoutOfKey[k]?.days ?? 0)))
        const values = new Float64Array(base[keys.length]!)
        layoutOfKey.forEach((layout, k) => {
          // Zero on covered days (a covered day without a line is zero usage), NaN on gaps.
          if (layout)
            for (const {stretch, offset} of layout.stretches) values.set(coveredZeros(stretch), base[k]! + offset)
        })
        let costs: Float64Array | undefined
        await resourceLines(store, query, part, parts, keys, ({amount, cost, day, key, rows}) => {
          for (let i = 0; i < rows; i++) {
            const k = key[i]!
            const layout = layoutOfKey[k]
            const d = day[i]! - (layout?.first ?? 0)
            if (!layout || d < 0 || d >= layout.column.length || layout.column[d]! < 0) continue
            const at = base[k]! + layout.column[d]!
            values[at] = (Number.isNaN(values[at]!) ? 0 : values[at]!) + amount[i]!
            if (!Number.isNaN(cost[i]!)) {
              costs ??= new Float64Array(values.length).fill(Number.NaN)
              costs[at] = (Number.isNaN(costs[at]!) ? 0 : costs[at]!) + cost[i]!
            }
          }
        })
        const batch: {stretch: Stretch; series: DenseSeries}[] = []
        keys.forEach((key, k) => {
          const layout = layoutOfKey[k]
          if (!layout) return
          for (const {stretch, offset} of layout.stretches) {
            const from = base[k]! + offset
            const length = stretch.last - stretch.first + 1
            const days = values.subarray(from, from + length)
            if (!days.some((v) => v > 0)) continue
            // Amounts in two currencies are never added: such a stretch's series carry no cost.
            const cost = stretch.currencies.length <= 1 ? costs?.subarray(from, from + length) : undefined
            const series: DenseSeries = {
              resourceId: key.resourceId,
              unit: unitOf({unit: key.unit}),
              usageType: key.usageType,
              values: days,
              ...(cost?.some((c) => !Number.isNaN(c)) ? {costs: cost} : {}),
            }
            batch.push({series, stretch})
          }
        })
        await visit(batch)
      }
    },
    stretches,
    usageTypes,
  }
}

/** One account's usage at one provider: the key of its stretches. */
function seriesKey(account: string, provider: string): string {
  return `${provider}\u0000${account}`
}

/** Per (account, provider) of the selection: the currencies its costs are in, and the cost columns they came from. */
async function loadMoney(
  store: Store,
  selection: UsageSelection,
): Promise<Map<string, {currencies: string[]; costBases: string[]}>> {
  const rows = await usageMoney(store, selection)
  return new Map(
    rows.map((r) => [seriesKey(r.account, r.provider), {costBases: r.costBases, currencies: r.currencies}]),
  )
}

/**
 * Per account and provider, the day ranges [start, end) its exports cover (capped at each export's last day with
 * usage).
 */
async function loadCoverage(store: Store, selection: SeriesSelection): Promise<Map<string, [number, number][]>> {
  const rows = await usageCoverage(store)
  const since = selection.since === undefined ? Number.NEGATIVE_INFINITY : Date.parse(selection.since) / 86_400_000
  const until = selection.until === undefined ? Number.POSITIVE_INFINITY : Date.parse(selection.until) / 86_400_000 + 1
  const byKey = new Map<string, [number, number][]>()
  for (const row of rows) {
    const start = Math.max(Number(row.start), since)
    const end = Math.min(Number(row.end), until)
    if (end <= start) continue
    const key = seriesKey(row.account, row.provider)
    const list = byKey.get(key) ?? []
    list.push([start, end])
    byKey.set(key, list)
  }
  return byKey
}

interface Span {
  first: number
  last: number
  /** 1 where an export covers the day. */
  covered: Uint8Array
}

/** The account's covered days cut at gaps longer than MAX_GAP_DAYS; days with usage count as covered. */
function stretchesOf(ranges: [number, number][], rows: Row[]): Span[] {
  const all = [...ranges]
  for (const row of rows) for (const day of row.days) all.push([Number(day), Number(day) + 1])
  all.sort((a, b) => a[0] - b[0])
  const merged: [number, number][] = []
  for (const [start, end] of all) {
    const last = merged.at(-1)
    if (last && start <= last[1]) last[1] = Math.max(last[1], end)
    else merged.push([start, end])
  }
  const spans: Span[] = []
  let group: [number, number][] = []
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

/**
 * Where an account's stretches lie in a row of forEachResourceBatch's `values`: `column[d]` is the column of day
 * `first + d`, -1 outside every stretch (a line there is in no stretch, as densify leaves it out).
 */
interface Layout {
  first: number
  column: Int32Array
  days: number
  stretches: {stretch: Stretch; offset: number}[]
}

/** `stretches`: one account's, at least one. */
function layoutOfStretches(stretches: Stretch[]): Layout {
  const first = Math.min(...stretches.map((s) => s.first))
  const last = Math.max(...stretches.map((s) => s.last))
  const column = new Int32Array(last - first + 1).fill(-1)
  let days = 0
  const placed = stretches.map((stretch) => {
    const offset = days
    for (let d = stretch.first; d <= stretch.last; d++) column[d - first] = days++
    return {offset, stretch}
  })
  return {column, days, first, stretches: placed}
}

const zerosCache = new WeakMap<Stretch, Float64Array>()
/** The stretch's days as an empty series: 0 where an export covers the day, NaN on gaps. */
function coveredZeros(stretch: Stretch): Float64Array {
  let zeros = zerosCache.get(stretch)
  if (!zeros) {
    zeros = Float64Array.from(stretch.total.values, (v) => (Number.isNaN(v) ? Number.NaN : 0))
    zerosCache.set(stretch, zeros)
  }
  return zeros
}

/** The row's days inside `span` as a dense series: zero on covered days without a line, NaN on gaps. */
function densify(
  row: Row,
  span: Span,
  usageType: string,
  resourceId: null | string,
  unit: string,
  withCosts: boolean,
): DenseSeries {
  const length = span.last - span.first + 1
  const values = new Float64Array(length)
  for (let i = 0; i < length; i++) values[i] = span.covered[i] ? 0 : Number.NaN
  let costs: Float64Array | undefined
  for (let k = 0; k < row.days.length; k++) {
    const i = Number(row.days[k]) - span.first
    if (i < 0 || i >= length) continue
    values[i] = Number(row.amounts[k])
    const cost = withCosts ? row.costs?.[k] : undefined
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
      const v = part.values[i]!
      if (!Number.isNaN(v)) values[i] = (Number.isNaN(values[i]!) ? 0 : values[i]!) + v
      const c = part.costs?.[i]
      if (c !== undefined && !Number.isNaN(c)) {
        costs ??= new Float64Array(length).fill(Number.NaN)
        costs[i] = (Number.isNaN(costs[i]!) ? 0 : costs[i]!) + c
      }
    }
  }
  return {resourceId: null, unit, usageType, values, ...(costs ? {costs} : {})}
}

/**
 * Day numbers' strings, each made once: a step's series is turned into points to cost it, and at 10,000 steps
 * making each day's string again took seconds. At most one entry per calendar day the store holds.
 */
const dayStrings = new Map<number, string>()
function dayStringOf(day: number): string {
  let text = dayStrings.get(day)
  if (text === undefined) {
    text = dayString(day)
    dayStrings.set(day, text)
  }
  return text
}

/** A series' observed days as points (for costing and charts). */
export function pointsOf(series: DenseSeries, first: number): DailyPoint[] {
  const points: DailyPoint[] = []
  series.values.forEach((value, i) => {
    if (Number.isNaN(value)) return
    const cost = series.costs?.[i]
    points.push({cost: cost === undefined || Number.isNaN(cost) ? null : cost, day: dayStringOf(first + i), value})
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
    values[i] = (Number.isNaN(values[i]!) ? 0 : values[i]!) + p.value
    if (p.cost !== null) {
      costs ??= new Float64Array(values.length).fill(Number.NaN)
      costs[i] = (Number.isNaN(costs[i]!) ? 0 : costs[i]!) + p.cost
    }
  }
  return {
    resourceId: series.resourceId,
    unit: series.unit,
    usageType: series.usageType,
    values,
    ...(costs ? {costs} : {}),
  }
}

async function selectUsageTypes(store: Store, glob: string | undefined, from: UsageRows): Promise<string[]> {
  const rows = await usageTypesIn(store, glob, from)
  // Every provider's internet egress: AWS usage types, and other clouds' meters ingest marked as egress.
  const selected = glob === undefined ? rows.filter((r) => isEgressUsage(r.usageType, r.usageBase)) : rows
  return [...new Set(selected.map((r) => r.usageType))]
}

/**
 * The selection as one SeriesSet: every account's, provider's and stretch's usage summed per day, for a caller
 * that checks the store against an export's own totals. Costs in several currencies are not added (none kept).
 */
export async function loadSeries(store: Store, selection: SeriesSelection): Promise<SeriesSet> {
  if (isFlowUsageType(selection.usageType)) return loadFlowSeries(store, {...selection, usageType: selection.usageType})
  const loaded = await loadStoreSeries(store, selection)
  const currencies = [...new Set(loaded.stretches.flatMap((s) => s.currencies))].sort()
  const first = Math.min(...loaded.stretches.map((s) => s.first))
  const last = Math.max(...loaded.stretches.map((s) => s.last))
  const label = loaded.stretches[0]!.total.usageType
  const unit = loaded.stretches[0]!.total.unit
  const totals = loaded.stretches.map((s) =>
    denseOf({points: pointsOf(s.total, s.first), resourceId: null, unit, usageType: label}, first, last),
  )
  const summed = sumDense(totals, label, unit)
  // As the store holds them: one point per day with a usage line (a covered day without one is no point here).
  const withRows = new Set(loaded.dayNumbersWithRows.map(dayString))
  const points = pointsOf(summed, first)
    .filter((p) => withRows.has(p.day))
    .map((p) => (currencies.length > 1 ? {...p, cost: null} : p))
  return {
    byResource: [],
    byUsageType: [],
    costBases: [...new Set(loaded.stretches.flatMap((s) => s.costBases))].sort(),
    currencies,
    total: {
      currency: currencies.length === 1 ? currencies[0]! : null,
      points,
      resourceId: null,
      unit,
      usageType: label,
    },
    usageTypes: loaded.usageTypes,
  }
}

/** Points as a dense series on a stretch's days; costs in several currencies are never added, so not kept. */
export function denseIn(series: DailySeries, stretch: Pick<Stretch, 'currencies' | 'first' | 'last'>): DenseSeries {
  const {costs, ...rest} = denseOf(series, stretch.first, stretch.last)
  return stretch.currencies.length > 1 || !costs ? rest : {...rest, costs}
}

/** A set of point series on the days first..last as one stretch (costs in several currencies are not kept). */
export function stretchOfSet(set: SeriesSet, first: number, last: number, account = set.account ?? '-'): Stretch {
  const currencies = set.currencies ?? (set.total.currency ? [set.total.currency] : [])
  const dense = (series: DailySeries) => denseIn(series, {currencies, first, last})
  return {
    account,
    byUsageType: set.byUsageType.map(dense),
    costBases: set.costBases ?? [],
    currencies,
    currency: currencies.length === 1 ? currencies[0]! : null,
    first,
    last,
    provider: set.provider ?? 'AWS',
    total: dense(set.total),
  }
}

/**
 * A set of point series (flow records: a day without a point is a day nobody logged) as stretches: days more
 * than MAX_GAP_DAYS apart start a new stretch, as an account's usage does.
 */
export function storeSeriesOfSet(set: SeriesSet, account: string): StoreSeries {
  const all = [set.total, ...set.byUsageType, ...set.byResource]
  const observed = [
    ...new Set(all.flatMap((s) => s.points.map((p) => Math.round(Date.parse(`${p.day}T00:00:00Z`) / 86_400_000)))),
  ].sort((a, b) => a - b)
  const spans: [number, number][] = []
  for (const day of observed) {
    const span = spans.at(-1)
    if (span && day - span[1] - 1 <= MAX_GAP_DAYS) span[1] = day
    else spans.push([day, day])
  }
  const stretches = spans
    .map(([first, last]) => stretchOfSet(set, first, last, set.account ?? account))
    .filter((s) => s.total.values.some((v) => v > 0))
  if (stretches.length === 0)
    throw new BillwatchError('E_NO_DATA', `no ${set.total.usageType} usage above zero`, {
      suggestions: ['billwatch status'],
    })
  return {
    accounts: [...new Set(stretches.map((s) => s.account))],
    dayNumbersWithRows: observed,
    async forEachResourceBatch(visit) {
      const batch: {stretch: Stretch; series: DenseSeries}[] = []
      for (const stretch of stretches) {
        for (const series of set.byResource) {
          const dense = denseIn(series, stretch)
          if (dense.values.some((v) => v > 0)) batch.push({series: dense, stretch})
        }
      }
      await visit(batch)
    },
    stretches,
    usageTypes: set.usageTypes,
  }
}
