/**
 * bench/flows: times `billwatch ingest` of N VPC flow-log records (default 10 million, about 1 GB of
 * text) in two client mixes (see generate.ts), plain and gzipped, against a bare DuckDB scan of the
 * same file (duckdb-scan.ts: read_csv of every column, count). Scan and ingest alternate, RUNS times
 * each (default 3); prints the best, the spread (slowest) and peak RSS, the ratio of the bests, the
 * load average before and after, and checks the stored record count equals the scan's. Data goes to
 * bench/out/flows (git-ignored), generated once and reused.
 *   npm run build && node --import tsx bench/flows/run.ts [RECORDS] [RUNS]
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, rmSync, statSync} from 'node:fs'
import {loadavg} from 'node:os'
import {join} from 'node:path'

import type {IngestResult} from '../../src/ingest/index.js'
import {timed, type Timing} from '../timing.js'
import {type FlowMix, generateFlowLogs} from './generate.js'

const ROOT = join(import.meta.dirname, '..', '..')
const OUT = join(ROOT, 'bench', 'out', 'flows')
const records = Number(process.argv[2] ?? 10_000_000)
const RUNS = Number(process.argv[3] ?? 3)
mkdirSync(OUT, {recursive: true})
if (!existsSync(join(ROOT, 'dist', 'commands', 'ingest.js')))
  throw new Error('run `npm run build` first: the bench times the built CLI')

async function dataFor(mix: FlowMix): Promise<string[]> {
  const text = join(OUT, mix === 'ntp' ? `vpcflow-${records}.log` : `vpcflow-${mix}-${records}.log`)
  if (!existsSync(text)) {
    process.stderr.write(`generating ${text} …\n`)
    await generateFlowLogs(text, records, mix)
  }
  if (!existsSync(`${text}.gz`)) {
    process.stderr.write('gzipping …\n')
    // Through a temporary name: an interrupted gzip never leaves a short .gz the next run would time.
    spawnSync('sh', ['-c', `gzip -6 -c '${text}' > '${text}.gz.part' && mv '${text}.gz.part' '${text}.gz'`], {
      stdio: 'inherit',
    })
  }
  return [text, `${text}.gz`]
}

const node = process.execPath
const scan = (file: string) => timed([node, '--import', 'tsx', join(ROOT, 'bench', 'flows', 'duckdb-scan.ts'), file])
const ingest = (file: string) => {
  const db = join(OUT, 'bench.duckdb')
  rmSync(db, {force: true})
  rmSync(`${db}.wal`, {force: true})
  return timed([node, join(ROOT, 'bin', 'run.js'), 'ingest', file, '--db', db, '--json'])
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')
const loadBefore = load()
const sizeMb = (file: string) => statSync(file).size / 1e6
const lines: string[] = []
for (const mix of ['ntp', 'spread'] as const) {
  const files = await dataFor(mix)
  lines.push(`${mix} mix: ${sizeMb(files[0]!).toFixed(0)} MB text, ${sizeMb(files[1]!).toFixed(0)} MB gzipped`)
  for (const file of files) {
    const bare: Timing[] = []
    const ours: Timing[] = []
    // Alternating, so both see the same share of the machine's load.
    let failure: string | undefined
    for (let run = 0; run < RUNS && !failure; run++) {
      bare.push(scan(file))
      try {
        ours.push(ingest(file))
      } catch (error) {
        // Said in the results, not thrown: the other files' figures still stand.
        failure =
          (error instanceof Error ? error.message : String(error))
            .split('\n')
            .find((l) => l.startsWith('billwatch:')) ?? 'failed'
      }
    }
    if (failure) {
      lines.push(`${mix} ${file.endsWith('.gz') ? '.log.gz' : '.log'}: ingest FAILED: ${failure}`)
      process.stderr.write(`${lines.at(-1)}\n`)
      continue
    }
    const best = (t: Timing[]) => Math.min(...t.map((x) => x.seconds))
    const worst = (t: Timing[]) => Math.max(...t.map((x) => x.seconds))
    const rss = (t: Timing[]) => Math.max(...t.map((x) => x.peakRssMb))
    const truth = JSON.parse(bare[0]!.stdout) as {n: number}
    const stored = (JSON.parse(ours[0]!.stdout) as IngestResult).flows[0]!
    const name = `${mix} ${file.endsWith('.gz') ? '.log.gz' : '.log'}`
    lines.push(
      `${name.padEnd(14)} bare scan ${best(bare).toFixed(2)} s (slowest ${worst(bare).toFixed(2)}); ingest ${best(ours).toFixed(2)} s (slowest ${worst(ours).toFixed(2)}, peak RSS ${rss(ours).toFixed(0)} MB): ` +
        `${(best(ours) / best(bare)).toFixed(2)}x the scan (target ≤ 1.5x), RSS ${rss(ours) < 1024 ? '<' : '≥'} 1 GB; records ${stored.records === Number(truth.n) ? 'equal' : `DIFFER (${stored.records} vs ${truth.n})`} the scan's`,
    )
    process.stderr.write(`${lines.at(-1)}\n`)
  }
}
console.log(
  `bench/flows: ${records.toLocaleString('en-US')} VPC flow-log records a file; best of ${RUNS}; load average (1, 5, 15 min) ${loadBefore} before, ${load()} after`,
)
for (const line of lines) console.log(line)
