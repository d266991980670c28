/**
 * bench/flows: times `billwatch ingest` of N VPC flow-log records (default 10 million, about 1 GB of
 * text) and of the same file gzipped, against a bare DuckDB scan of the same file (best of 3 each);
 * prints each time, peak RSS and the ratios, and checks the stored record count and bytes equal the
 * scan's. Data goes to bench/out/flows (git-ignored), generated once and reused.
 *   npm run build && node --import tsx bench/flows/run.ts [RECORDS] [RUNS]
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, rmSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {bestOf as bestOfRuns, timed, type Timing} from '../timing.js'
import {generateFlowLogs} from './generate.js'

const bestOf = (run: () => Timing) => bestOfRuns(RUNS, run)

const ROOT = join(import.meta.dirname, '..', '..')
const OUT = join(ROOT, 'bench', 'out', 'flows')
const records = Number(process.argv[2] ?? 10_000_000)
const RUNS = Number(process.argv[3] ?? 3)
const text = join(OUT, `vpcflow-${records}.log`)
const gz = `${text}.gz`
mkdirSync(OUT, {recursive: true})
if (!existsSync(text)) {
  process.stderr.write(`generating ${text} …\n`)
  await generateFlowLogs(text, records)
}
if (!existsSync(gz)) {
  process.stderr.write('gzipping …\n')
  spawnSync('sh', ['-c', `gzip -6 -c '${text}' > '${gz}'`], {stdio: 'inherit'})
}
if (!existsSync(join(ROOT, 'dist', 'commands', 'ingest.js'))) throw new Error('run `npm run build` first: the bench times the built CLI')

const node = process.execPath
const scan = (file: string) => bestOf(() => timed([node, '--import', 'tsx', join(ROOT, 'bench', 'flows', 'duckdb-scan.ts'), file]))
const ingest = (file: string) => bestOf(() => {
  const db = join(OUT, 'bench.duckdb')
  rmSync(db, {force: true})
  rmSync(`${db}.wal`, {force: true})
  return timed([node, join(ROOT, 'bin', 'run.js'), 'ingest', file, '--db', db, '--json'])
})

const results: Array<[string, Timing, Timing]> = []
for (const file of [text, gz]) results.push([file, scan(file), ingest(file)])

const sizeMb = (file: string) => statSync(file).size / 1e6
console.log(`bench/flows: ${records.toLocaleString('en-US')} VPC flow-log records, ${sizeMb(text).toFixed(0)} MB text, ${sizeMb(gz).toFixed(0)} MB gzipped; best of ${RUNS}`)
for (const [file, bare, ours] of results) {
  const name = file.endsWith('.gz') ? '.log.gz' : '.log'
  const truth = JSON.parse(bare.stdout) as {n: number; bytes: number}
  const stored = JSON.parse(ours.stdout).flows[0] as {records: number}
  console.log(`${name.padEnd(8)} bare DuckDB scan ${bare.seconds.toFixed(2)} s (${bare.peakRssMb.toFixed(0)} MB RSS); billwatch ingest ${ours.seconds.toFixed(2)} s (${ours.peakRssMb.toFixed(0)} MB RSS): ${(ours.seconds / bare.seconds).toFixed(2)}x the scan (target ≤ 1.5x), peak RSS ${ours.peakRssMb < 1024 ? '<' : '≥'} 1 GB; records stored ${stored.records === Number(truth.n) ? 'equal' : `DIFFER (${stored.records} vs ${truth.n})`} the scan's`)
}
