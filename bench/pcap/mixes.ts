/**
 * bench/pcap/mixes.ts: `billwatch pcap --json` (the full report) against tcpdump's bare filter on
 * captures of the NTP pool server incident's size and story with other client mixes — the incident's own
 * (`incident`), uniform, a steeper tail, spread over five times the clients, clustered addresses, IPv6 — and the
 * incident's capture read from stdin, side by side, best of 3.
 *
 *   npm run build:native && node --import tsx bench/pcap/mixes.ts [--scale 0.25] [--only uniform,ipv6]
 *
 * Each capture is generated once into bench/out/mix-NAME.pcap (about 600 MB at scale 1) and reused.
 * (a) is `tcpdump -r FILE -w - 'src host HOST and src port 123' | wc -c`; billwatch's outbound NTP
 * replies must give the same byte count (24 + Σ(16 + caplen)), or the run fails.
 */
import {existsSync, mkdirSync, renameSync, statSync} from 'node:fs'
import {cpus, loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'

import {buildCli, CLI, finishReport, measured, OUT, timed} from './harness.js'
import {generateCapture, MIXES, type Scenario} from './scenario.js'

const argument = (name: string) => {
  const at = process.argv.indexOf(name)
  return at < 0 ? undefined : process.argv[at + 1]
}
const scale = Number(argument('--scale') ?? 1)
const only = argument('--only')?.split(',')
mkdirSync(OUT, {recursive: true})
buildCli()
const db = join(tmpdir(), `billwatch-bench-mixes-${process.pid}.duckdb`)
const lines = [
  `${cpus().length} CPUs, load average at start ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; scale ${scale}`,
]
let failed = false

for (const [name, mix] of Object.entries(MIXES)) {
  if (only && !only.includes(name)) continue
  const scenario: Scenario =
    scale === 1
      ? mix
      : {
          ...mix,
          backgroundRequests: Math.round(mix.backgroundRequests * scale),
          durationSec: Math.round(mix.durationSec * scale),
        }
  const file = join(
    OUT,
    name === 'incident' && scale === 1 ? 'incident.pcap' : `mix-${name}${scale === 1 ? '' : `-${scale}`}.pcap`,
  )
  if (!existsSync(file)) {
    process.stdout.write(`generating ${file} …\n`)
    // Written beside and renamed, so an interrupted run leaves no cut capture to reuse.
    generateCapture(scenario, `${file}.part`)
    renameSync(`${file}.part`, file)
  }
  const quoted = JSON.stringify(file)
  const filter = timed(
    `(a) ${name}`,
    `${measured(`tcpdump -r ${quoted} -w - 'src host ${scenario.host} and src port 123'`)} 2>/dev/null | wc -c`,
  )
  const billwatch = timed(
    `billwatch ${name}`,
    `${measured(`node ${join(CLI, 'bin/run.js')} pcap ${quoted} --json --db ${db}`)} 2>/dev/null`,
  )
  const report = JSON.parse(billwatch.stdout) as {
    packets: number
    ntp: {uniqueClients: number; outbound: {packets: number; capturedBytes: number}}
  }
  const same =
    Number(filter.stdout.trim()) === 24 + 16 * report.ntp.outbound.packets + report.ntp.outbound.capturedBytes
  failed ||= !same
  const mb = statSync(file).size / 1e6
  lines.push(
    `${name.padEnd(10)} ${mb.toFixed(0)} MB, ${report.packets} packets, ${report.ntp.uniqueClients} clients: billwatch ${billwatch.seconds.toFixed(2)} s (${billwatch.cpuSeconds.toFixed(2)} s cpu, ${billwatch.peakRssMb.toFixed(0)} MB RSS), (a) ${filter.seconds.toFixed(2)} s (${filter.cpuSeconds.toFixed(2)} s cpu): ${(billwatch.seconds / filter.seconds).toFixed(2)}x wall (target ≤ 1.0x), ${(billwatch.cpuSeconds / filter.cpuSeconds).toFixed(2)}x cpu; NTP bytes ${same ? 'equal to (a)' : 'DIFFERENT from (a)'}`,
  )
  if (name === 'incident') {
    const piped = timed(
      'billwatch incident from stdin',
      `cat ${quoted} | ${measured(`node ${join(CLI, 'bin/run.js')} pcap - --json --db ${db}`)} 2>/dev/null`,
    )
    const {file: _a, ...fromStdin} = JSON.parse(piped.stdout) as Record<string, unknown>
    const {file: _b, ...fromFile} = JSON.parse(billwatch.stdout) as Record<string, unknown>
    const sameReport = JSON.stringify(fromStdin) === JSON.stringify(fromFile)
    failed ||= !sameReport
    lines.push(
      `${''.padEnd(10)} the same from stdin (cat FILE | billwatch pcap -): ${piped.seconds.toFixed(2)} s (${piped.cpuSeconds.toFixed(2)} s cpu), ${piped.peakRssMb.toFixed(0)} MB RSS, ${(piped.seconds / filter.seconds).toFixed(2)}x (a); report ${sameReport ? 'identical' : 'DIFFERENT'}`,
    )
  }
  process.stdout.write(`${lines.at(-1)}\n`)
}
finishReport(lines, `pcap-mixes${scale === 1 ? '' : `-${scale}`}`, db, failed)
