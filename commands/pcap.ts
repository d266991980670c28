import {resolve} from 'node:path'
import type {Readable} from 'node:stream'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../src/cli/base-command.js'
import {BillwatchError, terminalSafe} from '../src/errors.js'
import {formatBytes, formatCount, formatShare} from '../src/cli/format.js'
import {parsePricePerGb, pricePerGbFlag} from '../src/cli/price-flag.js'
import {createStatusLine} from '../src/cli/progress.js'
import {analyseCapture, analyseCaptureParallel, type CaptureAnalysis, type LiveStatus} from '../src/pcap/analyse.js'
import {captureOrigin, expandCaptureArguments} from '../src/pcap/capture-set.js'
import {parseDuration, startLiveCapture} from '../src/pcap/live.js'
import {renderPcapReport} from '../src/pcap/render.js'
import {
  buildReportParallel,
  compareControl,
  type LiveCaptureReport,
  type PcapReport,
  startEarlyReplayWorker,
} from '../src/pcap/report.js'
import {analyseStream} from '../src/pcap/stream.js'
import {CURRENT_EGRESS_PRICING, flatPricing} from '../src/pricing/egress.js'
import {parseLimiterSetting, type ReplayWorker} from '../src/ratelimit/index.js'
import {startEvidenceSave} from '../src/store/save-evidence.js'

/** What `billwatch pcap --json` prints: its JSON Schema is schemas/pcap.json. */
export type PcapCommandResult = PcapReport

export default class Pcap extends BaseCommand<typeof Pcap> {
  static override summary = "Attribute a server's egress to protocols, ports and NTP clients from a packet capture."
  static override description = `Reads a pcap or pcapng file, plain or compressed with gzip or zstd (.pcap.gz from tcpdump -z gzip, .pcapng.zst; it streams: the file may be larger than memory, which grows with the NTP clients, not the requests: past 4M requests the request log goes to a temporary file, about 23 bytes a request) and reports, for the server host: packets and bytes three ways — on the wire, captured (what pcap_len sums) and billable IP bytes (what AWS bills: 76 bytes per IPv4 NTP reply, not the 90-byte frame) — outbound traffic by protocol and port with shares, throughput, and what the traffic costs per month and year.

For NTP: requests and replies per client, rate, median interval, versions and modes, KoDs sent and requests that kept coming after one, top talkers, the cumulative share of traffic by query count and the blocking-threshold economics table; which addresses look like NAT gateways of many honest hosts, which are single misbehaving clients, synchronised fleets, RFC client-rule violations, and what the ntpd/ntpsec/chrony rate limiters would have answered, dropped and saved.

Captures that are not one finished file: - reads one from stdin (tcpdump -w - | billwatch pcap -); --interface IF captures live through tcpdump for --duration (or until Ctrl-C, which still reports), with a progress line; several files, a folder or a glob (tcpdump -C/-G/-W rotated sets, gzipped or not) are read as one capture in the order of their first packets, and the gaps between files are reported.

The analysis is saved in the store for \`billwatch probe --pcap\` and \`billwatch explain\`.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> samples/captures/ntp-server.pcap',
    '<%= config.bin %> <%= command.id %> samples/captures/ntp-server.pcap --control samples/captures/ntp-control.pcap --price-per-gb 0.12',
    '<%= config.bin %> <%= command.id %> samples/captures/ntp-server.pcap --host 10.206.10.174 --block-threshold 100 --top 5 --json',
    '<%= config.bin %> <%= command.id %> /var/log/captures/ntp.pcap0.gz',
    "tcpdump -i eth0 -w - -U 'udp port 123' | <%= config.bin %> <%= command.id %> -",
    '<%= config.bin %> <%= command.id %> --interface eth0 --duration 10m --filter "udp port 123"',
    "<%= config.bin %> <%= command.id %> '/var/log/captures/ntp.pcap*.gz'",
    "<%= config.bin %> <%= command.id %> samples/captures/ntp-server.pcap --limiter 'chrony interval 1 burst 16 leak 2' --limiter 'ntpsec average 2 burst 40'",
  ]

  static override args = {
    file: Args.string({
      description:
        'A pcap or pcapng capture (tcpdump -w, dumpcap, tshark), plain, gzip or zstd; several files, a folder or a glob are read as one capture in time order (a rotated set); - reads one from stdin.',
      required: false,
    }),
  }

  static override strict = false

  static override flags = {
    duration: Flags.string({
      description: 'With --interface: capture this long, then report (30s, 10m, 1h); without it, until Ctrl-C.',
      helpValue: 'DURATION',
    }),
    filter: Flags.string({
      description: "With --interface: capture only what this tcpdump (BPF) filter matches, e.g. 'udp port 123'.",
      helpValue: 'BPF',
    }),
    interface: Flags.string({
      description:
        'Capture live on this interface through tcpdump (it must be installed, and billwatch allowed to capture), with a progress line, and report at the end; Ctrl-C ends the capture early and still reports.',
      helpValue: 'IF',
    }),
    'block-threshold': Flags.integer({
      description: 'Add a row to the blocking table: block clients with at least N requests (repeatable).',
      min: 1,
      multiple: true,
    }),
    control: Flags.string({
      description:
        "A second server's capture to compare with (the incident's home server for comparison): bytes/s, clients, bytes per client.",
      helpValue: 'FILE',
    }),
    'control-host': Flags.string({default: 'auto', description: "The control server's address, or auto."}),
    host: Flags.string({
      default: 'auto',
      description: 'The server address (IPv4 or IPv6), or auto: the address in the most packets.',
    }),
    limiter: Flags.string({
      description:
        "Replay this rate-limiter setting instead of the daemons' defaults, written like its configuration (repeatable): 'ntpd average 3 minimum 2 kod', 'ntpsec average 1 burst 20 kod 0.5', 'chrony interval 3 burst 8 leak 2 kod 1'.",
      helpValue: 'SETTING',
      multiple: true,
    }),
    'max-clients': Flags.integer({
      description:
        'Analyse at most this many NTP clients one by one (default 50,000,000: about 250 bytes of memory each); clients past it count in the totals only, and the report says so.',
      min: 1,
    }),
    'ntp-port': Flags.integer({default: 123, description: 'The port the server answers NTP on.', max: 65_535, min: 1}),
    'vxlan-port': Flags.integer({
      default: 4789,
      description:
        'A UDP port that carries VXLAN (AWS Traffic Mirroring uses 4789); its inner packets are billed, not the tunnel.',
      max: 65_535,
      min: 1,
    }),
    'price-per-gb': pricePerGbFlag,
    replay: Flags.boolean({
      allowNo: true,
      default: true,
      description:
        "Replay the requests through ntpd's, ntpsec's and chrony's rate limiters (--no-replay skips it on huge captures).",
    }),
    top: Flags.integer({default: 10, description: 'How many top talkers to list.', min: 0}),
  }

  async run(): Promise<PcapCommandResult> {
    const {flags} = this
    const price = parsePricePerGb(flags['price-per-gb'])
    const pricing = price === undefined ? CURRENT_EGRESS_PRICING : flatPricing(price)
    const limiters = flags.limiter?.map((text) => parseLimiterSetting(text))
    if (limiters && !flags.replay) this.usage('replays a setting; it cannot go with --no-replay', '--limiter')
    const inputs = this.positionals
    if (flags.interface !== undefined && inputs.length > 0)
      this.usage('captures from the interface: give no FILE with it', '--interface')
    // As oclif words a missing argument: FILE may be -, and --interface needs none.
    if (flags.interface === undefined && inputs.length === 0)
      throw new BillwatchError('E_USAGE', 'missing FILE', {suggestions: [`${this.config.bin} ${this.id} --help`]})
    for (const name of ['duration', 'filter'] as const)
      if (flags[name] !== undefined && flags.interface === undefined) this.usage('goes with --interface', `--${name}`)
    if (inputs.length > 1 && inputs.includes('-'))
      this.usage('- (stdin) is a capture of its own: give it alone', 'FILE')
    const durationSec = flags.duration === undefined ? undefined : parseDuration(flags.duration)
    const scanOptions = {
      host: flags.host,
      ...(flags['max-clients'] === undefined ? {} : {maxClients: flags['max-clients']}),
      ntpPort: flags['ntp-port'],
      vxlanPort: flags['vxlan-port'],
    }
    // The finding is saved by a worker thread, which loads DuckDB while this one reads the capture.
    const saving = startEvidenceSave()
    let report: PcapReport
    let file: string
    try {
      let analysis: CaptureAnalysis
      let live: LiveCaptureReport | undefined
      let replayWorker: ReplayWorker | undefined
      if (flags.interface !== undefined) {
        ;({analysis, live} = await this.captureLive(flags.interface, flags.filter, durationSec, scanOptions))
      } else if (inputs[0] === '-') {
        analysis = await this.readStream(process.stdin, '-', scanOptions)
      } else {
        const {files, skipped} = expandCaptureArguments(inputs)
        if (skipped.length > 0)
          this.note(
            `left out ${skipped.length} file${skipped.length === 1 ? '' : 's'} that hold${skipped.length === 1 ? 's' : ''} no capture (first: ${skipped[0]})`,
          )
        const progress = this.progress('reading capture', formatBytes)
        // The replays' worker thread loads its modules while this thread scans.
        replayWorker = flags.replay && files.length === 1 ? startEarlyReplayWorker(files[0]!) : undefined
        try {
          analysis =
            files.length === 1
              ? await analyseCaptureParallel(files[0]!, {...scanOptions, onProgress: progress.update})
              : analyseCapture(captureOrigin(files, inputs.length === 1 ? resolve(inputs[0]!) : files.join(' ')), {
                  ...scanOptions,
                  onProgress: progress.update,
                })
        } catch (error) {
          replayWorker?.cancel()
          throw error
        }
        progress.done()
      }
      file = analysis.file
      // The report of a log in memory takes about a second: the store opens meanwhile (a spilled log's report reads
      // it back from disk, a control capture is still to be read: then it opens only when the report is ready).
      if (!analysis.ntp.log.spilled && !flags.control) saving.open(this.storePath())
      report = await buildReportParallel(analysis, {
        blockThresholds: flags['block-threshold'] ?? [],
        limiters,
        pricing,
        replay: flags.replay,
        replayWorker,
        top: flags.top,
      })
      if (live) report.live = live
      if (limiters && !report.ntp.rateLimiting)
        this.note('--limiter: nothing to replay: the capture holds no NTP requests to the host over a measurable span')
      if (flags.control) {
        const controlProgress = this.progress('reading control capture', formatBytes)
        const control = await analyseCaptureParallel(resolve(flags.control), {
          host: flags['control-host'],
          ntpPort: flags['ntp-port'],
          onProgress: controlProgress.update,
          vxlanPort: flags['vxlan-port'],
        })
        controlProgress.done()
        report.control = compareControl(analysis, control)
      }
    } catch (error) {
      await saving.cancel()
      throw error
    }
    await saving.save(this.storePath(), 'pcap', file, report)
    this.print(() => renderPcapReport(report))
    return report
  }

  /** The live counters as one line: packets, their rate, and the outbound port with the most bytes so far. */
  private statusText(what: string, status: LiveStatus, startedAt: number): string {
    const seconds = (Date.now() - startedAt) / 1000
    const rate = seconds > 0 ? Math.round(status.packets / seconds) : 0
    const top = status.topPort
      ? `, top port ${status.topPort.protocol}/${status.topPort.port} (${formatShare(status.outboundBytes > 0 ? status.topPort.bytes / status.outboundBytes : 0)} of outbound)`
      : ''
    return `${what}: ${formatCount(status.packets)} packets, ${formatCount(rate)}/s, ${formatBytes(status.bytes)}${top}`
  }

  /** A capture from stdin; Ctrl-C ends it (after a second for the writer, which got it too, to flush). */
  private async readStream(
    input: Readable,
    name: string,
    options: {host: string; maxClients?: number; ntpPort: number; vxlanPort: number},
  ): Promise<CaptureAnalysis> {
    const line = createStatusLine(Boolean(process.stderr.isTTY) && !this.jsonEnabled())
    const startedAt = Date.now()
    const run = analyseStream(input, name, options, (status) =>
      line.show(this.statusText('reading stdin', status, startedAt)),
    )
    const onInterrupt = () => setTimeout(() => run.stop(), 1000).unref()
    process.on('SIGINT', onInterrupt)
    try {
      return await run.result
    } finally {
      process.off('SIGINT', onInterrupt)
      line.done()
      // Whatever stdin still holds is not read: let the process end.
      input.destroy()
    }
  }

  /** A live capture through tcpdump until the duration passes, Ctrl-C, or tcpdump stops. */
  private async captureLive(
    iface: string,
    filter: string | undefined,
    durationSec: number | undefined,
    options: {host: string; maxClients?: number; ntpPort: number; vxlanPort: number},
  ): Promise<{analysis: CaptureAnalysis; live: LiveCaptureReport}> {
    const capture = startLiveCapture(iface, filter)
    let stoppedBy: LiveCaptureReport['stoppedBy'] = 'end'
    const line = createStatusLine(Boolean(process.stderr.isTTY) && !this.jsonEnabled())
    const startedAt = Date.now()
    const what = `capturing on ${iface}${durationSec === undefined ? ' (Ctrl-C ends it)' : ` for ${formatCount(durationSec)} s`}`
    const run = analyseStream(capture.output, `interface ${iface}`, options, (status) =>
      line.show(this.statusText(what, status, startedAt)),
    )
    const timer =
      durationSec === undefined
        ? undefined
        : setTimeout(() => {
            stoppedBy = 'duration'
            capture.stop()
          }, durationSec * 1000)
    // Said also under --json (stdout stays JSON): a script can start its traffic from here.
    void capture.listening.then(() => {
      line.done()
      process.stderr.write(`billwatch: tcpdump is listening on ${terminalSafe(iface)}\n`)
    })
    const onInterrupt = () => {
      stoppedBy = 'interrupt'
      capture.stop()
    }
    process.on('SIGINT', onInterrupt)
    try {
      // tcpdump's failure (no such interface, no permission, a bad filter) is the error to report.
      const [analysis, {droppedByKernel}] = await Promise.all([run.result, capture.finished])
      return {
        analysis,
        live: {droppedByKernel, filter: filter ?? null, interface: iface, requestedSec: durationSec ?? null, stoppedBy},
      }
    } catch (error) {
      capture.stop()
      await capture.finished.catch((failure: unknown) => {
        throw failure
      })
      throw error
    } finally {
      clearTimeout(timer)
      process.off('SIGINT', onInterrupt)
      line.done()
    }
  }
}
