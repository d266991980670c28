/**
 * `billwatch anomalies`: the steps and spikes in the store's daily usage, with what each step costs.
 * correlate, explain and report call `analyseAnomalies` so they print the same figures as `anomalies --json`.
 */
import type {ProgressCallback} from '../cli/progress.js'
import {dayNumber, type DayDetection, type DayStep, detectSteps} from '../detect/index.js'
import {BillwatchError} from '../errors.js'
import type {Store} from '../store/index.js'
import {chooseCostBasis, type CostBasis, costOfStep} from './cost.js'
import {type DailyPoint, type DailySeries, loadSeries} from './series.js'
import type {Spike, Step} from './types.js'

export {renderLogChart, renderSvgChart} from './chart.js'
export {EGRESS_LABEL} from './series.js'
export type {Spike, Step} from './types.js'

/** Steps smaller than a doubling (or halving) are not reported by default: billing noise, not an anomaly. */
export const DEFAULT_MIN_RATIO = 2

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
  /** Where dollars come from, stated with every result. */
  pricing: {source: CostBasis['source']; label: string}
  /** Whether a weekly pattern was found in the total and removed before detection. */
  weekly: boolean
  /** Series analysed: the total, per usage type (when several) and per resource. */
  seriesAnalysed: number
  steps: Step[]
  spikes: Spike[]
  /** The total daily series analysed, one entry per day with usage (missing days are absent). */
  series: Array<{day: string; value: number}>
}

const DAY = /^\d{4}-\d{2}-\d{2}$/

/** Loads the selected usage from the store and finds its steps and spikes (see AnomaliesOptions). */
export async function analyseAnomalies(store: Store, options: AnomaliesOptions = {}): Promise<AnomaliesResult> {
  const since = checkDay(options.since, 'since')
  const until = checkDay(options.until, 'until')
  if (since !== undefined && until !== undefined && since > until) {
    throw new BillwatchError('E_USAGE', `--since ${since} is after --until ${until}`, {field: 'since'})
  }
  const minRatio = options.minRatio ?? DEFAULT_MIN_RATIO
  if (!(minRatio >= 1)) throw new BillwatchError('E_USAGE', '', {expected: 'a ratio ≥ 1', field: 'min-ratio', got: String(options.minRatio)})
  if (options.pricePerGb !== undefined && !(options.pricePerGb >= 0)) {
    throw new BillwatchError('E_USAGE', '', {expected: 'a price ≥ 0 in USD per GB', field: 'price-per-gb', got: String(options.pricePerGb)})
  }
  const set = await loadSeries(store, {
    ...(options.usageType === undefined ? {} : {usageType: options.usageType}),
    ...(since === undefined ? {} : {since}),
    ...(until === undefined ? {} : {until}),
  })
  const basis = chooseCostBasis(set.total, options.pricePerGb)
  const all = [set.total, ...set.byUsageType, ...set.byResource]
  const detections: DayDetection[] = []
  all.forEach((series, i) => {
    detections.push(detectSteps(series.points, {minRatio}))
    options.onProgress?.(i + 1, all.length)
  })

  const totalDetection = detections[0]!
  const steps = totalDetection.steps.map((step, i) => toStep(step, i, totalDetection.steps, set.total, set.total, basis))
  const spikes = totalDetection.spikes.map((s) => toSpike(s, set.total))
  all.slice(1).forEach((series, k) => {
    const detection = detections[k + 1]!
    detection.steps.forEach((step, i) => {
      const parent = steps.find((s) => s.direction === step.direction && Math.abs(dayNumber(s.date) - dayNumber(step.date)) <= 1)
      if (parent === undefined) steps.push(toStep(step, i, detection.steps, series, set.total, basis))
      // The total's step, seen again in one resource: name that resource as the one that stepped.
      else if (series.resourceId !== null) parent.resourceId = parent.resourceId === null ? series.resourceId : parent.resourceId
    })
    for (const spike of detection.spikes) {
      if (!spikes.some((s) => s.date === spike.date)) spikes.push(toSpike(spike, series))
    }
  })
  // A step seen in two resources at once belongs to neither alone.
  for (const step of steps.filter((s) => s.usageType === set.total.usageType && s.resourceId !== null)) {
    const resources = all.slice(1).filter((series, k) => series.resourceId !== null && detections[k + 1]!.steps.some((d) => d.direction === step.direction && Math.abs(dayNumber(d.date) - dayNumber(step.date)) <= 1))
    if (resources.length > 1) step.resourceId = null
  }
  steps.sort((a, b) => a.date.localeCompare(b.date) || a.usageType.localeCompare(b.usageType))
  spikes.sort((a, b) => a.date.localeCompare(b.date) || a.usageType.localeCompare(b.usageType))

  const points = set.total.points
  const firstDay = points[0]!.day
  const lastDay = points.at(-1)!.day
  return {
    days: points.length,
    firstDay,
    lastDay,
    minRatio,
    missingDays: dayNumber(lastDay) - dayNumber(firstDay) + 1 - points.length,
    pricing: {label: basis.label, source: basis.source},
    series: points.map((p) => ({day: p.day, value: p.value})),
    seriesAnalysed: all.length,
    spikes,
    steps,
    unit: set.total.unit,
    usageType: set.total.usageType,
    usageTypes: set.usageTypes,
    weekly: totalDetection.weekly,
  }
}

function toStep(step: DayStep, index: number, siblings: DayStep[], series: DailySeries, account: DailySeries, basis: CostBasis): Step {
  const from = siblings[index - 1]?.date ?? ''
  const to = siblings[index + 1]?.date ?? '9999-12-31'
  const segment = {
    after: series.points.filter((p: DailyPoint) => p.day >= step.date && p.day < to),
    before: series.points.filter((p: DailyPoint) => p.day >= from && p.day < step.date),
  }
  const cost = costOfStep(step, segment, account, basis)
  return {
    confidence: round(step.confidence, 3),
    costStepDate: cost.costStepDate,
    date: step.date,
    direction: step.direction,
    lastDayBefore: step.lastDayBefore,
    levelAfter: step.levelAfter,
    levelBefore: step.levelBefore,
    monthlyCostUsd: round(cost.monthlyCostUsd, 2),
    ratio: round(step.ratio, 4),
    resourceId: series.resourceId,
    tentative: step.tentative,
    unit: series.unit,
    usageType: series.usageType,
    yearlyCostUsd: round(cost.yearlyCostUsd, 2),
  }
}

function toSpike(spike: DayDetection['spikes'][number], series: DailySeries): Spike {
  return {
    baseline: spike.baseline,
    date: spike.date,
    ratio: round(spike.ratio, 4),
    resourceId: series.resourceId,
    unit: series.unit,
    usageType: series.usageType,
    value: spike.value,
  }
}

function checkDay(value: string | undefined, field: string): string | undefined {
  if (value === undefined) return undefined
  if (!DAY.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))) {
    throw new BillwatchError('E_USAGE', '', {expected: 'a UTC day YYYY-MM-DD', field, got: value})
  }
  return value
}

function round(value: number, digits: number): number {
  if (!Number.isFinite(value)) return value
  const f = 10 ** digits
  return Math.round(value * f) / f
}
