/**
 * Step and spike detection on daily series: the pure core that `billwatch anomalies` and the AWS Lambda share.
 * No store, no Node-only imports. See changepoint.ts for the method and series.ts for the pipeline.
 */
import {BillwatchError} from '../errors.js'
import {analyseValues, type IndexSpike, type IndexStep, type IndexTrend, type SeriesOptions} from './series.js'

export {defaultPenalty, madOfDifferences, median, pelt, segmentMean, type Segmentation} from './changepoint.js'
export {
  analyseValues,
  type IndexSpike,
  type IndexStep,
  type IndexTrend,
  type Scale,
  type SeriesAnalysis,
  type SeriesOptions,
} from './series.js'

export interface DayValue {
  /** UTC day, YYYY-MM-DD. */
  day: string
  value: number
}

export interface DayStep extends Omit<IndexStep, 'index'> {
  /** First day at the new level. */
  date: string
  /** Last observed day before it. */
  lastDayBefore: string
}

export interface DaySpike extends Omit<IndexSpike, 'index'> {
  date: string
}

/** A slow change: the first and last day of the ramp, the levels on either side. */
export interface DayTrend extends Omit<IndexTrend, 'end' | 'start'> {
  firstDay: string
  lastDay: string
}

export interface DayDetection {
  steps: DayStep[]
  spikes: DaySpike[]
  trends: DayTrend[]
  /** Whether a weekly profile was found and removed before detection. */
  weekly: boolean
  /** Whether the last day was left out as a partial day (see SeriesOptions.lastPartial). */
  partialLastDay: boolean
}

/** `minRatio` also leaves out spikes and trends smaller than it. */
export type DetectOptions = Omit<SeriesOptions, 'period'>

const DAY_MS = 86_400_000
const DAY = /^\d{4}-\d{2}-\d{2}$/

/**
 * Steps and spikes in a daily series. Days not listed are gaps (not zeros); usage spanning an order of
 * magnitude is analysed on the log scale (see defaultScale), with a weekly profile removed when the data has one.
 *
 * @example detectSteps([{day: '2014-03-29', value: 4.4e6}, {day: '2014-03-30', value: 8.9e9}, …])
 */
export function detectSteps(points: readonly DayValue[], options: DetectOptions = {}): DayDetection {
  const sorted = [...points].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0))
  if (sorted.length === 0) return {partialLastDay: false, spikes: [], steps: [], trends: [], weekly: false}
  const first = dayNumber(sorted[0]!.day)
  const last = dayNumber(sorted.at(-1)!.day)
  const values = new Float64Array(last - first + 1).fill(Number.NaN)
  for (const point of sorted) {
    const at = dayNumber(point.day) - first
    values[at] = (Number.isNaN(values[at]!) ? 0 : values[at]!) + point.value
  }
  return detectDaily(values, first, options)
}

/** `detectSteps` on one value per day from day number `first` on; NaN is a gap. */
export function detectDaily(values: ArrayLike<number>, first: number, options: DetectOptions = {}): DayDetection {
  const list = Array.from(values, (v) => (Number.isNaN(v) ? null : v))
  // Phase of index mod 7 is the weekday, whatever day the series starts on.
  const analysis = analyseValues(list, {...options, period: 7})
  const dayOf = (index: number) => dayString(first + index)
  const observedBefore = (index: number) => {
    for (let i = index - 1; i >= 0; i--) if (list[i] !== null) return dayOf(i)
    return dayOf(index)
  }
  const minRatio = options.minRatio ?? 1
  const strongEnough = (ratio: number) => Number.isNaN(ratio) || Math.max(ratio, 1 / ratio) >= minRatio
  return {
    spikes: analysis.spikes
      .filter((s) => strongEnough(s.ratio))
      .map(({index, ...rest}) => ({date: dayOf(index), ...rest})),
    // analyseValues has already dropped the steps under minRatio (and measured their neighbours without them).
    steps: analysis.steps.map(({index, ...rest}) => ({
      date: dayOf(index),
      lastDayBefore: observedBefore(index),
      ...rest,
    })),
    trends: analysis.trends
      .filter((t) => strongEnough(t.ratio))
      .map(({end, start, ...rest}) => ({firstDay: dayOf(start), lastDay: dayOf(end), ...rest})),
    weekly: analysis.seasonal,
    partialLastDay: analysis.partialLast,
  }
}

/**
 * Change points of a generic series (e.g. a TCPD benchmark series): 0-based index of the first point of each
 * new segment. Same pipeline and defaults as `detectSteps`, minus the calendar.
 */
export function detectChangePoints(values: readonly (null | number)[], options: SeriesOptions = {}): number[] {
  const analysis = analyseValues(values, options)
  const steps = analysis.steps.map((s) => s.index)
  const changes = new Set(steps)
  // A trend's first point and the first point after it (its start is the last point before it), unless a step
  // beside it is that change.
  const edge = (index: number) => {
    if (!steps.some((s) => Math.abs(s - index) <= 1)) changes.add(index)
  }
  for (const trend of analysis.trends) {
    if (trend.start > 0) edge(trend.start + 1)
    if (trend.end < values.length - 1) edge(trend.end)
  }
  return [...changes].sort((a, b) => a - b)
}

/** Epoch ms of a UTC day's midnight; NaN unless `day` is a real day written YYYY-MM-DD. */
function dayStartMs(day: string): number {
  const ms = DAY.test(day) ? Date.parse(`${day}T00:00:00Z`) : Number.NaN
  // V8 reads 2014-02-30 as 2014-03-02: only a day that prints back as given is real.
  return Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== day ? Number.NaN : ms
}

/** Whether `value` is a real UTC day written YYYY-MM-DD (callers word their own error). */
export function isDay(value: string): boolean {
  return !Number.isNaN(dayStartMs(value))
}

export function dayNumber(day: string): number {
  const ms = dayStartMs(day)
  if (Number.isNaN(ms))
    throw new BillwatchError('E_VALUE', 'bad day', {expected: 'a day YYYY-MM-DD', field: 'day', got: day})
  return Math.round(ms / DAY_MS)
}

export function dayString(dayNumberValue: number): string {
  return new Date(dayNumberValue * DAY_MS).toISOString().slice(0, 10)
}

/** `value` rounded to `digits` decimals; NaN and ±Infinity pass through. */
export function round(value: number, digits: number): number {
  if (!Number.isFinite(value)) return value
  const f = 10 ** digits
  return Math.round(value * f) / f
}
