/**
 * The daily link between a bill's step and the flow records: which interface and port's egress
 * stepped on the same day, and how much of the bill's step it makes. A step the flow records do not
 * show, or flow records that do not cover the step's days, is said plainly.
 */
import {formatBytes} from '../core/units.js'
import {dayNumber, dayString} from '../detect/index.js'
import {flowDayCover, flowEgressInWindow, flowLoggedDaysInWindow} from '../store/flows.js'
import type {Store} from '../store/index.js'

/** Days either side of the step whose levels are compared (medians of the logged days). */
const WINDOW_DAYS = 14
/** The flow step must start within this many days of the bill's step to be the same step. */
const SAME_DAY_TOLERANCE = 1

export interface FlowStepEvidence {
  /** 'VPC Flow Logs' or 'NetFlow/IPFIX'. */
  source: string
  interface: string
  protocol: string
  port: null | number
  /** Median daily egress of the port on the logged days before and from the step. */
  levelBeforeBytes: number
  levelAfterBytes: number
  /** First day the port's egress passed halfway between the two levels; null when it never did. */
  stepDate: null | string
  /** (after − before) of the port ÷ (after − before) of the bill. */
  shareOfStep: number
  /** The flow records show the step on the bill's day (± 1 day), rising as the bill rose. */
  matches: boolean
  files: number
  coveredFrom: string
  coveredTo: string
}

export interface FlowEvidence {
  /** The bill's step day the flow records were read for. */
  stepDate: string
  /** The port whose egress changed most across the step; null when the records do not cover both sides. */
  best: FlowStepEvidence | null
  /** Days the flow records cover (first and last), whatever the port. */
  coveredFrom: string
  coveredTo: string
  /** One sentence, for explain and report. */
  summary: string
}

const SOURCE_NAMES: Record<string, string> = {netflow: 'NetFlow/IPFIX records', 'vpc-flow-logs': 'VPC Flow Logs'}

/**
 * Reads the flow records around a bill step (`levelBefore`/`levelAfter` in bytes a day); null when the store holds
 * none.
 */
export async function flowStepEvidence(
  store: Store,
  step: {date: string; levelBefore: number; levelAfter: number},
): Promise<FlowEvidence | null> {
  const cover = await flowDayCover(store)
  if (!cover?.first || !cover.last) return null
  const stepDay = dayNumber(step.date)
  const from = dayString(stepDay - WINDOW_DAYS)
  const to = dayString(stepDay + WINDOW_DAYS - 1)
  const rows = await flowEgressInWindow(store, {from, to})
  const logged = await flowLoggedDaysInWindow(store, {from, to})
  const loggedDays = new Map(
    logged.map((r) => [r.interface, {days: r.days.map(Number).sort((a, b) => a - b), files: r.files}]),
  )
  const billDelta = step.levelAfter - step.levelBefore
  let best: FlowStepEvidence | null = null
  for (const row of rows) {
    const iface = loggedDays.get(row.interface)
    if (!iface) continue
    const byDay = new Map(row.days.map((d, i) => [Number(d), Number(row.bytes[i])]))
    const value = (day: number) => byDay.get(day) ?? 0
    const before = iface.days.filter((d) => d < stepDay).map(value)
    const after = iface.days.filter((d) => d >= stepDay).map(value)
    if (before.length === 0 || after.length === 0) continue
    const levelBefore = median(before)
    const levelAfter = median(after)
    const halfway = (levelBefore + levelAfter) / 2
    const rising = levelAfter > levelBefore
    const crossing = iface.days.find(
      (d) => (rising ? value(d) > halfway : value(d) < halfway) && d >= stepDay - WINDOW_DAYS,
    )
    const candidate: FlowStepEvidence = {
      coveredFrom: dayString(iface.days[0]!),
      coveredTo: dayString(iface.days.at(-1)!),
      files: iface.files,
      interface: row.interface,
      levelAfterBytes: levelAfter,
      levelBeforeBytes: levelBefore,
      matches: false,
      port: row.port,
      protocol: row.protocol,
      shareOfStep: billDelta !== 0 ? (levelAfter - levelBefore) / billDelta : 0,
      source: SOURCE_NAMES[row.exporter] ?? row.exporter,
      stepDate: crossing === undefined || levelAfter === levelBefore ? null : dayString(crossing),
    }
    // The same step: same direction as the bill, at least doubling (or halving), on the bill's day.
    const ratio = Math.max(levelAfter, 1) / Math.max(levelBefore, 1)
    candidate.matches =
      candidate.stepDate !== null &&
      Math.sign(levelAfter - levelBefore) === Math.sign(billDelta) &&
      (ratio >= 2 || ratio <= 0.5) &&
      Math.abs(dayNumber(candidate.stepDate) - stepDay) <= SAME_DAY_TOLERANCE
    const change = (c: FlowStepEvidence) => Math.sign(billDelta || 1) * (c.levelAfterBytes - c.levelBeforeBytes)
    if (!best || change(candidate) > change(best)) best = candidate
  }
  return {
    best,
    coveredFrom: cover.first,
    coveredTo: cover.last,
    stepDate: step.date,
    summary: summarise(step.date, best, cover.first, cover.last),
  }
}

function summarise(stepDate: string, best: FlowStepEvidence | null, first: string, last: string): string {
  if (!best)
    return `The flow records cover ${first} to ${last}, not both sides of the bill's step on ${stepDate}: they can neither confirm nor refute it.`
  const service = best.port === null ? best.protocol.toUpperCase() : `${best.protocol.toUpperCase()}/${best.port}`
  const level = (bytes: number) =>
    bytes < 0.01 * Math.max(best.levelAfterBytes, best.levelBeforeBytes) ? '~0' : formatBytes(bytes)
  const of = `${best.source} of ${best.interface}`
  if (best.matches) {
    return `${of} show ${service} egress going from ${level(best.levelBeforeBytes)} to ${formatBytes(best.levelAfterBytes)} a day on ${best.stepDate}: ${Math.round(best.shareOfStep * 100)}% of the step.`
  }
  return `${of} cover ${best.coveredFrom} to ${best.coveredTo} but show no step on ${stepDate}: the largest change, ${service}, went from ${level(best.levelBeforeBytes)} to ${level(best.levelAfterBytes)} a day${best.stepDate ? ` from ${best.stepDate}` : ''}. The bill's step is not in this interface's logged traffic.`
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
