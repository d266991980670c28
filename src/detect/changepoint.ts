/**
 * Change-point search on a plain number array. Pure arithmetic, no I/O: the AWS Lambda bundle imports it.
 *
 * Model: piecewise-constant mean plus noise. For a given noise variance σ², PELT (Killick, Fearnhead & Eckley
 * 2012) finds the exact minimum of  Σ RSS(segment)/σ² + β·(number of changes)  with β = 3·ln n, the value of
 * the R changepoint package's MBIC penalty. σ² is not given: `segmentMean` estimates it as the long-run
 * variance of the within-segment residuals, σ²·(1+φ)/(1−φ) with φ their lag-1 autocorrelation, and repeats
 * segmentation and estimate until they agree. Independent noise (φ ≈ 0) keeps σ² at the noise level, so a 2x
 * step in a quiet series is found; trends, weekly patterns and slow drifts leave correlated residuals
 * (φ → 1), which raises σ² and keeps them from being cut into spurious steps.
 */

export interface ChangePointOptions {
  /** Shortest segment, in points. Default 2. */
  minSegment?: number
  /** Penalty per change on the cost's scale (RSS/σ²). Default 3·ln n. */
  penalty?: number
}

export interface Segment {
  /** First index (inclusive) and end (exclusive). */
  start: number
  end: number
  mean: number
}

export interface Segmentation {
  /** Index of the first point of each new segment (ascending, never 0). */
  changePoints: number[]
  segments: Segment[]
  /** Long-run noise variance the segmentation was made with. */
  variance: number
  /** Lag-1 autocorrelation of the within-segment residuals. */
  autocorrelation: number
  penalty: number
  /** Per change: cost(merged neighbours) − cost(split) − penalty, on the RSS/σ² scale. Positive by construction. */
  margins: number[]
}

export const DEFAULT_MIN_SEGMENT = 2
/** φ is capped so (1+φ)/(1−φ) stays finite: at most a 199-fold variance inflation. */
const MAX_AUTOCORRELATION = 0.99
const MAX_ROUNDS = 20

/**
 * Gaussian change-in-mean cost with a known noise variance σ²: a segment costs its residual sum of squares / σ²
 * (twice its negative log-likelihood, constants dropped). Prefix sums make every segment O(1).
 */
export class MeanCost {
  /** Prefix sums of the values and of their squares (index i: the first i points). */
  readonly s1: Float64Array
  readonly s2: Float64Array

  constructor(
    y: readonly number[],
    readonly variance: number,
  ) {
    const n = y.length
    this.s1 = new Float64Array(n + 1)
    this.s2 = new Float64Array(n + 1)
    for (let i = 0; i < n; i++) {
      const v = y[i]!
      this.s1[i + 1] = this.s1[i]! + v
      this.s2[i + 1] = this.s2[i]! + v * v
    }
  }

  mean(start: number, end: number): number {
    return (this.s1[end]! - this.s1[start]!) / (end - start)
  }

  /** Residual sum of squares around the segment mean. */
  rss(start: number, end: number): number {
    return rssOf(this.s1, this.s2, start, end)
  }

  cost(start: number, end: number): number {
    return this.rss(start, end) / this.variance
  }
}

/** Residual sum of squares of y[start, end) around its mean, from the prefix sums of y and y². */
function rssOf(s1: Float64Array, s2: Float64Array, start: number, end: number): number {
  const sum = s1[end]! - s1[start]!
  const sq = s2[end]! - s2[start]!
  return Math.max(0, sq - (sum * sum) / (end - start))
}

/** PELT: the optimal change points for a fixed noise variance. */
export function pelt(y: readonly number[], variance: number, options: ChangePointOptions = {}): number[] {
  return peltOn(new MeanCost(y, 1), y.length, variance, options)
}

interface PeltArrays {
  best: Float64Array
  last: Int32Array
  starts: Int32Array
  prunedAt: Float64Array
  values: Float64Array
  low: Float64Array
  high: Float64Array
}

let peltArrays: PeltArrays | undefined

/**
 * peltOn's and linearPeltOn's arrays, at least `length` long: one set, reused (seven new arrays a call made GC a sixth
 * of peltOn's time). Neither calls the other, so one set serves both.
 */
function peltScratch(length: number): PeltArrays {
  if (!peltArrays || peltArrays.best.length < length) {
    const size = Math.max(length, 2 * (peltArrays?.best.length ?? 256))
    peltArrays = {
      best: new Float64Array(size),
      high: new Float64Array(size),
      last: new Int32Array(size),
      low: new Float64Array(size),
      prunedAt: new Float64Array(size),
      starts: new Int32Array(size),
      values: new Float64Array(size),
    }
  }
  return peltArrays
}

/**
 * PELT on a series' prefix sums, with the segment cost rss/variance (the variance the sums were built with is
 * not used): segmentMean reuses one set of sums for every variance it tries.
 */
function peltOn(sums: MeanCost, n: number, variance: number, options: ChangePointOptions): number[] {
  const minSegment = Math.max(1, options.minSegment ?? DEFAULT_MIN_SEGMENT)
  const penalty = options.penalty ?? defaultPenalty(n)
  if (n < 2 * minSegment || !(variance > 0)) return []
  const {s1, s2} = sums
  // Candidate starts, and when the pruning test first held for each (Infinity: never yet). Typed arrays
  // compacted in place: this loop is the detector's hot path (1,000 series × 365 days in the bench). Per
  // candidate too, the segment means it could still win with (see the pruning below): [low, high].
  const {best, high, last, low, prunedAt, starts, values} = peltScratch(n + 1)
  last.fill(-1, 0, n + 1)
  best[0] = -penalty
  // The slack that pruning by means leaves: far more than the rounding of any value compared here (the squares'
  // prefix sums, divided by the variance, set its scale), so a start it drops is worse by more than rounding.
  const slackScale = 1e-9 * (s2[n]! / variance + penalty)
  const byMeans = Number.isFinite(slackScale)
  let count = 1
  starts[0] = 0
  prunedAt[0] = Number.POSITIVE_INFINITY
  low[0] = Number.NEGATIVE_INFINITY
  high[0] = Number.POSITIVE_INFINITY
  for (let t = minSegment; t <= n; t++) {
    // A start pruned at u is dominated by u for every end ≥ u + minSegment, not before (Killick et al. §3.1): those
    // go, and the others are costed, in one pass.
    const s1t = s1[t]!
    const s2t = s2[t]!
    let kept = 0
    let bestValue = Number.POSITIVE_INFINITY
    let bestStart = -1
    for (let i = 0; i < count; i++) {
      const pruned = prunedAt[i]!
      if (pruned <= t - minSegment) continue
      const start = starts[i]!
      starts[kept] = start
      prunedAt[kept] = pruned
      low[kept] = low[i]!
      high[kept] = high[i]!
      const sum = s1t - s1[start]!
      const rss = s2t - s2[start]! - (sum * sum) / (t - start)
      const value = best[start]! + Math.max(0, rss) / variance + penalty
      values[kept] = value
      kept++
      if (value < bestValue) {
        bestValue = value
        bestStart = start
      }
    }
    count = kept
    best[t] = bestValue
    last[t] = bestStart
    // Splitting never raises RSS, so a start already worse than the optimum without its penalty never wins again.
    // Nor does one whose segment, at every mean, costs more than a new segment from t would (functional pruning,
    // Maidstone et al. 2017): the start t costs best[t] + penalty at any mean, start s costs best[s] + penalty +
    // Σ(y − μ)²/variance over [s, t), and both then add the same terms. So s can win only at means μ with
    // (t − s)(μ − mean)² ≤ (best[t] + penalty − value)·variance: an interval, narrowed at every t; once empty, s
    // never wins again. The slack widens each interval, so only a start worse by more than rounding goes: the
    // optimum, and the start chosen among equal ones, stay exactly those found without it.
    const slack = slackScale + 1e-9 * Math.abs(bestValue)
    for (let i = 0; i < count; i++) {
      if (prunedAt[i] !== Number.POSITIVE_INFINITY) continue
      const behind = values[i]! - penalty - bestValue
      if (behind > 0) {
        prunedAt[i] = t
        continue
      }
      if (!byMeans) continue
      const start = starts[i]!
      const length = t - start
      const mean = (s1t - s1[start]!) / length
      const radius = Math.sqrt(((slack - behind) * variance) / length)
      const from = Math.max(low[i]!, mean - radius)
      const to = Math.min(high[i]!, mean + radius)
      low[i] = from
      high[i] = to
      if (from > to) prunedAt[i] = t
    }
    const next = t - minSegment + 1
    if (next >= minSegment) {
      starts[count] = next
      prunedAt[count] = Number.POSITIVE_INFINITY
      low[count] = Number.NEGATIVE_INFINITY
      high[count] = Number.POSITIVE_INFINITY
      count++
    }
  }
  return changePointsOf(last, n)
}

export function defaultPenalty(n: number): number {
  return 3 * Math.log(Math.max(n, 2))
}

/** The optimal segmentation's change points, read back from each end's best last start (`last`, -1: none). */
function changePointsOf(last: Int32Array, n: number): number[] {
  const changePoints: number[] = []
  for (let t = n; t > 0; t = last[t]!) {
    const s = last[t]!
    if (s <= 0) break
    changePoints.push(s)
  }
  return changePoints.reverse()
}

interface NoiseFit {
  variance: number
  autocorrelation: number
  changePoints: number[]
}

/**
 * Segments with a noise variance and re-estimates it from the residuals (their long-run variance: the plain one
 * inflated by their lag-1 autocorrelation) until the change points repeat. `settleOnNoChange`: stop once no change
 * is found and the estimate grows, since none would be found at any larger variance (true of levels).
 */
function fitNoise(
  start: {variance: number; autocorrelation: number},
  search: (variance: number) => number[],
  residuals: (changePoints: number[]) => {variance: number; autocorrelation: number},
  settleOnNoChange: boolean,
): NoiseFit {
  let {variance, autocorrelation} = start
  let changePoints: number[] = []
  const seen = new Set<string>()
  for (let round = 0; round < MAX_ROUNDS && variance > 0; round++) {
    changePoints = search(variance)
    const key = changePoints.join(',')
    if (seen.has(key)) break
    seen.add(key)
    const residual = residuals(changePoints)
    autocorrelation = residual.autocorrelation
    const next = residual.variance * ((1 + autocorrelation) / (1 - autocorrelation))
    // A perfect fit (all residuals zero) leaves nothing to estimate noise from: keep the last segmentation.
    if (!(next > 0)) break
    const settled = settleOnNoChange && changePoints.length === 0 && next >= variance
    variance = next
    if (settled) break
  }
  return {autocorrelation, changePoints, variance}
}

/**
 * Piecewise-constant segmentation with the noise variance estimated from the data (see the module comment).
 * Starts from the plain variance of the series, the most conservative guess, and iterates to a fixed point.
 */
export function segmentMean(y: readonly number[], options: ChangePointOptions = {}): Segmentation {
  const n = y.length
  const penalty = options.penalty ?? defaultPenalty(n)
  // One set of prefix sums for every round (the variance only divides their residual sums of squares).
  const sums = new MeanCost(y, 1)
  const {autocorrelation, changePoints, variance} = fitNoise(
    {autocorrelation: 0, variance: n > 0 ? sums.rss(0, n) / n : 0},
    (v) => peltOn(sums, n, v, {...options, penalty}),
    (cps) => residualStats(y, cps),
    true,
  )
  return describe(y, changePoints, variance, autocorrelation, penalty)
}

/** The residuals around the levels between `changePoints`: their variance and lag-1 autocorrelation (0 to 0.99). */
export function residualStats(
  y: readonly number[],
  changePoints: number[],
): {variance: number; autocorrelation: number} {
  const bounds = [0, ...changePoints, y.length]
  let sumSquares = 0
  let lagProducts = 0
  for (let i = 0; i + 1 < bounds.length; i++) {
    const start = bounds[i]!
    const end = bounds[i + 1]!
    let mean = 0
    for (let t = start; t < end; t++) mean += y[t]!
    mean /= end - start
    let previous = Number.NaN
    for (let t = start; t < end; t++) {
      const r = y[t]! - mean
      sumSquares += r * r
      if (t > start) lagProducts += r * previous
      previous = r
    }
  }
  const variance = sumSquares / y.length
  const autocorrelation = sumSquares > 0 ? Math.min(MAX_AUTOCORRELATION, Math.max(0, lagProducts / sumSquares)) : 0
  return {autocorrelation, variance}
}

function describe(
  y: readonly number[],
  changePoints: number[],
  variance: number,
  autocorrelation: number,
  penalty: number,
): Segmentation {
  const n = y.length
  const bounds = [0, ...changePoints, n]
  const costs = new MeanCost(y, variance > 0 ? variance : 1)
  const segments: Segment[] = []
  for (let i = 0; i + 1 < bounds.length; i++) {
    const start = bounds[i]!
    const end = bounds[i + 1]!
    if (end > start) segments.push({end, mean: costs.mean(start, end), start})
  }
  const margins = changePoints.map((cp, i) => {
    const start = bounds[i]!
    const end = bounds[i + 2]!
    return costs.cost(start, end) - costs.cost(start, cp) - costs.cost(cp, end) - penalty
  })
  return {autocorrelation, changePoints, margins, penalty, segments, variance}
}

/** Robust noise scale: MAD of first differences / √2, consistent for Gaussian noise and blind to level shifts. */
export function madOfDifferences(y: readonly number[]): number {
  if (y.length < 3) return 0
  const diffs: number[] = []
  for (let i = 1; i < y.length; i++) diffs.push(Math.abs(y[i]! - y[i - 1]!))
  return (1.4826 * median(diffs)) / Math.SQRT2
}

/** Sorted in place by median: one buffer, grown as needed, not a new array per call (the detector takes thousands). */
let medianScratch = new Float64Array(512)

export function median(values: readonly number[]): number {
  const n = values.length
  if (n === 0) return Number.NaN
  if (medianScratch.length < n) medianScratch = new Float64Array(Math.max(n, 2 * medianScratch.length))
  const sorted = medianScratch.subarray(0, n)
  sorted.set(values)
  sorted.sort()
  const mid = n >> 1
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** One piece of a piecewise-linear fit: y ≈ intercept + slope·(t − start) on [start, end). */
export interface Line {
  start: number
  end: number
  intercept: number
  slope: number
}

export interface LinearSegmentation {
  /** Index of the first point of each new piece (ascending, never 0). */
  changePoints: number[]
  lines: Line[]
  /** Long-run noise variance the segmentation was made with, and the residuals' lag-1 autocorrelation. */
  variance: number
  autocorrelation: number
  penalty: number
  /** Per change: as Segmentation's, with the lines' costs. */
  margins: number[]
  /** Residual sum of squares around the lines. */
  rss: number
}

/** Shortest piece of a piecewise-linear fit: two points fit any line exactly. */
export const LINEAR_MIN_SEGMENT = 3

/** Prefix sums for the least-squares line of any range [a, b) in O(1). */
class LineCost {
  private readonly s1: Float64Array
  private readonly s2: Float64Array
  private readonly st: Float64Array
  private readonly stt: Float64Array
  private readonly sty: Float64Array

  constructor(y: readonly number[]) {
    const n = y.length
    this.s1 = new Float64Array(n + 1)
    this.s2 = new Float64Array(n + 1)
    this.st = new Float64Array(n + 1)
    this.stt = new Float64Array(n + 1)
    this.sty = new Float64Array(n + 1)
    for (let t = 0; t < n; t++) {
      const v = y[t]!
      this.s1[t + 1] = this.s1[t]! + v
      this.s2[t + 1] = this.s2[t]! + v * v
      this.st[t + 1] = this.st[t]! + t
      this.stt[t + 1] = this.stt[t]! + t * t
      this.sty[t + 1] = this.sty[t]! + t * v
    }
  }

  /** Residual sum of squares of [a, b) around its least-squares line. */
  rss(a: number, b: number): number {
    const m = b - a
    const t = this.st[b]! - this.st[a]!
    const y = this.s1[b]! - this.s1[a]!
    const ctt = this.stt[b]! - this.stt[a]! - (t * t) / m
    const cty = this.sty[b]! - this.sty[a]! - (t * y) / m
    const cyy = this.s2[b]! - this.s2[a]! - (y * y) / m
    return Math.max(0, ctt > 1e-12 ? cyy - (cty * cty) / ctt : cyy)
  }

  line(a: number, b: number): Line {
    const m = b - a
    const t = this.st[b]! - this.st[a]!
    const y = this.s1[b]! - this.s1[a]!
    const ctt = this.stt[b]! - this.stt[a]! - (t * t) / m
    const cty = this.sty[b]! - this.sty[a]! - (t * y) / m
    const slope = ctt > 1e-12 ? cty / ctt : 0
    return {end: b, intercept: y / m + slope * (a - t / m), slope, start: a}
  }
}

/** PELT with the piecewise-linear cost (each piece's own least-squares line): the optimal cuts for a fixed variance. */
export function linearPelt(y: readonly number[], variance: number, options: {penalty?: number} = {}): number[] {
  return linearPeltOn(new LineCost(y), y.length, variance, options.penalty ?? defaultPenalty(y.length))
}

/** linearPelt on a series' prefix sums (segmentLinear reuses them for every variance it tries); as peltOn. */
function linearPeltOn(sums: LineCost, n: number, variance: number, penalty: number): number[] {
  const minSegment = LINEAR_MIN_SEGMENT
  if (n < 2 * minSegment || !(variance > 0)) return []
  const {best, last, prunedAt, starts, values} = peltScratch(n + 1)
  last.fill(-1, 0, n + 1)
  best[0] = -penalty
  let count = 1
  starts[0] = 0
  prunedAt[0] = Number.POSITIVE_INFINITY
  for (let t = minSegment; t <= n; t++) {
    let kept = 0
    let bestValue = Number.POSITIVE_INFINITY
    let bestStart = -1
    for (let i = 0; i < count; i++) {
      const pruned = prunedAt[i]!
      if (pruned <= t - minSegment) continue
      const start = starts[i]!
      starts[kept] = start
      prunedAt[kept] = pruned
      const value = best[start]! + sums.rss(start, t) / variance + penalty
      values[kept] = value
      kept++
      if (value < bestValue) {
        bestValue = value
        bestStart = start
      }
    }
    count = kept
    best[t] = bestValue
    last[t] = bestStart
    for (let i = 0; i < count; i++) {
      if (prunedAt[i] === Number.POSITIVE_INFINITY && values[i]! - penalty > bestValue) prunedAt[i] = t
    }
    const next = t - minSegment + 1
    if (next >= minSegment) {
      starts[count] = next
      prunedAt[count] = Number.POSITIVE_INFINITY
      count++
    }
  }
  return changePointsOf(last, n)
}

/**
 * Piecewise-linear segmentation (a change of level or of slope starts a new piece), with the noise variance
 * estimated as segmentMean does: the long-run variance of the residuals from the lines, iterated to a fixed point.
 */
export function segmentLinear(y: readonly number[], options: {penalty?: number} = {}): LinearSegmentation {
  const n = y.length
  const penalty = options.penalty ?? defaultPenalty(n)
  const sums = new LineCost(y)
  const {autocorrelation, changePoints, variance} = fitNoise(
    lineResiduals(y, sums, []),
    (v) => linearPeltOn(sums, n, v, penalty),
    (cps) => lineResiduals(y, sums, cps),
    false,
  )
  const bounds = [0, ...changePoints, n]
  const lines: Line[] = []
  for (let i = 0; i + 1 < bounds.length; i++) lines.push(sums.line(bounds[i]!, bounds[i + 1]!))
  const margins = changePoints.map(
    (cp, i) =>
      (sums.rss(bounds[i]!, bounds[i + 2]!) - sums.rss(bounds[i]!, cp) - sums.rss(cp, bounds[i + 2]!)) / variance -
      penalty,
  )
  let rss = 0
  for (let i = 0; i + 1 < bounds.length; i++) rss += sums.rss(bounds[i]!, bounds[i + 1]!)
  return {autocorrelation, changePoints, lines, margins, penalty, rss, variance}
}

function lineResiduals(
  y: readonly number[],
  sums: LineCost,
  changePoints: number[],
): {variance: number; autocorrelation: number} {
  const bounds = [0, ...changePoints, y.length]
  let sumSquares = 0
  let lagProducts = 0
  for (let i = 0; i + 1 < bounds.length; i++) {
    const {start, end, intercept, slope} = sums.line(bounds[i]!, bounds[i + 1]!)
    let previous = Number.NaN
    for (let t = start; t < end; t++) {
      const r = y[t]! - intercept - slope * (t - start)
      sumSquares += r * r
      if (t > start) lagProducts += r * previous
      previous = r
    }
  }
  const variance = y.length > 0 ? sumSquares / y.length : 0
  const autocorrelation = sumSquares > 0 ? Math.min(MAX_AUTOCORRELATION, Math.max(0, lagProducts / sumSquares)) : 0
  return {autocorrelation, variance}
}
