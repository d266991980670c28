/**
 * The analysis `billwatch anomalies` runs on daily series, without the store: steps and spikes of the total,
 * per usage type and per resource, priced. Plain arrays only, so the Lambda (src/lambda) runs the same code.
 */
import type {ProgressCallback} from '../cli/progress.js'
import {dayNumber, type DayDetection, type DayStep, detectSteps, round} from '../detect/index.js'
import {chooseCostBasis, type CostBasis, costOfStep} from './cost.js'
import type {DailyPoint, DailySeries, SeriesSet} from './series.js'
import type {Spike, Step} from './types.js'

/** Steps smaller than a doubling (or halving) are not reported by default: billing noise, not an anomaly. */
export const DEFAULT_MIN_RATIO = 2

export interface SeriesSetAnalysis {
  basis: CostBasis
  seriesAnalysed: number
  steps: Step[]
  spikes: Spike[]
  /** Whether a weekly pattern was found in the total and removed before detection. */
  weekly: boolean
}

/** Steps and spikes of every series of `set`; a resource's step on the total's day names that resource. */
export function analyseSeriesSet(set: SeriesSet, options: {minRatio?: number; pricePerGb?: number; onProgress?: ProgressCallback} = {}): SeriesSetAnalysis {
  const minRatio = options.minRatio ?? DEFAULT_MIN_RATIO
  const basis = chooseCostBasis(set.total, options.pricePerGb, set)
  const all = [set.total, ...set.byUsageType, ...set.byResource]
  const detections: DayDetection[] = []
  all.forEach((series, i) => {
    detections.push(detectSteps(series.points, {minRatio}))
    options.onProgress?.(i + 1, all.length)
  })

  const totalDetection = detections[0]!
  const steps = totalDetection.steps.map((step, i) => toStep(step, i, totalDetection.steps, set.total, set.total, basis))
  const spikes = totalDetection.spikes.map((s) => toSpike(s, set.total))
  const sameChange = (a: {date: string; direction: string}, b: {date: string; direction: string}) => a.direction === b.direction && Math.abs(dayNumber(a.date) - dayNumber(b.date)) <= 1
  const subSteps = all.slice(1).flatMap((series, k) => detections[k + 1]!.steps.map((step, i, siblings) => ({series, step: toStep(step, i, siblings, series, set.total, basis)})))
  const merged = new Set<Step>()
  for (const total of [...steps]) {
    // The total's step seen in exactly one usage type or one resource is the same step: name the resource on
    // the total's step instead of listing it twice. When several moved at once, each is listed.
    for (const isResource of [false, true]) {
      const matches = subSteps.filter(({series, step}) => (series.resourceId !== null) === isResource && sameChange(step, total))
      if (matches.length !== 1) continue
      merged.add(matches[0]!.step)
      if (isResource) total.resourceId = matches[0]!.series.resourceId
    }
  }
  steps.push(...subSteps.map(({step}) => step).filter((step) => !merged.has(step)))
  all.slice(1).forEach((series, k) => {
    for (const spike of detections[k + 1]!.spikes) {
      if (!spikes.some((s) => s.date === spike.date)) spikes.push(toSpike(spike, series))
    }
  })
  steps.sort((a, b) => a.date.localeCompare(b.date) || a.usageType.localeCompare(b.usageType))
  spikes.sort((a, b) => a.date.localeCompare(b.date) || a.usageType.localeCompare(b.usageType))

  return {basis, seriesAnalysed: all.length, spikes, steps, weekly: totalDetection.weekly}
}

function toStep(step: DayStep, index: number, siblings: DayStep[], series: DailySeries, account: DailySeries, basis: CostBasis): Step {
  const from = siblings[index - 1]?.date ?? ''
  const to = siblings[index + 1]?.date ?? '9999-12-31'
  const segment = {
    after: series.points.filter((p: DailyPoint) => p.day >= step.date && p.day < to),
    before: series.points.filter((p: DailyPoint) => p.day >= from && p.day < step.date),
  }
  const cost = costOfStep(step, segment, account, basis)
  const monthly = round(cost.monthlyCost, 2)
  const yearly = round(cost.yearlyCost, 2)
  // Only a USD figure goes under a …Usd key; another currency is never converted.
  const currency = basis.currency ?? 'USD'
  return {
    confidence: round(step.confidence, 3),
    costStepDate: cost.costStepDate,
    date: step.date,
    direction: step.direction,
    lastDayBefore: step.lastDayBefore,
    levelAfter: step.levelAfter,
    levelBefore: step.levelBefore,
    currency,
    monthlyCost: monthly,
    ...(currency === 'USD' ? {monthlyCostUsd: monthly, yearlyCostUsd: yearly} : {}),
    ratio: round(step.ratio, 4),
    resourceId: series.resourceId,
    tentative: step.tentative,
    unit: series.unit,
    usageType: series.usageType,
    yearlyCost: yearly,
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
