/**
 * How often an EventBridge schedule fires: `schedule` refuses one that never fires and one that fires
 * more than once a day (each run costs Cost Explorer requests; its data changes about daily).
 * Syntax: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html
 * (cron: minutes hours day-of-month month day-of-week year; rate: N minute(s)|hour(s)|day(s)).
 */
import {BillwatchError} from '../errors.js'

/** When the scheduled function runs unless `--cron` says otherwise: daily at 13:47 UTC. */
export const DEFAULT_SCHEDULE = 'cron(47 13 * * ? *)'

export interface ScheduleFrequency {
  /** Runs on a day it runs at all (the most of any day). */
  runsPerDay: number
  /** Days with a run among the next 400 (0: it does not fire within that time). */
  daysWithRuns: number
  /** The first day it runs (YYYY-MM-DD), or null when it never does. */
  firstDay: null | string
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC']
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT']
const HORIZON_DAYS = 400

/** The frequency of `rate(…)` or a 6-field EventBridge `cron(…)`; `now` fixes "from when". */
export function scheduleFrequency(expression: string, now = new Date()): ScheduleFrequency {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression)
  if (rate) {
    const n = Number(rate[1])
    if (n < 1) throw badSchedule(expression, 'a rate must be at least 1')
    const unit = rate[2]!.replace(/s$/, '')
    if ((n === 1) !== (rate[2] === unit))
      throw badSchedule(expression, `EventBridge wants "1 ${unit}" and "${n > 1 ? n : 2} ${unit}s"`)
    const runsPerDay = unit === 'minute' ? 1440 / n : unit === 'hour' ? 24 / n : 1 / n
    return {
      daysWithRuns: Math.ceil(HORIZON_DAYS * Math.min(1, runsPerDay)),
      firstDay: dayOf(now),
      runsPerDay: Math.max(1, Math.floor(runsPerDay)),
    }
  }
  const inner = /^cron\((.*)\)$/.exec(expression)?.[1]
  const fields = (inner ?? '').trim().split(/\s+/)
  if (fields.length !== 6) throw badSchedule(expression, 'expected cron( with 6 fields ) or rate(…)')
  const [minute, hour, dom, month, dow, year] = fields as [string, string, string, string, string, string]
  const minutes = parseSet(minute, 0, 59, [], expression, 'minutes')
  const hours = parseSet(hour, 0, 23, [], expression, 'hours')
  const months = parseSet(month, 1, 12, MONTHS, expression, 'month')
  const years = parseSet(year, 1970, 2199, [], expression, 'year')
  const dayMatches = dayMatcher(dom, dow, expression)
  let daysWithRuns = 0
  let firstDay: null | string = null
  const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())
  // Far enough to find a yearly or leap-day schedule (a Feb 29 needs up to 8 years).
  for (let i = 0; i < 366 * 8 + 1; i++) {
    const day = new Date(start + i * 86_400_000)
    if (!years.has(day.getUTCFullYear()) || !months.has(day.getUTCMonth() + 1) || !dayMatches(day)) continue
    firstDay ??= dayOf(day)
    if (i < HORIZON_DAYS) daysWithRuns++
  }
  return {daysWithRuns, firstDay, runsPerDay: firstDay === null ? 0 : minutes.size * hours.size}
}

function dayOf(date: Date): string {
  return date.toISOString().slice(0, 10)
}

function badSchedule(got: string, why: string): BillwatchError {
  return new BillwatchError('E_USAGE', `--cron: ${why}`, {
    expected: 'cron(min hour day-of-month month day-of-week year), a 5-field Unix cron, or rate(N days)',
    got,
  })
}

/** A field of numbers: `*`, `N`, `A-B`, `A/S`, `A-B/S`, `*\/S`, comma lists; names for months and weekdays. */
function parseSet(
  field: string,
  min: number,
  max: number,
  names: string[],
  expression: string,
  what: string,
): Set<number> {
  const values = new Set<number>()
  const value = (text: string): number => {
    const named = names.indexOf(text.toUpperCase())
    const n = named >= 0 ? named + min : /^\d+$/.test(text) ? Number(text) : Number.NaN
    if (!(n >= min && n <= max)) throw badSchedule(expression, `${what}: "${text}" is not ${min}-${max}`)
    return n
  }
  for (const part of field.split(',')) {
    const [range, stepText] = part.split('/') as [string, string | undefined]
    const step = stepText === undefined ? 1 : Number(stepText)
    if (!Number.isInteger(step) || step < 1) throw badSchedule(expression, `${what}: bad step in "${part}"`)
    let from: number
    let to: number
    if (range === '*') [from, to] = [min, max]
    else if (range.includes('-')) {
      const [a, b] = range.split('-') as [string, string]
      ;[from, to] = [value(a), value(b)]
    } else {
      from = value(range)
      to = stepText === undefined ? from : max
    }
    if (from > to) throw badSchedule(expression, `${what}: "${part}" runs backwards`)
    for (let v = from; v <= to; v += step) values.add(v)
  }
  return values
}

/** Day-of-month and day-of-week together (one of them is `?`), with L, W and # as EventBridge reads them. */
function dayMatcher(dom: string, dow: string, expression: string): (day: Date) => boolean {
  if ((dom === '?') === (dow === '?'))
    throw badSchedule(expression, 'exactly one of day-of-month and day-of-week must be ?')
  const lastOfMonth = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate()
  if (dow === '?') {
    if (dom === 'L') return (d) => d.getUTCDate() === lastOfMonth(d)
    if (dom === 'LW') return (d) => d.getUTCDate() === nearestWeekday(d, lastOfMonth(d))
    const weekday = /^(\d+)W$/.exec(dom)
    if (weekday) {
      const n = Number(weekday[1])
      if (n < 1 || n > 31) throw badSchedule(expression, `day-of-month: "${dom}" is not 1-31`)
      return (d) => n <= lastOfMonth(d) && d.getUTCDate() === nearestWeekday(d, n)
    }
    const days = parseSet(dom, 1, 31, [], expression, 'day-of-month')
    return (d) => days.has(d.getUTCDate())
  }
  const nth = /^(\w+)#(\d)$/.exec(dow)
  if (nth) {
    const weekday = parseSet(nth[1]!, 1, 7, WEEKDAYS, expression, 'day-of-week')
    const k = Number(nth[2])
    if (k < 1 || k > 5) throw badSchedule(expression, `day-of-week: "${dow}" needs #1-#5`)
    return (d) => weekday.has(d.getUTCDay() + 1) && Math.ceil(d.getUTCDate() / 7) === k
  }
  const last = /^(\w*)L$/.exec(dow)
  if (last) {
    const weekday = last[1] === '' ? new Set([7]) : parseSet(last[1]!, 1, 7, WEEKDAYS, expression, 'day-of-week')
    return (d) => weekday.has(d.getUTCDay() + 1) && d.getUTCDate() + 7 > lastOfMonth(d)
  }
  const weekdays = parseSet(dow, 1, 7, WEEKDAYS, expression, 'day-of-week')
  return (d) => weekdays.has(d.getUTCDay() + 1)
}

/** The weekday nearest to day `n` of d's month, not leaving the month (the W of cron). */
function nearestWeekday(d: Date, n: number): number {
  const last = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate()
  const weekday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), n)).getUTCDay()
  if (weekday === 6) return n === 1 ? 3 : n - 1
  if (weekday === 0) return n === last ? n - 2 : n + 1
  return n
}
