/**
 * The detector on one series with gaps: transform, weekly adjustment, spike screening, segmentation, and the
 * tentative check at the end. Works on index positions; `index.ts` maps them to days. No I/O.
 */
import {DEFAULT_MIN_SEGMENT, madOfDifferences, median, segmentMean} from './changepoint.js'

export type Scale = 'linear' | 'log'

export interface SeriesOptions {
  /**
   * 'log' for multiplicative data, 'linear' for additive. Default: chosen from the data (`defaultScale`),
   * the same rule for a billing series and for any benchmark series.
   */
  scale?: Scale
  /**
   * Seasonal period in points (7 for daily data). The weekly profile is removed only when an F-test finds
   * it (see `seasonalProfile`). Default none.
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

/** Analyses one series; `values[i]` null or NaN is a gap (a missing day, not a zero). */
export function analyseValues(values: readonly (null | number)[], options: SeriesOptions = {}): SeriesAnalysis {
  const observed: number[] = []
  for (let i = 0; i < values.length; i++) if (isNumber(values[i])) observed.push(i)
  const raw = observed.map((i) => values[i]!)
  const scale = options.scale ?? defaultScale(raw)
  const transform = makeTransform(raw, scale)
  const empty: SeriesAnalysis = {noise: 0, seasonal: false, spikes: [], steps: [], trends: []}
  if (observed.length < MIN_POINTS || transform === undefined) return empty

  let z = raw.map(transform)
  let seasonal = false
  if (options.period !== undefined && options.period > 1) {
    const profile = seasonalProfile(values.length, observed, z, options.period)
    if (profile) {
      z = z.map((v, k) => v - profile[observed[k]! % options.period!]!)
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
  const partialTail = tailJump(z, threshold, spikeRuns) === -1
  const excluded = new Uint8Array(z.length)
  for (const run of spikeRuns) for (let k = run.start; k < run.end; k++) excluded[k] = 1
  if (partialTail) excluded[z.length - 1] = 1
  const kept: number[] = []
  for (let k = 0; k < z.length; k++) if (!excluded[k]) kept.push(k)
  const clean = kept.map((k) => z[k]!)

  // A jump in the last one or two points is too short to be a segment: segment the rest, then test the jump
  // against the last segment with the same penalty. Without this, PELT pairs the jump with its neighbour.
  let segmentation = segmentMean(clean)
  let {changePoints: cuts, margins} = refine(
    clean,
    segmentation.changePoints,
    segmentation.margins,
    segmentation.penalty,
  )
  const tailLength = Math.max(0, tailJump(clean, threshold, []))
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
    }
  }

  // PELT cannot cut one point out, but it can cut out two or three: a short excursion whose two sides agree is
  // a spike, whatever the screening above made of it.
  const blips = blipCuts(clean, cuts, threshold)
  for (const blip of blips) spikeRuns.push({end: kept[blip.end - 1]! + 1, start: kept[blip.start]!})
  spikeRuns = spikeRuns.sort((a, b) => a.start - b.start)
  const ramps = rampsAmong(
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
      const levelBefore = median(before)
      const levelAfter = median(after)
      const ratio = levelRatio(levelBefore, levelAfter, transform, scale)
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
        pointsAfter: after.length,
        pointsBefore: before.length,
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
  const last = steps.at(-1)
  if (last?.direction === 'down' && last.pointsAfter <= 2) steps.pop()
  const trends: IndexTrend[] = ramps.map((ramp) => {
    const levelBefore = median(rawKept.slice(ramp.from, ramp.start + 1))
    const levelAfter = median(rawKept.slice(ramp.end, ramp.to))
    const ratio = levelRatio(levelBefore, levelAfter, transform, scale)
    return {
      direction: ratio >= 1 ? 'up' : 'down',
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
      spikes.push({baseline, index: observed[k]!, ratio: levelRatio(baseline, value, transform, scale), value})
    }
  }
  return {noise: Math.sqrt(segmentation.variance), seasonal, spikes, steps, trends}
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
function makeTransform(raw: number[], scale: Scale): ((v: number) => number) | undefined {
  if (scale === 'linear') return (v) => v
  const positive = raw.filter((v) => v > 0)
  if (positive.length === 0) return undefined
  const sorted = Float64Array.from(positive).sort()
  const offset = 1e-3 * sorted[Math.floor(0.05 * (sorted.length - 1))]!
  return (v) => Math.log(Math.max(0, v) + offset)
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
 * which holds every phase once and so carries no seasonality itself. Returned only when the one-way F statistic
 * of the residuals by phase exceeds SEASONAL_F; centred on its median.
 */
function seasonalProfile(length: number, observed: number[], z: number[], period: number): number[] | undefined {
  if (observed.length < 4 * period) return undefined
  const valueAt = new Float64Array(length).fill(Number.NaN)
  observed.forEach((i, k) => (valueAt[i] = z[k]!))
  const half = Math.floor(period / 2)
  const groups: number[][] = Array.from({length: period}, () => [])
  for (const i of observed) {
    const window: number[] = []
    for (let j = Math.max(0, i - half); j <= Math.min(length - 1, i + half); j++)
      if (!Number.isNaN(valueAt[j]!)) window.push(valueAt[j]!)
    if (window.length < period - 1) continue
    groups[i % period]!.push(valueAt[i]! - median(window))
  }
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
}

/**
 * Runs of same-direction cuts (and single cuts) that a linear ramp between two levels explains better than a
 * staircase, with its two knots paying the same penalty per change as the cuts: a slow change, a trend.
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
  for (let i = 0; i < cuts.length;) {
    const direction = Math.sign(means[i + 1]! - means[i]!)
    let j = i
    while (
      j + 1 < cuts.length &&
      Math.sign(means[j + 2]! - means[j + 1]!) === direction &&
      cuts[j + 1]! - cuts[j]! <= RAMP_MAX_SEGMENT
    )
      j++
    const from = bounds[i]!
    const to = bounds[j + 2]!
    let staircase = (j - i + 1) * penalty
    for (let k = i; k <= j + 1; k++) staircase += rss(bounds[k]!, bounds[k + 1]!) / variance
    let best = {cost: Number.POSITIVE_INFINITY, end: 0, start: 0}
    const first = cuts[i]!
    const last = cuts[j]!
    for (let start = Math.max(from + 1, first - RAMP_MAX_SEGMENT); start < first; start++) {
      for (let end = Math.max(last, start + RAMP_MIN_WIDTH); end <= Math.min(to - 2, last + RAMP_MAX_SEGMENT); end++) {
        const cost = rampRss(from, to, start, end) / variance + 2 * penalty
        if (cost < best.cost) best = {cost, end, start}
      }
    }
    // Three or more steps the same way, each within RAMP_MAX_SEGMENT of the next, are the staircase a slow
    // change is cut into when it is not linear on the log scale (a ramp in one part of a sum): the ramp's two
    // knots stand for all of them, so it may fit worse by the penalties of the steps beyond two.
    const allowance = Math.max(0, j - i + 1 - 2) * penalty
    if (best.cost < staircase + allowance)
      ramps.push({cuts: cuts.slice(i, j + 1), end: best.end, from, start: best.start, to})
    i = j + 1
  }
  return ramps
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
