import type {RequestLog} from '../pcap/request-log.js'

/**
 * Requests grouped by client with a counting sort, columns copied so each client's rows are
 * contiguous: client c owns rows [start[c], start[c + 1]), in capture order. Typed arrays only, so
 * 2.8M requests regroup in two linear passes and ~50 MB, and the per-client analyses (behaviour and
 * the limiter replays share one grouping) read memory sequentially instead of chasing indices.
 */
export interface ClientGroups {
  start: Uint32Array
  timeSec: Float64Array
  srcPort: Uint16Array
  reply: Uint8Array
  version: Uint8Array
  mode: Uint8Array
  replyIpBytes: Uint16Array
}

export function groupByClient(log: RequestLog): ClientGroups {
  const clientCount = log.clients.length
  const start = new Uint32Array(clientCount + 1)
  for (let i = 0; i < log.count; i++) {
    const slot = log.client[i]! + 1
    start[slot] = start[slot]! + 1
  }
  for (let c = 0; c < clientCount; c++) start[c + 1] = start[c + 1]! + start[c]!
  const cursor = start.slice(0, clientCount)
  const groups: ClientGroups = {
    mode: new Uint8Array(log.count),
    reply: new Uint8Array(log.count),
    replyIpBytes: new Uint16Array(log.count),
    srcPort: new Uint16Array(log.count),
    start,
    timeSec: new Float64Array(log.count),
    version: new Uint8Array(log.count),
  }
  for (let i = 0; i < log.count; i++) {
    const c = log.client[i]!
    const row = cursor[c]!
    cursor[c] = row + 1
    groups.timeSec[row] = log.timeSec[i]!
    groups.srcPort[row] = log.srcPort[i]!
    groups.reply[row] = log.reply[i]!
    groups.version[row] = log.version[i]!
    groups.mode[row] = log.mode[i]!
    groups.replyIpBytes[row] = log.replyIpBytes[i]!
  }
  return groups
}

/** Median of values[0, length) — sorts that range in place. */
export function medianInPlace(values: Float64Array, length: number): number {
  if (length === 0) return Number.NaN
  const range = values.subarray(0, length).sort()
  const mid = length >> 1
  return length % 2 === 1 ? range[mid]! : (range[mid - 1]! + range[mid]!) / 2
}

/** Coefficient of variation (standard deviation / mean) of values[0, length); NaN below two values. */
export function coefficientOfVariation(values: Float64Array, length: number): number {
  if (length < 2) return Number.NaN
  let sum = 0
  for (let i = 0; i < length; i++) sum += values[i]!
  const mean = sum / length
  if (mean === 0) return 0
  let squares = 0
  for (let i = 0; i < length; i++) squares += (values[i]! - mean) ** 2
  return Math.sqrt(squares / (length - 1)) / mean
}

/** Capture span of the log: first and last request time (requests may be slightly out of order). */
export function timeRange(log: RequestLog): {first: number; last: number} {
  let first = Number.POSITIVE_INFINITY
  let last = Number.NEGATIVE_INFINITY
  for (let i = 0; i < log.count; i++) {
    const t = log.timeSec[i]!
    if (t < first) first = t
    if (t > last) last = t
  }
  return {first, last}
}
