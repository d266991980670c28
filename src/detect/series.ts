/**
 * The detector on one series with gaps: transform, weekly adjustment, spike screening, segmentation, and the
 * tentative check at the end. Works on index positions; `index.ts` maps them to days. No I/O.
 */
import {madOfDifferences, median, segmentMean} from './changepoint.js'

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
  /** Whether a weekly (period) profile was found and removed. */
  seasonal: boolean
  /** Long-run noise standard deviation on the analysed scale. */
  noise: number
}

export const DEFAULT_EVIDENCE_POINTS = 7
export const DEFAULT_SPIKE_THRESHOLD = 5
/** Neighbours on each side that define a spike's baseline. */
const SPIKE_WINDOW = 3
/** Longest run of points that still counts as a spike (a one- or two-day blip), not a step. */
const SPIKE_MAX_RUN = 2
/** Fewer observed points than this: too little to tell noise from change. */
const MIN_POINTS = 6
/** F statistic a weekly profile must exceed (p < 1e-4 for 6 and ≥ 40 degrees of freedom). */
const SEASONAL_F = 5.5

/** Analyses one series; `values[i]` null or NaN is a gap (a missing day, not a zero). */
export function analyseValues(values: ReadonlyArray<null | number>, options: SeriesOptions = {}): SeriesAnalysis {
  const observed: number[] = []
  for (let i = 0; i < values.length; i++) if (isNumber(values[i])) observed.push(i)
  const raw = observed.map((i) => values[i] as number)
  const scale = options.scale ?? defaultScale(raw)
  const transform = makeTransform(raw, scale)
  const empty: SeriesAnalysis = {noise: 0, seasonal: false, spikes: [], steps: []}
  if (observed.length < MIN_POINTS || transform === undefined) return empty

  let z = raw.map(transform)
  let seasonal = false
  if (options.period !== undefined && options.period > 1) {
    const profile = seasonalProfile(values.length, observed, z, options.period)
    if (profile) {
      z = z.map((v, k) => v - (profile[(observed[k] as number) % options.period!] as number))
      seasonal = true
    }
  }

  const scaleOfNoise = madOfDifferences(z)
  const threshold = (options.spikeThreshold ?? DEFAULT_SPIKE_THRESHOLD) * scaleOfNoise
  const spikeRuns = findSpikes(z, threshold)
  const isSpike = new Uint8Array(z.length)
  for (const run of spikeRuns) for (let k = run.start; k < run.end; k++) isSpike[k] = 1
  const kept: number[] = []
  for (let k = 0; k < z.length; k++) if (!isSpike[k]) kept.push(k)
  const clean = kept.map((k) => z[k] as number)

  // A jump in the last one or two points is too short to be a segment: segment the rest, then test the jump
  // against the last segment with the same penalty. Without this, PELT pairs the jump with its neighbour.
  let segmentation = segmentMean(clean)
  const cuts = [...segmentation.changePoints]
  const margins = [...segmentation.margins]
  const tailLength = tailJump(clean, threshold)
  if (tailLength > 0) {
    const body = clean.slice(0, clean.length - tailLength)
    const bodySegmentation = segmentMean(body)
    const margin = tailMargin(clean, bodySegmentation.changePoints.at(-1) ?? 0, body.length, bodySegmentation.variance, bodySegmentation.penalty)
    if (margin > 0) {
      segmentation = bodySegmentation
      cuts.splice(0, cuts.length, ...bodySegmentation.changePoints, body.length)
      margins.splice(0, margins.length, ...bodySegmentation.margins, margin)
    }
  }

  const bounds = [0, ...cuts, clean.length]
  const evidence = options.evidencePoints ?? DEFAULT_EVIDENCE_POINTS
  const rawKept = kept.map((k) => raw[k] as number)
  const steps: IndexStep[] = cuts.map((cut, i) => {
    const before = rawKept.slice(bounds[i] as number, cut)
    const after = rawKept.slice(cut, bounds[i + 2] as number)
    const levelBefore = median(before)
    const levelAfter = median(after)
    const ratio = levelRatio(levelBefore, levelAfter, transform, scale)
    const tentative = after.length < evidence
    // Under the BIC approximation exp(margin/2) is the Bayes factor of "change" over "no change".
    const confidence = logistic((margins[i] as number) / 2) * (tentative ? after.length / evidence : 1)
    return {
      confidence,
      direction: ratio >= 1 ? 'up' : 'down',
      index: observed[kept[cut] as number] as number,
      levelAfter,
      levelBefore,
      pointsAfter: after.length,
      pointsBefore: before.length,
      ratio,
      tentative,
    }
  })

  const spikes: IndexSpike[] = []
  for (const run of spikeRuns) {
    const baseline = median([...raw.slice(Math.max(0, run.start - SPIKE_WINDOW), run.start), ...raw.slice(run.end, run.end + SPIKE_WINDOW)])
    for (let k = run.start; k < run.end; k++) {
      const value = raw[k] as number
      spikes.push({baseline, index: observed[k] as number, ratio: levelRatio(baseline, value, transform, scale), value})
    }
  }
  return {noise: Math.sqrt(segmentation.variance), seasonal, spikes, steps}
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
 * ln(x + c) with c a thousandth of the median positive value: zero days stay finite (three decades below the
 * typical level) and the result does not depend on the unit. Undefined when nothing is positive.
 */
function makeTransform(raw: number[], scale: Scale): ((v: number) => number) | undefined {
  if (scale === 'linear') return (v) => v
  const positive = raw.filter((v) => v > 0)
  if (positive.length === 0) return undefined
  const offset = 1e-3 * median(positive)
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
  observed.forEach((i, k) => (valueAt[i] = z[k] as number))
  const half = Math.floor(period / 2)
  const groups: number[][] = Array.from({length: period}, () => [])
  for (const i of observed) {
    const window: number[] = []
    for (let j = Math.max(0, i - half); j <= Math.min(length - 1, i + half); j++) if (!Number.isNaN(valueAt[j] as number)) window.push(valueAt[j] as number)
    if (window.length < period - 1) continue
    groups[i % period]!.push((valueAt[i] as number) - median(window))
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
function findSpikes(z: number[], threshold: number): SpikeRun[] {
  const runs: SpikeRun[] = []
  if (!(threshold > 0)) return runs
  for (let start = 1; start < z.length - 1; start++) {
    // Cheap necessary condition first: a spike's first point clears the median of its left side, hence the
    // lowest (or highest) of those points, by more than the threshold.
    const v = z[start] as number
    let lowest = Number.POSITIVE_INFINITY
    let highest = Number.NEGATIVE_INFINITY
    for (let j = Math.max(0, start - SPIKE_WINDOW); j < start; j++) {
      lowest = Math.min(lowest, z[j] as number)
      highest = Math.max(highest, z[j] as number)
    }
    if (!(v - lowest > threshold) && !(highest - v > threshold)) continue
    for (let length = 1; length <= SPIKE_MAX_RUN; length++) {
      const end = start + length
      if (end >= z.length) break
      const left = median(z.slice(Math.max(0, start - SPIKE_WINDOW), start))
      const right = median(z.slice(end, end + SPIKE_WINDOW))
      if (Math.abs(left - right) > threshold) continue
      const run = z.slice(start, end)
      const up = run.every((v) => v - Math.max(left, right) > threshold)
      const down = run.every((v) => Math.min(left, right) - v > threshold)
      if (!up && !down) continue
      runs.push({end, start})
      start = end - 1
      break
    }
  }
  return runs
}

/**
 * 1 or 2 when the last one or two points all leave the level of the points before them by more than
 * `threshold`, in the same direction: a change that segmentation cannot see yet and spike screening cannot
 * judge (no right side yet). 0 otherwise.
 */
function tailJump(clean: number[], threshold: number): number {
  if (!(threshold > 0)) return 0
  for (const length of [1, 2]) {
    const start = clean.length - length
    if (start < 2 * SPIKE_WINDOW) continue
    const level = median(clean.slice(start - SPIKE_WINDOW, start))
    const tail = clean.slice(start)
    if (tail.every((v) => v - level > threshold) || tail.every((v) => level - v > threshold)) return length
  }
  return 0
}

/** The split margin (RSS saved in noise units, less the penalty) of the tail [cut, end) against [from, cut). */
function tailMargin(clean: number[], from: number, cut: number, variance: number, penalty: number): number {
  if (!(variance > 0)) return Number.NEGATIVE_INFINITY
  const before = clean.slice(from, cut)
  const tail = clean.slice(cut)
  const mean = (values: number[]) => values.reduce((a, v) => a + v, 0) / values.length
  const shift = mean(tail) - mean(before)
  return ((before.length * tail.length) / (before.length + tail.length)) * (shift * shift) / variance - penalty
}
