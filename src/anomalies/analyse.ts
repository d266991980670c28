/**
 * The analysis `billwatch anomalies` runs on one stretch of one account, without the store: steps, spikes and
 * trends of the total, with the usage types and resources that drove each step. Typed arrays only, so the
 * Lambda (src/lambda) runs the same code on what it fetched.
 */
import type {ProgressCallback} from '../core/progress.js'
import {
  type DayDetection,
  detectDaily,
  type DetectOptions,
  type DayStep,
  dayNumber,
  dayString,
  defaultPenalty,
  round,
} from '../detect/index.js'
import {chooseCostBasis, type CostBasis, costOfStep} from './cost.js'
import {
  type DailySeries,
  type DenseSeries,
  denseIn,
  pointsOf,
  type SeriesSet,
  type Stretch,
  stretchOfSet,
} from './series.js'
import type {Driver, Spike, Step, Trend} from './types.js'

/** Steps smaller than a doubling (or halving) are not reported by default: billing noise, not an anomaly. */
export const DEFAULT_MIN_RATIO = 2
/** A series whose change on a total's step day is at least this share of the total's change is a candidate driver. */
const DRIVER_MIN_SHARE = 0.05
/** A driver with at least this share of a sum's change dates the sum's step. */
const LEAD_SHARE = 0.5
/** Days on each side of a total's step that the driver screen compares. */
const SCREEN_WINDOW = 14
/**
 * A series' step this many days from the total's, the same way, is the same change: a step that began mid-day
 * shows on two days, and a small step in noisy days is dated a day or two apart in two series that both hold it.
 */
const SAME_CHANGE_DAYS = 3

export interface AnalyseOptions {
  minRatio?: number
  pricePerGb?: number
  onProgress?: ProgressCallback
  /** false: analyse every resource series fully, screening none (to check the screens against; slower). */
  screen?: boolean
}

export interface StretchAnalysis {
  account: string
  provider: string
  /** 'FIRST..LAST', the stretch's first and last day. */
  stretch: string
  firstDay: string
  lastDay: string
  basis: CostBasis
  /** Whether a weekly pattern was found in the total and removed before detection. */
  weekly: boolean
  seriesAnalysed: number
  steps: Step[]
  spikes: Spike[]
  trends: Trend[]
}

/** What judgeSeries needs to judge one stretch's resource series. */
export interface SeriesJudge {
  first: number
  minRatio: number
  /** false: analyse every series fully. */
  screen: boolean
  totalChanges: readonly {index: number; delta: number}[]
  detectOptions: DetectOptions
}

/**
 * A resource series' detection, or undefined when the cheap screen (couldMatter) shows it can hold no finding and
 * drive none of the stretch's changes.
 */
export function judgeSeries(values: Float64Array, judge: SeriesJudge): DayDetection | undefined {
  if (judge.screen && !couldMatter(values, judge.totalChanges, judge.minRatio)) return undefined
  return detectDaily(values, judge.first, judge.detectOptions)
}

/** Kept for the Lambda's shape: one account's series as points. */
export type SeriesSetAnalysis = StretchAnalysis

export function stretchLabel(first: number, last: number): string {
  return `${dayString(first)}..${dayString(last)}`
}

interface Detected {
  series: DenseSeries
  detection: DayDetection
}

/**
 * One stretch: the total and its usage types are analysed at once; resource series are offered one by one
 * (`offer`), screened cheaply, and analysed fully only when they could drive a step of the total or change
 * by minRatio themselves; `finish` merges everything into findings.
 */
export class StretchAnalyser {
  readonly minRatio: number
  /**
   * Usage is never negative and its day-to-day noise grows with its level: always the log scale. A change smaller
   * than minRatio is no step in any series, so the levels of the steps beside it span its days.
   */
  private detectOptions: DetectOptions
  private readonly total: DayDetection
  private readonly types: Detected[]
  private readonly resources: Detected[] = []
  private readonly totalChanges: {index: number; delta: number}[]
  private offered = 0

  constructor(
    readonly stretch: Stretch,
    private readonly options: AnalyseOptions = {},
  ) {
    this.minRatio = options.minRatio ?? DEFAULT_MIN_RATIO
    this.detectOptions = {minRatio: this.minRatio, scale: 'log'}
    this.total = detectDaily(stretch.total.values, stretch.first, this.detectOptions)
    // A partial last day (an hourly export's latest) is partial in every series of the stretch; the total, whose
    // parts' noise averages out, shows it best.
    if (this.total.partialLastDay) this.detectOptions = {...this.detectOptions, lastPartial: true}
    this.types = stretch.byUsageType.map((series) => ({
      detection: detectDaily(series.values, stretch.first, this.detectOptions),
      series,
    }))
    // A usage type's own step is driven by its resources as the total's is: both are screened for.
    this.totalChanges = [this.total, ...this.types.map((t) => t.detection)].flatMap((d) =>
      d.steps.map((s) => ({delta: s.levelAfter - s.levelBefore, index: dayNumber(s.date) - stretch.first})),
    )
  }

  /** How this stretch's resource series are judged (judgeSeries): plain data, for a worker thread too. */
  get judge(): SeriesJudge {
    return {
      detectOptions: this.detectOptions,
      first: this.stretch.first,
      minRatio: this.minRatio,
      screen: this.options.screen !== false,
      totalChanges: this.totalChanges,
    }
  }

  /** Screens one resource series of this stretch and keeps its full analysis when it could matter. */
  offer(series: DenseSeries): void {
    this.accept(series, judgeSeries(series.values, this.judge))
  }

  /**
   * Takes a resource series with judgeSeries' verdict on it. Only a series with a step, spike or trend is kept (a
   * copy: the caller's arrays may be reused): the findings are drawn from nothing else.
   */
  accept(series: DenseSeries, detection: DayDetection | undefined): void {
    this.offered++
    if (!detection || detection.steps.length + detection.spikes.length + detection.trends.length === 0) return
    const {costs, values, ...rest} = series
    this.resources.push({
      detection,
      series: {...rest, values: values.slice(), ...(costs ? {costs: costs.slice()} : {})},
    })
  }

  finish(): StretchAnalysis {
    const {stretch, minRatio} = this
    const label = stretchLabel(stretch.first, stretch.last)
    const totalPoints = pointsOf(stretch.total, stretch.first)
    const account: DailySeries = {
      currency: stretch.currency,
      points: totalPoints,
      resourceId: null,
      unit: stretch.total.unit,
      usageType: stretch.total.usageType,
    }
    const basis = chooseCostBasis(account, this.options.pricePerGb, stretch)
    const strong = (ratio: number) => !Number.isFinite(ratio) || Math.max(ratio, 1 / ratio) >= minRatio
    const consumed = new Set<DayStep>()
    const sameChange = (a: DayStep, b: DayStep) =>
      a.direction === b.direction && Math.abs(dayNumber(a.date) - dayNumber(b.date)) <= SAME_CHANGE_DAYS
    const make = (step: DayStep, i: number, detected: Detected, drivers: Driver[]): Step => {
      const points = detected.series === stretch.total ? totalPoints : pointsOf(detected.series, stretch.first)
      const lead = drivers.find((d) => d.resourceId !== null)
      return {
        ...toStep(step, i, detected.detection.steps, {...detected.series, points}, account, basis),
        account: stretch.account,
        drivers,
        resourceId: detected.series.resourceId ?? lead?.resourceId ?? null,
        stretch: label,
      }
    }
    // The resource steps taken as drivers, by resource: a finding led by one is dated by it (redated).
    const matchedDay = new Map<string, DayStep>()
    // Sub-series steps that are the same change as `step`, as drivers, largest share of the change first.
    const driversOf = (step: DayStep, among: Detected[]): Driver[] => {
      const delta = step.levelAfter - step.levelBefore
      const drivers: Driver[] = []
      for (const {series, detection} of among) {
        // Of its steps near the day, the largest is this change (a small one beside it is noise or its edge).
        let match: DayStep | undefined
        for (const s of detection.steps) {
          if (consumed.has(s) || !sameChange(s, step)) continue
          if (!match || Math.abs(Math.log(s.ratio)) > Math.abs(Math.log(match.ratio))) match = s
        }
        if (!match) continue
        consumed.add(match)
        if (series.resourceId !== null) matchedDay.set(series.resourceId, match)
        drivers.push({
          levelAfter: match.levelAfter,
          levelBefore: match.levelBefore,
          ratio: significant(match.ratio),
          resourceId: series.resourceId,
          shareOfChange: delta === 0 ? 0 : round((match.levelAfter - match.levelBefore) / delta, 4),
          usageType: series.usageType,
        })
      }
      return drivers.sort((a, b) => b.shareOfChange - a.shareOfChange)
    }

    // A resource that carries most of a sum's change dates it: the sum adds the other resources' noise to the same
    // change, so a small step in it can be dated a day or two off where the resource's own series is not.
    const redated = (step: DayStep, drivers: Driver[]): DayStep => {
      const lead = drivers.find((d) => d.resourceId !== null)
      const own = lead && lead.shareOfChange >= LEAD_SHARE ? matchedDay.get(lead.resourceId!) : undefined
      return own && own.date !== step.date ? {...step, date: own.date, lastDayBefore: own.lastDayBefore} : step
    }
    // A sum's step that no resource stepped for, on a day one of its parts ramps the same way, is that ramp seen
    // through the sum (a ramp in one part is no straight line in the sum's logarithm): the part's trend is the
    // finding, not a step.
    const rampOfPart = (step: DayStep, drivers: Driver[], parts: Detected[]) => {
      if (drivers.some((d) => d.resourceId !== null)) return false
      const day = dayNumber(step.date)
      return parts.some(({detection}) =>
        detection.trends.some(
          (t) =>
            t.direction === step.direction &&
            dayNumber(t.firstDay) - SAME_CHANGE_DAYS <= day &&
            day <= dayNumber(t.lastDay) + SAME_CHANGE_DAYS,
        ),
      )
    }
    const steps: Step[] = []
    const totalDetected: Detected = {detection: this.total, series: stretch.total}
    this.total.steps.forEach((step, i) => {
      if (!strong(step.ratio)) return
      const drivers = [...driversOf(step, this.resources), ...driversOf(step, this.types)].sort(
        (a, b) => b.shareOfChange - a.shareOfChange,
      )
      if (rampOfPart(step, drivers, [...this.resources, ...this.types])) return
      steps.push(make(redated(step, drivers), i, totalDetected, drivers))
    })
    // A usage type's (region's) own step the total did not show: its resources drive it.
    for (const type of this.types) {
      type.detection.steps.forEach((step, i) => {
        if (consumed.has(step) || !strong(step.ratio)) return
        consumed.add(step)
        const parts = this.resources.filter((r) => r.series.usageType === type.series.usageType)
        const drivers = driversOf(step, parts)
        if (rampOfPart(step, drivers, parts)) return
        steps.push(make(redated(step, drivers), i, type, drivers))
      })
    }
    for (const resource of this.resources) {
      resource.detection.steps.forEach((step, i) => {
        if (consumed.has(step) || !strong(step.ratio)) return
        steps.push(make(step, i, resource, []))
      })
    }

    const spikes: Spike[] = this.total.spikes
      .filter((s) => strong(s.ratio))
      .map((s) => toSpike(s, stretch.total, stretch.account, label))
    for (const sub of [...this.types, ...this.resources]) {
      for (const spike of sub.detection.spikes) {
        const same = spikes.find(
          (s) =>
            s.date === spike.date && (s.usageType === stretch.total.usageType || s.usageType === sub.series.usageType),
        )
        if (same) {
          if (same.resourceId === null && sub.series.resourceId !== null) same.resourceId = sub.series.resourceId
          continue
        }
        if (strong(spike.ratio)) spikes.push(toSpike(spike, sub.series, stretch.account, label))
      }
    }

    const trends: Trend[] = []
    for (const sub of [totalDetected, ...this.types, ...this.resources]) {
      for (const trend of sub.detection.trends) {
        if (!strong(trend.ratio)) continue
        if (sub !== totalDetected && trends.some((t) => t.firstDay <= trend.lastDay && trend.firstDay <= t.lastDay))
          continue
        trends.push({
          account: stretch.account,
          direction: trend.direction,
          firstDay: trend.firstDay,
          lastDay: trend.lastDay,
          levelAfter: trend.levelAfter,
          levelBefore: trend.levelBefore,
          ratio: significant(trend.ratio),
          resourceId: sub.series.resourceId,
          stretch: label,
          unit: sub.series.unit,
          usageType: sub.series.usageType,
        })
      }
    }

    const byDay = (a: {date: string; usageType: string}, b: {date: string; usageType: string}) =>
      a.date.localeCompare(b.date) || a.usageType.localeCompare(b.usageType)
    return {
      account: stretch.account,
      basis,
      provider: stretch.provider,
      firstDay: dayString(stretch.first),
      lastDay: dayString(stretch.last),
      seriesAnalysed: 1 + this.types.length + this.offered,
      spikes: spikes.sort(byDay),
      steps: steps.sort(byDay),
      stretch: label,
      trends: trends.sort((a, b) => a.firstDay.localeCompare(b.firstDay)),
      weekly: this.total.weekly,
    }
  }
}

/** Steps, spikes and trends of a set of point series (the Lambda's Cost Explorer and CloudWatch data). */
export function analyseSeriesSet(set: SeriesSet, options: AnalyseOptions = {}): SeriesSetAnalysis {
  const days = [set.total, ...set.byUsageType, ...set.byResource]
    .flatMap((s) => [s.points[0]?.day, s.points.at(-1)?.day])
    .filter((d): d is string => d !== undefined)
    .sort()
  if (days.length === 0) throw new RangeError('analyseSeriesSet: no points')
  const first = dayNumber(days[0]!)
  const last = dayNumber(days.at(-1)!)
  const stretch = stretchOfSet(set, first, last)
  const analyser = new StretchAnalyser(stretch, options)
  set.byResource.forEach((series, i) => {
    analyser.offer(denseIn(series, stretch))
    options.onProgress?.(i + 1, set.byResource.length)
  })
  return analyser.finish()
}

/**
 * The share of √(PELT's penalty per change) in noise units the best split at a week's end must reach: the
 * detector pays that penalty for a change, and sees a slow change in a noisy series over months where fortnights
 * do not.
 */
const SPLIT_SHARE = 0.7

/** The share of 4 noise units a spike must stand out by in a series of n days (at least half). */
export function spikeShare(n: number): number {
  return Math.max(0.5, 1 - 2 / Math.sqrt(Math.max(n, 1)))
}

/** Noise units (of a mean of k days) the first or last k days must stand from the fortnight beside them. */
const EDGE_NOISE = 2.5

/**
 * The first and last days tested as edge segments: up to six, every day a split at a week's end cannot separate
 * from the days beside it (a step five days before the end of a short, noisy series was dropped at three).
 */
const EDGE_DAYS = 6

/**
 * Cheap screen, O(days): could this series change by minRatio itself (a step or a spike), or carry at least
 * DRIVER_MIN_SHARE of one of the total's changes? False only when neither is possible at the screen's margins.
 */
export function couldMatter(
  values: Float64Array,
  totalChanges: readonly {index: number; delta: number}[],
  minRatio: number,
): boolean {
  const n = values.length
  for (const change of totalChanges) {
    let before = 0
    let nb = 0
    let after = 0
    let na = 0
    for (let i = Math.max(0, change.index - SCREEN_WINDOW); i < change.index; i++)
      if (!Number.isNaN(values[i]!)) {
        before += values[i]!
        nb++
      }
    for (let i = change.index; i < Math.min(n, change.index + SCREEN_WINDOW); i++)
      if (!Number.isNaN(values[i]!)) {
        after += values[i]!
        na++
      }
    if (nb > 0 && na > 0 && Math.abs(after / na - before / nb) >= DRIVER_MIN_SHARE * Math.abs(change.delta)) return true
  }
  let min = Number.POSITIVE_INFINITY
  let max = 0
  let sum = 0
  let positives = 0
  let observed = 0
  let zeros = 0
  for (let i = 0; i < n; i++) {
    const v = values[i]!
    if (Number.isNaN(v)) continue
    observed++
    if (v > 0) {
      positives++
      sum += v
      if (v < min) min = v
      if (v > max) max = v
    } else zeros++
  }
  if (observed < 6 || positives === 0) return false
  if (zeros === 0 && max / min < minRatio) return false
  // On the detector's scale (log, zeros three decades down): the noise from consecutive differences, the level
  // from 14-day means; a step shows as two neighbouring fortnights apart, a spike as a day far from its fortnight.
  const offset = 1e-3 * (sum / positives)
  const z = new Float64Array(n)
  let diffs = 0
  let nd = 0
  let previous = Number.NaN
  // The logs' sum and count, for the split test below.
  let logSum = 0
  let logged = 0
  for (let i = 0; i < n; i++) {
    const v = values[i]!
    z[i] = Number.isNaN(v) ? Number.NaN : Math.log(v + offset)
    if (!Number.isNaN(z[i]!)) {
      logSum += z[i]!
      logged++
      if (!Number.isNaN(previous)) {
        diffs += Math.abs(z[i]! - previous)
        nd++
      }
      previous = z[i]!
    }
  }
  // Differences a week apart too: a weekday/weekend pattern is in every day-to-day change, but the detector removes
  // it, so the noise a spike must stand out from is the smaller of the two.
  let weekly = 0
  let nw = 0
  for (let i = 7; i < n; i++)
    if (!Number.isNaN(z[i]!) && !Number.isNaN(z[i - 7]!)) {
      weekly += Math.abs(z[i]! - z[i - 7]!)
      nw++
    }
  // E|x − y| = 2σ/√π for independent N(0, σ²).
  const noise =
    nd > 0 ? (Math.min(diffs / nd, nw > 0 ? weekly / nw : Number.POSITIVE_INFINITY) * Math.sqrt(Math.PI)) / 2 : 0
  const logRatio = Math.log(minRatio)
  const stepMargin = Math.max(0.6 * logRatio, 4 * noise * Math.sqrt(2 / SCREEN_WINDOW))
  // The detector judges a spike by a median of changes (its noise), which strays from this mean of them the more
  // the shorter the series, and which a spike's own changes do not raise: 4 noise units less 2/√n of them.
  const spikeUnits = 4 * spikeShare(n)
  const spikeMargin = Math.max(0.8 * logRatio, spikeUnits * noise)
  let counted = 0
  const mean = (from: number, to: number) => {
    let s = 0
    let k = 0
    for (let i = Math.max(0, from); i < Math.min(n, to); i++)
      if (!Number.isNaN(z[i]!)) {
        s += z[i]!
        k++
      }
    counted = k
    return k > 0 ? s / k : Number.NaN
  }
  // The best split of the whole series at a week's end, as the detector's change cost sees it: a slow change in a
  // noisy series moves no fortnight far enough, but the means of all the days before and after it.
  const splitMargin = SPLIT_SHARE * Math.sqrt(defaultPenalty(n)) * noise
  let sumBefore = 0
  let daysBefore = 0
  for (let i = 0; i < n; i++) {
    if (i > 0 && i % 7 === 0 && daysBefore > 0 && daysBefore < logged) {
      const daysAfter = logged - daysBefore
      const apart = Math.abs(sumBefore / daysBefore - (logSum - sumBefore) / daysAfter)
      if (apart > 0.5 * logRatio && apart / Math.sqrt(1 / daysBefore + 1 / daysAfter) > splitMargin) return true
    }
    if (!Number.isNaN(z[i]!)) {
      sumBefore += z[i]!
      daysBefore++
    }
  }
  // A slow ramp moves no two neighbouring fortnights apart, but the lowest and highest whole fortnight (a shorter
  // window at an end of the data is too noisy to tell).
  let lowest = Number.POSITIVE_INFINITY
  let highest = Number.NEGATIVE_INFINITY
  for (let cut = 7; cut < n; cut += 7) {
    const left = mean(cut - SCREEN_WINDOW, cut)
    const nl = counted
    const right = mean(cut, cut + SCREEN_WINDOW)
    const nr = counted
    // Two means apart by 4 noise units of their difference: a shorter window at an end of the data is noisier.
    const margin = Math.max(0.6 * logRatio, 4 * noise * Math.sqrt(1 / nl + 1 / nr))
    if (Math.abs(left - right) > margin) return true
    if (nl === SCREEN_WINDOW && nr === SCREEN_WINDOW)
      for (const m of [left, right]) {
        lowest = Math.min(lowest, m)
        highest = Math.max(highest, m)
      }
    else if (nl === SCREEN_WINDOW || nr === SCREEN_WINDOW) {
      const whole = nl === SCREEN_WINDOW ? left : right
      lowest = Math.min(lowest, whole)
      highest = Math.max(highest, whole)
    }
  }
  if (highest - lowest > stepMargin) return true
  // The first and last days: a segment of two to EDGE_DAYS days at the start, or of one to EDGE_DAYS at the end,
  // is a step when it stands EDGE_NOISE noise units (of its mean) from the fortnight beside it; the tests above miss
  // it.
  for (let k = 1; k <= EDGE_DAYS; k++) {
    const margin = Math.max(0.6 * logRatio, (EDGE_NOISE * noise) / Math.sqrt(k))
    if (Math.abs(mean(n - k, n) - mean(n - k - SCREEN_WINDOW, n - k)) > margin) return true
    if (k > 1 && Math.abs(mean(0, k) - mean(k, k + SCREEN_WINDOW)) > margin) return true
  }
  // A day, or the mean of two or three days ending on it (a dip of a few days, which also raises the noise taken
  // from day-to-day changes in a short series), against the three weeks around it.
  const runMargins = [2, 3].map((k) => Math.max(0.8 * logRatio, (4 * noise) / Math.sqrt(k)))
  for (let block = 0; block < n; block += 7) {
    const level = mean(block - 7, block + 14)
    for (let i = block; i < Math.min(n, block + 7); i++) {
      if (Math.abs(z[i]! - level) > spikeMargin) return true
      for (const k of [2, 3])
        if (i - k + 1 >= 0 && Math.abs(mean(i - k + 1, i + 1) - level) > runMargins[k - 2]!) return true
    }
  }
  return false
}

function toStep(
  step: DayStep,
  index: number,
  siblings: DayStep[],
  series: DailySeries,
  account: DailySeries,
  basis: CostBasis,
): Omit<Step, 'account' | 'drivers' | 'stretch'> {
  const from = siblings[index - 1]?.date ?? ''
  const to = siblings[index + 1]?.date ?? '9999-12-31'
  const segment = {
    after: series.points.filter((p) => p.day >= step.date && p.day < to),
    before: series.points.filter((p) => p.day >= from && p.day < step.date),
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
    daysAfter: step.pointsAfter,
    direction: step.direction,
    lastDayBefore: step.lastDayBefore,
    levelAfter: step.levelAfter,
    levelBefore: step.levelBefore,
    currency,
    monthlyCost: monthly,
    ...(currency === 'USD' ? {monthlyCostUsd: monthly, yearlyCostUsd: yearly} : {}),
    ratio: significant(step.ratio),
    resourceId: series.resourceId,
    tentative: step.tentative,
    unit: series.unit,
    usageType: series.usageType,
    yearlyCost: yearly,
  }
}

function toSpike(spike: DayDetection['spikes'][number], series: DenseSeries, account: string, stretch: string): Spike {
  return {
    account,
    baseline: spike.baseline,
    date: spike.date,
    ratio: significant(spike.ratio),
    resourceId: series.resourceId,
    stretch,
    unit: series.unit,
    usageType: series.usageType,
    value: spike.value,
  }
}

/** Four significant figures: a 0.000566x fall keeps its digits, a 2466.3x rise loses what no one reads. */
function significant(ratio: number): number {
  return Number.isFinite(ratio) && ratio !== 0 ? Number(ratio.toPrecision(4)) : ratio
}
