/**
 * `billwatch probe` as a library: resolve a host, sample every address with the well-mannered
 * SNTP client, optionally check mode 6/7 exposure, and reach a verdict. No oclif, no stdout.
 */
import {
  type AddressSampling,
  type NtpSample,
  type ProbeClock,
  type SampleOptions,
  DEFAULT_INTERVAL_MS,
  DEFAULT_TIMEOUT_MS,
  sampleAddress,
  systemClock,
} from './client.js'
import {type ExposureReport, checkExposure} from './exposure.js'
import {type Resolver, type ProbeTarget, resolveAll} from './target.js'
import {type AddressStatus, type CaptureJoin, type HostVerdict, addressStatus, hostVerdict} from './verdict.js'

export {parseTarget, resolveAll} from './target.js'
export {PROBE_EXIT} from './verdict.js'

export interface ProbeOptions extends Omit<SampleOptions, 'clock'> {
  clock?: ProbeClock
  /** Run the mode 6 / mode 7 checks (one packet each). */
  exposure?: boolean
  resolve?: Resolver
  /** Addresses not to contact this run (a cool-down from an earlier KoD), see coolDowns(). */
  skip?: Map<string, CoolDown> | undefined
}

/** The per-address record; its first keys are the `--json` contract. */
export interface AddressResult {
  address: string
  port: number
  /** Valid time answers (KoDs not counted). */
  answered: number
  stratum: number | null
  refid: string | null
  version: number | null
  leap: number | null
  offsetMs: number | null
  delayMs: number | null
  /** Kiss code of a KoD carrying our nonce, or null. */
  kod: string | null
  /** null when --exposure was not asked (or the server told us to stop). */
  mode6Exposed: boolean | null
  mode7Exposed: boolean | null
  /** monlist response bytes / request bytes, or null without a monlist answer. */
  amplification: number | null
  status: AddressStatus
  family: 4 | 6
  sourcePort: number | null
  /** Requests sent, retries included. */
  requests: number
  timeouts: number
  synchronised: boolean | null
  /** Not before this time may this address be sampled again (RATE), ISO 8601; null = no limit asked. */
  retryAfter: string | null
  /** DENY / RSTR: never probe again without --force. */
  denied: boolean
  /** Datagrams ignored by validation, by reason (spoofed KoDs included). */
  ignored: Record<string, number>
  portUnreachable: boolean
  skipped: string | null
  samples: NtpSample[]
  exposure: ExposureReport | null
  warnings: string[]
}

/** Why an address is left alone this run; carried into this run's result so the next run still knows. */
export interface CoolDown {
  reason: string
  kod: string | null
  denied: boolean
  retryAfter: string | null
}

/** The per-address keys repeated at the top level of the result, for the primary address. */
export type PrimaryKeys = Pick<
  AddressResult,
  | 'address'
  | 'answered'
  | 'stratum'
  | 'refid'
  | 'version'
  | 'leap'
  | 'offsetMs'
  | 'delayMs'
  | 'kod'
  | 'mode6Exposed'
  | 'mode7Exposed'
  | 'amplification'
>

/**
 * `--json` of probe: the host verdict, then the per-address keys of the primary address (the first
 * that answered, else the first probed) at the top level, then every address under `results`.
 */
export interface ProbeResult extends HostVerdict, PrimaryKeys {
  host: string
  port: number
  addresses: string[]
  count: number
  intervalMs: number
  timeoutMs: number
  results: AddressResult[]
  capture: CaptureJoin | null
}

export async function probeHost(
  target: ProbeTarget,
  options: ProbeOptions = {},
): Promise<Omit<ProbeResult, 'capture'>> {
  const addresses = await (options.resolve ?? resolveAll)(target.host)
  const clock = options.clock ?? systemClock
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  // Addresses are different servers, so they are sampled side by side; each one sees only its own pace.
  const results = await Promise.all(
    addresses.map(async (address) => {
      const skipped = options.skip?.get(address)
      if (skipped !== undefined) return skippedResult(address, target.port, skipped)
      const sampling = await sampleAddress(address, target.port, {...options, clock, intervalMs, timeoutMs})
      const exposure =
        options.exposure && mayContactAgain(sampling) ? await checkExposure(address, target.port, timeoutMs) : null
      return toAddressResult(sampling, exposure, intervalMs, clock.now())
    }),
  )
  const count = options.count ?? 1
  return {
    ...hostVerdict(target.host, results, count),
    ...primaryKeys(results),
    addresses,
    count,
    host: target.host,
    intervalMs,
    port: target.port,
    results,
    timeoutMs,
  }
}

function primaryKeys(results: AddressResult[]): PrimaryKeys {
  const primary = results.find((r) => r.answered > 0) ?? results.find((r) => r.kod !== null) ?? results[0]!
  const {
    address,
    amplification,
    answered,
    delayMs,
    kod,
    leap,
    mode6Exposed,
    mode7Exposed,
    offsetMs,
    refid,
    stratum,
    version,
  } = primary
  return {
    address,
    amplification,
    answered,
    delayMs,
    kod,
    leap,
    mode6Exposed,
    mode7Exposed,
    offsetMs,
    refid,
    stratum,
    version,
  }
}

/**
 * Addresses an earlier run was told to leave alone: DENY/RSTR for good, RATE until its retryAfter
 * (RFC 5905 §7.4, research/ntp.md KoD table).
 */
export function coolDowns(previous: {results: AddressResult[]} | undefined, nowMs: number): Map<string, CoolDown> {
  const skip = new Map<string, CoolDown>()
  for (const {address, denied, kod, retryAfter} of previous?.results ?? []) {
    if (denied)
      skip.set(address, {denied, kod, reason: `the server sent KoD ${kod}: not probed again (use --force)`, retryAfter})
    else if (retryAfter && Date.parse(retryAfter) > nowMs) {
      skip.set(address, {denied, kod, reason: `KoD ${kod}: cooling down until ${retryAfter} (use --force)`, retryAfter})
    }
  }
  return skip
}

/** After RATE, DENY or RSTR we send that server nothing more this run — exposure checks included. */
function mayContactAgain(sampling: AddressSampling): boolean {
  return !sampling.portUnreachable && (sampling.kod === null || sampling.kod.action === 'discard')
}

function toAddressResult(
  sampling: AddressSampling,
  exposure: ExposureReport | null,
  intervalMs: number,
  nowMs: number,
): AddressResult {
  const best = sampling.samples.reduce<NtpSample | undefined>(
    (min, s) => (min === undefined || s.delayMs < min.delayMs ? s : min),
    undefined,
  )
  const kod = sampling.kod
  let retryAfter: string | null = null
  if (kod?.action === 'stop-sampling') {
    // Cool down ≥ max(2 × our interval, the server's poll capped at 2^13 s).
    retryAfter = new Date(nowMs + Math.max(2 * intervalMs, 2 ** kod.poll * 1000)).toISOString()
  }
  const ignored: Record<string, number> = {}
  for (const datagram of sampling.ignored) ignored[datagram.reason] = (ignored[datagram.reason] ?? 0) + 1
  const partial = {
    address: sampling.address,
    amplification: exposure?.mode7.amplification ?? null,
    answered: sampling.answered,
    delayMs: best?.delayMs ?? null,
    denied: kod?.action === 'stop-now',
    exposure,
    family: sampling.family,
    ignored,
    kod: kod?.code ?? null,
    leap: best?.leap ?? null,
    mode6Exposed: exposure ? exposure.mode6.exposed : null,
    mode7Exposed: exposure ? exposure.mode7.exposed : null,
    offsetMs: best?.offsetMs ?? null,
    port: sampling.port,
    portUnreachable: sampling.portUnreachable,
    refid: best?.refid ?? null,
    requests: sampling.requests,
    retryAfter,
    samples: sampling.samples,
    skipped: null,
    sourcePort: sampling.sourcePort,
    stratum: best?.stratum ?? null,
    synchronised: best?.synchronised ?? null,
    timeouts: sampling.timeouts,
    version: best?.version ?? null,
    warnings: sampling.warnings,
  }
  return {...partial, status: addressStatus(partial)}
}

function skippedResult(address: string, port: number, coolDown: CoolDown): AddressResult {
  return {
    address,
    amplification: null,
    answered: 0,
    delayMs: null,
    denied: coolDown.denied,
    exposure: null,
    family: address.includes(':') ? 6 : 4,
    ignored: {},
    kod: coolDown.kod,
    leap: null,
    mode6Exposed: null,
    mode7Exposed: null,
    offsetMs: null,
    port,
    portUnreachable: false,
    refid: null,
    requests: 0,
    retryAfter: coolDown.retryAfter,
    samples: [],
    skipped: coolDown.reason,
    sourcePort: null,
    status: 'skipped',
    stratum: null,
    synchronised: null,
    timeouts: 0,
    version: null,
    warnings: [],
  }
}
