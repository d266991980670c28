/**
 * The SNTPv4 client of `billwatch probe` (RFC 4330, RFC 5905 §8, RFC 8633 §5), written to be the
 * well-mannered client that operators ask device makers for: data-minimised requests with a
 * random nonce, strict reply validation, bounded retries with exponential backoff and jitter, and
 * obedience to Kiss-o'-Death codes that carry our own origin timestamp.
 */
import {randomBytes} from 'node:crypto'

import {BillwatchError} from '../errors.js'
import {
  type NtpHeader,
  type NtpTimestamp,
  MODE,
  NTP_HEADER_BYTES,
  decodeNtp,
  encodeClientRequest,
  isZeroTimestamp,
  kissAction,
  kissCode,
  ntpToUnixMs,
  offsetAndDelay,
  referenceIdText,
  replyMeaning,
  timestampsEqual,
} from '../ntp/packet.js'
import {ConnectedSocket} from './socket.js'
import {sameAddress} from './target.js'

/** RFC 4330 §10 / RFC 5905 MINPOLL: 16 s between samples to one server; classic ntpd's guard (2 s) is the floor. */
export const DEFAULT_INTERVAL_MS = 16_000
export const MIN_INTERVAL_MS = 2_000
export const DEFAULT_TIMEOUT_MS = 1_000
/** Tries per sample: waits of 1, 2, 4 × timeout (research/ntp.md §5). */
export const DEFAULT_ATTEMPTS = 3
/** RFC 8633 §5.4: a server-suggested poll is capped at 2^13 s. */
const MAX_KOD_POLL_LOG2 = 13

/** Time as the probe sees it. Injected so tests need not sleep 16 s or wait for 2036. */
export interface ProbeClock {
  /** Unix ms: T1 and T4, and the pivot that picks the NTP era of T2/T3. */
  now(): number
  /** Waits between samples (`--interval`). */
  sleep(ms: number): Promise<void>
  /** Uniform in [0, 1): backoff jitter. */
  random(): number
}

export const systemClock: ProbeClock = {
  now: () => performance.timeOrigin + performance.now(), // sub-millisecond T1/T4
  random: () => Math.random(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}

export interface SampleOptions {
  /** Samples wanted from this address (`--count`); default 1. */
  count?: number
  /** Spacing between samples, ms, ≥ 2000; default 16 000. */
  intervalMs?: number
  /** First attempt's wait for a reply, ms; later attempts double it. Default 1000. */
  timeoutMs?: number
  /** Tries per sample; default 3. */
  attempts?: number
  clock?: ProbeClock
  /** Notes worth showing a user as they happen: retries, ignored datagrams, KoDs. */
  onEvent?: (event: ProbeEvent) => void
}

export type IgnoreReason =
  | 'short' // fewer than 48 bytes
  | 'wrong-mode' // not mode 4
  | 'bad-version' // VN other than 3 or 4
  | 'bogus-origin' // origin timestamp is not our nonce: late, replayed or forged
  | 'spoofed-kod' // a KoD without our nonce: logged, never obeyed (RFC 8633 §5.4)
  | 'zero-transmit' // transmit timestamp zero (RFC 4330 §5 check 3)
  | 'wrong-source' // not from the address and port we asked

export type ProbeEvent =
  | {type: 'timeout'; address: string; attempt: number; waitedMs: number}
  | {type: 'ignored'; address: string; reason: IgnoreReason; bytes: number; kissCode?: string}
  | {type: 'kod'; address: string; code: string; action: KodAction}
  | {type: 'port-unreachable'; address: string}

/** What the probe does about a KoD it believes (RFC 5905 §7.4, RFC 4330 §8). */
export type KodAction = 'stop-sampling' | 'stop-now' | 'discard'

export interface NtpSample {
  /** When the request left, ISO 8601 UTC (our clock). */
  sentAt: string
  attempt: number
  leap: number
  version: number
  stratum: number
  refid: string
  poll: number
  precision: number
  rootDelayMs: number
  rootDispersionMs: number
  offsetMs: number
  delayMs: number
  /** LI 3 or stratum 16: the server answers but its clock is not synchronised. */
  synchronised: boolean
}

export interface KissOfDeath {
  code: string
  /** log2 s the server asks us to wait, capped at 13 (RFC 8633 §5.4). */
  poll: number
  action: KodAction
  receivedAt: string
}

export interface IgnoredDatagram {
  reason: IgnoreReason
  bytes: number
  kissCode?: string
}

export interface AddressSampling {
  address: string
  port: number
  family: 4 | 6
  /** Our source port (random, fresh per run). */
  sourcePort: number
  /** Requests sent, retries included. */
  requests: number
  /** Valid time answers (KoDs excluded). */
  answered: number
  samples: NtpSample[]
  timeouts: number
  /** The KoD believed, if any (the last one). */
  kod: KissOfDeath | null
  ignored: IgnoredDatagram[]
  /** ICMP port unreachable: the host is up but nothing listens on the port. */
  portUnreachable: boolean
  /** Why sampling ended before `count`, if it did. */
  stoppedEarly: null | 'kod' | 'no-answer'
  warnings: string[]
}

/** Samples one server address: `count` exchanges spaced by `intervalMs`, each retried on timeout. */
export async function sampleAddress(
  address: string,
  port: number,
  options: SampleOptions = {},
): Promise<AddressSampling> {
  const count = options.count ?? 1
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS
  const clock = options.clock ?? systemClock
  checkManners(count, intervalMs, timeoutMs, attempts)
  const socket = await ConnectedSocket.open(address, port)
  const result: AddressSampling = {
    address,
    port,
    family: address.includes(':') ? 6 : 4,
    sourcePort: socket.sourcePort,
    requests: 0,
    answered: 0,
    samples: [],
    timeouts: 0,
    kod: null,
    ignored: [],
    portUnreachable: false,
    stoppedEarly: null,
    warnings: [],
  }
  const emit = (event: ProbeEvent) => options.onEvent?.(event)
  try {
    for (let sample = 0; sample < count; sample++) {
      if (sample > 0) await clock.sleep(intervalMs)
      const outcome = await exchange(socket, result, {attempts, clock, emit, timeoutMs})
      if (outcome === 'answer') continue
      // Any believed KoD ends this run's sampling (no retry storm); an unanswered sample ends it too.
      if (sample < count - 1) result.stoppedEarly = outcome === 'kod' ? 'kod' : 'no-answer'
      break
    }
  } finally {
    socket.close()
  }
  addSanityWarnings(result)
  return result
}

function checkManners(count: number, intervalMs: number, timeoutMs: number, attempts: number): void {
  if (!Number.isInteger(count) || count < 1)
    throw new BillwatchError('E_USAGE', 'must be a whole number ≥ 1', {field: '--count', got: String(count)})
  if (!(intervalMs >= MIN_INTERVAL_MS)) {
    throw new BillwatchError(
      'E_USAGE',
      `must be at least ${MIN_INTERVAL_MS / 1000} s: faster repeats draw KoD RATE or silence`,
      {
        field: '--interval',
        got: String(intervalMs / 1000),
      },
    )
  }
  if (!(timeoutMs > 0))
    throw new BillwatchError('E_USAGE', 'must be a positive number of ms', {field: '--timeout', got: String(timeoutMs)})
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 5) {
    throw new BillwatchError('E_USAGE', 'must be 1–5', {field: '--attempts', got: String(attempts)})
  }
}

/** One sample: up to `attempts` requests, each with a fresh nonce, waiting timeout·2^k·(1 + jitter/4). */
async function exchange(
  socket: ConnectedSocket,
  result: AddressSampling,
  context: {attempts: number; timeoutMs: number; clock: ProbeClock; emit: (e: ProbeEvent) => void},
): Promise<'answer' | 'kod' | 'timeout'> {
  const {clock, emit} = context
  for (let attempt = 1; attempt <= context.attempts; attempt++) {
    // RFC 5905 §8: a nonce answers once; every reply that passes ends this attempt.
    const nonce = randomNonce()
    const waitMs = Math.round(context.timeoutMs * 2 ** (attempt - 1) * (1 + clock.random() / 4))
    const t1 = clock.now()
    await socket.send(encodeClientRequest(nonce))
    result.requests++
    const deadline = Date.now() + waitMs
    for (;;) {
      const datagram = await socket.next(deadline)
      if (!datagram) break
      const t4 = clock.now()
      const verdict = validateReply(datagram, socket, nonce)
      if ('ignore' in verdict) {
        result.ignored.push(verdict.ignore)
        emit({type: 'ignored', address: result.address, ...verdict.ignore})
        continue
      }
      const reply = verdict.reply
      const meaning = replyMeaning(reply)
      if (meaning.kind === 'kiss') {
        const {code} = meaning
        const action = kodAction(code)
        result.kod = {
          action,
          code,
          poll: Math.min(Math.max(reply.poll, 0), MAX_KOD_POLL_LOG2),
          receivedAt: new Date(t4).toISOString(),
        }
        emit({type: 'kod', address: result.address, code, action})
        return 'kod'
      }
      // An unsynchronised server (INIT, STEP, a zero refid, LI 3) still answers: a sample, flagged.
      result.samples.push(toSample(reply, t1, t4, attempt))
      result.answered++
      return 'answer'
    }
    if (socket.refused) {
      result.portUnreachable = true
      emit({type: 'port-unreachable', address: result.address})
      return 'timeout'
    }
    result.timeouts++
    emit({type: 'timeout', address: result.address, attempt, waitedMs: waitMs})
  }
  return 'timeout'
}

type Validation = {reply: NtpHeader} | {ignore: IgnoredDatagram}

/** RFC 4330 §5 checks 1–4 and RFC 5905 §8: anything that fails is ignored, and we keep waiting. */
export function validateReply(
  datagram: {bytes: Uint8Array; address: string; port: number},
  expected: {address: string; port: number},
  nonce: NtpTimestamp | undefined,
): Validation {
  const bytes = datagram.bytes.length
  if (!sameAddress(datagram.address, expected.address) || datagram.port !== expected.port)
    return {ignore: {bytes, reason: 'wrong-source'}}
  const reply = decodeNtp(datagram.bytes)
  if (!reply) return {ignore: {bytes, reason: bytes < NTP_HEADER_BYTES ? 'short' : 'wrong-mode'}}
  if (reply.mode !== MODE.server) return {ignore: {bytes, reason: 'wrong-mode'}}
  if (nonce === undefined || !timestampsEqual(reply.originTime, nonce)) {
    const code = kissCode(reply)
    return {
      ignore: code === undefined ? {bytes, reason: 'bogus-origin'} : {bytes, kissCode: code, reason: 'spoofed-kod'},
    }
  }
  if (reply.version !== 4 && reply.version !== 3) return {ignore: {bytes, reason: 'bad-version'}}
  if (reply.stratum !== 0 && isZeroTimestamp(reply.transmitTime)) return {ignore: {bytes, reason: 'zero-transmit'}}
  return {reply}
}

/**
 * RFC 5905 §7.4 (kissAction): DENY/RSTR demobilise; RATE reduces the rate (for a probe: stop this run); the rest are
 * discarded.
 */
export function kodAction(code: string): KodAction {
  const action = kissAction(code)
  return action === 'stop' ? 'stop-now' : action === 'reduce-rate' ? 'stop-sampling' : 'discard'
}

function toSample(reply: NtpHeader, t1: number, t4: number, attempt: number): NtpSample {
  // T2/T3 are placed in the era nearest our send time, so a 2036 wrap on either side still subtracts right.
  const t2 = ntpToUnixMs(reply.receiveTime, t1)
  const t3 = ntpToUnixMs(reply.transmitTime, t1)
  const {offsetMs, delayMs} = offsetAndDelay(t1, t2, t3, t4)
  return {
    attempt,
    delayMs: round3(delayMs),
    leap: reply.leap,
    offsetMs: round3(offsetMs),
    poll: reply.poll,
    precision: reply.precision,
    refid: referenceIdText(reply),
    rootDelayMs: round3(reply.rootDelay * 1000),
    rootDispersionMs: round3(reply.rootDispersion * 1000),
    sentAt: new Date(t1).toISOString(),
    stratum: reply.stratum,
    synchronised: replyMeaning(reply).kind === 'time',
    version: reply.version,
  }
}

/** RFC 4330 §5 check 5: flagged, not rejected. */
function addSanityWarnings(result: AddressSampling): void {
  const sample = result.samples.at(-1)
  if (!sample) return
  if (!sample.synchronised) result.warnings.push(`answers but is unsynchronised (${unsynchronisedWhy(sample)})`)
  if (sample.rootDelayMs >= 1000 || sample.rootDispersionMs >= 1000) {
    result.warnings.push(`root delay ${sample.rootDelayMs} ms / dispersion ${sample.rootDispersionMs} ms exceed 1 s`)
  }
}

/** Why a sample is unsynchronised, in the reply's own terms: its kiss code (INIT, STEP) or LI and stratum. */
export function unsynchronisedWhy(sample: Pick<NtpSample, 'leap' | 'refid' | 'stratum'>): string {
  const code =
    sample.stratum === 0 && /^[\x20-\x7e]{1,4}$/.test(sample.refid)
      ? `, kiss code ${sample.refid}`
      : sample.stratum === 0
        ? ', no kiss code'
        : ''
  return `LI ${sample.leap}, stratum ${sample.stratum}${code}`
}

function randomNonce(): NtpTimestamp {
  const bytes = randomBytes(8)
  return {fraction: bytes.readUInt32BE(4), seconds: bytes.readUInt32BE(0)}
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000
}
