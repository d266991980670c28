import {statSync} from 'node:fs'

import {
  analyseBehaviour,
  BehaviourPass,
  type BehaviourReport,
  type ClientGroups,
  groupByClient,
  medianInPlace,
  setBits,
  type Fleet,
  type MisbehavingClient,
  type SuspectedNat,
  type Violation,
} from '../behaviour/index.js'
import {costOfRate, CURRENT_EGRESS_PRICING, type EgressPricing} from '../pricing/egress.js'
import {
  DEFAULT_LIMITER_SETTINGS,
  type LimiterSetting,
  type RateLimitReport,
  ReplayPass,
  type ReplayTallies,
  type ReplayWorker,
  replayWorkerPays,
  simulateLimiters,
  startReplayWorker,
} from '../ratelimit/index.js'
import {bestFirst} from '../util/select.js'
import {startWorker} from '../util/worker.js'
import type {BeyondMaxClients, CaptureAnalysis, CaptureCounts, TrafficTotals} from './analyse.js'
import {LINKTYPE_NAMES} from './decode.js'
import {groupLog} from './native.js'
import type {Truncation} from './reader.js'
import {type CaptureGap, gapsBetween} from './capture-set.js'
import {clientRanges, readClientRange} from './spill.js'
import type {SpilledReplayInput} from './spill-replay-worker.js'

export interface ReportOptions {
  pricing?: EgressPricing
  /** Extra blocking thresholds (minimum queries) for the economics table. */
  blockThresholds?: number[]
  /** How many top talkers to list. */
  top?: number
  /**
   * Add the client-behaviour findings (NAT gateways, misbehaving clients, fleets, RFC violations) and
   * the rate-limiter replay; default true. Callers that need only counts can skip their cost.
   */
  behaviour?: boolean
  /** Replay the requests through the rate limiters (needs `behaviour`); default true. */
  replay?: boolean
  /** The limiter settings to replay; default: each daemon's defaults, with and without KoD. */
  limiters?: readonly LimiterSetting[] | undefined
  /**
   * A replay worker started before the scan (startEarlyReplayWorker), so that it has loaded its modules beside the
   * scan; buildReportParallel uses it when the log is large enough for a worker, and stops it otherwise.
   */
  replayWorker?: ReplayWorker | undefined
}

/** The fewest bytes a capture spends on one NTP request: a 16-byte pcap record header and the 90-byte frame. */
const MIN_REQUEST_RECORD_BYTES = 106

/**
 * A replay worker (startReplayWorker) for the capture file at `path`, started before it is scanned, when the file may
 * hold enough requests for one; undefined otherwise. Pass it to buildReportParallel as `replayWorker`.
 */
export function startEarlyReplayWorker(path: string): ReplayWorker | undefined {
  let size: number
  try {
    size = statSync(path).size
  } catch {
    return undefined
  }
  // A compressed file holds more than its size says; its replays start their worker after the scan, as ever.
  return startReplayWorker(Math.floor(size / MIN_REQUEST_RECORD_BYTES))
}

export interface DirectionReport extends TrafficTotals {
  /**
   * Wire bits per second over the capture span, /1000 (the NTP pool server incident's "738 kbits/sec"); null when the
   * capture cannot support a rate (see `warnings`).
   */
  kbitPerSec: null | number
  billableKbitPerSec: null | number
}

/** Something the reader of the figures must know first: `thin-capture`, `short-capture`. */
export interface CaptureWarning {
  code: string
  message: string
}

export interface PortReport extends TrafficTotals {
  protocol: string
  port: null | number
  /** Share of outbound wire bytes (the NTP pool server incident's "NTP is 99.6% of outbound"). */
  share: number
  billableShare: number
}

export interface TalkerReport {
  address: string
  requests: number
  responses: number
  /** Requests per second over the whole capture span (null: see `warnings`). */
  qps: null | number
  medianIntervalSec: null | number
  sourcePorts: number
  versions: number[]
  modes: number[]
  kods: number
  requestsAfterKod: number
  firstSeen: string
  lastSeen: string
  /** Outbound NTP IP bytes to this client. */
  billableBytes: number
  /** Share of all outbound NTP billable bytes. */
  share: number
}

export interface ThresholdRow {
  /** Block every client that sent at least this many requests in the capture. */
  minQueries: number
  blockedClients: number
  /** Share of outbound NTP bytes the block removes. */
  bandwidthCutShare: number
  /** USD per year for the NTP egress that remains, at the capture's rate (null: see `warnings`). */
  annualCost: null | number
}

export interface CumulativePoint {
  /** Clients with at most this many requests… */
  maxQueries: number
  /** …are this share of clients and receive this share of NTP bytes. */
  clientShare: number
  trafficShare: number
}

/** A rate and what it costs; every figure null when the capture cannot support a rate. */
export interface RateCost {
  bytesPerSec: null | number
  gbPerMonth: null | number
  monthlyUsd: null | number
  yearlyUsd: null | number
}

export interface CostReport {
  pricing: string
  outbound: RateCost
  ntp: RateCost
}

export interface NtpReport {
  port: number
  requests: number
  responses: number
  unanswered: number
  /** Kiss-o'-Death replies: a kiss code other than INIT/STEP in a stratum-0 reply (RFC 5905 §7.4). */
  kods: number
  kissCodes: Record<string, number>
  /**
   * Replies (in `responses`) from a server that answers unsynchronised, by why: INIT, STEP, 'LI 3', 'stratum 16', 'no
   * kiss code'.
   */
  unsynchronised: Record<string, number>
  /** Packets from the NTP port that answer no time request, by mode (0, 5 broadcast, 6 control, 7 private). */
  otherModes: Record<string, TrafficTotals>
  /** Distinct addresses that sent requests to, or got replies from, the server. */
  uniqueClients: number
  /**
   * Only when the capture has more clients than --max-clients: the clients past it, and their requests and replies.
   * They count in the totals (requests, responses, the client counts, outbound bytes) and in no per-client figure
   * (top talkers, cumulative share, thresholds, NAT, misbehaviour, fleets, violations, unanswered, the replays): see
   * the `max-clients` warning.
   */
  beyondMaxClients?: BeyondMaxClients
  requestingClients: number
  answeredClients: number
  /** Outbound NTP (replies from the NTP port). */
  outbound: TrafficTotals
  shareOfOutbound: number
  /** Requests by NTP version and by mode. */
  versions: Record<string, number>
  modes: Record<string, number>
  topTalkers: TalkerReport[]
  cumulativeShare: CumulativePoint[]
  thresholds: ThresholdRow[]
  /**
   * From src/behaviour: addresses that look like NAT/CGNAT gateways of many polite hosts (the blocking table's caveat).
   */
  suspectedNat?: SuspectedNat[]
  suspectedNatTotal?: number
  /** Single clients that break the rules (sub-15 s polling, no backoff, KoD ignored). */
  misbehaving?: MisbehavingClient[]
  misbehavingTotal?: number
  /** Synchronised bursts of distinct clients (cron fleets). */
  fleets?: Fleet[]
  /** RFC 4330/5905/8633 client-rule violations, per rule. */
  violations?: Violation[]
  /** From src/ratelimit: the capture's requests replayed through ntpd, ntpsec and chrony limiters. */
  rateLimiting?: RateLimitReport
}

export interface ControlReport {
  file: string
  host: null | string
  durationSec: number
  ntpBytes: number
  ntpBytesPerSec: number
  uniqueClients: number
  /** Control clients scaled to the primary capture's duration. */
  uniqueClientsNormalised: number
  bytesPerClient: number
  /** Primary ÷ control. */
  ratios: {
    bytesPerSec: number
    uniqueClients: number
    uniqueClientsNormalised: number
    bytesPerClient: number
    bytesPerClientPerSec: number
  }
}

export interface PcapReport extends CaptureCounts {
  /** First key of `pcap --json`: what limits the figures below (empty when nothing does). */
  warnings: CaptureWarning[]
  file: string
  format: string
  /** 'none', 'gzip' or 'zstd': how the file was compressed (read as a stream). */
  compression: string
  /**
   * Packets seen inside each tunnel or tag (VXLAN, Geneve, GRE, ERSPAN, VN-Tag, MPLS); all figures are the inner
   * packets'.
   */
  encapsulations: Record<string, number>
  fileBytes: number
  linkTypes: string[]
  start: null | string
  end: null | string
  truncated: null | Truncation
  host: null | {address: string; detected: boolean}
  outbound: DirectionReport
  inbound: DirectionReport
  otherPackets: number
  byPort: PortReport[]
  cost: CostReport
  ntp: NtpReport
  control?: ControlReport
  /** A set of files read as one capture: each file's span and packets, in the order read. */
  files?: {file: string; start: null | string; end: null | string; packets: number}[]
  /** Silences between consecutive files of a set (negative: the files overlap). */
  gaps?: CaptureGap[]
  /** A live capture (--interface): what was captured and how it ended. */
  live?: LiveCaptureReport
}

export interface LiveCaptureReport {
  interface: string
  filter: null | string
  /**
   * The duration asked for, and how the capture ended: 'duration', 'interrupt' (Ctrl-C) or 'end' (tcpdump stopped by
   * itself).
   */
  requestedSec: null | number
  stoppedBy: 'duration' | 'end' | 'interrupt'
  /** tcpdump's own count of packets the kernel dropped (null when it did not say). */
  droppedByKernel: null | number
}

/** Cut shares the economics table always lists (the rows of the NTP pool server incident's table). */
export const STANDARD_CUTS = [0.1, 0.25, 0.5, 0.75, 0.9, 0.95]

export function buildReport(analysis: CaptureAnalysis, options: ReportOptions = {}): PcapReport {
  if (analysis.ntp.log.spilled) {
    const {report, natClients, replay} = spilledPass(analysis, options, true)
    if (replay) report.ntp.rateLimiting = replayReport(analysis, natClients, undefined, options, replay.result())
    return report
  }
  const groups = wantsBehaviour(analysis, options) ? groupLog(analysis.ntp.log) : undefined
  const {report, natClients} = reportWithoutReplay(analysis, options, groups)
  if (groups && wantsReplay(analysis, options))
    report.ntp.rateLimiting = replayReport(analysis, natClients, groups, options)
  return report
}

/**
 * buildReport with the rate-limiter replays in a worker thread, started before the log is grouped so
 * it has loaded by then, and run beside the behaviour analysis (fleets included: the two sides then
 * take about the same time on a capture the size of the NTP pool server incident's). The result is buildReport's.
 */
export async function buildReportParallel(analysis: CaptureAnalysis, options: ReportOptions = {}): Promise<PcapReport> {
  const replay = wantsReplay(analysis, options)
  const log = analysis.ntp.log
  const early = options.replayWorker
  const useEarly = early !== undefined && replay && !log.spilled && replayWorkerPays(log.count)
  if (early && !useEarly) early.cancel()
  if (log.spilled) return buildSpilledReportParallel(analysis, options)
  const worker = replay ? (useEarly ? early : startReplayWorker(log.count)) : undefined
  let groups: ClientGroups | undefined
  try {
    groups = wantsBehaviour(analysis, options) ? groupLog(log, {shared: worker !== undefined}) : undefined
  } catch (error) {
    worker?.cancel()
    throw error
  }
  const tallies = groups && worker?.replay(groups, log.clients.length, {settings: options.limiters})
  const {report, natClients} = reportWithoutReplay(analysis, options, groups)
  if (groups && replay)
    report.ntp.rateLimiting = replayReport(analysis, natClients, groups, options, tallies && (await tallies))
  return report
}

/** What a pass over a spilled log gathered for the report: the counts the in-memory log gives by itself. */
interface ReadBack {
  versionCounts: Uint32Array
  modeCounts: Uint32Array
  behaviour?: BehaviourReport | undefined
  /** The top talkers' rows, group k for the k-th talker. */
  talkerRows: ClientGroups
}

/**
 * buildReportParallel for a log spilled to disk: the replays read the log back in a worker thread (see spilledPass)
 * beside the behaviour analysis.
 */
async function buildSpilledReportParallel(analysis: CaptureAnalysis, options: ReportOptions): Promise<PcapReport> {
  const worker =
    wantsReplay(analysis, options) &&
    analysis.ntp.requests >= Number(process.env.BILLWATCH_REPLAY_WORKER_MIN ?? 200_000)
      ? startWorker<SpilledReplayInput, ReplayTallies>(import.meta.url, './spill-replay-worker')
      : undefined
  worker?.post({
    requests: analysis.ntp.counters.requests,
    settings: options.limiters ?? DEFAULT_LIMITER_SETTINGS,
    spilled: analysis.ntp.log.spilled!,
  })
  let pass: ReturnType<typeof spilledPass>
  try {
    pass = spilledPass(analysis, options, worker === undefined)
  } catch (error) {
    worker?.cancel()
    throw error
  }
  const {report, natClients, replay} = pass
  const tallies = worker ? await worker.result : replay?.result()
  if (tallies) report.ntp.rateLimiting = replayReport(analysis, natClients, undefined, options, tallies)
  return report
}

/**
 * The report of a log spilled to disk (a day's capture) but its replays: the log is read back a client range at a
 * time, each range through the behaviour analysis (and, with `replays`, the limiter replays: client after client, as
 * over the grouped log), and again for the fleet windows' counts. The report is the one the log held in memory gives.
 */
function spilledPass(
  analysis: CaptureAnalysis,
  options: ReportOptions,
  replays: boolean,
): {report: PcapReport; natClients: number[]; replay: ReplayPass | undefined} {
  const {counters, log, requests, unanswered} = analysis.ntp
  const spilled = log.spilled!
  const clientCount = log.clients.length
  let busiest = 0
  for (let c = 0; c < clientCount; c++) busiest = Math.max(busiest, counters.requests[c]!)
  const durationSec = analysis.durationSec > 0 ? analysis.durationSec : undefined
  const summary = {first: spilled.firstSec, hasReplies: unanswered < requests, last: spilled.lastSec, requests}
  const behaviour = wantsBehaviour(analysis, options)
    ? new BehaviourPass(log.clients, summary, durationSec === undefined ? {busiest} : {busiest, durationSec})
    : undefined
  const replay =
    replays && behaviour && wantsReplay(analysis, options)
      ? new ReplayPass(clientCount, options.limiters ?? DEFAULT_LIMITER_SETTINGS)
      : undefined
  const order = talkerOrder(analysis, options.top ?? 10)
  const talkerOf = new Map(order.map((client, k) => [client, k]))
  const talkers: ClientGroups[] = []
  const read: ReadBack = {
    modeCounts: new Uint32Array(8),
    talkerRows: concatGroups([]),
    versionCounts: new Uint32Array(8),
  }
  const ranges = clientRanges(counters.requests, spilled.batchRows)
  for (const [from, to] of ranges) {
    const groups = readClientRange(spilled, from, to)
    const rows = groups.start[to - from]!
    for (let row = 0; row < rows; row++) {
      read.versionCounts[groups.version[row]!]!++
      read.modeCounts[groups.mode[row]!]!++
    }
    behaviour?.add(groups, from)
    replay?.add(groups, from)
    for (let c = from; c < to; c++) {
      const k = talkerOf.get(c)
      if (k !== undefined) talkers[k] = clientRows(groups, c - from)
    }
  }
  if (behaviour?.fleetWindows())
    for (const [from, to] of ranges) behaviour.addToWindows(readClientRange(spilled, from, to, true), from)
  read.talkerRows = concatGroups(order.map((_, k) => talkers[k]!))
  read.behaviour = behaviour?.result()
  return {...reportWithoutReplay(analysis, options, undefined, read), replay}
}

/** Group `group` of `groups` alone, its columns copied. */
function clientRows(groups: ClientGroups, group: number): ClientGroups {
  const from = groups.start[group]!
  const to = groups.start[group + 1]!
  return {
    mode: groups.mode.slice(from, to),
    reply: groups.reply.slice(from, to),
    replyIpBytes: groups.replyIpBytes.slice(from, to),
    srcPort: groups.srcPort.slice(from, to),
    start: Uint32Array.of(0, to - from),
    timeSec: groups.timeSec.slice(from, to),
    version: groups.version.slice(from, to),
  }
}

/** One-client groups end to end: group k is parts[k]'s client. */
function concatGroups(parts: ClientGroups[]): ClientGroups {
  const start = new Uint32Array(parts.length + 1)
  parts.forEach((part, k) => (start[k + 1] = start[k]! + part.timeSec.length))
  const rows = start[parts.length]!
  const out: ClientGroups = {
    mode: new Uint8Array(rows),
    reply: new Uint8Array(rows),
    replyIpBytes: new Uint16Array(rows),
    srcPort: new Uint16Array(rows),
    start,
    timeSec: new Float64Array(rows),
    version: new Uint8Array(rows),
  }
  parts.forEach((part, k) => {
    const at = start[k]!
    out.mode.set(part.mode, at)
    out.reply.set(part.reply, at)
    out.replyIpBytes.set(part.replyIpBytes, at)
    out.srcPort.set(part.srcPort, at)
    out.timeSec.set(part.timeSec, at)
    out.version.set(part.version, at)
  })
  return out
}

function wantsBehaviour(analysis: CaptureAnalysis, options: ReportOptions): boolean {
  return options.behaviour !== false && analysis.ntp.requests > 0
}

/** The replay extrapolates a rate, so it needs a capture that supports one. */
function wantsReplay(analysis: CaptureAnalysis, options: ReportOptions): boolean {
  return wantsBehaviour(analysis, options) && options.replay !== false && supportsRates(analysis)
}

/**
 * The rule for a rate: at least MIN_RATE_SECONDS of capture and MIN_RATE_PACKETS of the host's packets
 * (a Poisson count of 30 is known to ±36% at 95%; fewer, and a figure misleads more than it tells).
 * Below it, rates and monthly/yearly figures are withheld (null). A capture shorter than a minute is
 * flagged with the length that would give ±10% at 95%: about PACKETS_FOR_TEN_PERCENT packets ((1.96/0.1)²).
 */
export const RATE_RULE = {minSeconds: 10, minPackets: 30, shortSeconds: 60, packetsForTenPercent: 385} as const

function hostPackets(analysis: CaptureAnalysis): number {
  return analysis.host ? analysis.outbound.packets + analysis.inbound.packets : analysis.packets
}

export function supportsRates(analysis: CaptureAnalysis): boolean {
  return analysis.durationSec >= RATE_RULE.minSeconds && hostPackets(analysis) >= RATE_RULE.minPackets
}

/** The warnings that head the report: a capture too thin for rates, or shorter than a minute. */
export function captureWarnings(analysis: CaptureAnalysis): CaptureWarning[] {
  return [...rateWarnings(analysis), ...hostWarnings(analysis), ...setWarnings(analysis), ...clientWarnings(analysis)]
}

/** More clients than --max-clients: the approximation the per-client figures make. */
function clientWarnings(analysis: CaptureAnalysis): CaptureWarning[] {
  const beyond = analysis.ntp.beyondMaxClients
  if (!beyond) return []
  const share = analysis.ntp.requests > 0 ? beyond.requests / analysis.ntp.requests : 0
  return [
    {
      code: 'max-clients',
      message: `the capture has ${analysis.ntp.counters.requests.length + beyond.clients} NTP clients, more than --max-clients ${beyond.maxClients}: the first ${beyond.maxClients} seen are analysed one by one; the ${beyond.clients} after them (${beyond.requests} requests, ${(share * 100).toFixed(2)}% of all, and ${beyond.responses} replies) count in the totals but in no per-client figure — top talkers, the cumulative share and the blocking table, NAT, misbehaviour, fleets, violations, unanswered requests and the rate-limit replays leave them out; raise --max-clients (about 250 bytes of memory a client) for every figure exact`,
    },
  ]
}

function setGaps(analysis: CaptureAnalysis): CaptureGap[] {
  return analysis.files
    ? gapsBetween(analysis.files, analysis.packets > 1 ? analysis.durationSec / (analysis.packets - 1) : 0)
    : []
}

/** A set whose files leave silences between them or overlap; a stream whose host was chosen from its first packets. */
function setWarnings(analysis: CaptureAnalysis): CaptureWarning[] {
  const warnings: CaptureWarning[] = []
  const gaps = setGaps(analysis)
  const silences = gaps.filter((gap) => gap.seconds > 0)
  const overlaps = gaps.filter((gap) => gap.seconds < 0)
  if (silences.length > 0) {
    const total = silences.reduce((sum, gap) => sum + gap.seconds, 0)
    warnings.push({
      code: 'gaps-between-files',
      message: `the files leave ${silences.length} gap${silences.length === 1 ? '' : 's'} (${formatSeconds(total)} in all, the longest ${formatSeconds(Math.max(...silences.map((gap) => gap.seconds)))} after ${silences.reduce((a, b) => (b.seconds > a.seconds ? b : a)).after}): nothing was captured then, and the rates are over the whole span, gaps included`,
    })
  }
  if (overlaps.length > 0) {
    warnings.push({
      code: 'overlapping-files',
      message: `${overlaps.length} file${overlaps.length === 1 ? '' : 's'} start${overlaps.length === 1 ? 's' : ''} before the one read before ${overlaps.length === 1 ? 'it' : 'them'} ends (first: ${overlaps[0]!.before}): these are not one capture cut in pieces, so packets seen in both are counted twice and times interleave`,
    })
  }
  if (analysis.busiestOverall !== undefined && analysis.host) {
    warnings.push({
      code: 'host-from-leading-packets',
      message: `the host ${analysis.host.address} was chosen from the stream's first packets, but over the whole stream ${analysis.busiestOverall} is in more packets; a stream is read once, so pass --host ${analysis.busiestOverall} to report for it`,
    })
  }
  return warnings
}

const MODE_ROLES: Record<string, string> = {
  1: 'symmetric active (a peer)',
  2: 'symmetric passive (a peer)',
  3: 'client',
}

/** The detected host is an NTP client or peer, not the server: say so, and name the likely server for --host. */
function hostWarnings(analysis: CaptureAnalysis): CaptureWarning[] {
  const role = analysis.hostRole
  if (!role || !analysis.host) return []
  const modes = Object.entries(role.sentModes)
    .map(([mode, n]) => `${n} mode ${mode} (${MODE_ROLES[mode]})`)
    .join(', ')
  const server = role.likelyServer
  return [
    {
      code: 'host-not-ntp-server',
      message:
        `the detected host ${analysis.host.address} (the busiest address) answers no NTP but sends it — ${modes} packets: it is an NTP client or peer here, not the server, so the NTP figures below are empty` +
        (server
          ? `; the address that answers most (${server.replies} mode 4 replies) is ${server.address}: pass --host ${server.address}`
          : '; no address in the capture answers NTP (mode 4)'),
    },
  ]
}

function rateWarnings(analysis: CaptureAnalysis): CaptureWarning[] {
  const seconds = analysis.durationSec
  const packets = hostPackets(analysis)
  const span = `${formatSeconds(seconds)} with ${packets} of the host's packets`
  const tenPercent = RATE_RULE.packetsForTenPercent
  if (!supportsRates(analysis)) {
    return [
      {
        code: 'thin-capture',
        message: `the capture spans ${span}: too little for a rate (billwatch needs at least ${RATE_RULE.minSeconds} s and ${RATE_RULE.minPackets} packets), so rates, monthly and yearly figures and the rate-limit replay are withheld; capture at least a minute and ${tenPercent} packets for a rate within ±10%`,
      },
    ]
  }
  if (seconds < RATE_RULE.shortSeconds) {
    const needed = Math.ceil(Math.max(RATE_RULE.shortSeconds, (tenPercent / packets) * seconds))
    return [
      {
        code: 'short-capture',
        message: `the capture spans only ${span}; a capture of about ${needed} s (${tenPercent} packets at this rate, and at least a minute) would give the rates within ±10% (95% confidence); the monthly and yearly figures extrapolate these ${formatSeconds(seconds)}`,
      },
    ]
  }
  return []
}

function formatSeconds(seconds: number): string {
  return seconds < 1 ? `${(seconds * 1000).toPrecision(2)} ms` : `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`
}

/** `natClients`: every suspected NAT, not just the ones the report lists. */
function replayReport(
  analysis: CaptureAnalysis,
  natClients: number[],
  groups: ClientGroups | undefined,
  options: ReportOptions,
  tallies?: ReplayTallies,
): RateLimitReport {
  return simulateLimiters(analysis.ntp.log, {
    durationSec: analysis.durationSec,
    groups,
    pricing: options.pricing ?? CURRENT_EGRESS_PRICING,
    settings: options.limiters,
    suspectedNatClients: natClients,
    tallies,
  })
}

/**
 * Everything but the limiter replays, and the addresses of all suspected NATs; `groups` (the log
 * grouped by client) when behaviour is wanted.
 */
function reportWithoutReplay(
  analysis: CaptureAnalysis,
  options: ReportOptions,
  groups: ClientGroups | undefined,
  read?: ReadBack,
): {report: PcapReport; natClients: number[]} {
  const pricing = options.pricing ?? CURRENT_EGRESS_PRICING
  const {natClients, ntp} = ntpReport(analysis, pricing, options, groups, read)
  const duration = analysis.durationSec
  const rates = supportsRates(analysis)
  const kbit = (bytes: number) => (rates ? ((bytes / duration) * 8) / 1000 : null)
  const direction = (totals: TrafficTotals): DirectionReport => ({
    ...totals,
    billableKbitPerSec: kbit(totals.billableBytes),
    kbitPerSec: kbit(totals.bytes),
  })
  const rateCost = (bytes: number): RateCost =>
    rates
      ? {bytesPerSec: bytes / duration, ...costOfRate(bytes / duration, pricing)}
      : {bytesPerSec: null, gbPerMonth: null, monthlyUsd: null, yearlyUsd: null}
  const out = analysis.outbound
  const report: PcapReport = {
    warnings: captureWarnings(analysis),
    billableBytes: analysis.billableBytes,
    byPort: analysis.byPort.map((row) => ({
      ...row,
      billableShare: out.billableBytes > 0 ? row.billableBytes / out.billableBytes : 0,
      share: out.bytes > 0 ? row.bytes / out.bytes : 0,
    })),
    bytes: analysis.bytes,
    capturedBytes: analysis.capturedBytes,
    cost: {
      ntp: rateCost(analysis.ntp.outbound.billableBytes),
      outbound: rateCost(out.billableBytes),
      pricing: pricing.label,
    },
    durationSec: duration,
    end: isoOrNull(analysis.lastSec),
    file: analysis.file,
    fileBytes: analysis.fileBytes,
    compression: analysis.compression,
    encapsulations: analysis.encapsulations,
    format: analysis.format,
    fragments: analysis.fragments,
    fragmentsAttributed: analysis.fragmentsAttributed,
    fragmentsUnmatched: analysis.fragmentsUnmatched,
    host: analysis.host ? {address: analysis.host.address, detected: analysis.host.detected} : null,
    inbound: direction(analysis.inbound),
    ipv4Packets: analysis.ipv4Packets,
    ipv6Packets: analysis.ipv6Packets,
    linkTypes: analysis.linkTypes.map((type) => LINKTYPE_NAMES[type] ?? `link type ${type} (not decoded)`),
    nonIpPackets: analysis.nonIpPackets,
    ntp,
    otherPackets: analysis.otherPackets,
    outbound: direction(out),
    packets: analysis.packets,
    snappedPackets: analysis.snappedPackets,
    start: isoOrNull(analysis.firstSec),
    truncated: analysis.truncated ?? null,
  }
  if (analysis.files) {
    report.files = analysis.files.map((part) => ({
      end: isoOrNull(part.lastSec),
      file: part.file,
      packets: part.packets,
      start: isoOrNull(part.firstSec),
    }))
    report.gaps = setGaps(analysis)
  }
  return {natClients, report}
}

function ntpReport(
  analysis: CaptureAnalysis,
  pricing: EgressPricing,
  options: ReportOptions,
  groups: ClientGroups | undefined,
  read?: ReadBack,
): {ntp: NtpReport; natClients: number[]} {
  const report = ntpCounts(analysis, pricing, options, groups, read)
  const durationSec = analysis.durationSec > 0 ? analysis.durationSec : undefined
  const behaviour =
    read?.behaviour ??
    (groups && analyseBehaviour(analysis.ntp.log, durationSec === undefined ? {groups} : {durationSec, groups}))
  if (!behaviour) return {natClients: [], ntp: report}
  report.suspectedNat = behaviour.suspectedNat
  report.suspectedNatTotal = behaviour.suspectedNatTotal
  report.misbehaving = behaviour.misbehaving
  report.misbehavingTotal = behaviour.misbehavingTotal
  report.fleets = behaviour.fleets
  report.violations = behaviour.violations
  return {natClients: behaviour.suspectedNatClients, ntp: report}
}

function ntpCounts(
  analysis: CaptureAnalysis,
  pricing: EgressPricing,
  options: ReportOptions,
  groups: ClientGroups | undefined,
  read?: ReadBack,
): NtpReport {
  const ntp = analysis.ntp
  const {counters, log} = ntp
  const clientCount = log.clients.length
  const versions: Record<string, number> = {}
  const modes: Record<string, number> = {}
  const versionCounts = read?.versionCounts ?? new Uint32Array(8)
  const modeCounts = read?.modeCounts ?? new Uint32Array(8)
  for (let i = 0; i < log.count; i++) {
    versionCounts[log.version[i]!]!++
    modeCounts[log.mode[i]!]!++
  }
  versionCounts.forEach((n, v) => n > 0 && (versions[String(v)] = n))
  modeCounts.forEach((n, m) => n > 0 && (modes[String(m)] = n))
  // One histogram for both the chart and the economics table.
  const h = histogram(counters.requests, counters.responseBillableBytes)
  return {
    answeredClients: ntp.answeredClients,
    cumulativeShare: cumulativeShareOf(h),
    kissCodes: ntp.kissCodes,
    kods: ntp.kods,
    otherModes: ntp.otherModes,
    modes,
    outbound: ntp.outbound,
    port: ntp.port,
    requestingClients: ntp.requestingClients,
    requests: ntp.requests,
    responses: ntp.responses,
    shareOfOutbound: analysis.outbound.bytes > 0 ? ntp.outbound.bytes / analysis.outbound.bytes : 0,
    thresholds: thresholdTableOf(
      h,
      supportsRates(analysis) ? analysis.durationSec : 0,
      pricing,
      options.blockThresholds ?? [],
    ),
    topTalkers: topTalkers(analysis, options.top ?? 10, groups, read?.talkerRows),
    unanswered: ntp.unanswered,
    uniqueClients: clientCount + (ntp.beyondMaxClients?.clients ?? 0),
    ...(ntp.beyondMaxClients ? {beyondMaxClients: ntp.beyondMaxClients} : {}),
    unsynchronised: ntp.unsynchronised,
    versions,
  }
}

/** Clients grouped by request count, ascending by count. */
interface Histogram {
  counts: number[]
  clients: number[]
  bytes: number[]
  totalBytes: number
  totalClients: number
}

/** Request count → [clients, bytes], ascending by count. */
function histogram(requests: Uint32Array, bytes: Float64Array): Histogram {
  const byCount = new Map<number, [number, number]>()
  let totalBytes = 0
  for (let i = 0; i < requests.length; i++) {
    const entry = byCount.get(requests[i]!)
    if (entry) {
      entry[0]++
      entry[1] += bytes[i]!
    } else {
      byCount.set(requests[i]!, [1, bytes[i]!])
    }
    totalBytes += bytes[i]!
  }
  const counts = [...byCount.keys()].sort((a, b) => a - b)
  return {
    bytes: counts.map((c) => byCount.get(c)![1]),
    clients: counts.map((c) => byCount.get(c)![0]),
    counts,
    totalBytes,
    totalClients: requests.length,
  }
}

/**
 * The NTP pool server incident's economics table: for each cut share, the largest minimum query count whose block
 * removes at least that share of NTP bytes, and what the remaining NTP egress costs per year.
 */
export function thresholdTable(
  requests: Uint32Array,
  bytes: Float64Array,
  durationSec: number,
  pricing: EgressPricing,
  extra: number[],
): ThresholdRow[] {
  return thresholdTableOf(histogram(requests, bytes), durationSec, pricing, extra)
}

function thresholdTableOf(h: Histogram, durationSec: number, pricing: EgressPricing, extra: number[]): ThresholdRow[] {
  // suffixBytes[k] / suffixClients[k]: clients with count ≥ counts[k].
  const suffixBytes = new Array<number>(h.counts.length + 1).fill(0)
  const suffixClients = new Array<number>(h.counts.length + 1).fill(0)
  for (let k = h.counts.length - 1; k >= 0; k--) {
    suffixBytes[k] = suffixBytes[k + 1]! + h.bytes[k]!
    suffixClients[k] = suffixClients[k + 1]! + h.clients[k]!
  }
  const row = (minQueries: number): ThresholdRow => {
    const k = h.counts.findIndex((c) => c >= minQueries)
    const cutBytes = k < 0 ? 0 : suffixBytes[k]!
    const remaining = h.totalBytes - cutBytes
    return {
      annualCost: durationSec > 0 ? round2(costOfRate(remaining / durationSec, pricing).yearlyUsd) : null,
      bandwidthCutShare: h.totalBytes > 0 ? cutBytes / h.totalBytes : 0,
      blockedClients: k < 0 ? 0 : suffixClients[k]!,
      minQueries,
    }
  }
  if (h.totalBytes === 0) return []
  const thresholds = new Set<number>([1, (h.counts.at(-1) ?? 0) + 1, ...extra.filter((n) => n >= 1)])
  for (const target of STANDARD_CUTS) {
    for (let k = h.counts.length - 1; k >= 0; k--) {
      if (suffixBytes[k]! / h.totalBytes >= target) {
        thresholds.add(Math.max(1, h.counts[k]!))
        break
      }
    }
  }
  return [...thresholds].sort((a, b) => a - b).map((minQueries) => row(minQueries))
}

/** The NTP pool server incident's chart: share of NTP bytes to clients with at most N requests, ~40 points. */
export function cumulativeShare(requests: Uint32Array, bytes: Float64Array): CumulativePoint[] {
  return cumulativeShareOf(histogram(requests, bytes))
}

function cumulativeShareOf(h: Histogram): CumulativePoint[] {
  if (h.totalBytes === 0) return []
  const points: CumulativePoint[] = []
  let clients = 0
  let traffic = 0
  let lastShare = -1
  h.counts.forEach((count, k) => {
    clients += h.clients[k]!
    traffic += h.bytes[k]!
    const trafficShare = traffic / h.totalBytes
    if (trafficShare - lastShare >= 0.025 || k === h.counts.length - 1) {
      points.push({clientShare: clients / h.totalClients, maxQueries: count, trafficShare})
      lastShare = trafficShare
    }
  })
  return points
}

/** The top talkers' clients, best first: most requests, then most responses, then first seen. */
function talkerOrder(analysis: CaptureAnalysis, top: number): number[] {
  const {counters} = analysis.ntp
  const n = counters.requests.length
  if (n === 0 || top <= 0) return []
  const before = (a: number, b: number) =>
    counters.requests[a]! - counters.requests[b]! || counters.responses[a]! - counters.responses[b]! || b - a
  return bestFirst(n, top, before)
}

function topTalkers(
  analysis: CaptureAnalysis,
  top: number,
  groups: ClientGroups | undefined,
  talkerRows?: ClientGroups,
): TalkerReport[] {
  const {counters, log} = analysis.ntp
  const order = talkerOrder(analysis, top)
  if (order.length === 0) return []
  // The clients' rows: from the full grouping when there is one, else gathered for these clients only.
  const rows = groups ?? talkerRows ?? groupByClient(log, {only: order})
  const totalBytes = analysis.ntp.outbound.billableBytes
  const duration = supportsRates(analysis) ? analysis.durationSec : 0
  return order.map((client, k) => {
    const group = groups ? client : k
    const from = rows.start[group]!
    const to = rows.start[group + 1]!
    const times = sortedTimes(rows.timeSec, from, to)
    const ports = new Set<number>()
    let versions = 0
    let modes = 0
    let firstKod = Number.POSITIVE_INFINITY
    for (let row = from; row < to; row++) {
      ports.add(rows.srcPort[row]!)
      versions |= 1 << rows.version[row]!
      modes |= 1 << rows.mode[row]!
      if (rows.reply[row] === 2) firstKod = Math.min(firstKod, rows.timeSec[row]!)
    }
    return {
      address: log.clients.at(client)!,
      billableBytes: counters.responseBillableBytes[client]!,
      firstSeen: isoOrNull(times[0] ?? Number.NaN) ?? '',
      kods: counters.kods[client]!,
      lastSeen: isoOrNull(times.at(-1) ?? Number.NaN) ?? '',
      medianIntervalSec: medianInterval(times),
      modes: setBits(modes),
      qps: duration > 0 ? counters.requests[client]! / duration : null,
      requests: counters.requests[client]!,
      // Requests sent after the first one the server answered with a KoD.
      requestsAfterKod: countAbove(times, firstKod),
      responses: counters.responses[client]!,
      share: totalBytes > 0 ? counters.responseBillableBytes[client]! / totalBytes : 0,
      sourcePorts: ports.size,
      versions: setBits(versions),
    }
  })
}

/** Median gap between sorted request times, seconds. */
function medianInterval(times: Float64Array): null | number {
  if (times.length < 2) return null
  // Plain loops here and below: a typed array's map and filter call a function per element (a top talker of the
  // steep mix has ~50,000 rows).
  const gaps = new Float64Array(times.length - 1)
  for (let i = 0; i < gaps.length; i++) gaps[i] = times[i + 1]! - times[i]!
  return medianInPlace(gaps, gaps.length)
}

/** How many of `times` are above `bound`. */
function countAbove(times: Float64Array, bound: number): number {
  let count = 0
  for (const t of times) if (t > bound) count++
  return count
}

/**
 * times[from, to) copied and sorted as Float64Array's sort orders them. A client's grouped rows are in capture order,
 * nearly always already sorted: a pass that finds them increasing spares the sort. Zeros and NaN go to the sort
 * (it orders -0 before 0 and puts NaN last, which the pass would not check).
 */
export function sortedTimes(timeSec: Float64Array, from: number, to: number): Float64Array {
  const times = timeSec.slice(from, to)
  for (let i = 0; i < times.length; i++) {
    const t = times[i]!
    if (t === 0 || Number.isNaN(t) || (i > 0 && times[i - 1]! > t)) return times.sort()
  }
  return times
}

/** The NTP pool server incident's comparison of two servers, normalised to the same duration. */
export function compareControl(primary: CaptureAnalysis, control: CaptureAnalysis): ControlReport {
  const rate = (a: CaptureAnalysis) => (a.durationSec > 0 ? a.ntp.outbound.bytes / a.durationSec : 0)
  const perClient = (a: CaptureAnalysis) =>
    a.ntp.answeredClients > 0 ? a.ntp.outbound.bytes / a.ntp.answeredClients : 0
  const normalised =
    control.durationSec > 0 ? (control.ntp.answeredClients * primary.durationSec) / control.durationSec : 0
  const ratio = (a: number, b: number) => (b > 0 ? a / b : 0)
  const perClientPerSec = (a: CaptureAnalysis) => (a.durationSec > 0 ? perClient(a) / a.durationSec : 0)
  return {
    bytesPerClient: perClient(control),
    durationSec: control.durationSec,
    file: control.file,
    host: control.host?.address ?? null,
    ntpBytes: control.ntp.outbound.bytes,
    ntpBytesPerSec: rate(control),
    ratios: {
      bytesPerClient: ratio(perClient(primary), perClient(control)),
      bytesPerClientPerSec: ratio(perClientPerSec(primary), perClientPerSec(control)),
      bytesPerSec: ratio(rate(primary), rate(control)),
      uniqueClients: ratio(primary.ntp.answeredClients, control.ntp.answeredClients),
      uniqueClientsNormalised: ratio(primary.ntp.answeredClients, normalised),
    },
    uniqueClients: control.ntp.answeredClients,
    uniqueClientsNormalised: normalised,
  }
}

/** ISO 8601 UTC, or null without a time or for one no date can hold (a damaged timestamp: ±275,000 years). */
function isoOrNull(sec: number): null | string {
  return Math.abs(sec * 1000) <= 8.64e15 ? new Date(sec * 1000).toISOString() : null
}

function round2(usd: number): number {
  return Math.round(usd * 100) / 100
}
