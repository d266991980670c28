import type {Fleet, SuspectedNat} from '../behaviour/index.js'
import {formatCount, formatCountOf, formatShare} from '../cli/format.js'
import type {PcapReport, ThresholdRow} from '../pcap/report.js'
import {describeSetting, type LimiterResult, parseLimiterSetting} from '../ratelimit/index.js'

export interface ConfigSnippet {
  daemon: string
  file: string
  config: string
  /** What the capture's replay says this setting would have done; null when it was not replayed. */
  effect: null | string
}

export interface Remediation {
  /** The seed's table: block clients above N queries → cut X% → cost per year. From the capture. */
  blocking: ThresholdRow[]
  /** Replays of the capture through each daemon's limiter (from `billwatch pcap`). */
  rateLimiting: LimiterResult[]
  snippets: ConfigSnippet[]
  /** Pool membership, netspeed and vendor-zone advice, with the warnings the seeds teach. */
  advice: string[]
}

/** The optional findings `billwatch pcap` adds to its NTP report when it can. */
export interface NtpFindings {
  suspectedNat?: SuspectedNat[]
  fleets?: Fleet[]
  rateLimiting?: {results: LimiterResult[]}
}

export function ntpFindings(capture: null | PcapReport): NtpFindings {
  return (capture?.ntp ?? {}) as NtpFindings
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

/** The settings the snippets configure, as describeSetting words them: the daemons' defaults, with KoD for ntpd and ntpsec. */
const SNIPPET_SETTINGS = {
  chrony: describeSetting(parseLimiterSetting('chrony')),
  ntpd: describeSetting(parseLimiterSetting('ntpd kod')),
  ntpsec: describeSetting(parseLimiterSetting('ntpsec')),
}

/** Remediation options with their effect as far as the evidence shows it; advice is the seeds' lessons. */
export function remediation(capture: null | PcapReport): Remediation {
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
      'Lower the server\'s netspeed on the NTP Pool management page: the pool hands out a server in proportion to it, so egress falls with it.',
      'Leaving the pool stops new clients, not old ones: clients and firmware that cached or hard-coded the address keep polling for years (BitFolk still served ~1000 weekly devices two years after withdrawing its servers).',
      'Device makers polling one address should ask the pool for a vendor zone (vendor.pool.ntp.org) instead of hard-coding a volunteer\'s server.',
      'Per-address limits treat a NAT or corporate firewall as one client: check the suspected NAT gateways before blocking by query count.',
    ],
    blocking: capture?.ntp.thresholds ?? [],
    rateLimiting: results,
    snippets: [
      {config: NTPSEC, daemon: 'ntpd / ntpsec', effect: effect('ntpsec') ?? effect('ntpd'), file: '/etc/ntpsec/ntp.conf'},
      {config: CHRONY, daemon: 'chrony', effect: effect('chrony'), file: '/etc/chrony/chrony.conf'},
    ],
  }
}
