/**
 * Steps in plain daily series, and which of them are new since the previous run. No store and no
 * native modules: this runs inside the Lambda bundle. Detection is src/detect (the core `billwatch
 * anomalies` uses); costs are src/anomalies/cost.ts.
 */
import type {DailyPoint, DailySeries} from '../anomalies/series.js'
import type {Step} from '../anomalies/types.js'
import {chooseCostBasis, costOfStep} from '../anomalies/cost.js'
import {addDays} from '../aws/window.js'
import {detectSteps} from '../detect/index.js'

/** Steps of every series; `account` (the all-region egress sum) prices them, as `anomalies` does. */
export type StepFinder = (series: DailySeries[], account: DailySeries) => Step[]

export const findSteps: StepFinder = (series, account) => {
  const basis = chooseCostBasis(account, undefined)
  return series.flatMap((one) => {
    const found = detectSteps(one.points.map((p) => ({day: p.day, value: p.value}))).steps
    return found.map((step, i): Step => {
      const from = found[i - 1]?.date ?? ''
      const to = found[i + 1]?.date ?? '9999-12-31'
      const segment = {
        after: one.points.filter((p) => p.day >= step.date && p.day < to),
        before: one.points.filter((p) => p.day >= from && p.day < step.date),
      }
      return {
        confidence: step.confidence,
        date: step.date,
        direction: step.direction,
        levelAfter: step.levelAfter,
        levelBefore: step.levelBefore,
        ratio: step.ratio,
        resourceId: one.resourceId,
        tentative: step.tentative,
        unit: one.unit,
        usageType: one.usageType,
        ...costOfStep(step, segment, account, basis),
      }
    })
  })
}

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
export function newSteps(series: DailySeries[], account: DailySeries, detect: StepFinder, options: NewStepOptions = DEFAULT_NEW_STEP_OPTIONS): {current: Step[]; fresh: Step[]; newestDay: null | string} {
  const newestDay = series.flatMap((s) => s.points.map((p) => p.day)).sort().at(-1) ?? null
  if (newestDay === null) return {current: [], fresh: [], newestDay}
  const current = detect(series, account)
  const before = (s: DailySeries): DailySeries => ({...s, points: s.points.filter((p: DailyPoint) => p.day < newestDay)})
  const previous = detect(series.map(before), before(account))
  const recentFrom = addDays(newestDay, -options.recentDays)
  const alertable = (s: Step) => s.direction === 'up' && s.date >= recentFrom
  const sameStep = (a: Step, b: Step) =>
    a.usageType === b.usageType && a.resourceId === b.resourceId && a.direction === b.direction &&
    Math.abs(Date.parse(a.date) - Date.parse(b.date)) <= options.sameStepDays * 86_400_000
  const fresh = current.filter((s) => alertable(s) && !previous.some((p) => alertable(p) && sameStep(s, p)))
  return {current, fresh, newestDay}
}
