/**
 * bench/pcap-day: `billwatch pcap --json` on a generated day at the NTP pool server incident's server
 * (about 120M packets, ~13 GB: see dayScenario), read as one file and as the set tcpdump rotates it
 * into (`-C 1000`, each file gzipped as `-z gzip` leaves it), against (a)
 * `tcpdump -r FILE -w - 'src host HOST and src port 123' | wc -c` on the same files (a gzipped file
 * through `gzip -dc`, tcpdump reading no gzip). Each run is timed once (a day's run is minutes long),
 * with its CPU time and peak RSS; billwatch's outbound NTP replies must give (a)'s byte count.
 *
 *   npm run build:native && node --import tsx bench/pcap-day/run.ts [--hours 24] [--generate-only] [--one-file]
 *
 * The capture and the set are generated once into bench/out (pcap-day-<H>h.pcap, pcap-day-<H>h-set/)
 * and reused; the run refuses to start when the disk lacks room for them (about 0.55 GB an hour plain
 * plus ~0.2 GB gzipped). --hours 24 is the day; fewer hours keep the rate and shorten the span.
 */
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, renameSync, rmSync, statfsSync, statSync} from 'node:fs'
import {cpus, loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'

import {buildCli, CLI, finishReport, measured, OUT, timedOnce, type Timing} from '../pcap/harness.js'
import {dayScenario, generateLongCapture} from '../pcap/scenario.js'

const argument = (name: string) => {
  const at = process.argv.indexOf(name)
  return at < 0 ? undefined : process.argv[at + 1]
}
const hours = Number(argument('--hours') ?? 24)
if (!(hours > 0 && hours <= 24 * 7))
  throw new Error(`--hours: expected a number of hours from 0 to 168, got ${argument('--hours')}`)
const scenario = dayScenario(hours)
mkdirSync(OUT, {recursive: true})
const name = `pcap-day-${hours}h`
const file = join(OUT, `${name}.pcap`)
const set = join(OUT, `${name}-set`)

const neededBytes = (existsSync(file) ? 0 : hours * 0.55e9) + (existsSync(set) ? 0 : hours * 0.25e9)
const free = statfsSync(OUT).bavail * statfsSync(OUT).bsize
if (neededBytes > free)
  throw new Error(
    `${OUT} has ${(free / 1e9).toFixed(1)} GB free; a ${hours} h capture and its set need about ${(neededBytes / 1e9).toFixed(1)} GB more`,
  )

if (!existsSync(file)) {
  const started = performance.now()
  const result = generateLongCapture(scenario, `${file}.part`, (done, of) =>
    process.stdout.write(`generating ${file}: hour ${done} of ${of}\n`),
  )
  renameSync(`${file}.part`, file)
  process.stdout.write(
    `${file}: ${statSync(file).size} bytes, ${result.packets} packets, ${result.requests} requests, ${result.clients} clients (${((performance.now() - started) / 1000).toFixed(0)} s)\n`,
  )
}
function makeSet(): void {
  if (existsSync(set)) return
  // tcpdump's own rotation by size; -z gzip compresses each file as it closes (not the last one: gzip it after).
  const part = `${set}.part`
  rmSync(part, {force: true, recursive: true})
  mkdirSync(part)
  execFileSync('tcpdump', ['-r', file, '-w', join(part, 'ntp.pcap'), '-C', '1000', '-z', 'gzip', '-Z', 'root'], {
    stdio: 'ignore',
  })
  // The gzips tcpdump started run on after it exits: a plain file beside its .gz is still being compressed.
  for (;;) {
    const entries = readdirSync(part)
    const plain = entries.filter((entry) => !entry.endsWith('.gz'))
    if (plain.every((entry) => !entries.includes(`${entry}.gz`))) {
      for (const entry of plain) execFileSync('gzip', [join(part, entry)])
      break
    }
    execFileSync('sleep', ['2'])
  }
  renameSync(part, set)
}
if (process.argv.includes('--generate-only')) process.exit(0)
// tcpdump -C names: ntp.pcap, ntp.pcap1 … ntp.pcap12: in order by their number.
const setFiles = (): string[] =>
  readdirSync(set)
    .filter((entry) => entry.endsWith('.gz'))
    .sort((a, b) => Number(a.replace(/\D/g, '') || 0) - Number(b.replace(/\D/g, '') || 0))
    .map((entry) => join(set, entry))

buildCli()
const db = join(tmpdir(), `billwatch-bench-day-${process.pid}.duckdb`)
const filter = `'src host ${scenario.host} and src port 123'`
const lines = [
  `${cpus().length} CPUs, load average at start ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; ${hours} h at ${scenario.backgroundRequests / (hours * 3600)} background requests/s`,
]
let failed = false

interface Report {
  packets: number
  ntp: {uniqueClients: number; requests: number; outbound: {packets: number; capturedBytes: number}}
}
const run = (label: string, script: string): Timing => {
  const timing = timedOnce(label, script)
  process.stdout.write(
    `${label}: ${timing.seconds.toFixed(1)} s, ${timing.cpuSeconds.toFixed(1)} s cpu, ${timing.peakRssMb.toFixed(0)} MB peak RSS\n`,
  )
  return timing
}
/** The result line of one input, printed as soon as both of its runs are done. */
function compare(what: string, billwatch: Timing, a: Timing, bytes: number): void {
  const report = JSON.parse(billwatch.stdout) as Report
  const same = Number(a.stdout.trim()) === 24 + 16 * report.ntp.outbound.packets + report.ntp.outbound.capturedBytes
  failed ||= !same
  lines.push(
    `${what.padEnd(11)} ${(bytes / 1e9).toFixed(2)} GB, ${report.packets} packets, ${report.ntp.requests} requests, ${report.ntp.uniqueClients} clients: ` +
      `billwatch ${billwatch.seconds.toFixed(1)} s (${billwatch.cpuSeconds.toFixed(1)} s cpu, peak RSS ${billwatch.peakRssMb.toFixed(0)} MB; target < 1 GB), ` +
      `(a) ${a.seconds.toFixed(1)} s (${a.cpuSeconds.toFixed(1)} s cpu): ${(billwatch.seconds / a.seconds).toFixed(2)}x wall (target ≤ 1.0x), ` +
      `${(billwatch.cpuSeconds / a.cpuSeconds).toFixed(2)}x cpu; NTP bytes ${same ? 'equal to (a)' : 'DIFFERENT from (a)'}; load average ${loadavg()[0]!.toFixed(1)}`,
  )
  process.stdout.write(`${lines.at(-1)}\n`)
}
const filterFile = run(
  '(a) one file',
  `${measured(`tcpdump -r ${JSON.stringify(file)} -w - ${filter}`)} 2>/dev/null | wc -c`,
)
const onFile = run(
  'billwatch one file',
  `${measured(`node ${join(CLI, 'bin/run.js')} pcap ${JSON.stringify(file)} --json --db ${db}`)} 2>/dev/null`,
)
compare('one file', onFile, filterFile, statSync(file).size)
if (!process.argv.includes('--one-file')) {
  makeSet()
  // Each file's output starts with a 24-byte header: (a) over the set counts one, as over the file. printf, not print:
  // mawk (Debian's awk) prints a sum past 2^31 as 6.40869e+09.
  const filterSet = run(
    '(a) gzipped set',
    `{ ${setFiles()
      .map(
        (f) =>
          `${measured(`gzip -dc ${JSON.stringify(f)}`)} | ${measured(`tcpdump -r - -w - ${filter}`)} 2>/dev/null | wc -c`,
      )
      .join('; ')}; } | awk '{s += $1 - 24} END {printf "%.0f\\n", s + 24}'`,
  )
  const onSet = run(
    'billwatch gzipped set',
    `${measured(`node ${join(CLI, 'bin/run.js')} pcap ${JSON.stringify(set)} --json --db ${db}`)} 2>/dev/null`,
  )
  compare(
    'gzipped set',
    onSet,
    filterSet,
    setFiles().reduce((sum, f) => sum + statSync(f).size, 0),
  )
}

finishReport(lines, name, db, failed)
