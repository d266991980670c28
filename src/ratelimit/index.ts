/**
 * "What would rate limiting do, before anyone deploys it": replays a capture's time requests through
 * the published limiters of classic ntpd, ntpsec and chrony (see ./limiters.ts), and prices what each
 * setting would have sent. Clients are assumed not to react to being limited — a well-behaved client
 * that backs off after a KoD makes the saving larger, a broken one that retries faster makes it
 * smaller — which is why the result says which suspected NATs would lose their time service.
 */
import {analyseBehaviour, timeRange} from '../behaviour/index.js'
import {BillwatchError} from '../errors.js'
import {runInWorker} from '../util/worker.js'
import type {RequestLog} from '../pcap/request-log.js'
import {CURRENT_EGRESS_PRICING, costOfRate, type EgressPricing} from '../pricing/egress.js'
import {ANSWER, createLimiter, DROP, KOD, seededRandom, type LimiterSetting} from './limiters.js'

export {chronyBucket, createLimiter, seededRandom} from './limiters.js'
export {ANSWER, DROP, KOD} from './limiters.js'
export type {ChronySetting, Decision, LimiterOptions, LimiterSetting, NtpdSetting, NtpsecSetting} from './limiters.js'

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
  settings?: readonly LimiterSetting[]
  pricing?: EgressPricing
  /** Seconds the capture covers (the pcap span); default: first to last request. */
  durationSec?: number
  /** Addresses of suspected NATs to check for blackout; default: analyseBehaviour(log).suspectedNat. */
  suspectedNat?: readonly string[]
  /** A NAT is blacked out when fewer than this share of its time requests are answered (default 0.5). */
  blackoutBelowShare?: number
  /** Seed of chrony's random leak (results are repeatable for one seed). */
  seed?: number
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
  /** What the capture shows the server actually sent. */
  baseline: {answered: number; kods: number; egressBytes: number; monthlyCostUsd: number; annualCostUsd: number}
  results: LimiterResult[]
  assumptions: string[]
}

const ASSUMPTIONS = [
  'Clients send exactly what the capture shows; none backs off after a KoD or retries faster when dropped.',
  "The daemon's client table holds every client (raise ntpd `mru maxdepth` / chrony `clientloglimit` on a busy server).",
  'Unanswered requests in the capture are priced at a typical reply size.',
]

/**
 * Replays every time request of `log` through each limiter setting, in one pass per setting over
 * typed arrays, and prices the egress each would send (extrapolated over `durationSec`).
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

  // NAT membership: client index -> slot in the NAT list, -1 elsewhere.
  const natAddresses = options.suspectedNat ?? analyseBehaviour(log, {durationSec, maxListed: Number.MAX_SAFE_INTEGER}).suspectedNat.map((nat) => nat.address)
  const natSlot = new Int32Array(clientCount).fill(-1)
  const addressIndex = new Map(log.clients.map((address, index) => [address, index]))
  natAddresses.forEach((address, slot) => {
    const index = addressIndex.get(address)
    if (index !== undefined) natSlot[index] = slot
  })

  // The time requests, contiguous: every setting replays the same arrays.
  let requests = 0
  for (let i = 0; i < log.count; i++) if (isTimeRequest(log.mode[i]!)) requests++
  const clientOf = new Uint32Array(requests)
  const timeOf = new Float64Array(requests)
  const bytesOf = new Uint16Array(requests)
  const perClientRequests = new Uint32Array(clientCount)
  let baselineAnswered = 0
  let baselineKods = 0
  let baselineBytes = 0
  for (let i = 0, j = 0; i < log.count; i++) {
    if (!isTimeRequest(log.mode[i]!)) continue
    const client = log.client[i]!
    clientOf[j] = client
    timeOf[j] = log.timeSec[i]!
    bytesOf[j] = log.replyIpBytes[i]!
    j++
    perClientRequests[client] = perClientRequests[client]! + 1
    const reply = log.reply[i]!
    if (reply === DROP) continue
    if (reply === KOD) baselineKods++
    else baselineAnswered++
    baselineBytes += log.replyIpBytes[i]!
  }
  const baselineCost = costOfRate(baselineBytes / durationSec, pricing)

  const decisions = new Uint8Array(requests)
  const answeredPerClient = new Uint32Array(clientCount)
  const kodsPerClient = new Uint32Array(clientCount)
  const results = settings.map((setting) => {
    answeredPerClient.fill(0)
    kodsPerClient.fill(0)
    createLimiter(setting, clientCount, {random: seededRandom(seed)}).decideAll(clientOf, timeOf, requests, decisions)
    let answered = 0
    let kods = 0
    let egressBytes = 0
    for (let j = 0; j < requests; j++) {
      const decision = decisions[j]!
      if (decision === DROP) continue
      const client = clientOf[j]!
      egressBytes += bytesOf[j]!
      if (decision === ANSWER) {
        answered++
        answeredPerClient[client] = answeredPerClient[client]! + 1
      } else {
        kods++
        kodsPerClient[client] = kodsPerClient[client]! + 1
      }
    }
    const cost = costOfRate(egressBytes / durationSec, pricing)
    const result: LimiterResult = {
      algorithm: setting.algorithm,
      annualCostUsd: cost.yearlyUsd,
      answered,
      blackedOutNats: natImpacts(natAddresses, natSlot, perClientRequests, answeredPerClient, kodsPerClient).filter(
        (nat) => nat.answeredShare < blackoutBelowShare,
      ),
      deterministic: setting.algorithm !== 'chrony',
      dropped: requests - answered - kods,
      egressBytes,
      kods,
      monthlyCostUsd: cost.monthlyUsd,
      mostLimited: mostLimited(log.clients, perClientRequests, answeredPerClient, kodsPerClient, options.topLimited ?? 5),
      parameters: setting,
      requests,
      savedAnnualUsd: baselineCost.yearlyUsd - cost.yearlyUsd,
      savedBytes: baselineBytes - egressBytes,
      savedShare: baselineBytes > 0 ? (baselineBytes - egressBytes) / baselineBytes : 0,
      setting: describeSetting(setting),
    }
    return result
  })

  return {
    assumptions: ASSUMPTIONS,
    baseline: {
      annualCostUsd: baselineCost.yearlyUsd,
      answered: baselineAnswered,
      egressBytes: baselineBytes,
      kods: baselineKods,
      monthlyCostUsd: baselineCost.monthlyUsd,
    },
    blackoutBelowShare,
    durationSec,
    pricing: pricing.label,
    requests,
    results,
    seed,
  }
}

/** Below this many requests a worker thread costs more to start than it saves. */
const PARALLEL_MIN_REQUESTS = 200_000

export interface ReplayShare {
  /** The settings this thread replays itself. */
  mine: LimiterSetting[]
  /** The rest, replayed by a worker thread that finds the suspected NATs on its own. */
  theirs: Promise<RateLimitReport>
}

/**
 * Starts half of the limiter settings in a worker thread, so a big capture's replay runs beside the
 * caller's own behaviour analysis and its half of the settings. The worker finds the suspected NATs
 * as `billwatch pcap` does (analyseBehaviour with the capture's duration, default options), so its
 * results equal simulateLimiters' for the same list; chrony's random choices are seeded per setting,
 * so which thread replays a setting changes nothing. Undefined when a worker would not pay off.
 */
export function startReplayShare(log: RequestLog, options: Omit<SimulateOptions, 'settings' | 'suspectedNat'> & {durationSec: number}): ReplayShare | undefined {
  const settings = DEFAULT_LIMITER_SETTINGS
  if (log.count < PARALLEL_MIN_REQUESTS) return undefined
  const half = Math.ceil(settings.length / 2)
  const theirs = runInWorker<RateLimitReport>(import.meta.url, './replay-worker', {log, options: {...options, settings: settings.slice(half)}})
  theirs.catch(() => {})
  return {mine: settings.slice(0, half), theirs}
}

/** Joins the caller's half of a shared replay with the worker's, in DEFAULT_LIMITER_SETTINGS order. */
export async function joinReplayShare(mine: RateLimitReport, share: ReplayShare): Promise<RateLimitReport> {
  return {...mine, results: [...mine.results, ...(await share.theirs).results]}
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

/**
 * Parses a setting written like the daemon's own configuration, for a command-line flag:
 * `ntpd average 3 minimum 2 kod`, `ntpsec average 1 burst 20 kod 0.5` (a bare `kod` keeps the
 * default rate; `nokod` turns KoDs off), `chrony interval 3 burst 8 leak 2 kod 1`. Omitted
 * values take the daemon's defaults.
 */
export function parseLimiterSetting(text: string): LimiterSetting {
  const words = text.trim().split(/[\s,:=]+/).filter(Boolean)
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
  const allowed: Record<string, string[]> = {
    chrony: ['interval', 'burst', 'leak', 'kod'],
    ntpd: ['average', 'minimum', 'kod', 'nokod'],
    ntpsec: ['average', 'burst', 'kod', 'nokod'],
  }
  const keys = algorithm === undefined ? undefined : allowed[algorithm]
  if (keys === undefined) {
    throw new BillwatchError('E_USAGE', 'unknown rate limiter', {expected: 'ntpd, ntpsec or chrony', field: 'limiter', got: algorithm ?? text})
  }
  for (const key of values.keys()) {
    if (!keys.includes(key)) {
      throw new BillwatchError('E_USAGE', `unknown ${algorithm} limiter option`, {expected: keys.join(', '), field: 'limiter', got: key})
    }
  }
  const number = (key: string, fallback: number): number => {
    const value = values.get(key)
    return typeof value === 'number' ? value : fallback
  }
  if (algorithm === 'ntpd') {
    return {algorithm, average: number('average', 3), kod: values.has('kod') && !values.has('nokod'), minimum: number('minimum', 2)}
  }
  if (algorithm === 'ntpsec') {
    return {algorithm, average: number('average', 1), burst: number('burst', 20), kod: !values.has('nokod'), kodRate: number('kod', 0.5)}
  }
  const kod = values.get('kod')
  return {algorithm: 'chrony', burst: number('burst', 8), interval: number('interval', 3), kod: kod === true ? 1 : number('kod', 0), leak: number('leak', 2)}
}

function isTimeRequest(mode: number): boolean {
  return mode === 3 || mode === 1
}

function captureSpan(log: RequestLog): number {
  const {first, last} = timeRange(log)
  return log.count > 1 ? last - first : 0
}

function natImpacts(addresses: readonly string[], natSlot: Int32Array, requests: Uint32Array, answered: Uint32Array, kods: Uint32Array): NatImpact[] {
  const impacts: NatImpact[] = addresses.map((address) => ({address, answered: 0, answeredShare: 0, kods: 0, requests: 0}))
  for (let client = 0; client < natSlot.length; client++) {
    const slot = natSlot[client]!
    if (slot < 0) continue
    const impact = impacts[slot]!
    impact.requests = requests[client]!
    impact.answered = answered[client]!
    impact.kods = kods[client]!
    impact.answeredShare = impact.requests > 0 ? impact.answered / impact.requests : 1
  }
  return impacts.filter((impact) => impact.requests > 0)
}

/** The `top` addresses with the most requests left unanswered (dropped or KoD). */
function mostLimited(clients: string[], requests: Uint32Array, answered: Uint32Array, kods: Uint32Array, top: number): LimitedClient[] {
  const best: number[] = []
  const denied = (client: number): number => requests[client]! - answered[client]!
  for (let client = 0; client < requests.length; client++) {
    const value = denied(client)
    if (value === 0) continue
    if (best.length < top) best.push(client)
    else if (value > denied(best[best.length - 1]!)) best[best.length - 1] = client
    else continue
    best.sort((a, b) => denied(b) - denied(a))
  }
  return best.map((client) => ({address: clients[client]!, answered: answered[client]!, kods: kods[client]!, requests: requests[client]!}))
}
