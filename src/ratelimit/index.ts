/**
 * "What would rate limiting do, before anyone deploys it": replays a capture's time requests through
 * the published limiters of classic ntpd, ntpsec and chrony (see ./limiters.ts), and prices what each
 * setting would have sent. Clients are assumed not to react to being limited — a well-behaved client
 * that backs off after a KoD makes the saving larger, a broken one that retries faster makes it
 * smaller — which is why the result says which suspected NATs would lose their time service.
 */
import {analyseBehaviour, type ClientGroups, groupByClient, timeRange} from '../behaviour/index.js'
import {BillwatchError} from '../errors.js'
import {type NativeScanner, nativeScanner} from '../pcap/native.js'
import type {ClientAddressList, RequestLog} from '../pcap/request-log.js'
import {CURRENT_EGRESS_PRICING, costOfRate, type EgressPricing} from '../pricing/egress.js'
import {bestFirst} from '../util/select.js'
import {startWorker} from '../util/worker.js'
import {
  ANSWER,
  createLimiter,
  DROP,
  KOD,
  type Limiter,
  type LimiterSetting,
  type NativeLimiterState,
  seededRandom,
} from './limiters.js'

export {chronyBucket, createLimiter, seededRandom} from './limiters.js'
export {ANSWER, DROP, KOD} from './limiters.js'
export type {
  ChronySetting,
  Decision,
  LimiterOptions,
  LimiterSetting,
  NativeLimiterState,
  NtpdSetting,
  NtpsecSetting,
  SeededRandom,
} from './limiters.js'

/** The settings simulated when none are given: each daemon's defaults, with and without KoD. */
export const DEFAULT_LIMITER_SETTINGS: readonly LimiterSetting[] = [
  {algorithm: 'ntpd', average: 3, kod: true, minimum: 2},
  {algorithm: 'ntpd', average: 3, kod: false, minimum: 2},
  {algorithm: 'ntpsec', average: 1, burst: 20, kod: true, kodRate: 0.5},
  {algorithm: 'ntpsec', average: 1, burst: 20, kod: false, kodRate: 0.5},
  {algorithm: 'chrony', burst: 8, interval: 3, kod: 0, leak: 2},
  {algorithm: 'chrony', burst: 8, interval: 3, kod: 2, leak: 2},
]

export interface SimulateOptions {
  settings?: readonly LimiterSetting[] | undefined
  pricing?: EgressPricing
  /** Seconds the capture covers (the pcap span); default: first to last request. */
  durationSec?: number
  /**
   * Suspected NATs to check for blackout, as client indices of the log; default: every one analyseBehaviour(log)
   * suspects.
   */
  suspectedNatClients?: readonly number[]
  /** A NAT is blacked out when fewer than this share of its time requests are answered (default 0.5). */
  blackoutBelowShare?: number
  /** Seed of chrony's random leak and KoD choices (results are repeatable for one seed). */
  seed?: number
  /** The log already grouped by client (groupByClient), when the caller shares it with the behaviour analysis. */
  groups?: ClientGroups | undefined
  /** The replays already run (startReplayWorker) for these settings and seed. */
  tallies?: ReplayTallies | undefined
  /** How many of the most-limited addresses to list per setting (default 5). */
  topLimited?: number
}

export interface NatImpact {
  address: string
  requests: number
  answered: number
  kods: number
  answeredShare: number
}

export interface LimitedClient {
  address: string
  requests: number
  answered: number
  kods: number
}

export interface LimiterResult {
  algorithm: LimiterSetting['algorithm']
  /** The setting as it is written in the daemon's configuration file. */
  setting: string
  parameters: LimiterSetting
  /** False for chrony, whose limited requests are answered at random (see `seed`). */
  deterministic: boolean
  requests: number
  answered: number
  /** KoD RATE replies; each costs the same egress as an answer. */
  kods: number
  /** Requests the server answered in the capture that this setting would drop (unanswered ones are the baseline's). */
  dropped: number
  /** Billable (IP-layer) bytes of answers and KoDs. */
  egressBytes: number
  /** Egress the capture shows minus this setting's egress. */
  savedBytes: number
  savedShare: number
  monthlyCostUsd: number
  annualCostUsd: number
  savedAnnualUsd: number
  blackedOutNats: NatImpact[]
  mostLimited: LimitedClient[]
}

export interface RateLimitReport {
  durationSec: number
  /** Time requests replayed (modes 1 and 3); control and monlist queries are left out. */
  requests: number
  pricing: string
  seed: number
  blackoutBelowShare: number
  /**
   * What the capture shows the server actually sent; `unanswered` requests got nothing from it, nor from any replay.
   */
  baseline: {
    answered: number
    kods: number
    unanswered: number
    egressBytes: number
    monthlyCostUsd: number
    annualCostUsd: number
  }
  results: LimiterResult[]
  assumptions: string[]
}

const ASSUMPTIONS = [
  'Clients send exactly what the capture shows; none backs off after a KoD or retries faster when dropped.',
  "The daemon's client table holds every client (raise ntpd `mru maxdepth` / chrony `clientloglimit` on a busy server).",
  'The replay answers only requests the server answered in the capture: it limits what was sent, it cannot add to it; requests the server left unanswered are counted apart.',
]

/**
 * Replays every time request of `log` through each limiter setting, client by client over the log
 * grouped by client (limiter state is per client, so this reads it sequentially), and prices the
 * egress each would send (extrapolated over `durationSec`).
 */
export function simulateLimiters(log: RequestLog, options: SimulateOptions = {}): RateLimitReport {
  const settings = options.settings ?? DEFAULT_LIMITER_SETTINGS
  const pricing = options.pricing ?? CURRENT_EGRESS_PRICING
  const seed = options.seed ?? 1
  const blackoutBelowShare = options.blackoutBelowShare ?? 0.5
  const durationSec = options.durationSec ?? captureSpan(log)
  if (!(durationSec > 0)) {
    throw new BillwatchError('E_NO_DATA', 'cannot extrapolate a rate-limit saving from a capture with no duration', {
      expected: 'at least two requests at different times, or durationSec > 0',
      field: 'durationSec',
    })
  }
  const clientCount = log.clients.length
  // The log is grouped only for what was not given (a log read back from disk comes with both).
  let grouped = options.groups
  const groups = (): ClientGroups => (grouped ??= groupByClient(log))
  const natClients =
    options.suspectedNatClients ?? analyseBehaviour(log, {durationSec, groups: groups()}).suspectedNatClients

  // Replays run in a worker (startReplayWorker) come with their baseline; else both are made here.
  const tallies = options.tallies ?? replayTallies(groups(), clientCount, settings, seed)
  const {baseline} = tallies
  const requests = baseline.requests
  const baselineCost = costOfRate(baseline.bytes / durationSec, pricing)
  const noKods = new Uint32Array(clientCount)
  const results = settings.map((setting) => {
    const tally = tallies.runs[JSON.stringify(replayedAs(setting, settings))]
    if (!tally)
      throw new BillwatchError('E_INTERNAL', `no replay of ${describeSetting(setting)} among the given tallies`)
    // A setting without KoD drops where its replayed sibling sent one.
    const withKods = sendsKod(setting)
    const answered = tally.answered
    const kods = withKods ? tally.kods : 0
    const egressBytes = tally.answeredBytes + (withKods ? tally.kodBytes : 0)
    const answeredPerClient = tally.answeredPerClient
    const kodsPerClient = withKods ? tally.kodsPerClient : noKods
    const cost = costOfRate(egressBytes / durationSec, pricing)
    const result: LimiterResult = {
      algorithm: setting.algorithm,
      annualCostUsd: cost.yearlyUsd,
      answered,
      blackedOutNats: natImpacts(natClients, log.clients, baseline.perClient, answeredPerClient, kodsPerClient).filter(
        (nat) => nat.answeredShare < blackoutBelowShare,
      ),
      deterministic: setting.algorithm !== 'chrony',
      dropped: requests - (requests - baseline.answered - baseline.kods) - answered - kods,
      egressBytes,
      kods,
      monthlyCostUsd: cost.monthlyUsd,
      mostLimited: mostLimited(
        log.clients,
        baseline.perClient,
        answeredPerClient,
        kodsPerClient,
        options.topLimited ?? 5,
      ),
      parameters: setting,
      requests,
      savedAnnualUsd: baselineCost.yearlyUsd - cost.yearlyUsd,
      savedBytes: baseline.bytes - egressBytes,
      savedShare: baseline.bytes > 0 ? (baseline.bytes - egressBytes) / baseline.bytes : 0,
      setting: describeSetting(setting),
    }
    return result
  })

  return {
    assumptions: ASSUMPTIONS,
    baseline: {
      annualCostUsd: baselineCost.yearlyUsd,
      answered: baseline.answered,
      egressBytes: baseline.bytes,
      kods: baseline.kods,
      monthlyCostUsd: baselineCost.monthlyUsd,
      unanswered: requests - baseline.answered - baseline.kods,
    },
    blackoutBelowShare,
    durationSec,
    pricing: pricing.label,
    requests,
    results,
    seed,
  }
}

/**
 * Runs the replays of `settings` over the grouped log. Settings that differ only in KoD share their
 * limiter state, so each distinct run (see replayedAs) is replayed once.
 */
export function replayTallies(
  groups: ClientGroups,
  clientCount: number,
  settings: readonly LimiterSetting[] = DEFAULT_LIMITER_SETTINGS,
  seed = 1,
): ReplayTallies {
  const pass = new ReplayPass(clientCount, settings, seed)
  pass.add(groups, 0)
  return pass.result()
}

/**
 * The replays fed a range of clients at a time, in client order: a log grouped whole is one range; a log spilled to
 * disk is read back range by range. Each limiter goes on from one range to the next with its state and its random
 * streams, so the tallies are those of one replay over the whole log.
 */
export class ReplayPass {
  private readonly runs: {key: string; limiter: Limiter; tally: ReplayTally}[] = []
  private readonly baseline: TimeRequestBaseline

  constructor(clientCount: number, settings: readonly LimiterSetting[] = DEFAULT_LIMITER_SETTINGS, seed = 1) {
    for (const setting of settings) {
      const run = replayedAs(setting, settings)
      const key = JSON.stringify(run)
      if (this.runs.some((other) => other.key === key)) continue
      const limiter = createLimiter(run, clientCount, {kodRandom: seededRandom(~seed), random: seededRandom(seed)})
      this.runs.push({
        key,
        limiter,
        tally: {
          answered: 0,
          answeredBytes: 0,
          answeredPerClient: new Uint32Array(clientCount),
          kodBytes: 0,
          kods: 0,
          kodsPerClient: new Uint32Array(clientCount),
        },
      })
    }
    this.baseline = {answered: 0, bytes: 0, kods: 0, perClient: new Uint32Array(clientCount), requests: 0}
  }

  /** Replays `groups`, whose group c holds every request of client `firstClient + c`. */
  add(groups: ClientGroups, firstClient: number): void {
    const replay = timeRequestsByClient(groups, groups.start.length - 1, this.baseline, firstClient)
    // An addon built before it could replay (a stale build) leaves the replays to JavaScript.
    const scanner = nativeScanner()
    for (const {limiter, tally} of this.runs) {
      const native = limiter.native
      if (scanner?.replayLimiter && native && (native.algorithm !== 2 || scanner.replaysNtpsec === true))
        tallyNatively(scanner, native, replay, tally, firstClient)
      else tallyDecisions(limiter, replay, tally, firstClient)
    }
  }

  result(): ReplayTallies {
    return {baseline: this.baseline, runs: Object.fromEntries(this.runs.map(({key, tally}) => [key, tally]))}
  }
}

/**
 * Below this many requests a worker thread costs more to start than it saves (BILLWATCH_REPLAY_WORKER_MIN overrides,
 * for tests).
 */
const WORKER_MIN_REQUESTS = 200_000

/** Whether a log of `requests` rows is large enough for its replays to pay for a worker thread. */
export function replayWorkerPays(requests: number): boolean {
  return requests >= Number(process.env.BILLWATCH_REPLAY_WORKER_MIN ?? WORKER_MIN_REQUESTS)
}

/** What the replay worker thread is given: a log grouped with `{shared: true}` reaches it without a copy. */
export interface ReplayWorkerInput {
  groups: ClientGroups
  clientCount: number
  settings: readonly LimiterSetting[]
  seed: number
}

/** A worker thread ready to run replayTallies (see startReplayWorker). */
export interface ReplayWorker {
  /** Replays the groups beside the caller; pass the result to simulateLimiters as `tallies`. */
  replay(
    groups: ClientGroups,
    clientCount: number,
    options?: {settings?: readonly LimiterSetting[] | undefined; seed?: number},
  ): Promise<ReplayTallies>
  /** Stops a worker that will get no groups (the caller failed first). */
  cancel(): void
}

/**
 * A worker thread for a log of `requests` rows' replays, started before the caller groups the log so
 * that it has loaded its modules by the time the groups are ready; then the replays run beside the
 * caller's behaviour analysis. Undefined when the log is too small for a thread to pay off.
 */
export function startReplayWorker(requests: number): ReplayWorker | undefined {
  if (!replayWorkerPays(requests)) return undefined
  const job = startWorker<ReplayWorkerInput, ReplayTallies>(import.meta.url, './replay-worker')
  return {
    cancel: () => job.cancel(),
    replay(groups, clientCount, options = {}) {
      job.post({clientCount, groups, seed: options.seed ?? 1, settings: options.settings ?? DEFAULT_LIMITER_SETTINGS})
      return job.result
    },
  }
}

/** The configuration line(s) a setting corresponds to, e.g. `ratelimit interval 3 burst 8 leak 2`. */
export function describeSetting(setting: LimiterSetting): string {
  switch (setting.algorithm) {
    case 'ntpd':
      return `ntpd: restrict default limited${setting.kod ? ' kod' : ''}; discard average ${setting.average} minimum ${setting.minimum}`
    case 'ntpsec':
      return `ntpsec: restrict default limited${setting.kod ? ' kod' : ''}; limit average ${setting.average} burst ${setting.burst} kod ${setting.kodRate}`
    case 'chrony':
      return `chrony: ratelimit interval ${setting.interval} burst ${setting.burst} leak ${setting.leak}${setting.kod > 0 ? ` kod ${setting.kod} (chrony >= 4.6)` : ''}`
  }
}

interface OptionRange {
  min: number
  max: number
  integer: boolean
}

const range = (min: number, max: number, integer = true): OptionRange => ({integer, max, min})

interface LimiterGrammar {
  /** Options that take a number, with what the daemon accepts. */
  numbers: Record<string, OptionRange>
  /** Options that may also stand alone (a bare `kod`). */
  bare: string[]
}

/**
 * What each daemon's configuration accepts (a value the daemon would clamp is refused rather than
 * replayed as something else): ntpd's headways are log2 seconds and seconds, ntpsec's average is
 * packets per second, chrony's interval is log2 seconds and its leak and kod are 1 in 2^n. Options
 * are in the order the daemons' manuals list them, as error messages list them.
 */
const LIMITER_GRAMMAR: Record<string, LimiterGrammar> = {
  chrony: {
    bare: ['kod'],
    numbers: {interval: range(-19, 12), burst: range(1, 255), leak: range(1, 4), kod: range(0, 4)},
  },
  ntpd: {bare: ['kod', 'nokod'], numbers: {average: range(0, 16), minimum: range(0, 3600)}},
  ntpsec: {
    bare: ['kod', 'nokod'],
    numbers: {average: range(0.001, 1e6, false), burst: range(0.001, 1e6, false), kod: range(0, 1e6, false)},
  },
}

/**
 * Parses a setting written like the daemon's own configuration, for a command-line flag:
 * `ntpd average 3 minimum 2 kod`, `ntpsec average 1 burst 20 kod 0.5` (a bare `kod` keeps the
 * default rate; `nokod` turns KoDs off), `chrony interval 3 burst 8 leak 2 kod 1`. Omitted
 * values take the daemon's defaults; a value out of the daemon's range is an E_USAGE error.
 */
export function parseLimiterSetting(text: string): LimiterSetting {
  const words = text
    .trim()
    .split(/[\s,:=]+/)
    .filter(Boolean)
  const algorithm = words.shift()
  const values = new Map<string, number | true>()
  for (let i = 0; i < words.length; i++) {
    const key = words[i]!
    const next = words[i + 1]
    if (next !== undefined && /^-?\d+(\.\d+)?$/.test(next)) {
      values.set(key, Number(next))
      i++
    } else values.set(key, true)
  }
  const grammar = algorithm === undefined ? undefined : LIMITER_GRAMMAR[algorithm]
  if (grammar === undefined) {
    throw new BillwatchError('E_USAGE', 'unknown rate limiter', {
      expected: 'ntpd, ntpsec or chrony',
      field: '--limiter',
      got: algorithm ?? text,
    })
  }
  const keys = [...new Set([...Object.keys(grammar.numbers), ...grammar.bare])]
  for (const [key, value] of values) {
    if (!keys.includes(key)) {
      throw new BillwatchError('E_USAGE', `unknown ${algorithm} limiter option`, {
        expected: keys.join(', '),
        field: '--limiter',
        got: key,
      })
    }
    const allowed = grammar.numbers[key]
    if (value === true) {
      if (!grammar.bare.includes(key))
        throw new BillwatchError('E_USAGE', `${algorithm} ${key} needs a number`, {
          expected: `${key} N`,
          field: '--limiter',
          got: key,
        })
    } else if (!allowed) {
      throw new BillwatchError('E_USAGE', `${algorithm} ${key} takes no value`, {
        expected: key,
        field: '--limiter',
        got: `${key} ${value}`,
      })
    } else if (value < allowed.min || value > allowed.max || (allowed.integer && !Number.isInteger(value))) {
      const kind = allowed.integer ? 'an integer' : 'a number'
      throw new BillwatchError('E_USAGE', `${algorithm} ${key} must be ${kind} from ${allowed.min} to ${allowed.max}`, {
        expected: `${allowed.min}..${allowed.max}`,
        field: '--limiter',
        got: String(value),
      })
    }
  }
  const number = (key: string, fallback: number): number => {
    const value = values.get(key)
    return typeof value === 'number' ? value : fallback
  }
  if (algorithm === 'ntpd') {
    return {
      algorithm,
      average: number('average', 3),
      kod: values.has('kod') && !values.has('nokod'),
      minimum: number('minimum', 2),
    }
  }
  if (algorithm === 'ntpsec') {
    return {
      algorithm,
      average: number('average', 1),
      burst: number('burst', 20),
      kod: !values.has('nokod'),
      kodRate: number('kod', 0.5),
    }
  }
  const kod = values.get('kod')
  return {
    algorithm: 'chrony',
    burst: number('burst', 8),
    interval: number('interval', 3),
    kod: kod === true ? 1 : number('kod', 0),
    leak: number('leak', 2),
  }
}

function isTimeRequest(mode: number): boolean {
  return mode === 3 || mode === 1
}

function sendsKod(setting: LimiterSetting): boolean {
  return setting.algorithm === 'chrony' ? setting.kod > 0 : setting.kod
}

/**
 * The setting whose replay also answers for `setting`. KoD changes no limiter state — ntpd and ntpsec
 * send a KoD exactly where they would otherwise drop, and chrony draws its KoDs from a random stream
 * of their own — so a setting without KoD reads a sibling's replay with its KoDs turned into drops.
 */
function replayedAs(setting: LimiterSetting, settings: readonly LimiterSetting[]): LimiterSetting {
  if (setting.algorithm !== 'chrony') return {...setting, kod: true}
  if (setting.kod > 0) return setting
  const sibling = settings.find(
    (other) =>
      other.algorithm === 'chrony' &&
      other.kod > 0 &&
      other.interval === setting.interval &&
      other.burst === setting.burst &&
      other.leak === setting.leak,
  )
  return sibling ?? setting
}

/** The replays' results: what each distinct limiter run sent, and what the capture shows was sent. */
export interface ReplayTallies {
  baseline: TimeRequestBaseline
  /** Keyed by the JSON of the setting replayed (see replayedAs). */
  runs: Record<string, ReplayTally>
}

/**
 * The capture's time requests (modes 1 and 3): how many, per client and in all, and what the server really sent for
 * them.
 */
export interface TimeRequestBaseline {
  requests: number
  perClient: Uint32Array
  answered: number
  kods: number
  bytes: number
}

export interface ReplayTally {
  answeredPerClient: Uint32Array
  kodsPerClient: Uint32Array
  answered: number
  kods: number
  answeredBytes: number
  kodBytes: number
}

/**
 * Replays the grouped time requests through `limiter` and counts, per client and in all, what it sent, into `tally`
 * (group c is client `firstClient + c`).
 */
function tallyDecisions(limiter: Limiter, replay: GroupedTimeRequests, tally: ReplayTally, firstClient: number): void {
  const decisions = new Uint8Array(replay.timeSec.length)
  limiter.decideGrouped(replay.start, replay.timeSec, decisions, firstClient)
  const groupCount = replay.start.length - 1
  for (let c = 0; c < groupCount; c++) {
    let answered = 0
    let kods = 0
    for (let row = replay.start[c]!, end = replay.start[c + 1]!; row < end; row++) {
      // The server sent nothing for this request (a drop, a loss, a pause): nor can a replay of it.
      if (replay.served[row] === DROP) continue
      const decision = decisions[row]!
      if (decision === ANSWER) {
        answered++
        tally.answeredBytes += replay.bytes[row]!
      } else if (decision === KOD) {
        kods++
        tally.kodBytes += replay.bytes[row]!
      }
    }
    tally.answeredPerClient[firstClient + c] = answered
    tally.kodsPerClient[firstClient + c] = kods
    tally.answered += answered
    tally.kods += kods
  }
}

/** tallyDecisions by the native addon: the same decisions from the same limiter state, and the same tally. */
function tallyNatively(
  scanner: NativeScanner,
  state: NativeLimiterState,
  replay: GroupedTimeRequests,
  tally: ReplayTally,
  firstClient: number,
): void {
  const sums = Float64Array.of(tally.answered, tally.kods, tally.answeredBytes, tally.kodBytes)
  scanner.replayLimiter(
    state.algorithm,
    state.params,
    replay.start,
    replay.timeSec,
    replay.served,
    replay.bytes,
    firstClient,
    state.last,
    state.leak,
    state.tokens,
    state.rate,
    state.timeoutRate,
    state.dropped,
    state.randomState,
    state.kodRandomState,
    tally.answeredPerClient,
    tally.kodsPerClient,
    sums,
  )
  tally.answered = sums[0]!
  tally.kods = sums[1]!
  tally.answeredBytes = sums[2]!
  tally.kodBytes = sums[3]!
}

interface GroupedTimeRequests {
  /** Group c's time requests are rows [start[c], start[c + 1]), in capture order. */
  start: Uint32Array
  timeSec: Float64Array
  /** Billable bytes of each request's reply (a typical reply's when none was seen). */
  bytes: Uint16Array
  /** What the server sent for each request in the capture: DROP (nothing), ANSWER or KOD. */
  served: Uint8Array
}

/**
 * The time requests (modes 1 and 3) of the grouped log, and what the capture shows was sent for them, added to
 * `baseline` (group c is client `firstClient + c`).
 */
function timeRequestsByClient(
  groups: ClientGroups,
  groupCount: number,
  baseline: TimeRequestBaseline,
  firstClient: number,
): GroupedTimeRequests {
  const rows = groups.mode.length
  let count = 0
  for (let row = 0; row < rows; row++) if (isTimeRequest(groups.mode[row]!)) count++
  // Usually every request is a time request: then the grouping's own columns serve as they are.
  const copy = count < rows
  baseline.requests += count
  const replay: GroupedTimeRequests = {
    bytes: copy ? new Uint16Array(count) : groups.replyIpBytes,
    served: copy ? new Uint8Array(count) : groups.reply,
    start: copy ? new Uint32Array(groupCount + 1) : groups.start,
    timeSec: copy ? new Float64Array(count) : groups.timeSec,
  }
  let j = 0
  for (let c = 0; c < groupCount; c++) {
    if (copy) replay.start[c] = j
    for (let row = groups.start[c]!, end = groups.start[c + 1]!; row < end; row++) {
      if (!isTimeRequest(groups.mode[row]!)) continue
      if (copy) {
        replay.timeSec[j] = groups.timeSec[row]!
        replay.bytes[j] = groups.replyIpBytes[row]!
        replay.served[j] = groups.reply[row]!
      }
      j++
      const reply = groups.reply[row]!
      if (reply === DROP) continue
      if (reply === KOD) baseline.kods++
      else baseline.answered++
      baseline.bytes += groups.replyIpBytes[row]!
    }
    baseline.perClient[firstClient + c] = j - replay.start[c]!
  }
  if (copy) replay.start[groupCount] = j
  return replay
}

function captureSpan(log: RequestLog): number {
  const {first, last} = timeRange(log)
  return log.count > 1 ? last - first : 0
}

function natImpacts(
  natClients: readonly number[],
  clients: ClientAddressList,
  requests: Uint32Array,
  answered: Uint32Array,
  kods: Uint32Array,
): NatImpact[] {
  return natClients
    .filter((client) => requests[client]! > 0)
    .map((client) => ({
      address: clients.at(client)!,
      answered: answered[client]!,
      answeredShare: answered[client]! / requests[client]!,
      kods: kods[client]!,
      requests: requests[client]!,
    }))
}

/** The `top` addresses with the most requests left unanswered (dropped or KoD). */
function mostLimited(
  clients: ClientAddressList,
  requests: Uint32Array,
  answered: Uint32Array,
  kods: Uint32Array,
  top: number,
): LimitedClient[] {
  const denied = (client: number): number => requests[client]! - answered[client]!
  // Most denied first; of equals, the first seen.
  const best = bestFirst(
    requests.length,
    top,
    (a, b) => denied(a) - denied(b) || b - a,
    (client) => denied(client) > 0,
  )
  return best.map((client) => ({
    address: clients.at(client)!,
    answered: answered[client]!,
    kods: kods[client]!,
    requests: requests[client]!,
  }))
}
