import {resolve} from 'node:path'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../src/cli/base-command.js'
import {formatBytes} from '../src/cli/format.js'
import {parsePricePerGb, pricePerGbFlag} from '../src/cli/price-flag.js'
import {analyseCaptureParallel} from '../src/pcap/analyse.js'
import {renderPcapReport} from '../src/pcap/render.js'
import {buildReportParallel, compareControl, type PcapReport} from '../src/pcap/report.js'
import {CURRENT_EGRESS_PRICING, flatPricing} from '../src/pricing/egress.js'
import {parseLimiterSetting} from '../src/ratelimit/index.js'
import {preloadStore} from '../src/store/index.js'

/** What `billwatch pcap --json` prints: its JSON Schema is schemas/pcap.json. */
export type PcapCommandResult = PcapReport

export default class Pcap extends BaseCommand<typeof Pcap> {
  static override summary = "Attribute a server's egress to protocols, ports and NTP clients from a packet capture."
  static override description = `Reads a pcap or pcapng file, plain or compressed with gzip or zstd (.pcap.gz from tcpdump -z gzip, .pcapng.zst; it streams: the file may be larger than memory, which grows only with the NTP requests, about 90 bytes each) and reports, for the server host: packets and bytes three ways — on the wire, captured (what pcap_len sums) and billable IP bytes (what AWS bills: 76 bytes per IPv4 NTP reply, not the 90-byte frame) — outbound traffic by protocol and port with shares, throughput, and what the traffic costs per month and year.

For NTP: requests and replies per client, rate, median interval, versions and modes, KoDs sent and requests that kept coming after one, top talkers, the cumulative share of traffic by query count and the blocking-threshold economics table; which addresses look like NAT gateways of many honest hosts, which are single misbehaving clients, synchronised fleets, RFC client-rule violations, and what the ntpd/ntpsec/chrony rate limiters would have answered, dropped and saved.

The analysis is saved in the store for \`billwatch probe --pcap\` and \`billwatch explain\`.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> samples/captures/ntp-server.pcap',
    '<%= config.bin %> <%= command.id %> samples/captures/ntp-server.pcap --control samples/captures/ntp-control.pcap --price-per-gb 0.12',
    '<%= config.bin %> <%= command.id %> samples/captures/ntp-server.pcap --host 10.206.10.174 --block-threshold 100 --top 5 --json',
    '<%= config.bin %> <%= command.id %> /var/log/captures/ntp.pcap0.gz',
    "<%= config.bin %> <%= command.id %> samples/captures/ntp-server.pcap --limiter 'chrony interval 1 burst 16 leak 2' --limiter 'ntpsec average 2 burst 40'",
  ]

  static override args = {
    file: Args.string({description: 'A pcap or pcapng capture (tcpdump -w, dumpcap, tshark), plain, gzip or zstd.', required: true}),
  }

  static override flags = {
    'block-threshold': Flags.integer({description: 'Add a row to the blocking table: block clients with at least N requests (repeatable).', min: 1, multiple: true}),
    control: Flags.string({description: "A second server's capture to compare with (the incident's home server for comparison): bytes/s, clients, bytes per client.", helpValue: 'FILE'}),
    'control-host': Flags.string({default: 'auto', description: "The control server's address, or auto."}),
    host: Flags.string({default: 'auto', description: 'The server address (IPv4 or IPv6), or auto: the address in the most packets.'}),
    limiter: Flags.string({
      description: "Replay this rate-limiter setting instead of the daemons' defaults, written like its configuration (repeatable): 'ntpd average 3 minimum 2 kod', 'ntpsec average 1 burst 20 kod 0.5', 'chrony interval 3 burst 8 leak 2 kod 1'.",
      helpValue: 'SETTING',
      multiple: true,
    }),
    'ntp-port': Flags.integer({default: 123, description: 'The port the server answers NTP on.', max: 65_535, min: 1}),
    'vxlan-port': Flags.integer({default: 4789, description: 'A UDP port that carries VXLAN (AWS Traffic Mirroring uses 4789); its inner packets are billed, not the tunnel.', max: 65_535, min: 1}),
    'price-per-gb': pricePerGbFlag,
    replay: Flags.boolean({allowNo: true, default: true, description: "Replay the requests through ntpd's, ntpsec's and chrony's rate limiters (--no-replay skips it on huge captures)."}),
    top: Flags.integer({default: 10, description: 'How many top talkers to list.', min: 0}),
  }

  async run(): Promise<PcapCommandResult> {
    const {flags} = this
    const price = parsePricePerGb(flags['price-per-gb'])
    const pricing = price === undefined ? CURRENT_EGRESS_PRICING : flatPricing(price)
    const limiters = flags.limiter?.map((text) => parseLimiterSetting(text))
    if (limiters && !flags.replay) this.usage('replays a setting; it cannot go with --no-replay', '--limiter')
    const file = resolve(this.args.file)
    const progress = this.progress('reading capture', formatBytes)
    // The store is opened last; its library loads while this thread waits for the scan's worker.
    preloadStore()
    const analysis = await analyseCaptureParallel(file, {host: flags.host, ntpPort: flags['ntp-port'], onProgress: progress.update, vxlanPort: flags['vxlan-port']})
    progress.done()
    const report = await buildReportParallel(analysis, {blockThresholds: flags['block-threshold'] ?? [], limiters, pricing, replay: flags.replay, top: flags.top})
    if (limiters && !report.ntp.rateLimiting) this.note('--limiter: nothing to replay: the capture holds no NTP requests to the host over a measurable span')
    if (flags.control) {
      const controlProgress = this.progress('reading control capture', formatBytes)
      const control = await analyseCaptureParallel(resolve(flags.control), {host: flags['control-host'], ntpPort: flags['ntp-port'], onProgress: controlProgress.update, vxlanPort: flags['vxlan-port']})
      controlProgress.done()
      report.control = compareControl(analysis, control)
    }
    await this.withStore((store) => store.saveEvidence('pcap', file, report))
    this.print(() => renderPcapReport(report))
    return report
  }

}
