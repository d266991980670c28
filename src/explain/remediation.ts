import type {Fleet, SuspectedNat} from '../behaviour/index.js'
import {factStory, opensNtpPort, sourcesOf} from '../correlate/cloud.js'
import type {Candidate} from '../correlate/index.js'
import type {Knowledge} from '../correlate/knowledge.js'
import {formatCount, formatCountOf, formatShare} from '../cli/format.js'
import type {PcapReport, PortReport, ThresholdRow} from '../pcap/report.js'
import type {ProbeResult} from '../probe/index.js'
import {describeSetting, type LimiterResult, parseLimiterSetting} from '../ratelimit/index.js'

export interface ConfigSnippet {
  daemon: string
  file: string
  config: string
  /** What the capture's replay says this setting would have done; null when it was not replayed. */
  effect: null | string
}

export interface Remediation {
  /**
   * What the NTP remedies (blocking table, rate-limit snippets, pool advice) rest on: NTP traffic in the
   * capture, a change that names NTP or opens UDP 123 in the account, a probe the server answered. Empty: no NTP
   * evidence, and no NTP remedy.
   */
  ntpEvidence: string[]
  /**
   * The blocking table of the NTP pool server incident: block clients above N queries → cut X% → cost per year. From
   * the capture.
   */
  blocking: ThresholdRow[]
  /** Replays of the capture through each daemon's limiter (from `billwatch pcap`). */
  rateLimiting: LimiterResult[]
  snippets: ConfigSnippet[]
  /** Pool membership, netspeed and vendor-zone advice, with the warnings the incidents teach. */
  advice: string[]
  /** Remedies drawn from other evidence (the change behind the step), or why none can be drawn. */
  other: string[]
}

/** What else the NTP remedies can rest on besides a capture. */
export interface RemedyContext {
  /** The change the story cites (correlate's best candidate for the step). */
  change?: Candidate | null
  probe?: null | ProbeResult
  /** What the flow records say stepped with the bill (src/flows/evidence.ts). */
  flows?: null | {
    best: null | {protocol: string; port: null | number; matches: boolean; source: string; interface: string}
  }
  /** Knowledge-base services that serve NTP (udp/123): a change touching one names NTP. */
  ntpServices?: ReadonlySet<string>
}

/** The services of a knowledge base that serve NTP (udp/123). */
export function ntpServiceIds(knowledge: Knowledge): Set<string> {
  return new Set(knowledge.services.filter((s) => s.ports.includes('udp/123')).map((s) => s.id))
}

/**
 * Each piece of evidence that NTP is what costs: traffic in the capture, a change naming it or opening its port, a
 * probe answered.
 */
export function ntpEvidence(capture: null | PcapReport, context: RemedyContext = {}): string[] {
  const basis: string[] = []
  if (capture && capture.ntp.requests + capture.ntp.responses > 0) {
    basis.push(
      `the capture holds ${formatCountOf(capture.ntp.requests, 'NTP request')} and ${formatCountOf(capture.ntp.responses, 'reply', 'replies')}`,
    )
  }
  const change = context.change
  const services = context.ntpServices ?? new Set(['chrony', 'ntp'])
  // A change to the account (CloudTrail, AWS Config, an IaC commit) is judged by what it opened, not by a port's likely
  // service.
  const opened = change?.cloud?.find(opensNtpPort)
  if (change && opened) {
    basis.push(
      `the change behind the step opened UDP 123, the NTP port: ${factStory(opened)} (${sourcesOf(change)}${change.commit ? `, commit ${change.commit.slice(0, 10)}` : ''})`,
    )
  } else if (change && !change.cloud?.length && change.services.some((id) => services.has(id))) {
    basis.push(
      `the change behind the step names NTP ("${change.subject}"${change.commit ? `, commit ${change.commit.slice(0, 10)}` : ''})`,
    )
  }
  const probe = context.probe
  if (probe && probe.verdict !== 'not-served') basis.push(`the probe of ${probe.host} got NTP answers`)
  const flow = context.flows?.best
  if (flow?.matches && flow.protocol === 'udp' && flow.port === 123)
    basis.push(`the ${flow.source} of ${flow.interface} show UDP/123 egress stepping with the bill`)
  return basis
}

/** The optional findings `billwatch pcap` adds to its NTP report when it can. */
export interface NtpFindings {
  suspectedNat?: SuspectedNat[]
  fleets?: Fleet[]
  rateLimiting?: {results: LimiterResult[]}
}

export function ntpFindings(capture: null | PcapReport): NtpFindings {
  return capture?.ntp ?? {}
}

const NTPSEC = `# /etc/ntpsec/ntp.conf (ntpsec) or /etc/ntp.conf (classic ntpd)
restrict default kod limited nomodify nopeer noquery
restrict -6 default kod limited nomodify nopeer noquery
restrict 127.0.0.1
restrict ::1
# classic ntpd only (ntpsec has its own 'limit' defaults and rejects 'discard'):
discard average 3 minimum 2`

const CHRONY = `# /etc/chrony/chrony.conf
ratelimit interval 3 burst 8 leak 2
# chrony >= 4.6 can also send KoD RATE to 1 in 2^N limited requests:
# ratelimit interval 3 burst 8 leak 2 kod 2`

/**
 * The settings the snippets configure, as describeSetting words them: the daemons' defaults, with KoD for ntpd and
 * ntpsec.
 */
const SNIPPET_SETTINGS = {
  chrony: describeSetting(parseLimiterSetting('chrony')),
  ntpd: describeSetting(parseLimiterSetting('ntpd kod')),
  ntpsec: describeSetting(parseLimiterSetting('ntpsec')),
}

/**
 * Remediation options with their effect as far as the evidence shows it; advice is the incidents'
 * lessons. Only for evidence present: without NTP evidence no NTP remedy is given.
 */
export function remediation(capture: null | PcapReport, context: RemedyContext = {}): Remediation {
  const basis = ntpEvidence(capture, context)
  const other = otherRemedies(basis, capture, context.change ?? null)
  if (basis.length === 0) return {advice: [], blocking: [], ntpEvidence: [], other, rateLimiting: [], snippets: []}
  const findings = ntpFindings(capture)
  const results = findings.rateLimiting?.results ?? []
  // Only the replay of the snippet's own setting speaks for it (pcap --limiter may have replayed others).
  const effect = (daemon: keyof typeof SNIPPET_SETTINGS): null | string => {
    const result = results.find((r) => r.setting === SNIPPET_SETTINGS[daemon])
    if (!result) return null
    const nats = result.blackedOutNats.length
    return `replaying the capture: ${formatCount(result.answered)} of ${formatCountOf(result.requests, 'request')} answered, ${formatCountOf(result.kods, 'KoD')}, egress cut ${formatShare(result.savedShare)} ($${result.savedAnnualUsd.toFixed(2)}/year saved)${nats > 0 ? `; ${formatCountOf(nats, 'suspected NAT gateway')} mostly blacked out` : ''}`
  }
  return {
    advice: [
      "Lower the server's netspeed on the NTP Pool management page: the pool hands out a server in proportion to it, so egress falls with it.",
      'Leaving the pool stops new clients, not old ones: clients and firmware that cached or hard-coded the address keep polling for years (in the hard-coded IoT fleet incident, BitFolk still served ~1000 weekly devices two years after withdrawing its servers).',
      "Device makers polling one address should ask the pool for a vendor zone (vendor.pool.ntp.org) instead of hard-coding a volunteer's server.",
      'Per-address limits treat a NAT or corporate firewall as one client: check the suspected NAT gateways before blocking by query count.',
    ],
    blocking: capture?.ntp.thresholds ?? [],
    ntpEvidence: basis,
    other,
    rateLimiting: results,
    snippets: [
      {
        config: NTPSEC,
        daemon: 'ntpd / ntpsec',
        effect: effect('ntpsec') ?? effect('ntpd'),
        file: '/etc/ntpsec/ntp.conf',
      },
      {config: CHRONY, daemon: 'chrony', effect: effect('chrony'), file: '/etc/chrony/chrony.conf'},
    ],
  }
}

/**
 * Without NTP evidence, the remedies the capture and the change support (or why there is none); with it, nothing more.
 */
function otherRemedies(basis: string[], capture: null | PcapReport, change: Candidate | null): string[] {
  if (basis.length > 0) return []
  const out: string[] = []
  const top = capture?.byPort.reduce<null | PortReport>(
    (best, p) => (best === null || p.share > best.share ? p : best),
    null,
  )
  if (top && top.port !== null) {
    const ss = top.protocol === 'udp' ? 'ss -lunp' : 'ss -ltnp'
    out.push(
      `The capture puts ${formatShare(top.share)} of outbound bytes on ${top.protocol} ${top.port}: find what listens there (${ss} on the server) and restrict whom it answers.`,
    )
  }
  if (change) {
    out.push(
      `The evidence points at "${change.subject}"${change.commit ? ` (commit ${change.commit.slice(0, 10)})` : ''}: undo or restrict it if it was not meant to serve the internet, then check that the next days' egress falls back.`,
    )
  }
  const none =
    out.length === 0
      ? ' No change was found either: no remedy can be drawn yet; gather the missing evidence below.'
      : ''
  return [
    `Nothing points at NTP (no NTP traffic in a capture, no change that names it or opens UDP 123, no probe answered), so no rate-limit or pool advice.${none}`,
    ...out,
  ]
}
