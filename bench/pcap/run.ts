/**
 * bench/pcap: `billwatch pcap` on a incident-size capture vs the tools the incident's operator used, in one run.
 *
 *   node --import tsx bench/pcap/run.ts [--regenerate]
 *
 * 1. writes bench/out/incident.pcap (~595 MB, 5.6M packets, 2.8M NTP replies, ~250k clients) and the same
 *    packets as bench/out/incident.pcapng unless present;
 * 2. transpiles the CLI to bench/out/cli (esbuild, no bundling) so the timing is the shipped JavaScript,
 *    not tsx compiling TypeScript at start-up;
 * 3. times `cat FILE > /dev/null`, (a) `tcpdump -r FILE -w - 'src port 123' | wc -c`, (b) the NTP pool server
 *    incident's
 *    `tcpdump -nr FILE | awk | sed | sort | uniq -c` client count as issue 5 writes and timed it (17.9 s),
 * over the whole capture, (b′) the same pipeline on the outbound NTP packets only, what the NTP pool server incident's
 *    outbound-only file held, and `billwatch pcap FILE --json` (with its native scanner, which must be
 *    built: npm run build:native); best of 3 runs each, and `billwatch pcap` on the pcapng and with
 *    the JavaScript scanner only; prints wall seconds, MB/s and peak RSS, and checks billwatch's counts
 *    against (a) and (b′), the pcapng's against the pcap's, and the JavaScript scanner's report
 *    against the native one's, byte for byte.
 * Targets (issue 5): ≥ 10x faster than (b), within 2x of (a), ≥ 300 MB/s, peak RSS < 600 MB.
 */
import {existsSync, mkdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {cpus, loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'

import {capturePackets} from '../../src/pcap/reader.js'
import {CaptureWriter} from '../../src/pcap/writer.js'
import {buildCli, CLI, measured, OUT, timed, TIME_LOG, type Timing} from './harness.js'
import {generateCapture, SCENARIOS} from './scenario.js'

const CAPTURE = join(OUT, 'incident.pcap')
/** The same packets as pcapng, the format dumpcap and tshark write by default. */
const CAPTURE_PCAPNG = join(OUT, 'incident.pcapng')

mkdirSync(OUT, {recursive: true})
if (!existsSync(CAPTURE) || process.argv.includes('--regenerate')) {
  process.stdout.write('generating bench/out/incident.pcap …\n')
  const generated = generateCapture(SCENARIOS.incident!, CAPTURE)
  process.stdout.write(
    `  ${generated.packets} packets, ${generated.requests} requests, ${generated.replies} replies, ${generated.clients} client addresses\n`,
  )
}
if (!existsSync(CAPTURE_PCAPNG) || process.argv.includes('--regenerate')) {
  process.stdout.write('writing bench/out/incident.pcapng …\n')
  const writer = new CaptureWriter(CAPTURE_PCAPNG, {format: 'pcapng'})
  for (const packet of capturePackets(CAPTURE)) writer.packet(packet.timeSec, packet.frame, {origlen: packet.origlen})
  writer.close()
}
buildCli()
const fileBytes = statSync(CAPTURE).size
const db = join(tmpdir(), `billwatch-bench-${process.pid}.duckdb`)
const file = JSON.stringify(CAPTURE)

// The incident's operator ran the filters on a file of the server's outbound packets; `src host` makes that explicit
// (clients polling from port 123 would otherwise match 'src port 123' too).
const outboundNtp = `'src host ${SCENARIOS.incident!.host} and src port 123'`
const cat = timed('cat FILE > /dev/null', `${measured(`cat ${file}`)} > /dev/null`)
const filter = timed(
  '(a) tcpdump -r FILE -w - (outbound NTP) | wc -c',
  `${measured(`tcpdump -r ${file} -w - ${outboundNtp}`)} 2>/dev/null | wc -c`,
)
// (b) as issue 5 writes it: no filter, so it also reads the requests (and counts their destination,
// the server). That is the pipeline behind the issue's 17.9 s.
const issuePipeline = timed(
  '(b) tcpdump -nr FILE | awk | sed | sort | uniq -c | wc -l',
  `${measured(`tcpdump -nr ${file}`)} 2>/dev/null | awk '{ print $5 }' | sed 's=.[0-9]*:==' | ${measured('sort')} | uniq -c | wc -l`,
)
const outboundPipeline = timed(
  '(b′) the same, outbound NTP only: … sort | uniq | wc -l',
  `${measured(`tcpdump -nr ${file} ${outboundNtp}`)} 2>/dev/null | awk '{ print $5 }' | sed 's=.[0-9]*:==' | ${measured('sort')} | uniq | wc -l`,
)
const billwatch = timed(
  'billwatch pcap FILE --json (full report)',
  `BILLWATCH_PCAP_NATIVE=1 ${measured(`node ${join(CLI, 'bin/run.js')} pcap ${file} --json --db ${db}`)} 2>/dev/null`,
)
// The same without the rate-limiter replay (issue item 6: six limiter settings over every request).
const countsOnly = timed(
  'billwatch pcap FILE --json --no-replay',
  `${measured(`node ${join(CLI, 'bin/run.js')} pcap ${file} --json --no-replay --db ${db}`)} 2>/dev/null`,
)
const javascriptOnly = timed(
  'billwatch pcap FILE --json, JavaScript scanner only',
  `BILLWATCH_PCAP_NATIVE=0 ${measured(`node ${join(CLI, 'bin/run.js')} pcap ${file} --json --db ${db}`)} 2>/dev/null`,
)
const pcapng = timed(
  'billwatch pcap FILE.pcapng --json (the same packets as pcapng)',
  `${measured(`node ${join(CLI, 'bin/run.js')} pcap ${JSON.stringify(CAPTURE_PCAPNG)} --json --db ${db}`)} 2>/dev/null`,
)
rmSync(db, {force: true})
rmSync(`${db}.wal`, {force: true})
rmSync(TIME_LOG, {force: true})

const report = JSON.parse(billwatch.stdout) as {
  packets: number
  ntp: {answeredClients: number; outbound: {packets: number; capturedBytes: number}}
}
const filteredBytes = Number(filter.stdout.trim())
const outboundClients = Number(outboundPipeline.stdout.trim())
// A pcap of the filtered packets is 24 + Σ(16 + caplen) bytes: billwatch's NTP replies must add up to it.
const expectedFilterBytes = 24 + 16 * report.ntp.outbound.packets + report.ntp.outbound.capturedBytes

const pcapngReport = JSON.parse(pcapng.stdout) as typeof report

const mb = fileBytes / 1e6
const row = (t: Timing, megabytes = mb) =>
  `${t.label.padEnd(66)} ${t.seconds.toFixed(2).padStart(6)} s wall ${t.cpuSeconds.toFixed(2).padStart(6)} s cpu ${(megabytes / t.seconds).toFixed(0).padStart(6)} MB/s ${t.peakRssMb.toFixed(0).padStart(5)} MB RSS`
const rows = [
  ...[cat, filter, issuePipeline, outboundPipeline, billwatch, countsOnly, javascriptOnly].map((t) => row(t)),
  row(pcapng, statSync(CAPTURE_PCAPNG).size / 1e6),
]
const sameJavascript = javascriptOnly.stdout === billwatch.stdout
const samePcapng =
  pcapngReport.packets === report.packets &&
  pcapngReport.ntp.answeredClients === report.ntp.answeredClients &&
  pcapngReport.ntp.outbound.packets === report.ntp.outbound.packets
const lines = [
  `capture ${CAPTURE}: ${mb.toFixed(1)} MB, ${report.packets} packets; ${cpus().length} CPUs, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
  ...rows,
  '',
  `billwatch vs (b): ${(issuePipeline.seconds / billwatch.seconds).toFixed(1)}x faster (target ≥ 10x)`,
  `billwatch vs (b′), outbound NTP only: ${(outboundPipeline.seconds / billwatch.seconds).toFixed(1)}x faster`,
  `billwatch vs (a): ${(billwatch.seconds / filter.seconds).toFixed(2)}x the time (target ≤ 2x)`,
  `billwatch throughput: ${(mb / billwatch.seconds).toFixed(0)} MB/s (target ≥ 300), peak RSS ${billwatch.peakRssMb.toFixed(0)} MB (target < 600)`,
  `without the replay: ${(issuePipeline.seconds / countsOnly.seconds).toFixed(1)}x faster than (b), ${(countsOnly.seconds / filter.seconds).toFixed(2)}x the time of (a), ${(mb / countsOnly.seconds).toFixed(0)} MB/s`,
  `check: (a) wrote ${filteredBytes} bytes, billwatch's NTP replies give ${expectedFilterBytes} — ${filteredBytes === expectedFilterBytes ? 'equal' : 'DIFFERENT'}`,
  `check: (b′) counted ${outboundClients} clients, billwatch answeredClients ${report.ntp.answeredClients} — ${outboundClients === report.ntp.answeredClients ? 'equal' : 'DIFFERENT'}`,
  `(b) counted ${issuePipeline.stdout.trim()} addresses: every destination in the capture, the server's among them`,
  `check: the pcapng gives the pcap's packets, clients and NTP replies — ${samePcapng ? 'equal' : 'DIFFERENT'}`,
  `check: the JavaScript scanner's report and the native scanner's — ${sameJavascript ? 'byte-identical' : 'DIFFERENT'}`,
]
process.stdout.write(`${lines.join('\n')}\n`)
writeFileSync(join(OUT, 'pcap-bench.txt'), `${lines.join('\n')}\n`)
if (
  filteredBytes !== expectedFilterBytes ||
  outboundClients !== report.ntp.answeredClients ||
  !samePcapng ||
  !sameJavascript
)
  process.exitCode = 1
