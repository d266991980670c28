/** UTC day arithmetic and the incremental fetch window shared by the Cost Explorer and CloudWatch readers. */

/** A half-open range of UTC days, [start, end), as Cost Explorer's TimePeriod. */
export interface DayRange {
  start: string
  end: string
}

const MS_PER_DAY = 86_400_000

export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10)
}

export function addDays(day: string, days: number): string {
  return utcDay(new Date(Date.parse(`${day}T00:00:00Z`) + days * MS_PER_DAY))
}

export function daysBetween(start: string, end: string): number {
  return Math.round((Date.parse(`${end}T00:00:00Z`) - Date.parse(`${start}T00:00:00Z`)) / MS_PER_DAY)
}

/** Epoch seconds of a day's 00:00 UTC (CloudWatch timestamps). */
export function dayToEpochSeconds(day: string): number {
  return Date.parse(`${day}T00:00:00Z`) / 1000
}

/**
 * Cost Explorer restates recent days: data lags up to 24 h, recent days come back `Estimated: true`,
 * and late usage records keep arriving for about three days. So every run fetches these again.
 */
export const CE_RESTATE_DAYS = 3

export interface WindowPlan {
  /** The window the user asked for: the `days` complete days before today. */
  wanted: DayRange
  /** What to fetch: from the first day the store lacks (or the restated tail), to today. Empty when start = end. */
  fetch: DayRange
  /** Days in `fetch` the store already held (re-fetched because AWS may still restate them). */
  restated: number
}

/**
 * Plans an incremental fetch. Today is excluded: its usage is still accruing, and a partial day
 * would look like a drop. `covered` are the ranges earlier fetches of the same source recorded.
 * One contiguous range, since each Cost Explorer request takes one TimePeriod: a hole in the
 * middle of the store is fetched together with everything after it.
 */
export function planWindow(options: {
  today: string
  days: number
  covered: DayRange[]
  restateDays: number
}): WindowPlan {
  const {covered, days, restateDays, today} = options
  return planRange({
    covered,
    restateFrom: addDays(today, -restateDays),
    wanted: {end: today, start: addDays(today, -days)},
  })
}

/**
 * The same plan for any wanted range: from the first day no earlier fetch covered, or from
 * `restateFrom` (the first day the source may still restate) when that comes first, to the end.
 */
export function planRange(options: {wanted: DayRange; covered: DayRange[]; restateFrom: string}): WindowPlan {
  const {covered, restateFrom, wanted} = options
  const isCovered = (day: string) => covered.some((r) => r.start <= day && day < r.end)
  let firstMissing = wanted.start
  while (firstMissing < wanted.end && isCovered(firstMissing)) firstMissing = addDays(firstMissing, 1)
  const restateStart = restateFrom < wanted.start ? wanted.start : restateFrom > wanted.end ? wanted.end : restateFrom
  const start = firstMissing < restateStart ? firstMissing : restateStart
  const fetch = {end: wanted.end, start}
  let restated = 0
  for (let day = start; day < wanted.end; day = addDays(day, 1)) if (isCovered(day)) restated++
  return {fetch, restated, wanted}
}
