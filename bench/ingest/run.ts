/**
 * bench/ingest: times `billwatch ingest` on a ~1 GB, 2M-line CUR 1.0 CSV and on the same file
 * gzipped, against a papaparse streaming baseline, a bare DuckDB scan and `cat FILE > /dev/null` (best of 3;
 * the scan and the ingest alternate, so both meet the same load); prints each wall time, CPU time, peak RSS
 * and the ratios, and checks billwatch's daily egress sums equal the baseline's. Data goes to
 * bench/out/ingest (git-ignored), generated once and reused. `--csv-only` skips the gzipped file and the
 * papaparse baseline (and so the sums check): the scan-versus-ingest figures alone.
 *   npm run build && node --import tsx bench/ingest/run.ts [ROWS] [--csv-only]
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, rmSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {Store} from '../../src/store/index.js'
import {best, bestOf, timed, type Timing} from '../timing.js'
import {generateCur} from './generate.js'

const ROOT = join(import.meta.dirname, '..', '..')
const OUT = join(ROOT, 'bench', 'out', 'ingest')
const csvOnly = process.argv.includes('--csv-only')
const rows = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 2_000_000)
const csv = join(OUT, `cur1-${rows}.csv`)
const gz = `${csv}.gz`
mkdirSync(OUT, {recursive: true})
if (!existsSync(csv)) {
  process.stderr.write(`generating ${csv} …\n`)
  await generateCur(csv, rows)
}
if (!csvOnly && !existsSync(gz)) {
  process.stderr.write(`gzipping …\n`)
  spawnSync('sh', ['-c', `gzip -6 -c '${csv}' > '${gz}'`], {stdio: 'inherit'})
}
if (!existsSync(join(ROOT, 'dist', 'commands', 'ingest.js')))
  throw new Error('run `npm run build` first: the bench times the built CLI')

const node = process.execPath
const tsx = ['--import', 'tsx']
const ingest = (file: string) => {
  const db = join(OUT, 'bench.duckdb')
  rmSync(db, {force: true})
  rmSync(`${db}.wal`, {force: true})
  const timing = timed([node, join(ROOT, 'bin', 'run.js'), 'ingest', file, '--db', db, '--json'])
  return {db, timing}
}

const sizeMb = statSync(csv).size / 1e6
const RUNS = 3
const cat = bestOf(RUNS, () => timed(['sh', '-c', `cat '${csv}' > /dev/null`]))
// Side by side: each ingest right after a scan of the same file, so a change in the machine's load meets both.
const scans: Timing[] = []
const ingests: Timing[] = []
let db = ''
for (let i = 0; i < RUNS; i++) {
  scans.push(timed([node, ...tsx, join(ROOT, 'bench', 'ingest', 'duckdb-scan.ts'), csv]))
  const run = ingest(csv)
  db = run.db
  ingests.push(run.timing)
}
const scan = best(scans)
const plainTiming = best(ingests)
// The last run's store: its daily sums are checked against the baseline's below.
const store = await Store.open(db, {mustExist: true})
const ours = Object.fromEntries(
  (
    await store.all<{day: string; bytes: number}>(
      `SELECT strftime(day, '%Y-%m-%d') AS day, sum(amount) AS bytes FROM usage
   WHERE regexp_matches(usage_type, '^([A-Z]{2,4}[0-9]?-)?DataTransfer-Out-Bytes$') GROUP BY day ORDER BY day`,
    )
  ).map((r) => [r.day, r.bytes]),
)
await store.close()
const row = (name: string, t: Timing) =>
  `${name.padEnd(34)} ${t.seconds.toFixed(2).padStart(7)} s ${(sizeMb / t.seconds).toFixed(0).padStart(6)} MB/s ${t.cpuSeconds.toFixed(2).padStart(7)} s CPU ${t.peakRssMb.toFixed(0).padStart(6)} MB RSS`
console.log(
  `bench/ingest: ${rows.toLocaleString('en-US')} CUR 1.0 line items, ${sizeMb.toFixed(0)} MB CSV${csvOnly ? '' : `, ${(statSync(gz).size / 1e6).toFixed(0)} MB gzipped`}`,
)
console.log(row('cat FILE > /dev/null', cat))
console.log(row('bare DuckDB scan', scan))
console.log(row('billwatch ingest FILE.csv', plainTiming))
console.log(
  `each run, wall s (scan, ingest): ${scans.map((t, i) => `${t.seconds.toFixed(2)}, ${ingests[i]!.seconds.toFixed(2)}`).join('; ')}`,
)
console.log(
  `ingest vs bare DuckDB scan: ${(plainTiming.seconds / scan.seconds).toFixed(2)}x the scan's wall time, ${(plainTiming.cpuSeconds / scan.cpuSeconds).toFixed(2)}x its CPU time (target ≤ 1.3x)`,
)
console.log(`peak RSS of ingest: ${plainTiming.peakRssMb.toFixed(0)} MB (target < 512 MB)`)
if (!csvOnly) {
  const gzipped = bestOf(RUNS, () => ingest(gz).timing)
  const papa = timed([node, ...tsx, join(ROOT, 'bench', 'ingest', 'papaparse-baseline.ts'), csv])
  const baseline = JSON.parse(papa.stdout) as Record<string, number>
  const mismatched = Object.keys(baseline).filter(
    (day) => Math.abs((ours[day] ?? 0) - baseline[day]!) > 1e-6 * baseline[day]!,
  )
  console.log(row('billwatch ingest FILE.csv.gz', gzipped))
  console.log(row('papaparse streaming baseline', papa))
  console.log(`ingest vs papaparse: ${(papa.seconds / plainTiming.seconds).toFixed(2)}x faster (target ≥ 3x)`)
  console.log(
    `daily egress sums equal the baseline's: ${mismatched.length === 0 ? `yes (${Object.keys(baseline).length} days)` : `NO: ${mismatched.join(', ')}`}`,
  )
}
