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
 * clients, so the order of the rows does not matter. Memory and time follow the requests, never the
 * span: a capture with one packet at 1970 and one at 2106 has two busy bins, not 71 million.
 */
export function findFleets(groups: ClientGroups, rules: FleetRules, first: number, last: number): Fleet[] {
  const clientCount = groups.start.length - 1
  const search = new FleetSearch(rules, first, last, clientCount > 0 ? groups.start[clientCount]! : 0)
  search.add(groups)
  const windows = search.windows()
  if (!windows) return []
  windows.add(groups)
  return windows.result()
}

/**
 * The fleet search fed a range of clients at a time (each client's rows whole): the distinct clients per bin, then
 * (windows) the busy windows, whose own counts need the clients fed again (FleetWindows).
 */
export class FleetSearch {
  private readonly origin: number
  private readonly binCount: number
  /** Dense counts per bin when the span has few bins for the requests (the common case), else counts by bin. */
  private readonly clients: Float64Array | undefined
  private readonly oneShots: Float64Array | undefined
  private readonly sparse: Map<number, [number, number]> | undefined

  constructor(
    private readonly rules: FleetRules,
    first: number,
    last: number,
    private readonly requests: number,
  ) {
    this.origin = Math.floor(first / rules.binSec) * rules.binSec
    this.binCount = requests > 0 ? Math.floor((last - this.origin) / rules.binSec) + 1 : 0
    if (requests === 0) return
    if (this.binCount <= 4 * requests + 1024) {
      this.clients = new Float64Array(this.binCount)
      this.oneShots = new Float64Array(this.binCount)
    } else {
      this.sparse = new Map()
    }
  }

  /** Counts each client of `groups` once per bin it enters (a client's rows are in capture order). */
  add(groups: ClientGroups): void {
    const {clients, oneShots, sparse} = this
    const {binSec} = this.rules
    const origin = this.origin
    const clientCount = groups.start.length - 1
    for (let client = 0; client < clientCount; client++) {
      const from = groups.start[client]!
      const to = groups.start[client + 1]!
      const oneShot = to - from === 1
      let lastBin = -1
      for (let i = from; i < to; i++) {
        const bin = Math.floor((groups.timeSec[i]! - origin) / binSec)
        if (bin === lastBin) continue
        lastBin = bin
        if (clients) {
          clients[bin] = clients[bin]! + 1
          if (oneShot) oneShots![bin] = oneShots![bin]! + 1
        } else {
          const entry = sparse!.get(bin)
          if (entry) {
            entry[0]++
            if (oneShot) entry[1]++
          } else sparse!.set(bin, [1, oneShot ? 1 : 0])
        }
      }
    }
  }

  /** The busy windows, once every client was added; undefined when there is none. */
  windows(): FleetWindows | undefined {
    if (this.requests === 0) return undefined
    const rules = this.rules
    const series = this.series()
    const {bins, clientsPerBin, oneShotPerBin} = series
    const occupied = bins.length
    // A fleet can hide in the total yet stand out among one-shot clients (or the reverse), so a bin
    // is busy when either series is far above its own background; a window then grows over
    // neighbouring bins that are merely elevated, so a fleet straddling a bin edge is counted whole.
    // An empty bin is never above its background (median ≥ 0, spread ≥ 1), so windows are runs of occupied bins.
    const empty = Math.max(0, series.binCount - occupied)
    const busy = new Uint8Array(occupied)
    const elevated = new Uint8Array(occupied)
    const total = background(clientsPerBin, empty)
    const oneShot = background(oneShotPerBin, empty)
    for (let k = 0; k < occupied; k++) {
      if (total.above(clientsPerBin[k]!, rules.z) || oneShot.above(oneShotPerBin[k]!, rules.z)) busy[k] = 1
      if (total.above(clientsPerBin[k]!, 3) || oneShot.above(oneShotPerBin[k]!, 3)) elevated[k] = 1
    }
    const adjacent = (k: number) => bins[k + 1] === bins[k]! + 1

    const windows: BinWindow[] = []
    for (let k = 0; k < occupied; k++) {
      if (!busy[k]) continue
      let from = k
      let to = k
      while (to + 1 < occupied && adjacent(to) && (busy[to + 1] || elevated[to + 1])) to++
      while (
        from - 1 >= 0 &&
        adjacent(from - 1) &&
        elevated[from - 1] &&
        (windows.length === 0 || windows[windows.length - 1]!.to < from - 1)
      )
        from--
      // The fleet is what the window holds above the background: per-bin excess of whichever series shows more.
      let excessTotal = 0
      let excessOneShot = 0
      for (let b = from; b <= to; b++) {
        excessTotal += Math.max(0, clientsPerBin[b]! - total.median)
        excessOneShot += Math.max(0, oneShotPerBin[b]! - oneShot.median)
      }
      windows.push({excess: Math.max(excessTotal, excessOneShot), from, fromBin: bins[from]!, to, toBin: bins[to]!})
      k = to
    }
    return windows.length === 0 ? undefined : new FleetWindows(windows, this.origin, rules)
  }

  /** The bins that hold requests, ascending, with the distinct clients (and one-shot clients) in each. */
  private series(): BinSeries {
    const {binCount, clients, oneShots} = this
    if (clients) {
      let occupied = 0
      for (let bin = 0; bin < binCount; bin++) if (clients[bin]! > 0) occupied++
      const series = {
        binCount,
        bins: new Float64Array(occupied),
        clientsPerBin: new Float64Array(occupied),
        oneShotPerBin: new Float64Array(occupied),
      }
      for (let bin = 0, k = 0; bin < binCount; bin++) {
        if (clients[bin] === 0) continue
        series.bins[k] = bin
        series.clientsPerBin[k] = clients[bin]!
        series.oneShotPerBin[k++] = oneShots![bin]!
      }
      return series
    }
    const bins = Float64Array.from(this.sparse!.keys()).sort()
    return {
      binCount,
      bins,
      clientsPerBin: bins.map((bin) => this.sparse!.get(bin)![0]),
      oneShotPerBin: bins.map((bin) => this.sparse!.get(bin)![1]),
    }
  }
}

/** A run of occupied bins: compact indices [from, to] and bin numbers [fromBin, toBin]. */
interface BinWindow {
  from: number
  to: number
  fromBin: number
  toBin: number
  excess: number
}

/** The bins that hold requests, ascending, with the distinct clients (and one-shot clients) in each. */
interface BinSeries {
  bins: Float64Array
  clientsPerBin: Float64Array
  oneShotPerBin: Float64Array
  /** Bins from the first to the last, empty ones included. */
  binCount: number
}

/** The busy windows' own counts (clients, requests, one-shot clients, versions), fed the clients a range at a time. */
export class FleetWindows {
  private readonly clients: Float64Array
  private readonly requests: Float64Array
  private readonly oneShot: Float64Array
  private readonly versions: Float64Array

  constructor(
    private readonly windows: BinWindow[],
    private readonly origin: number,
    private readonly rules: FleetRules,
  ) {
    this.clients = new Float64Array(windows.length)
    this.requests = new Float64Array(windows.length)
    this.oneShot = new Float64Array(windows.length)
    this.versions = new Float64Array(windows.length * 8)
  }

  add(groups: ClientGroups): void {
    const {clients, oneShot, requests, versions, windows, origin, rules} = this
    const clientCount = groups.start.length - 1
    const lastBin = windows[windows.length - 1]!.toBin
    // The window holding a bin: windows are ascending and disjoint, so a binary search on their first bins.
    const windowOf = (bin: number) => {
      if (bin < windows[0]!.fromBin || bin > lastBin) return -1
      let lo = 0
      let hi = windows.length - 1
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1
        if (windows[mid]!.fromBin <= bin) lo = mid
        else hi = mid - 1
      }
      return bin <= windows[lo]!.toBin ? lo : -1
    }
    for (let client = 0; client < clientCount; client++) {
      const from = groups.start[client]!
      const to = groups.start[client + 1]!
      let lastWindow = -1
      for (let i = from; i < to; i++) {
        const window = windowOf(Math.floor((groups.timeSec[i]! - origin) / rules.binSec))
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
  }

  /** The fleets, once every client was added: windows of enough clients, recurring ones folded. */
  result(): Fleet[] {
    const {clients, oneShot, requests, versions, origin, rules} = this
    const fleets = this.windows.map((window, index) => {
      const bins = window.toBin - window.fromBin + 1
      let dominantVersion = 0
      for (let v = 1; v < 8; v++)
        if (versions[index * 8 + v]! > versions[index * 8 + dominantVersion]!) dominantVersion = v
      const start = origin + window.fromBin * rules.binSec
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
    return foldRecurring(
      fleets.filter((fleet) => fleet.clients >= rules.minExcessClients),
      rules,
    )
  }
}

/**
 * A series' background: its median, and a robust spread max(√median, 1.4826·MAD, 1) (a Poisson floor),
 * over the occupied bins' values and `zeros` empty bins.
 */
function background(
  values: Float64Array,
  zeros: number,
): {median: number; above: (value: number, z: number) => boolean} {
  const sorted = values.slice().sort()
  const total = sorted.length + zeros
  // Values are ≥ 0, so the empty bins' zeros sort first.
  const valueAt = (i: number) => (i < zeros ? 0 : sorted[i - zeros]!)
  const median = valueAt(total >> 1)
  const deviations = sorted.map((value) => Math.abs(value - median)).sort()
  // The zeros' deviations are all `median`: the k-th smallest of both together.
  let below = 0
  while (below < deviations.length && deviations[below]! < median) below++
  const k = total >> 1
  const mad = k < below ? deviations[k]! : k < below + zeros ? median : deviations[k - zeros]!
  const spread = Math.max(Math.sqrt(median), 1.4826 * mad, 1)
  return {above: (value, z) => value > median + z * spread, median}
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

/** ISO 8601 UTC; a time JavaScript dates cannot hold (a damaged timestamp) is clamped to their range. */
function isoUtc(unixSec: number): string {
  return new Date(Math.max(-MAX_DATE_MS, Math.min(MAX_DATE_MS, Math.round(unixSec * 1000)))).toISOString()
}

/** The largest time a JavaScript Date holds (ECMA-262 §21.4.1.1). */
const MAX_DATE_MS = 8.64e15
