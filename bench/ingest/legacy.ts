/**
 * bench/ingest/legacy: times `billwatch ingest` on a ~100 MB legacy AWS Usage Report (formats.md §1
 * column set) in two shapes, with peak RSS: hourly lines of ~120 instances × usage types for a year
 * (~40k daily keys), and daily lines that are each their own key (~1M keys: the worst case for
 * the in-memory roll-up, which flushes to DuckDB every 50k keys). Checks the stored byte total.
 * Data goes to bench/out/ingest (git-ignored), generated once and reused.
 *   npm run build && node --import tsx bench/ingest/legacy.ts [MB]
 */
import {spawnSync} from 'node:child_process'
import {createWriteStream, existsSync, mkdirSync, rmSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {Store} from '../../src/store/index.js'

const ROOT = join(import.meta.dirname, '..', '..')
const OUT = join(ROOT, 'bench', 'out', 'ingest')
const megabytes = Number(process.argv[2] ?? 100)
mkdirSync(OUT, {recursive: true})
if (!existsSync(join(ROOT, 'dist', 'commands', 'ingest.js')))
  throw new Error('run `npm run build` first: the bench times the built CLI')

const TYPES = [
  'DataTransfer-Out-Bytes',
  'DataTransfer-In-Bytes',
  'DataTransfer-Regional-Bytes',
  'USW2-DataTransfer-Out-Bytes',
]
const pad = (n: number) => String(n).padStart(2, '0')
/** MM/DD/YY HH:MM:SS of hour `h` after 2013-06-01 00:00 UTC. */
const stamp = (h: number) => {
  const d = new Date(Date.UTC(2013, 5, 1) + h * 3_600_000)
  return `${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${String(d.getUTCFullYear()).slice(2)} ${pad(d.getUTCHours())}:00:00`
}

/** Writes the report; returns the byte total its lines hold (the ground truth). */
async function generate(path: string, shape: 'daily-distinct' | 'hourly'): Promise<number> {
  const out = createWriteStream(path)
  const write = (text: string) =>
    out.write(text) ? Promise.resolve() : new Promise<void>((resolve) => out.once('drain', () => resolve()))
  await write('Service, Operation, UsageType, Resource, StartTime, EndTime, UsageValue\n')
  let bytes = 0
  let total = 0
  let lines = ''
  for (let i = 0; bytes < megabytes * 1e6; i++) {
    const type = TYPES[i % TYPES.length]!
    const value = 1_000_000 + ((i * 7919) % 900_000_000)
    const line =
      shape === 'hourly'
        ? `AmazonEC2,RunInstances,${type},i-${(Math.floor(i / TYPES.length) % 30).toString(16).padStart(17, '0')},${stamp(Math.floor(i / 120))},${stamp(Math.floor(i / 120) + 1)},${value}\n`
        : `AmazonEC2,RunInstances,${type},vol-${i.toString(16).padStart(17, '0')},${stamp(24 * (i % 365))},${stamp(24 * (i % 365) + 24)},${value}\n`
    total += value
    bytes += line.length
    lines += line
    if (lines.length > 1 << 20) {
      await write(lines)
      lines = ''
    }
  }
  await write(lines)
  await new Promise<void>((resolve) => out.end(resolve))
  return total
}

for (const shape of ['hourly', 'daily-distinct'] as const) {
  const path = join(OUT, `usage-report-${shape}-${megabytes}mb.csv`)
  const truth = join(`${path}.total`)
  let total: number
  if (existsSync(path) && existsSync(truth)) {
    total = Number((await import('node:fs')).readFileSync(truth, 'utf8'))
  } else {
    process.stderr.write(`generating ${path} …\n`)
    total = await generate(path, shape)
    ;(await import('node:fs')).writeFileSync(truth, String(total))
  }
  const db = join(OUT, 'legacy-bench.duckdb')
  rmSync(db, {force: true})
  rmSync(`${db}.wal`, {force: true})
  const run = spawnSync(
    '/usr/bin/time',
    ['-f', '%e %M %U %S', process.execPath, join(ROOT, 'bin', 'run.js'), 'ingest', path, '--db', db, '--json'],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    },
  )
  if (run.status !== 0) throw new Error(`ingest failed: ${run.stderr}`)
  const [seconds, kb, user, sys] = (run.stderr.trim().split('\n').at(-1) ?? '').split(' ').map(Number)
  const store = await Store.open(db, {mustExist: true})
  const stored = (await store.one<{bytes: number}>(`SELECT sum(amount) AS bytes FROM usage`))?.bytes ?? 0
  const keys = (await store.one<{n: number}>(`SELECT count(*)::BIGINT AS n FROM usage`))?.n ?? 0
  await store.close()
  const mb = statSync(path).size / 1e6
  const ok = Math.abs(stored - total) < 1e-6 * total
  console.log(
    `${shape}: ${mb.toFixed(0)} MB, ${keys.toLocaleString('en-US')} daily rows: ${seconds?.toFixed(1)} s (CPU ${((user ?? 0) + (sys ?? 0)).toFixed(1)} s), peak RSS ${((kb ?? 0) / 1024).toFixed(0)} MB, byte total ${ok ? 'equal' : `DIFFERS (${stored} vs ${total})`}`,
  )
}
