/**
 * Behaviour of a capture's NTP clients, beyond counts: which addresses are NAT/CGNAT gateways with
 * many polite hosts, which are one misbehaving client, which clients arrive as a synchronised fleet,
 * and who breaks the client rules of RFC 4330, RFC 5905 and RFC 8633. Heuristics and sources:
 * ../shared/research/ntp.md §6. One counting sort by client plus linear passes over the typed arrays
 * of the RequestLog; nothing is allocated per request.
 */
import type {RequestLog} from '../pcap/request-log.js'
import {
  createScratch,
  judgeClient,
  type ClientRules,
  type MisbehavingClient,
  type SuspectedNat,
  type ViolationRule,
} from './clients.js'
import {findFleets, type Fleet, type FleetRules} from './fleets.js'
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
  const clientRules: ClientRules = {
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
  const maxListed = options.maxListed ?? 100
  const {first, last} = timeRange(log)
  const durationSec = options.durationSec ?? Math.max(last - first, 1)

  const groups = options.groups ?? groupByClient(log)
  const clientCount = log.clients.length
  const requestsPerClient = new Uint32Array(clientCount)
  let busiest = 0
  for (let c = 0; c < clientCount; c++) {
    requestsPerClient[c] = groups.start[c + 1]! - groups.start[c]!
    busiest = Math.max(busiest, requestsPerClient[c]!)
  }
  let hasReplies = false
  for (let i = 0; i < log.count && !hasReplies; i++) hasReplies = log.reply[i] !== 0

  const scratch = createScratch(busiest)
  const natFindings: {nat: SuspectedNat; client: number}[] = []
  const misbehaving: MisbehavingClient[] = []
  // Examples are kept as client indices: only the listed few are formatted.
  const tallies = new Map<
    ViolationRule,
    {clients: number; requests: number; examples: {client: number; requests: number}[]}
  >()
  const tally = (rule: ViolationRule, client: number, requests: number): void => {
    const entry = tallies.get(rule) ?? {clients: 0, examples: [], requests: 0}
    entry.clients++
    entry.requests += requests
    entry.examples.push({client, requests})
    tallies.set(rule, entry)
  }
  // NTPv1/v2 time requests, counted per client in one linear pass.
  const obsolete = new Uint32Array(clientCount)
  for (let i = 0; i < log.count; i++) {
    const mode = log.mode[i]!
    if (log.version[i]! <= 2 && (mode === 3 || mode === 1)) obsolete[log.client[i]!] = obsolete[log.client[i]!]! + 1
  }
  let clientsJudged = 0
  for (let c = 0; c < clientCount; c++) {
    if (obsolete[c]! > 0) tally('obsolete-version', c, obsolete[c]!)
    if (requestsPerClient[c]! < clientRules.minRequests) continue
    clientsJudged++
    const finding = judgeClient(log.clients, c, groups, scratch, clientRules, durationSec, hasReplies)
    if (finding.nat) natFindings.push({client: c, nat: finding.nat})
    if (finding.misbehaving) {
      misbehaving.push(finding.misbehaving)
      for (const reason of finding.misbehaving.reasons) {
        tally(reason === 'polls-faster-than-15s' ? 'min-poll-interval' : reason, c, finding.misbehaving.requests)
      }
    }
  }

  natFindings.sort(({nat: a}, {nat: b}) => b.estimatedHosts - a.estimatedHosts || b.requests - a.requests)
  const suspectedNat = natFindings.map((finding) => finding.nat)
  misbehaving.sort((a, b) => b.requests - a.requests)
  const violations: Violation[] = [...tallies.entries()].map(([rule, entry]) => ({
    clients: entry.clients,
    description: RULES[rule].description,
    examples: entry.examples
      .sort((a, b) => b.requests - a.requests)
      .slice(0, Math.min(maxListed, 10))
      .map(({client, requests}) => ({address: log.clients.at(client)!, requests})),
    reference: RULES[rule].reference,
    requests: entry.requests,
    rule,
  }))
  violations.sort((a, b) => b.requests - a.requests)

  return {
    clientsJudged,
    durationSec,
    fleets: findFleets(groups, fleetRules, first, last),
    misbehaving: misbehaving.slice(0, maxListed),
    misbehavingTotal: misbehaving.length,
    suspectedNat: suspectedNat.slice(0, maxListed),
    suspectedNatClients: natFindings.map((finding) => finding.client),
    suspectedNatTotal: suspectedNat.length,
    violations,
  }
}
