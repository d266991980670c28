/**
 * Synchronised fleets: many distinct clients arriving in the same few minutes, like BitFolk's ~1000
 * thermostats polling a hard-coded address every Sunday at 19:45 (RFC 4330 §10 asks clients to
 * randomise their start). Counts distinct clients per UTC-aligned bin, flags bins far above the
 * capture's own background (median + z·robust spread, a Poisson floor), merges neighbouring bins into
 * windows, and marks windows that recur at the same time of day or week.
 */
import type {ClientGroups} from './group.js'

export interface FleetRules {
  /** Bin width, seconds (default 60: windows come out in whole UTC minutes). */
  binSec: number
  /** How many robust standard deviations above the background a bin must be. */
  z: number
  /** Extra clients a window needs over the background to count as a fleet. */
  minExcessClients: number
  /** Two windows recur when their times of day (or week) are this close, seconds. */
  recurrenceToleranceSec: number
}

export interface FleetRecurrence {
  period: 'daily' | 'weekly'
  /** Windows at this time of day/week in the log, this one included. */
  occurrences: number
  /** e.g. "Sun 19:45 UTC" or "03:00 UTC". */
  phase: string
  /** ISO 8601 UTC start of each occurrence, first to last. */
  starts: string[]
  clientsPerOccurrence: number[]
}

export interface Fleet {
  /** ISO 8601 UTC, start of the first busy bin. */
  start: string
  end: string
  durationSec: number
  /** Clients the fleet adds: distinct clients per bin above the capture's background, summed over the window. */
  clients: number
  /** Distinct client addresses with a request in the window, background included. */
  clientsInWindow: number
  /** Requests in the window, background included. */
  requests: number
  /** Share of the fleet seen nowhere else in the capture (one request each: SNTP cron jobs), capped at 1. */
  oneShotShare: number
  /** The most common request version in the window, and its share (a fleet runs one firmware). */
  dominantVersion: number
  dominantVersionShare: number
  recurrence?: FleetRecurrence
}

const DAY_SEC = 86_400
const WEEK_SEC = 7 * DAY_SEC
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']

/**
 * The fleets among the requests sent between `first` and `last` (Unix seconds). Reads the log grouped
 * by client, which the rest of the behaviour analysis reads too: every count here is a sum over
 * clients, so the order of the rows does not matter.
 */
export function findFleets(groups: ClientGroups, rules: FleetRules, first: number, last: number): Fleet[] {
  const clientCount = groups.start.length - 1
  if (clientCount <= 0 || groups.start[clientCount] === 0) return []
  const origin = Math.floor(first / rules.binSec) * rules.binSec
  const binCount = Math.floor((last - origin) / rules.binSec) + 1
  const clientsPerBin = new Float64Array(binCount)
  const oneShotPerBin = new Float64Array(binCount)
  for (let client = 0; client < clientCount; client++) {
    const from = groups.start[client]!
    const to = groups.start[client + 1]!
    const oneShot = to - from === 1
    let lastBin = -1
    for (let i = from; i < to; i++) {
      const bin = Math.floor((groups.timeSec[i]! - origin) / rules.binSec)
      if (bin === lastBin) continue
      lastBin = bin
      clientsPerBin[bin] = clientsPerBin[bin]! + 1
      if (oneShot) oneShotPerBin[bin] = oneShotPerBin[bin]! + 1
    }
  }
  // A fleet can hide in the total yet stand out among one-shot clients (or the reverse), so a bin
  // is busy when either series is far above its own background; a window then grows over
  // neighbouring bins that are merely elevated, so a fleet straddling a bin edge is counted whole.
  const busy = new Uint8Array(binCount)
  const elevated = new Uint8Array(binCount)
  const total = background(clientsPerBin)
  const oneShot = background(oneShotPerBin)
  for (let bin = 0; bin < binCount; bin++) {
    if (total.above(clientsPerBin[bin]!, rules.z) || oneShot.above(oneShotPerBin[bin]!, rules.z)) busy[bin] = 1
    if (total.above(clientsPerBin[bin]!, 3) || oneShot.above(oneShotPerBin[bin]!, 3)) elevated[bin] = 1
  }

  const windows: Array<{from: number; to: number; excess: number}> = []
  for (let bin = 0; bin < binCount; bin++) {
    if (!busy[bin]) continue
    let from = bin
    let to = bin
    while (to + 1 < binCount && (busy[to + 1] || elevated[to + 1])) to++
    while (from - 1 >= 0 && elevated[from - 1] && (windows.length === 0 || windows[windows.length - 1]!.to < from - 1)) from--
    // The fleet is what the window holds above the background: per-bin excess of whichever series shows more.
    let excessTotal = 0
    let excessOneShot = 0
    for (let b = from; b <= to; b++) {
      excessTotal += Math.max(0, clientsPerBin[b]! - total.median)
      excessOneShot += Math.max(0, oneShotPerBin[b]! - oneShot.median)
    }
    windows.push({excess: Math.max(excessTotal, excessOneShot), from, to})
    bin = to
  }
  if (windows.length === 0) return []
  const fleets = describeWindows(groups, windows, origin, rules).filter((fleet) => fleet.clients >= rules.minExcessClients)
  return foldRecurring(fleets, rules)
}

/** A series' background: its median, and a robust spread max(√median, 1.4826·MAD, 1) (a Poisson floor). */
function background(series: Float64Array): {median: number; above: (value: number, z: number) => boolean} {
  const sorted = series.slice().sort()
  const median = sorted[sorted.length >> 1]!
  const deviations = sorted.map((value) => Math.abs(value - median)).sort()
  const spread = Math.max(Math.sqrt(median), 1.4826 * deviations[deviations.length >> 1]!, 1)
  return {above: (value, z) => value > median + z * spread, median}
}

function describeWindows(groups: ClientGroups, windows: Array<{from: number; to: number; excess: number}>, origin: number, rules: FleetRules): Fleet[] {
  const binCount = windows[windows.length - 1]!.to + 1
  const windowOfBin = new Int32Array(binCount).fill(-1)
  windows.forEach((window, index) => windowOfBin.fill(index, window.from, window.to + 1))
  const clients = new Float64Array(windows.length)
  const requests = new Float64Array(windows.length)
  const oneShot = new Float64Array(windows.length)
  const versions = new Float64Array(windows.length * 8)
  const clientCount = groups.start.length - 1
  for (let client = 0; client < clientCount; client++) {
    const from = groups.start[client]!
    const to = groups.start[client + 1]!
    let lastWindow = -1
    for (let i = from; i < to; i++) {
      const bin = Math.floor((groups.timeSec[i]! - origin) / rules.binSec)
      const window = bin < binCount ? windowOfBin[bin]! : -1
      if (window < 0) continue
      requests[window] = requests[window]! + 1
      const versionSlot = window * 8 + (groups.version[i]! & 7)
      versions[versionSlot] = versions[versionSlot]! + 1
      if (window === lastWindow) continue
      lastWindow = window
      clients[window] = clients[window]! + 1
      if (to - from === 1) oneShot[window] = oneShot[window]! + 1
    }
  }
  return windows.map((window, index) => {
    const bins = window.to - window.from + 1
    let dominantVersion = 0
    for (let v = 1; v < 8; v++) if (versions[index * 8 + v]! > versions[index * 8 + dominantVersion]!) dominantVersion = v
    const start = origin + window.from * rules.binSec
    return {
      clients: Math.round(window.excess),
      clientsInWindow: clients[index]!,
      dominantVersion,
      dominantVersionShare: requests[index]! > 0 ? versions[index * 8 + dominantVersion]! / requests[index]! : 0,
      durationSec: bins * rules.binSec,
      end: isoUtc(start + bins * rules.binSec),
      oneShotShare: window.excess > 0 ? Math.min(1, oneShot[index]! / window.excess) : 0,
      requests: requests[index]!,
      start: isoUtc(start),
    }
  })
}

/**
 * Windows at the same time of day on different weekdays recur daily; at the same time of week only,
 * weekly. Each recurring series is folded into its first window, whose `clients` becomes the median
 * over the occurrences (listed in `recurrence`).
 */
function foldRecurring(fleets: Fleet[], rules: FleetRules): Fleet[] {
  const starts = fleets.map((fleet) => Date.parse(fleet.start) / 1000)
  const folded: Fleet[] = []
  const taken = new Uint8Array(fleets.length)
  fleets.forEach((fleet, index) => {
    if (taken[index]) return
    const start = starts[index]!
    const sameTimeOfDay: number[] = [index]
    let otherWeekday = false
    starts.forEach((other, j) => {
      if (j <= index || taken[j] || circularDistance(other, start, DAY_SEC) > rules.recurrenceToleranceSec) return
      if (circularDistance(other, start, WEEK_SEC) > rules.recurrenceToleranceSec) otherWeekday = true
      sameTimeOfDay.push(j)
    })
    const series = otherWeekday
      ? sameTimeOfDay
      : sameTimeOfDay.filter((j) => circularDistance(starts[j]!, start, WEEK_SEC) <= rules.recurrenceToleranceSec)
    if (series.length < 2) {
      folded.push(fleet)
      return
    }
    for (const j of series) taken[j] = 1
    const date = new Date(start * 1000)
    const clock = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())} UTC`
    const clientsPerOccurrence = series.map((j) => fleets[j]!.clients)
    folded.push({
      ...fleet,
      clients: median(clientsPerOccurrence),
      recurrence: {
        clientsPerOccurrence,
        occurrences: series.length,
        period: otherWeekday ? 'daily' : 'weekly',
        phase: otherWeekday ? clock : `${WEEKDAYS[date.getUTCDay()]} ${clock}`,
        starts: series.map((j) => fleets[j]!.start),
      },
    })
  })
  return folded
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[sorted.length >> 1]!
}

function circularDistance(a: number, b: number, period: number): number {
  const d = (((a - b) % period) + period) % period
  return Math.min(d, period - d)
}

function pad(n: number): string {
  return String(n).padStart(2, '0')
}

function isoUtc(unixSec: number): string {
  return new Date(Math.round(unixSec * 1000)).toISOString()
}
