/**
 * `billwatch anomalies`: the steps and spikes in the store's daily usage, with what each step costs.
 * correlate, explain and report call `analyseAnomalies` so they print the same figures as `anomalies --json`.
 */
import type {ProgressCallback} from '../cli/progress.js'
import {dayNumber, isDay} from '../detect/index.js'
import {BillwatchError} from '../errors.js'
import type {Store} from '../store/index.js'
import {analyseSeriesSet, DEFAULT_MIN_RATIO} from './analyse.js'
import type {CostBasis} from './cost.js'
import {loadSeries} from './series.js'
import type {Spike, Step} from './types.js'

export {analyseSeriesSet, DEFAULT_MIN_RATIO, type SeriesSetAnalysis} from './analyse.js'

export {renderLogChart, renderSvgChart} from './chart.js'
export {EGRESS_LABEL} from './series.js'
export type {Spike, Step} from './types.js'

export interface AnomaliesOptions {
  /** GLOB over usage types (e.g. '*BoxUsage*'); default: internet egress summed over regions. */
  usageType?: string
  /** First and last UTC day analysed, YYYY-MM-DD, inclusive. */
  since?: string
  until?: string
  /** Report steps and spikes changing usage at least this many times (either way). Default 2. */
  minRatio?: number
  /** Price bytes at this flat $/GB (no free allowance) instead of the store's cost or today's AWS price. */
  pricePerGb?: number
  onProgress?: ProgressCallback
}

export interface AnomaliesResult {
  /** The series label: 'DataTransfer-Out' or the --usage-type glob. */
  usageType: string
  unit: string
  usageTypes: string[]
  firstDay: string
  lastDay: string
  /** Days with usage, and days inside the range without any (gaps, not zeros). */
  days: number
  missingDays: number
  minRatio: number
  /** Where the cost figures come from and their currency, stated with every result. */
  pricing: {source: CostBasis['source']; label: string; currency: null | string}
  /** Whether a weekly pattern was found in the total and removed before detection. */
  weekly: boolean
  /** Series analysed: the total, per usage type (when several) and per resource. */
  seriesAnalysed: number
  steps: Step[]
  spikes: Spike[]
  /** The total daily series analysed, one entry per day with usage (missing days are absent). */
  series: Array<{day: string; value: number}>
}

/** Loads the selected usage from the store and finds its steps and spikes (see AnomaliesOptions). */
export async function analyseAnomalies(store: Store, options: AnomaliesOptions = {}): Promise<AnomaliesResult> {
  const {minRatio, since, until} = checkAnomaliesOptions(options)
  const set = await loadSeries(store, {
    ...(options.usageType === undefined ? {} : {usageType: options.usageType}),
    ...(since === undefined ? {} : {since}),
    ...(until === undefined ? {} : {until}),
  })
  const {basis, seriesAnalysed, spikes, steps, weekly} = analyseSeriesSet(set, {
    minRatio,
    ...(options.pricePerGb === undefined ? {} : {pricePerGb: options.pricePerGb}),
    ...(options.onProgress === undefined ? {} : {onProgress: options.onProgress}),
  })

  const points = set.total.points
  const firstDay = points[0]!.day
  const lastDay = points.at(-1)!.day
  return {
    days: points.length,
    firstDay,
    lastDay,
    minRatio,
    missingDays: dayNumber(lastDay) - dayNumber(firstDay) + 1 - points.length,
    pricing: {currency: basis.currency, label: basis.label, source: basis.source},
    series: points.map((p) => ({day: p.day, value: p.value})),
    seriesAnalysed,
    spikes,
    steps,
    unit: set.total.unit,
    usageType: set.total.usageType,
    usageTypes: set.usageTypes,
    weekly,
  }
}

/** Throws E_USAGE for options out of range (callers check before opening the store); returns them with defaults. */
export function checkAnomaliesOptions(options: AnomaliesOptions): {since?: string; until?: string; minRatio: number} {
  const since = checkDay(options.since, '--since')
  const until = checkDay(options.until, '--until')
  if (since !== undefined && until !== undefined && since > until) {
    throw new BillwatchError('E_USAGE', `${since} is after --until ${until}`, {field: '--since'})
  }
  const minRatio = options.minRatio ?? DEFAULT_MIN_RATIO
  if (!(minRatio >= 1)) throw new BillwatchError('E_USAGE', '', {expected: 'a ratio ≥ 1', field: '--min-ratio', got: String(options.minRatio)})
  if (options.pricePerGb !== undefined && !(options.pricePerGb >= 0)) {
    throw new BillwatchError('E_USAGE', '', {expected: 'a price ≥ 0 in USD per GB', field: '--price-per-gb', got: String(options.pricePerGb)})
  }
  return {minRatio, ...(since === undefined ? {} : {since}), ...(until === undefined ? {} : {until})}
}

function checkDay(value: string | undefined, field: string): string | undefined {
  if (value === undefined) return undefined
  if (!isDay(value)) {
    throw new BillwatchError('E_USAGE', '', {expected: 'a UTC day YYYY-MM-DD', field, got: value})
  }
  return value
}
