/** Verdicts of `billwatch probe`, its exit codes, and the join with a capture's traffic shares. */
import {formatBytes, formatCountOf, formatShare} from '../core/units.js'
import {kissAction} from '../ntp/packet.js'
import {unsynchronisedWhy} from './client.js'
import {sameAddress} from './target.js'

/**
 * Exit codes (documented in the command's help): the verdict is the answer, so each has its own code.
 * 1 and 2 are billwatch's shared error/usage codes.
 */
export const PROBE_EXIT = {served: 0, error: 1, usage: 2, notServed: 3, refusedByKod: 4} as const

export type AddressStatus = 'served' | 'unsynchronised' | 'refused' | 'not-served' | 'skipped'
export type Verdict = 'served' | 'not-served' | 'refused'

interface StatusInputs {
  answered: number
  synchronised: boolean | null
  kod: string | null
  skipped: string | null
}

/**
 * Only RATE, DENY and RSTR refuse (RFC 5905 §7.4); a server that answers with INIT, STEP or a zero
 * refid, or with a kiss code that asks nothing of the client, still serves (and costs egress).
 */
export function addressStatus(result: StatusInputs): AddressStatus {
  if (result.skipped !== null) return 'skipped'
  if (result.answered > 0) return result.synchronised ? 'served' : 'unsynchronised'
  if (result.kod === null) return 'not-served'
  return kissAction(result.kod) === 'discard' ? 'unsynchronised' : 'refused'
}

interface VerdictInputs extends StatusInputs {
  address: string
  status: AddressStatus
  stratum: number | null
  refid: string | null
  leap: number | null
  requests: number
  samples: unknown[]
  retryAfter: string | null
  portUnreachable: boolean
}

export interface HostVerdict {
  verdict: Verdict
  exitCode: number
  /** One line: "HOST serves NTP to the public: stratum 2, refid …, answered 4/4". */
  summary: string
  /** One line per address when the host has several. */
  details: string[]
}

/**
 * Served if any address answers with time (even unsynchronised: it still costs egress); else refused if any KoD; else
 * not served.
 */
export function hostVerdict(host: string, results: VerdictInputs[], count: number): HostVerdict {
  const servedBy = results.filter((r) => r.status === 'served' || r.status === 'unsynchronised')
  // An address left alone this run for an earlier RATE, DENY or RSTR still refuses.
  const refuses = (r: VerdictInputs) =>
    r.status === 'refused' || (r.status === 'skipped' && r.kod !== null && kissAction(r.kod) !== 'discard')
  const verdict: Verdict = servedBy.length > 0 ? 'served' : results.some(refuses) ? 'refused' : 'not-served'
  const exitCode =
    verdict === 'served' ? PROBE_EXIT.served : verdict === 'refused' ? PROBE_EXIT.refusedByKod : PROBE_EXIT.notServed
  const [only] = results
  if (results.length === 1 && only) {
    return {details: [], exitCode, summary: `${host} ${addressSentence(only, count)}`, verdict}
  }
  const headline =
    verdict === 'served'
      ? `${host} serves NTP to the public: ${servedBy.length}/${results.length} addresses answered`
      : verdict === 'refused'
        ? `${host} refuses NTP with Kiss-o'-Death on ${results.filter(refuses).length}/${results.length} addresses`
        : `${host} does not serve NTP: none of ${results.length} addresses answered`
  return {
    details: results.map((r) => `${r.address} ${addressSentence(r, count)}`),
    exitCode,
    summary: headline,
    verdict,
  }
}

const KOD_MEANING: Record<string, string> = {
  DENY: 'access denied: not contacted again',
  INIT: 'not synchronised yet: it answers every request (each answer costs egress)',
  RATE: 'rate limited: no more requests this run',
  RSTR: 'restricted by policy: not contacted again',
  STEP: 'stepping its clock, not synchronised',
}

function addressSentence(r: VerdictInputs, count: number): string {
  switch (r.status) {
    case 'served': {
      return `serves NTP to the public: stratum ${r.stratum}, refid ${r.refid}, answered ${r.answered}/${count}`
    }
    case 'unsynchronised': {
      if (r.answered === 0 && r.kod !== null) {
        return `served, unsynchronised: answers with kiss code ${r.kod} (${KOD_MEANING[r.kod] ?? 'a code that asks nothing of the client'}), no usable time; it still serves anyone`
      }
      const why =
        r.leap === null || r.stratum === null
          ? ''
          : ` (${unsynchronisedWhy({leap: r.leap, refid: r.refid ?? '', stratum: r.stratum})})`
      const meaning = r.stratum === 0 && r.refid && KOD_MEANING[r.refid] ? `: ${KOD_MEANING[r.refid]}` : ''
      return `served, unsynchronised${why}${meaning}; answered ${r.answered}/${count} — it answers anyone, and its replies cost egress`
    }
    case 'refused': {
      const meaning = KOD_MEANING[r.kod!] ?? 'kiss code not acted on beyond stopping this run'
      const until = r.retryAfter ? `; cool-down until ${r.retryAfter}` : ''
      return `refuses with Kiss-o'-Death ${r.kod} (${meaning}${until})`
    }
    case 'skipped': {
      return `was not probed: ${r.skipped}`
    }
    default: {
      if (r.portUnreachable) return 'does not serve NTP: port unreachable (ICMP), nothing listens'
      if (r.kod !== null)
        return `does not serve NTP: it answered only with Kiss-o'-Death ${r.kod} (a kiss code with no defined meaning: discarded, not obeyed)`
      return `does not serve NTP: no answer to ${r.requests} request${r.requests === 1 ? '' : 's'}`
    }
  }
}

/** What a capture says about the host's egress, from `--pcap FILE` or the store's newest 'pcap' evidence. */
export interface CaptureSummary {
  source: 'file' | 'store'
  file: string | null
  /** When the evidence was saved (store only). */
  createdAt: string | null
  /** The server address the capture was measured for. */
  host: string | null
  outboundBytes: number
  /** Outbound bytes from the probed NTP port (UDP). */
  ntpBytes: number
  ntpShare: number
  ntpClients: number | null
}

export interface CaptureJoin extends CaptureSummary {
  /** The capture's host is one of the probed addresses. */
  matchesHost: boolean
  conclusion: string
}

/** The sentence that joins what the probe saw with what the capture measured. */
export function joinCapture(capture: CaptureSummary, verdict: Verdict, addresses: string[], port: number): CaptureJoin {
  const matchesHost = capture.host === null || addresses.some((a) => sameAddress(a, capture.host!))
  const share = formatShare(capture.ntpShare)
  const clients = capture.ntpClients === null ? '' : ` to ${formatCountOf(capture.ntpClients, 'client')}`
  let conclusion: string
  if (!matchesHost) {
    conclusion = `the capture measures ${capture.host}, not ${addresses.join(', ')}: no conclusion joined`
  } else if (capture.outboundBytes === 0) {
    conclusion = 'the capture holds no outbound bytes from this host: no conclusion joined'
  } else if (verdict === 'served' && capture.ntpShare >= 0.5) {
    conclusion = `port ${port} is the culprit: ${share} of outbound bytes in the capture are NTP responses from this host${clients}, which serves anyone`
  } else if (verdict === 'served') {
    conclusion = `port ${port} is not the main cost: NTP responses are ${share} of outbound bytes in the capture (${formatBytes(capture.ntpBytes)}), though this host serves anyone`
  } else if (capture.ntpShare >= 0.5) {
    conclusion = `the capture's egress is ${share} NTP responses${clients}, but this host does not serve this probe now (${verdict === 'refused' ? "Kiss-o'-Death" : 'no answer'}): a limit or firewall may already be in place`
  } else {
    conclusion = `NTP responses are ${share} of outbound bytes in the capture and this host does not serve NTP to this probe: port ${port} is not the culprit`
  }
  return {...capture, conclusion, matchesHost}
}
