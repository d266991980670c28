/**
 * Behaviour of a capture's NTP clients, beyond counts: which addresses are NAT/CGNAT gateways with
 * many polite hosts, which are one misbehaving client, which clients arrive as a synchronised fleet,
 * and who breaks the client rules of RFC 4330, RFC 5905 and RFC 8633. Heuristics and sources:
 * ../shared/research/ntp.md §6. One counting sort by client plus linear passes over the typed arrays
 * of the RequestLog; nothing is allocated per request.
 */
import type {RequestLog} from '../pcap/request-log.js'
import type {ClientAddressList} from '../pcap/request-log.js'
import {
  createScratch,
  judgeClient,
  type ClientRules,
  type MisbehavingClient,
  type Scratch,
  type SuspectedNat,
  type ViolationRule,
} from './clients.js'
import {type Fleet, FleetSearch, type FleetRules, type FleetWindows} from './fleets.js'
import {type ClientGroups, groupByClient, timeRange} from './group.js'

export type {MisbehavingClient, MisbehaviourReason, NatMethod, SuspectedNat, ViolationRule} from './clients.js'
export type {Fleet, FleetRecurrence} from './fleets.js'
export {groupByClient, medianInPlace, setBits, timeRange, type ClientGroups} from './group.js'

export interface BehaviourOptions extends Partial<ClientRules>, Partial<FleetRules> {
  /** Seconds the capture covers (the pcap span); default: first to last request. */
  durationSec?: number
  /** Longest list of addresses returned per finding (the totals count them all). Default 100. */
  maxListed?: number
  /** The log already grouped by client (groupByClient), when the caller shares it with the limiter replay. */
  groups?: ClientGroups
}

export interface Violation {
  rule: ViolationRule
  /** The RFC sections broken. */
  reference: string
  description: string
  clients: number
  requests: number
  /** The addresses with the most requests breaking the rule. */
  examples: {address: string; requests: number}[]
}

export interface BehaviourReport {
  durationSec: number
  /** Addresses with enough requests for their schedule to be judged. */
  clientsJudged: number
  suspectedNat: SuspectedNat[]
  suspectedNatTotal: number
  /**
   * Every suspected NAT as its client index, in suspectedNat's order (which lists at most `maxListed`), for the limiter
   * replay's blackout check.
   */
  suspectedNatClients: number[]
  misbehaving: MisbehavingClient[]
  misbehavingTotal: number
  fleets: Fleet[]
  violations: Violation[]
}

const RULES: Record<ViolationRule, {reference: string; description: string}> = {
  'ignores-kod': {
    description: 'kept polling at the same rate after a KoD RATE',
    reference: 'RFC 5905 §7.4; RFC 4330 §8, §10',
  },
  'min-poll-interval': {
    description: 'polls more often than once every 15 s',
    reference: 'RFC 4330 §10 (item 1); RFC 5905 §7.2 (MINPOLL); RFC 8633 §3.4',
  },
  'no-backoff': {
    description: 'retries unanswered requests at a fixed short period instead of backing off exponentially',
    reference: 'RFC 4330 §10',
  },
  'obsolete-version': {
    description: 'sends NTPv1/v2 requests (RFC 1059/1119, obsoleted by RFC 1305 and RFC 5905)',
    reference: 'RFC 5905 §7.2 (VERSION 4); RFC 4330 §5',
  },
}

export function analyseBehaviour(log: RequestLog, options: BehaviourOptions = {}): BehaviourReport {
  const {first, last} = timeRange(log)
  const groups = options.groups ?? groupByClient(log)
  let hasReplies = false
  for (let i = 0; i < log.count && !hasReplies; i++) hasReplies = log.reply[i] !== 0
  const pass = new BehaviourPass(
    log.clients,
    {first, hasReplies, last, requests: groups.start[log.clients.length]!},
    options,
  )
  pass.add(groups, 0)
  if (pass.fleetWindows()) pass.addToWindows(groups, 0)
  return pass.result()
}

/** What the behaviour analysis needs to know of the whole log before it reads it a client range at a time. */
export interface LogSummary {
  /** First and last request time, Unix seconds. */
  first: number
  last: number
  /** Whether the server answered any request. */
  hasReplies: boolean
  /** Requests in the log. */
  requests: number
}

/**
 * The behaviour analysis fed a range of clients at a time, in client order — a log grouped whole is one range; a log
 * spilled to disk is read back range by range — then, when fleet windows were found (fleetWindows), fed again for the
 * windows' own counts. Every finding is per client or a sum over clients, so the result is that of the whole log.
 */
export class BehaviourPass {
  private readonly clientRules: ClientRules
  private readonly maxListed: number
  private readonly durationSec: number
  private scratch: Scratch
  private scratchSize: number
  private readonly natFindings: {nat: SuspectedNat; client: number}[] = []
  private readonly misbehaving: MisbehavingClient[] = []
  // Examples are kept as client indices: only the listed few are formatted.
  private readonly tallies = new Map<
    ViolationRule,
    {clients: number; requests: number; examples: {client: number; requests: number}[]}
  >()
  private clientsJudged = 0
  private readonly fleets: FleetSearch
  private windows: FleetWindows | undefined

  constructor(
    private readonly clients: ClientAddressList,
    private readonly summary: LogSummary,
    options: BehaviourOptions & {busiest?: number} = {},
  ) {
    this.clientRules = {
      backoffRun: options.backoffRun ?? 8,
      minPollSec: options.minPollSec ?? 15,
      minRequests: options.minRequests ?? 10,
    }
    const fleetRules: FleetRules = {
      binSec: options.binSec ?? 60,
      minExcessClients: options.minExcessClients ?? 20,
      recurrenceToleranceSec: options.recurrenceToleranceSec ?? 300,
      z: options.z ?? 6,
    }
    this.maxListed = options.maxListed ?? 100
    this.durationSec = options.durationSec ?? Math.max(summary.last - summary.first, 1)
    this.scratchSize = options.busiest ?? 0
    this.scratch = createScratch(this.scratchSize)
    this.fleets = new FleetSearch(fleetRules, summary.first, summary.last, summary.requests)
  }

  /** Judges the clients of `groups`, whose group c holds every request of client `firstClient + c`. */
  add(groups: ClientGroups, firstClient: number): void {
    const groupCount = groups.start.length - 1
    let busiest = 0
    for (let c = 0; c < groupCount; c++) busiest = Math.max(busiest, groups.start[c + 1]! - groups.start[c]!)
    if (busiest > this.scratchSize) {
      const stamp = this.scratch.stamp
      this.scratch = createScratch((this.scratchSize = busiest))
      this.scratch.stamp = stamp
    }
    for (let c = 0; c < groupCount; c++) {
      const client = firstClient + c
      // NTPv1/v2 time requests.
      let obsolete = 0
      for (let row = groups.start[c]!, end = groups.start[c + 1]!; row < end; row++) {
        const mode = groups.mode[row]!
        if (groups.version[row]! <= 2 && (mode === 3 || mode === 1)) obsolete++
      }
      if (obsolete > 0) this.tally('obsolete-version', client, obsolete)
      if (groups.start[c + 1]! - groups.start[c]! < this.clientRules.minRequests) continue
      this.clientsJudged++
      const finding = judgeClient(
        this.clients,
        client,
        c,
        groups,
        this.scratch,
        this.clientRules,
        this.durationSec,
        this.summary.hasReplies,
      )
      if (finding.nat) this.natFindings.push({client, nat: finding.nat})
      if (finding.misbehaving) {
        this.misbehaving.push(finding.misbehaving)
        for (const reason of finding.misbehaving.reasons) {
          this.tally(
            reason === 'polls-faster-than-15s' ? 'min-poll-interval' : reason,
            client,
            finding.misbehaving.requests,
          )
        }
      }
    }
    this.fleets.add(groups)
  }

  /** After every client was added: whether the fleet search found windows, whose counts need the clients again. */
  fleetWindows(): boolean {
    this.windows = this.fleets.windows()
    return this.windows !== undefined
  }

  /** The clients again, in the same ranges, for the fleet windows' counts. */
  addToWindows(groups: ClientGroups, _firstClient: number): void {
    this.windows!.add(groups)
  }

  result(): BehaviourReport {
    const {maxListed, misbehaving, natFindings} = this
    natFindings.sort(({nat: a}, {nat: b}) => b.estimatedHosts - a.estimatedHosts || b.requests - a.requests)
    const suspectedNat = natFindings.map((finding) => finding.nat)
    misbehaving.sort((a, b) => b.requests - a.requests)
    const violations: Violation[] = [...this.tallies.entries()].map(([rule, entry]) => ({
      clients: entry.clients,
      description: RULES[rule].description,
      examples: entry.examples
        .sort((a, b) => b.requests - a.requests)
        .slice(0, Math.min(maxListed, 10))
        .map(({client, requests}) => ({address: this.clients.at(client)!, requests})),
      reference: RULES[rule].reference,
      requests: entry.requests,
      rule,
    }))
    violations.sort((a, b) => b.requests - a.requests)

    return {
      clientsJudged: this.clientsJudged,
      durationSec: this.durationSec,
      fleets: this.windows?.result() ?? [],
      misbehaving: misbehaving.slice(0, maxListed),
      misbehavingTotal: misbehaving.length,
      suspectedNat: suspectedNat.slice(0, maxListed),
      suspectedNatClients: natFindings.map((finding) => finding.client),
      suspectedNatTotal: suspectedNat.length,
      violations,
    }
  }

  private tally(rule: ViolationRule, client: number, requests: number): void {
    const entry = this.tallies.get(rule) ?? {clients: 0, examples: [], requests: 0}
    entry.clients++
    entry.requests += requests
    entry.examples.push({client, requests})
    this.tallies.set(rule, entry)
  }
}
