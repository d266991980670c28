import {existsSync} from 'node:fs'
import {resolve} from 'node:path'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../src/cli/base-command.js'
import {formatRatio} from '../src/cli/format.js'
import {renderTable} from '../src/cli/render.js'
import {summariseCaptureFile, summarisePcapReport} from '../src/probe/capture.js'
import {DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT_MS, type ProbeEvent, MIN_INTERVAL_MS} from '../src/probe/client.js'
import {type ProbeResult, type AddressResult, coolDowns, parseTarget, probeHost} from '../src/probe/index.js'
import {type CaptureSummary, joinCapture} from '../src/probe/verdict.js'
import {latestFinding, saveFinding} from '../src/store/evidence.js'
import type {Store} from '../src/store/index.js'

/** What `billwatch probe --json` prints: its JSON Schema is schemas/probe.json. */
export type ProbeCommandResult = ProbeResult

export default class Probe extends BaseCommand<typeof Probe> {
  static override summary = 'Check from outside whether a host serves NTP, with a native, well-mannered SNTPv4 client.'
  static override description = `Sends data-minimised NTPv4 client requests (48 bytes, random transmit nonce, nothing else) from a fresh random source port to every A/AAAA address of HOST and validates each reply (source, mode 4, origin = our nonce, non-zero transmit, stratum, LI 3 = unsynchronised). Offset and delay use the four timestamps with the NTP era handled (2036 rollover).

Manners (RFC 4330, 5905, 8633): one request per address unless --count; samples at least --interval apart (default 16 s, never below 2 s); a silent server is retried ${DEFAULT_ATTEMPTS} times waiting 1×, 2×, 4× --timeout plus jitter; a Kiss-o'-Death is believed only when it carries our nonce (a spoofed one is logged and ignored). RATE ends this run's sampling of that address and starts a cool-down; DENY and RSTR stop at once and the address is not probed again. With a store (--db or BILLWATCH_DB) the verdict is saved and later runs honour those cool-downs unless --force.

--exposure adds one mode 6 READVAR (does the server leak its version and system variables?) and one mode 7 MON_GETLIST (monlist, the amplification vector) with the measured amplification (response bytes / request bytes).

With --pcap FILE, or the newest capture saved by \`billwatch pcap\` in the store, the verdict is joined with the capture's share of outbound bytes that are NTP responses.

Exit codes: 0 served (some address answers with time, synchronised or not), 3 not served (no answer), 4 refused by Kiss-o'-Death (or not probed because of an earlier one), 1 error (name does not resolve, socket failure, unreadable capture), 2 usage.

--json: {verdict, exitCode, summary, details, address, answered, stratum, refid, version, leap, offsetMs, delayMs, kod, mode6Exposed, mode7Exposed, amplification, host, port, addresses, count, intervalMs, timeoutMs, results: [per address: the same keys plus status, family, sourcePort, requests, timeouts, synchronised, retryAfter, denied, ignored, portUnreachable, skipped, samples, exposure, warnings], capture: null | {source, file, host, outboundBytes, ntpBytes, ntpShare, ntpClients, matchesHost, conclusion}}. The top-level per-address keys are those of the first address that answered (else the first probed).`

  static override examples = [
    '<%= config.bin %> <%= command.id %> localhost',
    '<%= config.bin %> <%= command.id %> 127.0.0.1:11123 --count 4 --interval 16',
    '<%= config.bin %> <%= command.id %> [::1]:11123 --exposure --json',
    '<%= config.bin %> <%= command.id %> 127.0.0.1 --pcap samples/captures/ntp-server.pcap',
  ]

  static override args = {
    target: Args.string({
      description: 'HOST, HOST:PORT or [IPv6]:PORT (port 123 by default).',
      name: 'HOST[:PORT]',
      required: true,
    }),
  }

  static override flags = {
    attempts: Flags.integer({
      default: DEFAULT_ATTEMPTS,
      description: 'Requests per sample when the server is silent (backoff doubles each time).',
      max: 5,
      min: 1,
    }),
    count: Flags.integer({default: 1, description: 'Samples per address, spaced by --interval.', min: 1, max: 64}),
    exposure: Flags.boolean({
      default: false,
      description: 'Also send one mode 6 READVAR and one mode 7 monlist request and measure amplification.',
    }),
    force: Flags.boolean({
      default: false,
      description: "Probe addresses an earlier run's KoD put in cool-down or denied.",
    }),
    interval: Flags.string({
      default: '16',
      description: `Seconds between samples to one address (minimum ${MIN_INTERVAL_MS / 1000}).`,
      helpValue: 'SECONDS',
    }),
    pcap: Flags.string({
      description:
        'A capture of the host to join with the verdict (default: the newest `billwatch pcap` evidence in the store).',
      helpValue: 'FILE',
    }),
    timeout: Flags.integer({
      default: DEFAULT_TIMEOUT_MS,
      helpValue: 'MS',
      description: 'Milliseconds to wait for the first reply; retries wait 2× and 4×.',
      min: 10,
      max: 60_000,
    }),
  }

  async run(): Promise<ProbeCommandResult> {
    const {flags} = this
    const target = parseTarget(this.args.target)
    const intervalSeconds = Number(flags.interval)
    if (!Number.isFinite(intervalSeconds) || intervalSeconds * 1000 < MIN_INTERVAL_MS) {
      this.usage(
        `must be a number of seconds ≥ ${MIN_INTERVAL_MS / 1000}, got "${flags.interval}": faster repeats draw KoD RATE or silence`,
        '--interval',
      )
    }
    const fileCapture = flags.pcap ? summariseCaptureFile(resolve(flags.pcap), target.port) : undefined
    const useStore = flags.db !== undefined || existsSync(this.storePath())
    // The stored capture is read only when --pcap gave none; the previous probe is always needed.
    const store = useStore
      ? await this.withStore(async (s) => ({
          previous: await previousProbe(s, target.host),
          capture: fileCapture ? undefined : await storedCapture(s, target.port),
        }))
      : undefined

    const progress = this.progress(`probing ${target.host}`)
    let samplesDone = 0
    const result = await probeHost(target, {
      attempts: flags.attempts,
      count: flags.count,
      exposure: flags.exposure,
      intervalMs: intervalSeconds * 1000,
      onEvent: (event) => {
        this.note(describeEvent(event))
        if (event.type !== 'ignored') progress.update(++samplesDone)
      },
      skip: flags.force ? undefined : coolDowns(store?.previous, Date.now()),
      timeoutMs: flags.timeout,
    })
    progress.done()

    const captureSummary = fileCapture ?? store?.capture
    const full: ProbeResult = {
      ...result,
      capture: captureSummary ? joinCapture(captureSummary, result.verdict, result.addresses, target.port) : null,
    }
    if (useStore) await this.withStore((s) => saveFinding(s, 'probe', target.host, full))
    this.print(() => renderProbe(full))
    process.exitCode = full.exitCode
    return full
  }
}

async function previousProbe(store: Store, host: string): Promise<ProbeResult | undefined> {
  return (await latestFinding(store, 'probe', host))?.data
}

async function storedCapture(store: Store, port: number): Promise<CaptureSummary | undefined> {
  const evidence = await latestFinding(store, 'pcap')
  if (!evidence) return undefined
  return summarisePcapReport(evidence.data, port, {
    createdAt: evidence.createdAt,
    file: evidence.data.file ?? evidence.subject,
    source: 'store',
  })
}

function describeEvent(event: ProbeEvent): string {
  switch (event.type) {
    case 'timeout': {
      return `${event.address}: no reply in ${event.waitedMs} ms (attempt ${event.attempt})`
    }
    case 'ignored': {
      return event.reason === 'spoofed-kod'
        ? `${event.address}: ignored a KoD ${event.kissCode} without our nonce (spoofed, not obeyed)`
        : `${event.address}: ignored a ${event.bytes}-byte datagram (${event.reason})`
    }
    case 'kod': {
      return `${event.address}: Kiss-o'-Death ${event.code}`
    }
    default: {
      return `${event.address}: port unreachable`
    }
  }
}

function renderProbe(result: ProbeResult): string {
  const cell = (value: null | number | string, suffix = '') => (value === null ? '-' : `${value}${suffix}`)
  const exposure = (r: AddressResult) =>
    r.exposure === null
      ? ['-', '-', '-']
      : [
          r.mode6Exposed ? 'exposed' : 'no',
          r.mode7Exposed ? 'exposed' : 'no',
          r.amplification === null ? '-' : formatRatio(r.amplification),
        ]
  const table = renderTable(
    ['address', 'answered', 'stratum', 'refid', 'LI', 'offset', 'delay', 'KoD', 'mode 6', 'monlist', 'amplification'],
    result.results.map((r) => [
      r.address,
      `${r.answered}/${result.count}`,
      cell(r.stratum),
      cell(r.refid),
      cell(r.leap),
      cell(r.offsetMs, ' ms'),
      cell(r.delayMs, ' ms'),
      cell(r.kod),
      ...exposure(r),
    ]),
    ['left', 'right', 'right', 'left', 'right', 'right', 'right', 'left', 'left', 'left', 'right'],
  )
  const versions = result.results.flatMap((r) =>
    r.exposure?.mode6.versionString ? [`${r.address} mode 6 leaks version "${r.exposure.mode6.versionString}"`] : [],
  )
  const warnings = result.results.flatMap((r) => r.warnings.map((w) => `${r.address}: ${w}`))
  const capture = result.capture
    ? [
        `${result.capture.conclusion} (${result.capture.source === 'file' ? result.capture.file : `store evidence of ${result.capture.createdAt}`})`,
      ]
    : []
  return [table, '', result.summary, ...result.details.map((d) => `  ${d}`), ...versions, ...warnings, ...capture].join(
    '\n',
  )
}
