/**
 * bench/org: a synthetic organisation's CUR 2.0 Data Export (2,000 accounts, 14,000 hourly line-item
 * series, ten monthly BILLING_PERIOD=YYYY-MM/ folders of Parquet, 102M line items; generate.ts,
 * written once into bench/out/org) through `billwatch ingest` into the local store, in steps of
 * 1, 3 and 10 months (10M, 30M, 100M line items) to show how time and memory grow: wall and CPU
 * seconds, peak RSS, the store's size. Checks each step stored every line item, and its daily
 * egress against DuckDB's own sum over the same files. Then extrapolates the measured rate to an
 * organisation's year of export.
 *   npm run build && node --import tsx bench/org/run.ts [MONTHS...]   (default 1 3 10)
 * With --monthly: one store grown by one ingest call per month, as the exports arrive, up to the tenth
 * (--resume: from the first month the store lacks).
 */
import {existsSync, readdirSync, rmSync, statSync} from 'node:fs'
import {loadavg} from 'node:os'
import {join} from 'node:path'

import {DuckDBInstance} from '@duckdb/node-api'

import {Store} from '../../src/store/index.js'
import {timed} from '../timing.js'
import {generateOrg, linesIn, monthsFrom, periodFolder} from './generate.js'

const ROOT = join(import.meta.dirname, '..', '..')
const OUT = join(ROOT, 'bench', 'out', 'org')
const monthly = process.argv.includes('--monthly')
// --resume: go on growing the monthly store from the first month it lacks.
const resume = process.argv.includes('--resume')
const numbers = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const steps = (numbers.length > 0 ? numbers : ['1', '3', '10']).map(Number)
const months = monthsFrom('2025-01', Math.max(...steps))
if (!existsSync(join(ROOT, 'dist', 'commands', 'ingest.js')))
  throw new Error('run `npm run build` first: the bench times the built CLI')
// Whole: four parts, and no writer still at work in the folder.
const complete = (month: string) =>
  existsSync(periodFolder(OUT, month)) &&
  readdirSync(periodFolder(OUT, month)).filter((f) => f.endsWith('.snappy.parquet')).length === 4 &&
  !readdirSync(periodFolder(OUT, month)).some((f) => f.includes('.part'))
if (monthly) await ingestMonthByMonth(months)
else await generateOrg(OUT, months, (line) => process.stderr.write(`generating ${line}\n`))

/**
 * As an organisation's store grows: one `billwatch ingest` call per month, as each month's export is
 * delivered (and, here, generated: a month is taken once its four parts exist), into one store.
 */
async function ingestMonthByMonth(all: string[]): Promise<never> {
  const db = join(OUT, 'store-monthly.duckdb')
  let done: string[] = []
  if (resume && existsSync(db)) {
    const store = await Store.open(db, {mustExist: true})
    done = (await store.all<{period: string}>(`SELECT DISTINCT strftime(day, '%Y-%m') AS period FROM usage_daily`)).map(
      (r) => r.period,
    )
    await store.close()
  } else {
    rmSync(db, {force: true})
    rmSync(`${db}.wal`, {force: true})
  }
  console.log('month    line items in store  wall s   CPU s  peak RSS MB  store GB  load (1 min)')
  let lines = done.reduce((sum, m) => sum + linesIn(m), 0)
  let wall = 0
  let cpu = 0
  for (const month of all.filter((m) => !done.includes(m))) {
    while (!complete(month)) await new Promise((resolve) => setTimeout(resolve, 10_000))
    const load = loadavg()[0]!
    const timing = timed([
      process.execPath,
      join(ROOT, 'bin', 'run.js'),
      'ingest',
      periodFolder(OUT, month),
      '--db',
      db,
      '--json',
    ])
    const answer = JSON.parse(timing.stdout) as {files: {lineItems: number}[]}
    const stored = answer.files.reduce((sum, f) => sum + f.lineItems, 0)
    if (stored !== linesIn(month))
      throw new Error(`${month}: the store counts ${stored} line items, the files hold ${linesIn(month)}`)
    lines += stored
    wall += timing.seconds
    cpu += timing.cpuSeconds
    const storeBytes = statSync(db).size + (existsSync(`${db}.wal`) ? statSync(`${db}.wal`).size : 0)
    console.log(
      `${month}  ${lines.toLocaleString('en-US').padStart(19)}  ${timing.seconds.toFixed(0).padStart(6)}  ${timing.cpuSeconds.toFixed(1).padStart(6)}  ${timing.peakRssMb.toFixed(0).padStart(11)}  ${(storeBytes / 1e9).toFixed(2).padStart(8)}  ${load.toFixed(1)}`,
    )
  }
  console.log(
    `total: ${lines.toLocaleString('en-US')} line items in the store; this run's months: ${wall.toFixed(0)} s wall, ${cpu.toFixed(0)} CPU s`,
  )
  process.exit(0)
}

const folderBytes = (month: string) =>
  ['00001', '00002', '00003', '00004'].reduce(
    (sum, n) => sum + statSync(join(periodFolder(OUT, month), `org-cur2-${n}.snappy.parquet`)).size,
    0,
  )
const EGRESS = `'^([A-Z]{2,4}[0-9]?-)?DataTransfer-Out-Bytes$'`

/** DuckDB's own daily egress (bytes) over the step's Parquet: the figure the store must hold. */
async function expectedEgress(chosen: string[]): Promise<Map<string, number>> {
  const db = await DuckDBInstance.create(':memory:')
  const sql = await db.connect()
  try {
    const files = chosen.map((m) => `'${periodFolder(OUT, m)}/*.parquet'`).join(', ')
    const rows =
      await sql.runAndReadAll(`SELECT strftime(line_item_usage_start_date, '%Y-%m-%d') AS day, sum(line_item_usage_amount) * 1073741824 AS bytes
      FROM read_parquet([${files}]) WHERE regexp_matches(line_item_usage_type, ${EGRESS}) GROUP BY 1`)
    return new Map(rows.getRowObjectsJS().map((r) => [String(r.day as string), Number(r.bytes)]))
  } finally {
    sql.closeSync()
    db.closeSync()
  }
}

interface Step {
  months: number
  lines: number
  parquetBytes: number
  seconds: number
  cpuSeconds: number
  peakRssMb: number
  storeBytes: number
  dailyRows: number
  load: number[]
  egressMatches: boolean
}
const results: Step[] = []
for (const count of steps) {
  const chosen = months.slice(0, count)
  const lines = chosen.reduce((sum, m) => sum + linesIn(m), 0)
  const db = join(OUT, `store-${count}.duckdb`)
  rmSync(db, {force: true})
  rmSync(`${db}.wal`, {force: true})
  const load = loadavg()
  process.stderr.write(
    `ingesting ${count} month(s), ${lines.toLocaleString('en-US')} line items (load ${load.map((l) => l.toFixed(1)).join(' ')}) …\n`,
  )
  const timing = timed([
    process.execPath,
    join(ROOT, 'bin', 'run.js'),
    'ingest',
    ...chosen.map((m) => periodFolder(OUT, m)),
    '--db',
    db,
    '--json',
  ])
  const answer = JSON.parse(timing.stdout) as {files: {lineItems: number; status: string; replacedBy: null | string}[]}
  const stored = answer.files.filter((f) => f.replacedBy === null).reduce((sum, f) => sum + f.lineItems, 0)
  if (stored !== lines)
    throw new Error(`${count} month(s): the store counts ${stored} line items, the files hold ${lines}`)
  const store = await Store.open(db, {mustExist: true})
  const ours = new Map(
    (
      await store.all<{day: string; bytes: number}>(
        `SELECT strftime(day, '%Y-%m-%d') AS day, sum(amount) AS bytes FROM usage WHERE regexp_matches(usage_type, ${EGRESS}) GROUP BY day`,
      )
    ).map((r) => [r.day, r.bytes]),
  )
  const dailyRows = (await store.one<{n: number}>('SELECT count(*)::BIGINT AS n FROM usage_daily'))?.n ?? 0
  await store.close()
  const expected = await expectedEgress(chosen)
  const egressMatches =
    expected.size === ours.size &&
    [...expected].every(([day, bytes]) => Math.abs((ours.get(day) ?? 0) - bytes) <= 1e-9 * bytes)
  const storeBytes = statSync(db).size + (existsSync(`${db}.wal`) ? statSync(`${db}.wal`).size : 0)
  results.push({
    cpuSeconds: timing.cpuSeconds,
    dailyRows: Number(dailyRows),
    egressMatches,
    lines,
    load,
    months: count,
    parquetBytes: chosen.reduce((sum, m) => sum + folderBytes(m), 0),
    peakRssMb: timing.peakRssMb,
    seconds: timing.seconds,
    storeBytes,
  })
  rmSync(db, {force: true})
}

const gb = (bytes: number) => (bytes / 1e9).toFixed(2)
console.log(
  `bench/org: CUR 2.0 Parquet of a synthetic organisation (2,000 accounts, 14,000 hourly series) through billwatch ingest, ${new Date().toISOString()}`,
)
console.log(
  'months  line items    Parquet GB  wall s   CPU s  peak RSS MB  store GB  daily rows   M lines/CPU-s  egress = DuckDB  load (1/5/15 min)',
)
for (const r of results) {
  console.log(
    `${String(r.months).padStart(6)}  ${r.lines.toLocaleString('en-US').padStart(12)}  ${gb(r.parquetBytes).padStart(10)}  ${r.seconds.toFixed(0).padStart(6)}  ${r.cpuSeconds.toFixed(0).padStart(6)}  ${r.peakRssMb.toFixed(0).padStart(11)}  ${gb(r.storeBytes).padStart(8)}  ${r.dailyRows.toLocaleString('en-US').padStart(10)}   ${(r.lines / 1e6 / r.cpuSeconds).toFixed(3).padStart(13)}  ${r.egressMatches ? 'yes' : 'NO'}${' '.repeat(14)}${r.load.map((l) => l.toFixed(1)).join(' ')}`,
  )
}
// The rate of the largest step (CPU time: wall time on this shared machine depends on the other helpers' load).
const last = results.at(-1)!
const bytesPerLine = last.parquetBytes / last.lines
const linesPerCpuSecond = last.lines / last.cpuSeconds
console.log(
  `Parquet: ${bytesPerLine.toFixed(0)} bytes per line item; ingest: ${(linesPerCpuSecond / 1e6).toFixed(2)}M line items per CPU second (2 cores: at best ${((2 * linesPerCpuSecond) / 1e6).toFixed(2)}M per wall second)`,
)
for (const yearGb of [100, 300, 1000, 3000]) {
  const lines = (yearGb * 1e9) / bytesPerLine
  const cpuHours = lines / linesPerCpuSecond / 3600
  // Data Exports re-deliver the open month's whole Parquet up to three times a day: a month's worth is re-read each
  // time.
  const monthCpuMinutes = lines / 12 / linesPerCpuSecond / 60
  console.log(
    `${String(yearGb).padStart(5)} GB of Parquet a year ≈ ${(lines / 1e9).toFixed(1)}B line items: ${cpuHours.toFixed(1)} CPU hours to ingest the year (${(cpuHours / 2).toFixed(1)} h on 2 idle cores), ${monthCpuMinutes.toFixed(0)} CPU minutes per re-delivered month`,
  )
}
