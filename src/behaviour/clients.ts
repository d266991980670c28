/**
 * Per-address behaviour: a NAT/CGNAT gateway (many hosts, each polling politely on its own schedule)
 * versus one misbehaving client (one socket polling too fast, ignoring KoD, retrying without backoff).
 *
 * The key fact: requests on one (address, source port) pair come from one socket, so one host — a NAT
 * needs a distinct external port per internal socket to route replies back. Each port is a "train";
 * a train's mean interval is that host's poll interval. Several concurrent polite trains mean several
 * hosts; one fast train means one broken host, however many others share the address. Clients that
 * open a new socket per request (chrony, many SNTP stacks) form no trains; for them only the
 * address-level gaps are left: a regular fast series is one client, a Poisson-like series with many
 * ports is many (ntp.md §6).
 */
import type {ClientAddressList} from '../pcap/request-log.js'
import {coefficientOfVariation, medianInPlace, setBits, type ClientGroups} from './group.js'

export interface ClientRules {
  /** RFC 4330 §10 item 1: never poll more often than every 15 s. */
  minPollSec: number
  /** Requests an address needs before its schedule is judged (an ntpd iburst is 8). */
  minRequests: number
  /** Unanswered requests in a row before a missing backoff is judged. */
  backoffRun: number
}

export type NatMethod = 'port-schedules' | 'rate-at-64s-minimum' | 'version-mix'

export interface SuspectedNat {
  address: string
  /** Hosts the evidence implies: a lower bound when `method` is rate-at-64s-minimum. */
  estimatedHosts: number
  confidence: 'high' | 'medium'
  method: NatMethod
  requests: number
  qps: number
  ports: number
  /** Source ports showing a polite poll schedule (≥ 2 requests, mean interval ≥ minPollSec). */
  schedules: number
  /** Most such schedules active at the same moment. */
  concurrentSchedules: number
  /** Median of the schedules' poll intervals, seconds. */
  medianScheduleSec: number | null
  /** Coefficient of variation of the address's inter-request gaps (≈ 1 for many independent hosts). */
  gapCv: number | null
  versions: number[]
  /** A host behind it also breaks the rules (see `misbehaving`). */
  alsoMisbehaving: boolean
}

export type MisbehaviourReason = 'polls-faster-than-15s' | 'ignores-kod' | 'no-backoff'

export interface MisbehavingClient {
  address: string
  reasons: MisbehaviourReason[]
  requests: number
  qps: number
  ports: number
  /** Mean interval of the fastest source port (or of the address when ports are single-use), seconds. */
  fastestMeanIntervalSec: number | null
  medianIntervalSec: number | null
  kodsReceived: number
  requestsAfterKod: number
  /** The address looks like a NAT: the fault is one host behind it, not the whole address. */
  behindNat: boolean
}

export type ViolationRule = 'min-poll-interval' | 'obsolete-version' | 'ignores-kod' | 'no-backoff'

export interface ClientFinding {
  nat?: SuspectedNat
  misbehaving?: MisbehavingClient
}

/** Scratch buffers reused across clients so the scan allocates nothing per request. */
export interface Scratch {
  gaps: Float64Array
  /** Mean interval of each polite schedule. */
  schedules: Float64Array
  trainStarts: Float64Array
  trainEnds: Float64Array
  /** Source port -> its train's slot, valid where portClient holds the client's first row + 1. */
  portSlot: Int32Array
  portClient: Int32Array
  /** Per train slot, in order of first appearance: requests, first and last request time. */
  slotRequests: Int32Array
  slotFirst: Float64Array
  slotLast: Float64Array
  /** The stamp of the client whose trains are being split (see portTrains); one per client judged. */
  stamp: number
}

export function createScratch(maxRequestsPerClient: number): Scratch {
  const size = Math.max(2, maxRequestsPerClient)
  const buffer = () => new Float64Array(size)
  return {
    gaps: buffer(),
    portClient: new Int32Array(PORTS),
    portSlot: new Int32Array(PORTS),
    schedules: buffer(),
    slotFirst: buffer(),
    slotLast: buffer(),
    slotRequests: new Int32Array(size),
    stamp: 0,
    trainEnds: buffer(),
    trainStarts: buffer(),
  }
}

const PORTS = 65_536
/** ntpd and chrony's default minimum poll: the politest a host can be while polling often. */
const TYPICAL_MIN_POLL_SEC = 64

interface Trains {
  ports: number
  schedules: number
  concurrent: number
  /** Sum over polite schedules of 1/interval: the request rate they explain. */
  politeRate: number
  /** Requests on polite schedules. */
  scheduledRequests: number
  fastMeanIntervalSec: number
  fastRequests: number
}

/**
 * Judges client `client`, whose rows are group `group` of `groups` (contiguous). `durationSec` is the capture's span,
 * `hasReplies` whether the capture shows any server replies. Medians, and the address text, are
 * computed only for clients that end up flagged.
 */
export function judgeClient(
  addresses: ClientAddressList,
  client: number,
  group: number,
  groups: ClientGroups,
  scratch: Scratch,
  rules: ClientRules,
  durationSec: number,
  hasReplies: boolean,
): ClientFinding {
  const from = groups.start[group]!
  const to = groups.start[group + 1]!
  const n = to - from
  if (n < rules.minRequests) return {}
  const {timeSec} = groups
  let versionMask = 0
  for (let row = from; row < to; row++) versionMask |= 1 << groups.version[row]!
  const qps = n / durationSec
  for (let row = from + 1; row < to; row++)
    scratch.gaps[row - from - 1] = Math.max(0, timeSec[row]! - timeSec[row - 1]!)
  const gapCv = coefficientOfVariation(scratch.gaps, n - 1)
  const span = timeSec[to - 1]! - timeSec[from]!
  const trains = portTrains(groups, from, to, scratch, rules)

  // A NAT: several hosts, each on its own polite schedule — or, when sockets are single-use,
  // an irregular stream on many ports faster than one host at the 64 s minimum would poll.
  let nat: SuspectedNat | undefined
  const singleUsePorts = trains.ports >= n / 2
  // Schedules must carry most of the polite traffic: a few random port collisions are not hosts.
  if (trains.schedules >= 2 && trains.concurrent >= 2 && trains.scheduledRequests >= (n - trains.fastRequests) / 2) {
    const politeRequestsPerSec = Math.max(0, n - trains.fastRequests) / durationSec
    const byRate = trains.politeRate > 0 ? Math.round((politeRequestsPerSec * trains.schedules) / trains.politeRate) : 0
    nat = natFinding(
      'port-schedules',
      Math.max(trains.concurrent, byRate),
      trains.concurrent >= 3 || countOf(versionMask) >= 2 ? 'high' : 'medium',
    )
  } else if (singleUsePorts && gapCv >= 0.6 && Math.round(qps * TYPICAL_MIN_POLL_SEC) >= 2) {
    nat = natFinding('rate-at-64s-minimum', Math.round(qps * TYPICAL_MIN_POLL_SEC), 'medium')
  } else if (countOf(versionMask & 0b11110) >= 2 && trains.fastRequests === 0) {
    // Two NTP versions from one address: two implementations, so at least two hosts.
    nat = natFinding('version-mix', 2, 'medium')
  }

  const reasons: MisbehaviourReason[] = []
  let fastestMeanIntervalSec: number | null = Number.isFinite(trains.fastMeanIntervalSec)
    ? trains.fastMeanIntervalSec
    : null
  const meanGap = span / (n - 1)
  if (trains.fastRequests > 0) reasons.push('polls-faster-than-15s')
  else if (nat === undefined && meanGap < rules.minPollSec) {
    // No fast port of its own, yet a fast, regular stream: one client opening a socket per request.
    reasons.push('polls-faster-than-15s')
    fastestMeanIntervalSec = meanGap
  }

  // KoD and backoff reactions are judged on the address only when it is one client; behind a NAT
  // the other hosts' polite traffic would hide (or fake) them.
  const kod = kodReaction(groups, from, to, rules)
  if (nat === undefined) {
    if (kod.ignored) reasons.push('ignores-kod')
    if (hasReplies && lacksBackoff(groups, from, to, rules)) reasons.push('no-backoff')
  }
  if (nat !== undefined) nat.alsoMisbehaving = reasons.length > 0
  if (reasons.length === 0) return nat === undefined ? {} : {nat}

  const medianGap = medianInPlace(scratch.gaps, n - 1)
  const misbehaving: MisbehavingClient = {
    address: nat?.address ?? addresses.at(client)!,
    behindNat: nat !== undefined,
    fastestMeanIntervalSec,
    kodsReceived: kod.kods,
    medianIntervalSec: Number.isFinite(medianGap) ? medianGap : null,
    ports: trains.ports,
    qps,
    reasons,
    requestsAfterKod: kod.after,
    requests: n,
  }
  return nat === undefined ? {misbehaving} : {misbehaving, nat}

  function natFinding(method: NatMethod, estimatedHosts: number, confidence: 'high' | 'medium'): SuspectedNat {
    return {
      address: addresses.at(client)!,
      alsoMisbehaving: false,
      concurrentSchedules: trains.concurrent,
      confidence,
      estimatedHosts,
      gapCv: Number.isFinite(gapCv) ? gapCv : null,
      medianScheduleSec: trains.schedules > 0 ? medianInPlace(scratch.schedules, trains.schedules) : null,
      method,
      ports: trains.ports,
      qps,
      requests: n,
      schedules: trains.schedules,
      versions: setBits(versionMask),
    }
  }
}

/**
 * Splits a client's requests by source port and classifies each port's train as a polite schedule
 * or a fast one. A port-indexed table finds each request's train in one pass, without sorting: the
 * clients that open a socket per request have as many ports as requests. The table is not cleared
 * between clients; an entry counts only when stamped with this client's stamp.
 */
function portTrains(groups: ClientGroups, from: number, to: number, scratch: Scratch, rules: ClientRules): Trains {
  const {srcPort, timeSec} = groups
  const {portClient, portSlot, slotFirst, slotLast, slotRequests} = scratch
  const stamp = ++scratch.stamp
  let slots = 0
  for (let row = from; row < to; row++) {
    const port = srcPort[row]!
    let slot = portSlot[port]!
    if (portClient[port] !== stamp) {
      portClient[port] = stamp
      slot = slots++
      portSlot[port] = slot
      slotRequests[slot] = 0
      slotFirst[slot] = timeSec[row]!
    }
    slotRequests[slot] = slotRequests[slot]! + 1
    slotLast[slot] = timeSec[row]!
  }
  const trains: Trains = {
    concurrent: 0,
    fastMeanIntervalSec: Number.POSITIVE_INFINITY,
    fastRequests: 0,
    politeRate: 0,
    ports: slots,
    scheduledRequests: 0,
    schedules: 0,
  }
  for (let slot = 0; slot < slots; slot++) {
    const length = slotRequests[slot]!
    if (length < 2) continue
    const first = slotFirst[slot]!
    const last = slotLast[slot]!
    const meanInterval = (last - first) / (length - 1)
    if (meanInterval >= rules.minPollSec) {
      scratch.trainStarts[trains.schedules] = first
      scratch.trainEnds[trains.schedules] = last
      scratch.schedules[trains.schedules] = meanInterval
      trains.politeRate += 1 / meanInterval
      trains.scheduledRequests += length
      trains.schedules++
    } else if (length >= rules.minRequests) {
      trains.fastRequests += length
      trains.fastMeanIntervalSec = Math.min(trains.fastMeanIntervalSec, meanInterval)
    }
  }
  trains.concurrent = maxOverlap(scratch.trainStarts, scratch.trainEnds, trains.schedules)
  return trains
}

/** Most intervals [start, end] covering one instant (sweep over sorted endpoints). */
function maxOverlap(starts: Float64Array, ends: Float64Array, count: number): number {
  if (count === 0) return 0
  const s = starts.subarray(0, count).sort()
  const e = ends.subarray(0, count).sort()
  let open = 0
  let best = 0
  let j = 0
  for (let i = 0; i < count; i++) {
    while (j < count && e[j]! < s[i]!) {
      open--
      j++
    }
    open++
    if (open > best) best = open
  }
  return best
}

/**
 * RFC 5905 §7.4 / RFC 4330 §8: after a KoD RATE the client must slow down. Ignored when at least
 * three requests followed the first KoD and they came no slower than before it (or faster than the
 * 15 s minimum).
 */
function kodReaction(
  groups: ClientGroups,
  from: number,
  to: number,
  rules: ClientRules,
): {kods: number; after: number; ignored: boolean} {
  const {reply, timeSec} = groups
  let kods = 0
  let firstKod = -1
  for (let row = from; row < to; row++) {
    if (reply[row] !== 2) continue
    kods++
    if (firstKod < 0) firstKod = row
  }
  if (firstKod < 0) return {after: 0, ignored: false, kods}
  const after = to - 1 - firstKod
  if (after < 3) return {after, ignored: false, kods}
  const tKod = timeSec[firstKod]!
  const meanAfter = (timeSec[to - 1]! - tKod) / after
  const before = firstKod - from
  const meanBefore = before > 0 ? (tKod - timeSec[from]!) / before : Number.POSITIVE_INFINITY
  return {after, ignored: meanAfter < rules.minPollSec || meanAfter < 1.5 * meanBefore, kods}
}

/**
 * RFC 4330 §10: an unanswered client must back off exponentially. Flags a run of `backoffRun`
 * unanswered requests whose gaps stay flat (the longest at most twice the shortest) and average
 * under a minute — a device retrying forever at a fixed period.
 */
function lacksBackoff(groups: ClientGroups, from: number, to: number, rules: ClientRules): boolean {
  const {reply, timeSec} = groups
  let runStart = -1
  for (let k = from; k <= to; k++) {
    const unanswered = k < to && reply[k] === 0
    if (unanswered) {
      if (runStart < 0) runStart = k
      continue
    }
    if (runStart >= 0 && k - runStart >= rules.backoffRun) {
      let shortest = Number.POSITIVE_INFINITY
      let longest = 0
      for (let j = runStart + 1; j < k; j++) {
        const gap = timeSec[j]! - timeSec[j - 1]!
        shortest = Math.min(shortest, gap)
        longest = Math.max(longest, gap)
      }
      const mean = (timeSec[k - 1]! - timeSec[runStart]!) / (k - 1 - runStart)
      if (longest <= 2 * Math.max(shortest, 1e-3) && mean < TYPICAL_MIN_POLL_SEC) return true
    }
    runStart = -1
  }
  return false
}

function countOf(mask: number): number {
  let count = 0
  for (let m = mask; m; m &= m - 1) count++
  return count
}
