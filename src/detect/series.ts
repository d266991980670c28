/**
 * The detector on one series with gaps: transform, weekly adjustment, spike screening, segmentation, and the
 * tentative check at the end. Works on index positions; `index.ts` maps them to days. No I/O.
 */
import {
  DEFAULT_MIN_SEGMENT,
  madOfDifferences,
  MeanCost,
  median,
  residualStats,
  segmentLinear,
  segmentMean,
} from './changepoint.js'

export type Scale = 'linear' | 'log'

export interface SeriesOptions {
  /**
   * 'log' for multiplicative data, 'linear' for additive. Default: chosen from the data (`defaultScale`),
   * the same rule for a billing series and for any benchmark series.
   */
  scale?: Scale
  /**
   * Seasonal period in points (7 for daily data). The weekly profile is removed only when an F-test finds
   * it (see `seasonalAdjustment`). Default none.
   */
  period?: number
  /** A change with fewer observed points after it than this is tentative. Default 7 (a week of days). */
  evidencePoints?: number
  /** Spike threshold in robust noise units (MAD of differences). Default 5. */
  spikeThreshold?: number
  /**
   * Smallest step, as a ratio of levels (or its inverse, going down); smaller changes are not steps and do not
   * cut the levels of the steps beside them. Default 1 (every change).
   */
  minRatio?: number
  /**
   * The last position is a partial day: an hourly export's latest day, which every series of the export shares and
   * which the sum of them shows (`partialLast` of its analysis). Left out, as a partial day this series shows itself.
   */
  lastPartial?: boolean
}

export interface IndexStep {
  /** Position of the first point at the new level. */
  index: number
  /** Robust (median) level before and after, in the input's units, spikes left out. */
  levelBefore: number
  levelAfter: number
  ratio: number
  direction: 'down' | 'up'
  confidence: number
  tentative: boolean
  /** Observed points in the segments before and after. */
  pointsBefore: number
  pointsAfter: number
}

/** A slow change over several points (a ramp), reported instead of a staircase of steps. */
export interface IndexTrend {
  /** First and last position of the ramp (inclusive). */
  start: number
  end: number
  levelBefore: number
  levelAfter: number
  ratio: number
  direction: 'down' | 'up'
}

export interface IndexSpike {
  index: number
  value: number
  /** Median of the neighbours on both sides. */
  baseline: number
  ratio: number
}

export interface SeriesAnalysis {
  steps: IndexStep[]
  spikes: IndexSpike[]
  trends: IndexTrend[]
  /** Whether a weekly (period) profile was found and removed. */
  seasonal: boolean
  /** Long-run noise standard deviation on the analysed scale. */
  noise: number
  /** Whether the last position was left out as a partial day (far below the level before it, or `lastPartial`). */
  partialLast: boolean
}

export const DEFAULT_EVIDENCE_POINTS = 7
export const DEFAULT_SPIKE_THRESHOLD = 5
/** Neighbours on each side that define a spike's baseline. */
const SPIKE_WINDOW = 3
/** Longest run of points that still counts as a spike (a one- to three-day blip), not a step. */
const SPIKE_MAX_RUN = 3
/** Points on each side whose noise a spike must also stand out from. */
const LOCAL_WINDOW = 28
/** A spike recurring on the same weekday (phase) in this many weeks or more is the weekly pattern, not a spike. */
const PATTERN_WEEKS = 3
/**
 * Same-direction changes closer than this many points are tested together as one possible ramp (a ramp of three months
 * is cut into steps some 30-45 days apart).
 */
const RAMP_MAX_SEGMENT = 45
/** A ramp narrower than this many points is a step (a change spread over a day or two). */
const RAMP_MIN_WIDTH = 5
/** Fewer observed points than this: too little to tell noise from change. */
const MIN_POINTS = 6
/** F statistic a weekly profile must exceed (p < 1e-4 for 6 and ≥ 40 degrees of freedom). */
const SEASONAL_F = 5.5
/**
 * Lag-1 autocorrelation of the residuals from the levels above which a series wanders (a trend that turns, a
 * random walk): levels may not describe it, and lines are tried (turningLines, linesExplainBetter).
 */
const WANDERING = 0.5

/** Analyses one series; `values[i]` null or NaN is a gap (a missing day, not a zero). */
export function analyseValues(values: readonly (null | number)[], options: SeriesOptions = {}): SeriesAnalysis {
  const observed: number[] = []
  for (let i = 0; i < values.length; i++) if (isNumber(values[i])) observed.push(i)
  const raw = observed.map((i) => values[i]!)
  const scale = options.scale ?? defaultScale(raw)
  const transform = makeTransform(raw, scale)
  const empty: SeriesAnalysis = {noise: 0, partialLast: false, seasonal: false, spikes: [], steps: [], trends: []}
  if (observed.length < MIN_POINTS || transform === undefined) return empty

  let z = raw.map(transform.forward)
  let seasonal = false
  if (options.period !== undefined && options.period > 1) {
    const adjustment = seasonalAdjustment(values.length, observed, z, options.period)
    if (adjustment) {
      z = z.map((v, k) => v - adjustment[observed[k]!]!)
      seasonal = true
    }
  }

  const scaleOfNoise = madOfDifferences(z)
  const threshold = (options.spikeThreshold ?? DEFAULT_SPIKE_THRESHOLD) * scaleOfNoise
  let spikeRuns = withoutRecurring(
    findSpikes(
      z,
      threshold,
      options.spikeThreshold ?? DEFAULT_SPIKE_THRESHOLD,
      raw.map((v) => v === 0),
    ),
    observed,
    values.length,
    options.period,
  )
  // A last point far below the level before it is most often a partial day of an hourly export: left out,
  // neither a step nor a spike, until the next day tells.
  const partialTail =
    tailJump(z, threshold, spikeRuns) === -1 || (options.lastPartial === true && observed.at(-1) === values.length - 1)
  const excluded = new Uint8Array(z.length)
  for (const run of spikeRuns) for (let k = run.start; k < run.end; k++) excluded[k] = 1
  if (partialTail) excluded[z.length - 1] = 1
  const kept: number[] = []
  for (let k = 0; k < z.length; k++) if (!excluded[k]) kept.push(k)
  const clean = kept.map((k) => z[k]!)

  // A jump in the last one or two points is too short to be a segment: segment the rest, then test the jump
  // against the last segment with the same penalty. Without this, PELT pairs the jump with its neighbour.
  let segmentation = segmentMean(clean)
  let {changePoints: cuts, margins} = locallyJustified(
    clean,
    refine(clean, segmentation.changePoints, segmentation.margins, segmentation.penalty),
    segmentation.variance,
    segmentation.penalty,
  )
  const tailLength = Math.max(0, tailJump(clean, threshold, []))
  // The points before a jump in the last one or two (all of them when there is none).
  let fitted = clean.length
  if (tailLength > 0) {
    const body = clean.slice(0, clean.length - tailLength)
    const bodySegmentation = segmentMean(body)
    const margin = tailMargin(
      clean,
      bodySegmentation.changePoints.at(-1) ?? 0,
      body.length,
      bodySegmentation.variance,
      bodySegmentation.penalty,
    )
    if (margin > 0) {
      segmentation = bodySegmentation
      const refined = refine(body, bodySegmentation.changePoints, bodySegmentation.margins, bodySegmentation.penalty)
      cuts = [...refined.changePoints, body.length]
      margins = [...refined.margins, margin]
      fitted = body.length
    }
  }

  // A series that wanders is cut into lines where they explain it better than levels: a change of slope (a turn) or
  // of level starts a new one, each sloped line is a trend, and a jump between lines is a step.
  const untilTail = clean.slice(0, fitted)
  const turning =
    segmentation.autocorrelation > WANDERING ? turningLines(untilTail, segmentation.penalty, threshold) : undefined
  const lines = turning && linesExplainBetter(turning, untilTail, cuts, segmentation.penalty) ? turning : undefined
  if (lines) {
    // The tail's jump, when there is one, stays the last cut.
    const tail = fitted < clean.length ? 1 : 0
    cuts = [...lines.cuts, ...cuts.slice(cuts.length - tail)]
    margins = [...lines.margins, ...margins.slice(margins.length - tail)]
  }
  // PELT cannot cut one point out, but it can cut out two or three: a short excursion whose two sides agree is
  // a spike, whatever the screening above made of it.
  const blips = blipCuts(clean, cuts, threshold)
  for (const blip of blips) spikeRuns.push({end: kept[blip.end - 1]! + 1, start: kept[blip.start]!})
  spikeRuns = spikeRuns.sort((a, b) => a.start - b.start)
  const ramps =
    lines?.ramps ??
    rampsAmong(
      clean,
      cuts.filter((_, i) => !blips.some((b) => b.cutIndex === i || b.cutIndex + 1 === i)),
      segmentation.variance,
      segmentation.penalty,
    )
  const dropped = new Set<number>()
  blips.forEach((b) => {
    dropped.add(b.start)
    dropped.add(b.end)
  })
  for (const ramp of ramps) for (const cut of ramp.cuts) dropped.add(cut)
  // Two changes the same way a day or two apart are one change that took a day or two (it began mid-day): the
  // days between are neither level, and its day is the one a single cut among them fits best (dateChanges).
  // So are a large change and a small one back within a day or three, when the days between stand out from the
  // level beside them by less than a spike would: the first days above a new level (or a last dip before it) are
  // the change settling, and noise that PELT can cut next to a large change, not a second change.
  const transition = new Map<number, number>()
  const remaining = cuts.filter((cut) => !dropped.has(cut))
  const meanOf = (from: number, to: number) => clean.slice(from, to).reduce((a, v) => a + v, 0) / (to - from)
  for (let i = 0; i + 1 < remaining.length; i++) {
    const a = remaining[i]!
    const b = remaining[i + 1]!
    if (b - a > SPIKE_MAX_RUN) continue
    const before = meanOf(i === 0 ? 0 : remaining[i - 1]!, a)
    const inner = meanOf(a, b)
    const after = meanOf(b, remaining[i + 2] ?? clean.length)
    const into = inner - before
    const out = after - inner
    const settling = Math.min(Math.abs(into), Math.abs(out))
    const overshoot = settling < threshold && settling < Math.max(Math.abs(into), Math.abs(out)) / 2
    if (Math.sign(into) !== Math.sign(out) && !overshoot) continue
    dropped.add(b)
    transition.set(a, b - a)
    i++
  }
  const keptCuts: number[] = []
  const keptMargins: number[] = []
  cuts.forEach((cut, i) => {
    if (dropped.has(cut)) return
    keptCuts.push(cut)
    // A transition's evidence is that of the larger of its two cuts.
    const second = transition.has(cut) ? cuts.indexOf(cut + transition.get(cut)!) : -1
    keptMargins.push(Math.max(margins[i]!, second >= 0 ? margins[second]! : Number.NEGATIVE_INFINITY))
  })
  const blipPoints = new Uint8Array(clean.length)
  for (const blip of blips) blipPoints.fill(1, blip.start, blip.end)
  const evidence = options.evidencePoints ?? DEFAULT_EVIDENCE_POINTS
  const rawKept = kept.map((k) => raw[k]!)
  const positionOf = (c: number) => observed[kept[Math.min(c, kept.length - 1)]!]!
  const stepsAt = (changes: number[], changeMargins: number[]): IndexStep[] =>
    dateChanges(
      clean,
      changes,
      transition,
      blipPoints,
      ramps.flatMap((r) => [r.start + 1, r.end]),
    ).map(({afterStart, at, beforeEnd, from, to}, i) => {
      const before = rawKept.slice(from, beforeEnd)
      const after = rawKept.slice(afterStart, to)
      // A jump beside a trend: the lines' levels on either side of it, not the few points between the trends.
      const jump = lines?.jumps.get(changes[i]!)
      const levelBefore = jump ? transform.inverse(jump.before) : median(before)
      const levelAfter = jump ? transform.inverse(jump.after) : median(after)
      const ratio = levelRatio(levelBefore, levelAfter, transform.forward, scale)
      // Only the last change can lack evidence: a later change confirms the level this one set.
      const tentative = i === changes.length - 1 && clean.length - afterStart < evidence
      // Under the BIC approximation exp(margin/2) is the Bayes factor of "change" over "no change".
      const confidence = logistic(changeMargins[i]! / 2) * (tentative ? (clean.length - afterStart) / evidence : 1)
      return {
        confidence,
        direction: ratio >= 1 ? 'up' : 'down',
        index: positionOf(at),
        levelAfter,
        levelBefore,
        pointsAfter: jump?.pointsAfter ?? after.length,
        pointsBefore: jump?.pointsBefore ?? before.length,
        ratio,
        tentative,
      }
    })
  let steps = stepsAt(keptCuts, keptMargins)
  // A change smaller than minRatio is no change: its cut goes, the weakest first, and its neighbours' levels are
  // taken again over the days it split (else a step's level after is that of a few days before a dropped wobble).
  const floor = options.minRatio !== undefined && options.minRatio > 1 ? Math.log(options.minRatio) : 0
  for (;;) {
    let weakest = -1
    let weakestSize = floor
    steps.forEach((step, i) => {
      const size = Math.abs(Math.log(step.ratio))
      if (size < weakestSize) {
        weakest = i
        weakestSize = size
      }
    })
    if (weakest < 0) break
    keptCuts.splice(weakest, 1)
    keptMargins.splice(weakest, 1)
    steps = stepsAt(keptCuts, keptMargins)
  }
  // A fall in the last one or two days is what a partial last day of an hourly export looks like: not yet a step.
  // Nor is one in the last three when the last day is among them: it may be partial by less than a spike would be,
  // which leaves two full days, as noisy as any, to tell a fall.
  const last = steps.at(-1)
  if (last?.direction === 'down' && last.pointsAfter <= (partialTail ? 2 : 3)) steps.pop()
  const trends: IndexTrend[] = ramps.map((ramp) => {
    const levelBefore = ramp.levels
      ? transform.inverse(ramp.levels[0])
      : median(rawKept.slice(ramp.from, ramp.start + 1))
    const levelAfter = ramp.levels ? transform.inverse(ramp.levels[1]) : median(rawKept.slice(ramp.end, ramp.to))
    const ratio = levelRatio(levelBefore, levelAfter, transform.forward, scale)
    // A line's slope gives its direction where a ratio cannot (a level at or below zero on the linear scale).
    const up = ramp.levels ? ramp.levels[1] >= ramp.levels[0] : ratio >= 1
    return {
      direction: up ? 'up' : 'down',
      end: positionOf(ramp.end),
      levelAfter,
      levelBefore,
      ratio,
      start: positionOf(ramp.start),
    }
  })

  const spikes: IndexSpike[] = []
  for (const run of spikeRuns) {
    const baseline = median([
      ...raw.slice(Math.max(0, run.start - SPIKE_WINDOW), run.start),
      ...raw.slice(run.end, run.end + SPIKE_WINDOW),
    ])
    for (let k = run.start; k < run.end; k++) {
      const value = raw[k]!
      spikes.push({baseline, index: observed[k]!, ratio: levelRatio(baseline, value, transform.forward, scale), value})
    }
  }
  return {noise: Math.sqrt(segmentation.variance), partialLast: partialTail, seasonal, spikes, steps, trends}
}

/** Days on either side of a change's first placement that dateChanges searches. */
const DATE_RADIUS = 3

/**
 * Each change's day by a local likelihood search: the single cut between its final neighbours (and the edges of
 * any ramp) that leaves the least squared error, within DATE_RADIUS of where segmentation put it, or among the
 * days of a transition. Segmentation placed it beside cuts that were since dropped (a blip's, a ramp's, the second
 * cut of a change that took two days), or inside a segment searched with that segment's own noise; both can
 * leave it days off. Points of blips weigh nothing. A change PELT placed among its final neighbours stays put
 * (the optimum is also the best single move). Returns per change its day, and the points [from, beforeEnd) and
 * [afterStart, to) its levels are taken from: a transition's days and any ramp beside it left out.
 */
function dateChanges(
  y: number[],
  cuts: number[],
  transition: Map<number, number>,
  skip: Uint8Array,
  fixed: number[],
): DatedChange[] {
  const n = y.length
  const s0 = new Float64Array(n + 1)
  const s1 = new Float64Array(n + 1)
  const s2 = new Float64Array(n + 1)
  for (let t = 0; t < n; t++) {
    const w = skip[t] ? 0 : 1
    const v = y[t]!
    s0[t + 1] = s0[t]! + w
    s1[t + 1] = s1[t]! + w * v
    s2[t + 1] = s2[t]! + w * v * v
  }
  const rss = (a: number, b: number) => {
    const k = s0[b]! - s0[a]!
    if (k <= 0) return 0
    const sum = s1[b]! - s1[a]!
    return Math.max(0, s2[b]! - s2[a]! - (sum * sum) / k)
  }
  const out: DatedChange[] = []
  for (let i = 0; i < cuts.length; i++) {
    const cut = cuts[i]!
    const width = transition.get(cut) ?? 0
    let from = out[i - 1]?.afterStart ?? 0
    let to = cuts[i + 1] ?? n
    for (const f of fixed) {
      if (f <= cut && f > from) from = f
      if (f > cut + width && f < to) to = f
    }
    const lo = width > 0 ? cut : Math.max(from + DEFAULT_MIN_SEGMENT, cut - DATE_RADIUS)
    const hi = width > 0 ? cut + width : Math.min(to - DEFAULT_MIN_SEGMENT, cut + DATE_RADIUS)
    let at = cut
    if (lo <= cut && cut <= hi) {
      let best = rss(from, cut) + rss(cut, to)
      for (let t = lo; t <= hi; t++) {
        const cost = rss(from, t) + rss(t, to)
        if (cost < best - 1e-12) {
          best = cost
          at = t
        }
      }
    }
    out.push(
      width > 0
        ? {afterStart: cut + width, at, beforeEnd: cut, from, to}
        : {afterStart: at, at, beforeEnd: at, from, to},
    )
  }
  return out
}

interface DatedChange {
  at: number
  from: number
  beforeEnd: number
  afterStart: number
  to: number
}

/**
 * The cuts whose split still pays its penalty with the noise measured around them: the long-run variance of the
 * residuals (from the segment means) within LOCAL_WINDOW points on either side, where that is more than the whole
 * series' `variance`. A sum's noise follows its largest part, so one variance for the whole series is too small
 * where a noisy part led before another stepped up past it, and noise there is cut into steps. The weakest cut that
 * does not pay goes first, then the others are judged again without it.
 */
function locallyJustified(
  y: number[],
  found: {changePoints: number[]; margins: number[]},
  variance: number,
  penalty: number,
): {changePoints: number[]; margins: number[]} {
  const cuts = [...found.changePoints]
  const margins = [...found.margins]
  if (cuts.length === 0 || !(variance > 0)) return {changePoints: cuts, margins}
  const n = y.length
  const sums = new MeanCost(y, variance)
  for (;;) {
    const bounds = [0, ...cuts, n]
    const means: number[] = []
    for (let i = 0; i + 1 < bounds.length; i++) means.push(sums.mean(bounds[i]!, bounds[i + 1]!))
    let weakest = -1
    let weakestMargin = 0
    for (let i = 0; i < cuts.length; i++) {
      const cut = cuts[i]!
      const from = Math.max(0, cut - LOCAL_WINDOW)
      const to = Math.min(n, cut + LOCAL_WINDOW)
      // Residuals from the segment means over [from, to), and their lag-1 products within segments.
      let squares = 0
      let lagged = 0
      let segment = i
      while (segment > 0 && bounds[segment]! > from) segment--
      let previous = Number.NaN
      for (let t = from; t < to; t++) {
        let moved = false
        while (bounds[segment + 1]! <= t) {
          segment++
          moved = true
        }
        const r = y[t]! - means[segment]!
        squares += r * r
        if (!moved && t > from) lagged += r * previous
        previous = r
      }
      if (!(squares > 0)) continue
      const phi = Math.min(0.99, Math.max(0, lagged / squares))
      const local = (squares / (to - from)) * ((1 + phi) / (1 - phi))
      if (!(local > variance)) continue
      const a = bounds[i]!
      const b = bounds[i + 2]!
      const margin = (sums.rss(a, b) - sums.rss(a, cut) - sums.rss(cut, b)) / local - penalty
      if (margin < weakestMargin) {
        weakest = i
        weakestMargin = margin
      }
    }
    if (weakest < 0) return {changePoints: cuts, margins}
    cuts.splice(weakest, 1)
    margins.splice(weakest, 1)
  }
}

/** Rounds of refinement: a segment is searched again, then the segments that search made, and so on. */
const REFINE_DEPTH = 3

/**
 * Each segment searched again on its own: a large change inflates the noise estimate of the whole series (its
 * residuals stay correlated while a smaller change is missed), so the smaller change shows only once the large
 * one is cut away. The penalty stays the whole series'.
 */
function refine(
  y: number[],
  changePoints: number[],
  margins: number[],
  penalty: number,
): {changePoints: number[]; margins: number[]} {
  // No change in the whole series: searching it again on its own, at the same penalty, finds none again.
  if (changePoints.length === 0) return {changePoints: [], margins: []}
  let cuts = changePoints.map((cut, i) => ({cut, margin: margins[i]!}))
  let pending = [0, ...changePoints, y.length]
    .slice(0, -1)
    .map((start, i, starts) => [start, starts[i + 1] ?? y.length] as const)
  for (let depth = 0; depth < REFINE_DEPTH && pending.length > 0; depth++) {
    const next: (readonly [number, number])[] = []
    for (const [start, end] of pending) {
      if (end - start < 8) continue
      const inner = segmentMean(y.slice(start, end), {penalty})
      if (inner.changePoints.length === 0) continue
      inner.changePoints.forEach((cut, i) => cuts.push({cut: start + cut, margin: inner.margins[i]!}))
      const bounds = [start, ...inner.changePoints.map((c) => start + c), end]
      for (let i = 0; i + 1 < bounds.length; i++) next.push([bounds[i]!, bounds[i + 1]!])
    }
    pending = next
  }
  cuts = cuts.sort((a, b) => a.cut - b.cut)
  return {changePoints: cuts.map((c) => c.cut), margins: cuts.map((c) => c.margin)}
}

function isNumber(v: null | number | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v)
}

/** Nonnegative data spanning at least this factor is analysed on the log scale. */
const LOG_SCALE_SPAN = 10

/**
 * The one default: the log scale when the data can only be nonnegative and spans an order of magnitude
 * or more (usage that steps a thousandfold, where a level's noise grows with it), else linear (a
 * measurement that wanders, or goes negative). Zeros are allowed on the log scale (see makeTransform).
 */
export function defaultScale(values: readonly number[]): Scale {
  let min = Number.POSITIVE_INFINITY
  let max = 0
  for (const v of values) {
    if (v < 0) return 'linear'
    if (v > 0 && v < min) min = v
    if (v > max) max = v
  }
  return max > 0 && (max / min >= LOG_SCALE_SPAN || values.some((v) => v === 0)) ? 'log' : 'linear'
}

/**
 * ln(x + c) with c a thousandth of the lowest positive level (the 5th percentile of positive values): zero days stay
 * finite (three decades below the lowest level) and the result does not depend on the unit. Taken from the median,
 * c was a fifth of a level some 200x lower and flattened that level's weekends, which then read as steps.
 * Undefined when nothing is positive.
 */
function makeTransform(raw: number[], scale: Scale): Transform | undefined {
  if (scale === 'linear') return {forward: (v) => v, inverse: (z) => z}
  const positive = raw.filter((v) => v > 0)
  if (positive.length === 0) return undefined
  const sorted = Float64Array.from(positive).sort()
  const offset = 1e-3 * sorted[Math.floor(0.05 * (sorted.length - 1))]!
  return {forward: (v) => Math.log(Math.max(0, v) + offset), inverse: (z) => Math.max(0, Math.exp(z) - offset)}
}

/** A value to the analysed scale and back. */
interface Transform {
  forward: (v: number) => number
  inverse: (z: number) => number
}

/** after/before; on the log scale a zero level counts as the transform's offset so the ratio stays finite. */
function levelRatio(before: number, after: number, transform: (v: number) => number, scale: Scale): number {
  if (before > 0 && after >= 0) return after / before
  if (scale === 'log') return Math.exp(transform(after) - transform(before))
  return before === after ? 1 : Number.NaN
}

function logistic(x: number): number {
  return 1 / (1 + Math.exp(-x))
}

/**
 * Weekly profile by phase (index mod period) of the residuals from a centred rolling median one period wide,
 * which holds every phase once and so carries no seasonality itself. A profile is used only when the one-way F
 * statistic of the residuals by phase exceeds SEASONAL_F; centred on its median.
 *
 * The profile may change along the series: a sum whose largest part changes takes that part's weekly pattern (an
 * office-hours instance's low weekends fade from an account's total once another instance steps up 100x beside
 * it). So the residuals are first split where the profile changes (seasonalPieces), and each piece has its own
 * profile, or none. Returns the adjustment per position (length `length`), or undefined when no piece has one.
 */
function seasonalAdjustment(length: number, observed: number[], z: number[], period: number): Float64Array | undefined {
  if (observed.length < 4 * period) return undefined
  const valueAt = new Float64Array(length).fill(Number.NaN)
  observed.forEach((i, k) => (valueAt[i] = z[k]!))
  const half = Math.floor(period / 2)
  const at: number[] = []
  const residuals: number[] = []
  const window: number[] = []
  for (const i of observed) {
    window.length = 0
    for (let j = Math.max(0, i - half); j <= Math.min(length - 1, i + half); j++)
      if (!Number.isNaN(valueAt[j]!)) window.push(valueAt[j]!)
    if (window.length < period - 1) continue
    at.push(i)
    residuals.push(valueAt[i]! - median(window))
  }
  const adjustment = new Float64Array(length)
  let found = false
  // Where the profile changes is searched on each residual's median with the same weekday's two weeks before and
  // after: a pattern that changes holds for weeks, while a spike of a few days (each day one weekday once) is gone.
  const byPhase: number[][] = Array.from({length: period}, () => [])
  at.forEach((i, k) => byPhase[i % period]!.push(k))
  const steady = new Array<number>(at.length)
  const near = new Float64Array(5)
  for (const members of byPhase)
    members.forEach((k, j) => {
      // The median of at most five, by insertion (this runs for every point of every series).
      let count = 0
      for (let m = Math.max(0, j - 2); m < Math.min(members.length, j + 3); m++) {
        const v = residuals[members[m]!]!
        let slot = count++
        while (slot > 0 && near[slot - 1]! > v) {
          near[slot] = near[slot - 1]!
          slot--
        }
        near[slot] = v
      }
      steady[k] = count % 2 === 1 ? near[count >> 1]! : (near[count / 2 - 1]! + near[count / 2]!) / 2
    })
  // Tests and profiles take each residual within three robust noise units of its steady value: a spike's days move
  // neither a piece's profile nor the F statistics.
  const spread = 1.4826 * median(residuals.map((v, k) => Math.abs(v - steady[k]!)))
  const tamed = residuals.map((v, k) => steady[k]! + Math.max(-3 * spread, Math.min(3 * spread, v - steady[k]!)))
  const bounds = seasonalPieces(at, steady, tamed, period, 0, at.length, 0)
  for (let p = 0; p + 1 < bounds.length; p++) {
    const from = bounds[p]!
    const to = bounds[p + 1]!
    const profile = phaseProfile(at, tamed, period, from, to)
    if (!profile) continue
    found = true
    // The piece's positions: from its first residual's (the series' start for the first piece) to the next piece's.
    const first = from === 0 ? 0 : at[from]!
    const last = to === at.length ? length : at[to]!
    for (let i = first; i < last; i++) adjustment[i] = profile[i % period]!
  }
  return found ? adjustment : undefined
}

/** F statistic a change of weekly profile must exceed: the best of hundreds of possible weeks is tested. */
const SEASONAL_CHANGE_F = 12
/** Splits of the weekly profile searched (so at most 2^depth pieces). */
const SEASONAL_CHANGE_DEPTH = 2

/**
 * Boundaries (indexes into `at`) of the pieces of residuals [from, to) between which the weekly profile changes:
 * the split that most reduces the within-phase sum of squares of the steady residuals, kept when on the residuals
 * themselves its F statistic (period more means) exceeds SEASONAL_CHANGE_F and each side holds four periods or more;
 * then each side is split again.
 */
function seasonalPieces(
  at: number[],
  steady: number[],
  r: number[],
  period: number,
  from: number,
  to: number,
  depth: number,
): number[] {
  const minSide = 4 * period
  if (depth >= SEASONAL_CHANGE_DEPTH || to - from < 2 * minSide) return [from, to]
  const located = phaseSplits(at, steady, period, from, to, minSide)
  if (located.split < 0) return [from, to]
  const {split, whole, rss} = phaseSplits(at, r, period, from, to, minSide, located.split)
  const f = (whole - rss) / period / (rss / (to - from - 2 * period))
  if (!(f > SEASONAL_CHANGE_F)) return [from, to]
  const left = seasonalPieces(at, steady, r, period, from, split, depth + 1)
  const right = seasonalPieces(at, steady, r, period, split, to, depth + 1)
  return [...left.slice(0, -1), ...right]
}

/**
 * The within-phase residual sum of squares of values [from, to) whole, and the least over splits leaving `minSide`
 * or more on each side (or at `only`), with that split (−1 when none).
 */
function phaseSplits(
  at: number[],
  values: number[],
  period: number,
  from: number,
  to: number,
  minSide: number,
  only?: number,
): {split: number; whole: number; rss: number} {
  const n0 = new Float64Array(period)
  const n1 = new Float64Array(period)
  const n2 = new Float64Array(period)
  for (let k = from; k < to; k++) {
    const phase = at[k]! % period
    n0[phase] = n0[phase]! + 1
    n1[phase] = n1[phase]! + values[k]!
    n2[phase] = n2[phase]! + values[k]! * values[k]!
  }
  let whole = 0
  for (let p = 0; p < period; p++) if (n0[p]! > 0) whole += n2[p]! - (n1[p]! * n1[p]!) / n0[p]!
  const l0 = new Float64Array(period)
  const l1 = new Float64Array(period)
  const l2 = new Float64Array(period)
  let best = Number.POSITIVE_INFINITY
  let split = -1
  for (let k = from; k < to - minSide; k++) {
    const phase = at[k]! % period
    l0[phase] = l0[phase]! + 1
    l1[phase] = l1[phase]! + values[k]!
    l2[phase] = l2[phase]! + values[k]! * values[k]!
    if (k + 1 - from < minSide || (only !== undefined && k + 1 !== only)) continue
    let rss = 0
    for (let p = 0; p < period; p++) {
      if (l0[p]! > 0) rss += l2[p]! - (l1[p]! * l1[p]!) / l0[p]!
      const m = n0[p]! - l0[p]!
      if (m > 0) rss += n2[p]! - l2[p]! - ((n1[p]! - l1[p]!) * (n1[p]! - l1[p]!)) / m
    }
    if (rss < best) {
      best = rss
      split = k + 1
    }
  }
  return {rss: best, split, whole}
}

/** The weekly profile of residuals [from, to), centred on its median, when its F statistic exceeds SEASONAL_F. */
function phaseProfile(at: number[], r: number[], period: number, from: number, to: number): number[] | undefined {
  const groups: number[][] = Array.from({length: period}, () => [])
  for (let k = from; k < to; k++) groups[at[k]! % period]!.push(r[k]!)
  const used = groups.filter((g) => g.length >= 2)
  const count = used.reduce((a, g) => a + g.length, 0)
  if (used.length < period || count <= period) return undefined
  const grand = used.reduce((a, g) => a + g.reduce((s, v) => s + v, 0), 0) / count
  let between = 0
  let within = 0
  for (const g of used) {
    const mean = g.reduce((s, v) => s + v, 0) / g.length
    between += g.length * (mean - grand) ** 2
    within += g.reduce((s, v) => s + (v - mean) ** 2, 0)
  }
  const f = between / (period - 1) / (within / (count - period))
  if (!(f > SEASONAL_F)) return undefined
  const profile = groups.map((g) => (g.length > 0 ? median(g) : 0))
  const centre = median(profile)
  return profile.map((p) => p - centre)
}

interface SpikeRun {
  start: number
  end: number
}

/**
 * Runs of one or two points that leave the level on both sides by more than `threshold`, in the same
 * direction, while the two sides agree with each other (otherwise it is a step, not a spike).
 */
function findSpikes(z: number[], threshold: number, multiplier: number, zero: boolean[]): SpikeRun[] {
  const runs: SpikeRun[] = []
  if (!(threshold > 0)) return runs
  for (let start = 1; start < z.length - 1; start++) {
    // Cheap necessary condition first: a spike's first point clears the median of its left side, hence the
    // lowest (or highest) of those points, by more than the threshold.
    const v = z[start]!
    let lowest = Number.POSITIVE_INFINITY
    let highest = Number.NEGATIVE_INFINITY
    for (let j = Math.max(0, start - SPIKE_WINDOW); j < start; j++) {
      lowest = Math.min(lowest, z[j]!)
      highest = Math.max(highest, z[j]!)
    }
    if (!(v - lowest > threshold) && !(highest - v > threshold)) continue
    for (let length = 1; length <= SPIKE_MAX_RUN; length++) {
      const end = start + length
      if (end >= z.length) break
      const right = median(z.slice(end, end + SPIKE_WINDOW))
      const run = z.slice(start, end)
      // Only zero-usage days may take their level from the few points since a step (see leftLevel).
      const zeros = zero.slice(start, end).every(Boolean)
      const left = leftLevel(z, start, right, median(run), threshold, runs, zeros ? 1 : SPIKE_WINDOW)
      if (left === undefined) continue
      const up = run.every((v) => v - Math.max(left, right) > threshold)
      const down = run.every((v) => Math.min(left, right) - v > threshold)
      if (!up && !down) continue
      if (resumesAfterDip(z, start, end, left, threshold)) continue
      // Noise differs along a series (a sum whose largest part changes): the spike must also stand out locally.
      const around = [...z.slice(Math.max(0, start - LOCAL_WINDOW), start), ...z.slice(end, end + LOCAL_WINDOW)]
      const local = multiplier * madOfDifferences(around)
      const excursion = up ? Math.min(...run) - Math.max(left, right) : Math.min(left, right) - Math.max(...run)
      if (!(excursion > local)) continue
      runs.push({end, start})
      start = end - 1
      break
    }
  }
  return runs
}

/**
 * Whether the run [start, end) is the first day(s) of a new level that a short dip (zero-usage days, most often)
 * interrupts: within SPIKE_MAX_RUN points the series is back at the run's level for SPIKE_WINDOW points. Then the
 * run is where a step begins, not a spike.
 */
function resumesAfterDip(z: number[], start: number, end: number, left: number, threshold: number): boolean {
  const level = median(z.slice(start, end))
  // As blipCuts: levels far apart agree within a quarter of their distance.
  const tolerance = Math.max(threshold, Math.abs(level - left) / 4)
  for (let k = 1; k <= SPIKE_MAX_RUN && end + k + SPIKE_WINDOW <= z.length; k++) {
    if (Math.abs(median(z.slice(end + k, end + k + SPIKE_WINDOW)) - level) <= tolerance) return true
  }
  return false
}

/**
 * The level left of `start` that agrees with `right`: the median of the SPIKE_WINDOW points before (spikes already
 * found left out), or, when a step falls inside that window, of the fewer points since it, down to the one just
 * before, for zero-usage days (`fewest` 1). Zero days right after a step are thus a dip at the new level: the step
 * keeps its day. (Other values keep the whole window: on the TCPD series the fallback cut a currency crash.) Levels
 * agree
 * within `threshold`, or, as in blipCuts, within a quarter of their distance from the run.
 */
function leftLevel(
  z: number[],
  start: number,
  right: number,
  runLevel: number,
  threshold: number,
  runs: SpikeRun[],
  fewest: number,
): number | undefined {
  const nearest: number[] = []
  let run = runs.length - 1
  for (let i = start - 1; i >= 0 && nearest.length < SPIKE_WINDOW; i--) {
    while (run >= 0 && runs[run]!.start > i) run--
    if (run >= 0 && runs[run]!.end > i) continue
    nearest.push(z[i]!)
  }
  for (let points = nearest.length; points >= Math.min(fewest, nearest.length); points--) {
    const left = median(nearest.slice(0, points))
    const apart = Math.min(Math.abs(runLevel - left), Math.abs(runLevel - right))
    if (Math.abs(left - right) <= Math.max(threshold, apart / 4)) return left
  }
  return undefined
}

/**
 * 2 (or 1) when the last two points (or the last one) leave the level of the points before them by more than
 * `threshold`, in the same direction: a change that segmentation cannot see yet and spike screening cannot
 * judge (no right side yet). −1 when only the last point drops (a partial day, most likely). 0 otherwise.
 */
function tailJump(values: number[], threshold: number, runs: SpikeRun[]): -1 | 0 | 1 | 2 {
  if (!(threshold > 0)) return 0
  const n = values.length
  const leaves = (length: number) => {
    const start = n - length
    if (start < 2 * SPIKE_WINDOW || runs.some((r) => r.end > start - SPIKE_WINDOW)) return 0
    const level = median(values.slice(start - SPIKE_WINDOW, start))
    const tail = values.slice(start)
    if (tail.every((v) => v - level > threshold)) return 1
    if (tail.every((v) => level - v > threshold)) return -1
    return 0
  }
  if (leaves(2) !== 0) return 2
  const last = leaves(1)
  return last === 1 ? 1 : last === -1 ? -1 : 0
}

/**
 * Spikes that recur on the same phase (weekday) in several weeks are the series' weekly pattern, which the
 * profile did not remove (too irregular for the F-test): they are not spikes.
 */
function withoutRecurring(
  runs: SpikeRun[],
  observed: number[],
  length: number,
  period: number | undefined,
): SpikeRun[] {
  if (period === undefined || period < 2 || runs.length < PATTERN_WEEKS) return runs
  const weeksByPhase: Set<number>[] = Array.from({length: period}, () => new Set())
  for (const run of runs)
    for (let k = run.start; k < run.end; k++) {
      const i = observed[k]!
      weeksByPhase[i % period]!.add(Math.floor(i / period))
    }
  const enough = Math.max(PATTERN_WEEKS, 0.05 * (length / period))
  const recurring = weeksByPhase.map((weeks) => weeks.size >= enough)
  return runs.filter((run) => {
    for (let k = run.start; k < run.end; k++) if (recurring[observed[k]! % period]) return false
    return true
  })
}

/** Pairs of opposite cuts at most SPIKE_MAX_RUN points apart whose outer segments agree within `threshold`. */
function blipCuts(y: number[], cuts: number[], threshold: number): {cutIndex: number; start: number; end: number}[] {
  const blips: {cutIndex: number; start: number; end: number}[] = []
  const bounds = [0, ...cuts, y.length]
  const mean = (from: number, to: number) => {
    let sum = 0
    for (let t = from; t < to; t++) sum += y[t]!
    return sum / (to - from)
  }
  for (let i = 0; i + 1 < cuts.length; i++) {
    const start = cuts[i]!
    const end = cuts[i + 1]!
    if (end - start > SPIKE_MAX_RUN) continue
    const outerBefore = mean(bounds[i]!, start)
    const outerAfter = mean(end, bounds[i + 3]!)
    const inner = mean(start, end)
    const apart = Math.min(Math.abs(inner - outerBefore), Math.abs(inner - outerAfter))
    if (
      Math.abs(outerBefore - outerAfter) <= Math.max(threshold, apart / 4) &&
      Math.sign(inner - outerBefore) === Math.sign(inner - outerAfter)
    ) {
      blips.push({cutIndex: i, end, start})
      i++
    }
  }
  return blips
}

interface Ramp {
  /** The cuts the ramp replaces. */
  cuts: number[]
  /** Last point at the old level and first at the new one. */
  start: number
  end: number
  /** The segments around it: [from, start] before, [end, to) after. */
  from: number
  to: number
  /** A line's fitted values at its first and last point (analysed scale), its levels before and after. */
  levels?: [number, number]
}

/**
 * Runs of same-direction cuts (and single cuts) that a linear ramp between two levels explains better than a
 * staircase, its two knots paying a penalty each, less the allowance below: a slow change, a trend.
 */
function rampsAmong(y: number[], cuts: number[], variance: number, penalty: number): Ramp[] {
  if (cuts.length === 0 || !(variance > 0)) return []
  const n = y.length
  const s0 = new Float64Array(n + 1)
  const s1 = new Float64Array(n + 1)
  const s2 = new Float64Array(n + 1)
  const st = new Float64Array(n + 1)
  const stt = new Float64Array(n + 1)
  const sty = new Float64Array(n + 1)
  for (let t = 0; t < n; t++) {
    const v = y[t]!
    s0[t + 1] = s0[t]! + 1
    s1[t + 1] = s1[t]! + v
    s2[t + 1] = s2[t]! + v * v
    st[t + 1] = st[t]! + t
    stt[t + 1] = stt[t]! + t * t
    sty[t + 1] = sty[t]! + t * v
  }
  const range = (p: Float64Array, a: number, b: number) => p[b]! - p[a]!
  const rss = (a: number, b: number) => Math.max(0, range(s2, a, b) - range(s1, a, b) ** 2 / (b - a))
  // Least squares of y ≈ a·(1 − w) + b·w on [from, to), w = 0 up to `start`, 1 from `end`, linear between.
  const rampRss = (from: number, to: number, start: number, end: number) => {
    const width = end - start
    const inA = start + 1 - from
    const inB = to - end
    const m0 = range(s0, start + 1, end)
    // w = (t − start)/width on (start, end).
    const sw = (range(st, start + 1, end) - start * m0) / width
    const sww =
      (range(stt, start + 1, end) - 2 * start * range(st, start + 1, end) + start * start * m0) / (width * width)
    const swy = (range(sty, start + 1, end) - start * range(s1, start + 1, end)) / width
    const syMid = range(s1, start + 1, end)
    const suu = inA + (m0 - 2 * sw + sww)
    const suw = sw - sww
    const sWW = inB + sww
    const suy = range(s1, from, start + 1) + (syMid - swy)
    const swY = range(s1, end, to) + swy
    const det = suu * sWW - suw * suw
    if (!(Math.abs(det) > 1e-12)) return Number.POSITIVE_INFINITY
    const a = (suy * sWW - suw * swY) / det
    const b = (suu * swY - suw * suy) / det
    return Math.max(0, range(s2, from, to) - (a * suy + b * swY))
  }
  const means: number[] = []
  const bounds = [0, ...cuts, n]
  for (let i = 0; i + 1 < bounds.length; i++)
    means.push(range(s1, bounds[i]!, bounds[i + 1]!) / (bounds[i + 1]! - bounds[i]!))
  const ramps: Ramp[] = []
  // Each run of cuts is fitted once, however many of the runs around it are tried.
  const tried = new Map<number, {gain: number; ramp: Ramp}>()
  for (let i = 0; i < cuts.length;) {
    const direction = Math.sign(means[i + 1]! - means[i]!)
    let j = i
    while (
      j + 1 < cuts.length &&
      Math.sign(means[j + 2]! - means[j + 1]!) === direction &&
      cuts[j + 1]! - cuts[j]! <= RAMP_MAX_SEGMENT
    )
      j++
    ramps.push(...rampsIn(i, j))
    i = j + 1
  }
  return ramps.sort((a, b) => a.start - b.start)

  /** The gain (staircase cost less the ramp's) of one ramp for the cuts i..j, and that ramp. */
  function rampFor(i: number, j: number): {gain: number; ramp: Ramp} {
    const key = i * cuts.length + j
    const known = tried.get(key)
    if (known) return known
    const found = fitRamp(i, j)
    tried.set(key, found)
    return found
  }

  function fitRamp(i: number, j: number): {gain: number; ramp: Ramp} {
    const from = bounds[i]!
    const to = bounds[j + 2]!
    let steps = 0
    for (let k = i; k <= j + 1; k++) steps += rss(bounds[k]!, bounds[k + 1]!)
    let best = {end: 0, rss: Number.POSITIVE_INFINITY, start: 0}
    const first = cuts[i]!
    const last = cuts[j]!
    for (let start = Math.max(from + 1, first - RAMP_MAX_SEGMENT); start < first; start++) {
      for (let end = Math.max(last, start + RAMP_MIN_WIDTH); end <= Math.min(to - 2, last + RAMP_MAX_SEGMENT); end++) {
        const fit = rampRss(from, to, start, end)
        if (fit < best.rss) best = {end, rss: fit, start}
      }
    }
    // Two or more steps the same way, each within RAMP_MAX_SEGMENT of the next, are the staircase a slow change is
    // cut into (unevenly by noise, or when it is not linear on the log scale: a ramp in one part of a sum). A
    // penalty buys a change's day and its new level; the ramp has two days but one new level, so against k steps
    // it pays 1.5 penalties, not 2: it may fit worse by the penalties of the steps beyond one and a half. A single
    // step keeps the whole two (its first day, part old level and part new, is no ramp), and so does a change that
    // took a day or two, cut twice (its cuts at most SPIKE_MAX_RUN apart count as one step).
    let count = 1
    for (let k = i + 1; k <= j; k++) if (cuts[k]! - cuts[k - 1]! > SPIKE_MAX_RUN) count++
    const allowance = count >= 2 ? (count - 1.5) * penalty : 0
    // The misfit is weighed in the series' noise and, where less, in the noise around these steps (a few large
    // changes inflate the series' estimate): the ramp must win in both, so clean steps a month apart stay steps.
    const local = steps / Math.max(1, to - from - (j - i + 2))
    const gainIn = (noise: number) => (steps - best.rss) / noise + (j - i + 1) * penalty + allowance - 2 * penalty
    const gain = local > 0 && local < variance ? Math.min(gainIn(variance), gainIn(local)) : gainIn(variance)
    return {
      gain,
      ramp: {cuts: cuts.slice(i, j + 1), end: best.end, from, start: best.start, to},
    }
  }

  /**
   * The ramps among the same-direction cuts i..j: the run of them a ramp gains most on, then the same on either side
   * of it. A staircase and a step beside it (a ramp, then a step a month later) are a ramp and a step.
   */
  function rampsIn(i: number, j: number): Ramp[] {
    if (i > j) return []
    let best: {gain: number; ramp: Ramp; a: number; b: number} | undefined
    for (let a = i; a <= j; a++)
      for (let b = a; b <= j; b++) {
        const found = rampFor(a, b)
        if (found.gain > 0 && (!best || found.gain > best.gain)) best = {...found, a, b}
      }
    if (!best) return []
    return [...rampsIn(i, best.a - 1), best.ramp, ...rampsIn(best.b + 1, j)]
  }
}

/** The split margin (RSS saved in noise units, less the penalty) of the tail [cut, end) against [from, cut). */
function tailMargin(clean: number[], from: number, cut: number, variance: number, penalty: number): number {
  if (!(variance > 0)) return Number.NEGATIVE_INFINITY
  const before = clean.slice(from, cut)
  const tail = clean.slice(cut)
  const mean = (values: number[]) => values.reduce((a, v) => a + v, 0) / values.length
  const shift = mean(tail) - mean(before)
  return (((before.length * tail.length) / (before.length + tail.length)) * (shift * shift)) / variance - penalty
}

/**
 * The pieces of a wandering series as lines (segmentLinear, at the series' penalty): the cuts between them with
 * their margins, and each line whose slope pays a penalty (its rise over its span, in noise units) as a ramp. A cut
 * where the lines jump by more than `threshold`, or between two flat lines, stays a step: a ramp beside it ends (or
 * starts) on its own last (or first) point. Any other cut is a turn, the edge of the ramps beside it.
 */
function turningLines(y: number[], penalty: number, threshold: number): TurningLines {
  const fit = segmentLinear(y, {penalty})
  const {changePoints: cuts, lines} = fit
  const sloped = lines.map((line) => {
    const m = line.end - line.start
    // Σ(t − t̄)² of m consecutive points: what the slope explains is slope² times it.
    return m >= RAMP_MIN_WIDTH && (line.slope * line.slope * ((m * (m * m - 1)) / 12)) / fit.variance > penalty
  })
  // Cut i lies between lines i and i + 1.
  const step = cuts.map((cut, i) => {
    const left = lines[i]!
    const jump = lines[i + 1]!.intercept - (left.intercept + left.slope * (cut - left.start))
    return Math.abs(jump) > threshold || (!sloped[i] && !sloped[i + 1])
  })
  const jumps = new Map<number, Jump>()
  cuts.forEach((cut, i) => {
    const left = lines[i]!
    const right = lines[i + 1]!
    if (step[i] && (sloped[i] || sloped[i + 1]))
      jumps.set(cut, {
        after: right.intercept,
        before: left.intercept + left.slope * (cut - 1 - left.start),
        pointsAfter: right.end - right.start,
        pointsBefore: left.end - left.start,
      })
  })
  const ramps: Ramp[] = []
  lines.forEach((line, i) => {
    if (!sloped[i]) return
    const m = line.end - line.start
    const stepBefore = i > 0 && step[i - 1]!
    const stepAfter = i < cuts.length && step[i]!
    const start = stepBefore ? line.start : Math.max(0, line.start - 1)
    const end = stepAfter ? line.end - 1 : Math.min(y.length - 1, line.end)
    ramps.push({
      cuts: cuts.filter((cut, k) => !step[k] && (cut === line.start || cut === line.end)),
      end,
      from: start,
      levels: [line.intercept, line.intercept + line.slope * (m - 1)],
      start,
      to: end + 1,
    })
  })
  return {
    autocorrelation: fit.autocorrelation,
    cuts,
    jumps,
    margins: fit.margins,
    ramps,
    rss: fit.rss,
    variance: fit.variance,
  }
}

/**
 * Whether the lines explain the series `y` better than the levels with their `cuts` (those inside `y`): weighed in the
 * same noise, the lines' misfit plus a penalty per cut and per sloped line (a trend's slope is one more number) is less
 * than the levels' misfit plus a penalty per change. Only a series with a trend among its lines is a question: flat
 * lines are levels.
 */
function linesExplainBetter(lines: TurningLines, y: number[], cuts: number[], penalty: number): boolean {
  if (lines.ramps.length === 0 || !(lines.variance > 0)) return false
  const levelCuts = cuts.filter((cut) => cut < y.length)
  const sums = new MeanCost(y, 1)
  const bounds = [0, ...levelCuts, y.length]
  let levelRss = 0
  for (let i = 0; i + 1 < bounds.length; i++) levelRss += sums.rss(bounds[i]!, bounds[i + 1]!)
  // Both fits weighed in the same noise: the less of the lines' and the levels' own (each the long-run variance of its
  // residuals), so neither wins by the misfit that inflates its own noise estimate.
  const levels = residualStats(y, levelCuts)
  const phi = levels.autocorrelation
  const levelNoise = levels.variance * ((1 + phi) / (1 - phi))
  const noise = levelNoise > 0 ? Math.min(lines.variance, levelNoise) : lines.variance
  // A change that took two or three days (cuts at most SPIKE_MAX_RUN apart) is one change, as elsewhere.
  const levelChanges = levelCuts.filter((cut, i) => i === 0 || cut - levelCuts[i - 1]! > SPIKE_MAX_RUN).length
  return (
    lines.rss / noise + penalty * (lines.cuts.length + lines.ramps.length) < levelRss / noise + penalty * levelChanges
  )
}

interface TurningLines {
  /** Lag-1 autocorrelation of the residuals from the lines. */
  autocorrelation: number
  cuts: number[]
  margins: number[]
  ramps: Ramp[]
  /** Residual sum of squares around the lines, and the long-run variance they were fitted with. */
  rss: number
  variance: number
  /** The steps beside a trend, by cut. */
  jumps: Map<number, Jump>
}

/** A step beside a trend: the lines' values on its two sides (analysed scale) and their lengths. */
interface Jump {
  before: number
  after: number
  pointsBefore: number
  pointsAfter: number
}
