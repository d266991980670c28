/**
 * `billwatch anomalies`: the steps and spikes in the store's daily usage, with what each step costs.
 * correlate, explain and report call `analyseAnomalies` so they print the same figures as `anomalies --json`.
 */
import type {ProgressCallback} from '../core/progress.js'
import {dayNumber, isDay} from '../detect/index.js'
import {BillwatchError} from '../errors.js'
import type {Store} from '../store/index.js'
import {DEFAULT_MIN_RATIO, StretchAnalyser, type StretchAnalysis} from './analyse.js'
import type {CostBasis} from './cost.js'
import {JudgePool} from './judge-pool.js'
import {loadStoreSeries, pointsOf} from './series.js'
import type {Spike, Step, Trend} from './types.js'

export {analyseSeriesSet, DEFAULT_MIN_RATIO, type SeriesSetAnalysis} from './analyse.js'

export {EGRESS_LABEL} from './series.js'
export type {Driver, Spike, Step, Trend} from './types.js'

export interface AnomaliesOptions {
  /** GLOB over usage types (e.g. '*BoxUsage*'); default: internet egress summed over regions. */
  usageType?: string
  /** First and last UTC day analysed, YYYY-MM-DD, inclusive. */
  since?: string
  until?: string
  /** Report steps and spikes changing usage at least this many times (either way). Default 2. */
  minRatio?: number
  /** Only this account: an account id, or the file name of an export without an account column. */
  account?: string
  /** Price bytes at this flat $/GB (no free allowance) instead of the store's cost or today's AWS price. */
  pricePerGb?: number
  onProgress?: ProgressCallback
  /**
   * false: analyse every resource series fully, screening none (to check the screen against; slower). By default
   * each series is first screened cheaply (couldMatter) and only one that could hold or drive a finding is
   * analysed fully; the findings are the same.
   */
  screen?: boolean
}

/** One account's run of days the exports cover; gaps of more than a few weeks start a new stretch. */
export interface StretchSummary {
  account: string
  /** Whose cloud ('AWS', 'Microsoft', …): each provider's usage is its own series. */
  provider: string
  /** 'FIRST..LAST', as on every finding of the stretch. */
  stretch: string
  firstDay: string
  lastDay: string
  days: number
  missingDays: number
  weekly: boolean
  seriesAnalysed: number
  steps: number
  spikes: number
  pricing: {source: CostBasis['source']; label: string; currency: null | string}
}

export interface AnomaliesResult {
  /** The account of the headline stretch (the one whose data ends last); `stretches` lists every one. */
  account: string
  /** Every account this selection has usage in (before --account picks one). */
  accounts: string[]
  stretches: StretchSummary[]
  /** The series label: 'DataTransfer-Out' or the --usage-type glob. */
  usageType: string
  unit: string
  usageTypes: string[]
  /** First and last day of the headline stretch. */
  firstDay: string
  lastDay: string
  /** Days of the headline stretch the exports cover, and days inside it no export covers (gaps, not zeros). */
  days: number
  missingDays: number
  minRatio: number
  /** Where the headline stretch's cost figures come from and their currency, stated with every result. */
  pricing: {source: CostBasis['source']; label: string; currency: null | string}
  /** Whether a weekly pattern was found in the headline stretch's total and removed before detection. */
  weekly: boolean
  /** Series analysed over every stretch: the totals, per usage type (when several) and per resource. */
  seriesAnalysed: number
  /** Every account's and stretch's findings, by day. */
  steps: Step[]
  spikes: Spike[]
  /** Slow changes (ramps) over several days. */
  trends: Trend[]
  /** The headline stretch's total, one entry per covered day (days no export covers are absent). */
  series: {day: string; value: number}[]
}

/** Loads the selected usage from the store and finds its steps and spikes, per account and stretch. */
export async function analyseAnomalies(store: Store, options: AnomaliesOptions = {}): Promise<AnomaliesResult> {
  const {minRatio, since, until} = checkAnomaliesOptions(options)
  const loaded = await loadStoreSeries(store, {
    ...(options.usageType === undefined ? {} : {usageType: options.usageType}),
    ...(options.account === undefined ? {} : {account: options.account}),
    ...(since === undefined ? {} : {since}),
    ...(until === undefined ? {} : {until}),
  })
  const analysers = new Map(
    loaded.stretches.map((stretch) => [
      stretch,
      new StretchAnalyser(stretch, {
        minRatio,
        ...(options.pricePerGb === undefined ? {} : {pricePerGb: options.pricePerGb}),
        ...(options.screen === false ? {screen: false} : {}),
      }),
    ]),
  )
  let seen = 0
  const stretchIndex = new Map(loaded.stretches.map((s, i) => [s, i]))
  const judges = [...analysers.values()].map((a) => a.judge)
  const pool = new JudgePool()
  // One batch judged on the workers while the next is read; verdicts are taken in order, batch after batch.
  let judging: Promise<void> = Promise.resolve()
  try {
    await loaded.forEachResourceBatch(async (batch) => {
      const verdicts = pool.judge(
        batch.map((b) => b.series),
        Int32Array.from(batch, (b) => stretchIndex.get(b.stretch)!),
        judges,
      )
      const before = judging
      judging = (async () => {
        const detections = await verdicts
        await before
        batch.forEach(({series, stretch}, i) => analysers.get(stretch)!.accept(series, detections[i] ?? undefined))
        seen += batch.length
        options.onProgress?.(seen, seen)
      })()
      // Its failure is the next batch's (or the last await's) to throw, not an unhandled rejection meanwhile.
      judging.catch(() => undefined)
      await before
    })
    await judging
  } finally {
    await pool.close()
  }
  const analyses: StretchAnalysis[] = [...analysers.values()].map((a) => a.finish())
  // The headline: the stretch whose data ends last (ties: the larger usage), as a user means "my bill now".
  const usageOf = (i: number) => loaded.stretches[i]!.total.values.reduce((a, v) => a + (Number.isNaN(v) ? 0 : v), 0)
  let head = 0
  analyses.forEach((a, i) => {
    const best = analyses[head]!
    if (a.lastDay > best.lastDay || (a.lastDay === best.lastDay && usageOf(i) > usageOf(head))) head = i
  })
  const headline = analyses[head]!
  const headStretch = loaded.stretches[head]!
  const points = pointsOf(headStretch.total, headStretch.first)
  const byDay = (a: {date: string; account: string}, b: {date: string; account: string}) =>
    a.date.localeCompare(b.date) || a.account.localeCompare(b.account)
  return {
    account: headline.account,
    accounts: loaded.accounts,
    days: points.length,
    firstDay: headline.firstDay,
    lastDay: headline.lastDay,
    minRatio,
    missingDays: dayNumber(headline.lastDay) - dayNumber(headline.firstDay) + 1 - points.length,
    pricing: {currency: headline.basis.currency, label: headline.basis.label, source: headline.basis.source},
    series: points.map((p) => ({day: p.day, value: p.value})),
    seriesAnalysed: analyses.reduce((n, a) => n + a.seriesAnalysed, 0),
    spikes: analyses.flatMap((a) => a.spikes).sort(byDay),
    steps: analyses.flatMap((a) => a.steps).sort(byDay),
    stretches: analyses.map((a, i) => {
      const covered = loaded.stretches[i]!.total.values.reduce((n, v) => n + (Number.isNaN(v) ? 0 : 1), 0)
      const days = dayNumber(a.lastDay) - dayNumber(a.firstDay) + 1
      return {
        account: a.account,
        days: covered,
        firstDay: a.firstDay,
        lastDay: a.lastDay,
        missingDays: days - covered,
        pricing: {currency: a.basis.currency, label: a.basis.label, source: a.basis.source},
        provider: a.provider,
        seriesAnalysed: a.seriesAnalysed,
        spikes: a.spikes.length,
        steps: a.steps.length,
        stretch: a.stretch,
        weekly: a.weekly,
      }
    }),
    trends: analyses.flatMap((a) => a.trends).sort((a, b) => a.firstDay.localeCompare(b.firstDay)),
    unit: headStretch.total.unit,
    usageType: headStretch.total.usageType,
    usageTypes: loaded.usageTypes,
    weekly: headline.weekly,
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
  if (!(minRatio >= 1))
    throw new BillwatchError('E_USAGE', '', {
      expected: 'a ratio ≥ 1',
      field: '--min-ratio',
      got: String(options.minRatio),
    })
  if (options.pricePerGb !== undefined && !(options.pricePerGb >= 0)) {
    throw new BillwatchError('E_USAGE', '', {
      expected: 'a price ≥ 0 in USD per GB',
      field: '--price-per-gb',
      got: String(options.pricePerGb),
    })
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
