/**
 * Which steps are new since the previous run. Detection is `analyseSeriesSet` from src/anomalies, the
 * very code `billwatch anomalies` runs after loading the store; here it gets plain arrays.
 */
import {analyseSeriesSet} from '../anomalies/analyse.js'
import type {DailySeries, SeriesSet} from '../anomalies/series.js'
import type {Step} from '../anomalies/types.js'
import {addDays} from '../aws/window.js'

export interface NewStepOptions {
  /** Only steps whose first day is this recent alert: an old step found late is history, not news. */
  recentDays: number
  /** A step within this many days of one the previous run saw is the same step, its date refined. */
  sameStepDays: number
}

export const DEFAULT_NEW_STEP_OPTIONS: NewStepOptions = {recentDays: 14, sameStepDays: 3}

/**
 * The steps to alert on, derived without state: run the same detection on the window the previous
 * daily run saw (today's data minus its newest day) and keep the upward, recent steps it did not
 * already report. So a step alerts the first day it is detectable, and never again while it stays.
 */
export function newSteps(
  set: SeriesSet,
  options: NewStepOptions = DEFAULT_NEW_STEP_OPTIONS,
): {current: Step[]; fresh: Step[]; newestDay: null | string} {
  const all = [set.total, ...set.byUsageType, ...set.byResource]
  const newestDay =
    all
      .map((s) => s.points.at(-1)?.day ?? '')
      .sort()
      .at(-1) ?? null
  if (newestDay === null) return {current: [], fresh: [], newestDay}
  const detect = (series: SeriesSet) => analyseSeriesSet(series).steps
  const current = detect(set)
  const before = (s: DailySeries): DailySeries => ({...s, points: s.points.filter((p) => p.day < newestDay)})
  const previous = detect({
    ...set,
    byResource: set.byResource.map(before),
    byUsageType: set.byUsageType.map(before),
    total: before(set.total),
  })
  const recentFrom = addDays(newestDay, -options.recentDays)
  const alertable = (s: Step) => s.direction === 'up' && s.date >= recentFrom
  const sameStep = (a: Step, b: Step) =>
    a.usageType === b.usageType &&
    a.direction === b.direction &&
    Math.abs(Date.parse(a.date) - Date.parse(b.date)) <= options.sameStepDays * 86_400_000
  const fresh = current.filter((s) => alertable(s) && !previous.some((p) => alertable(p) && sameStep(s, p)))
  return {current, fresh, newestDay}
}
