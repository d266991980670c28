/**
 * What bench/pcap/run.ts, mixes.ts and bench/pcap-day share: timing shell pipelines, building the CLI they time,
 * writing the report.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const OUT = join(ROOT, 'bench/out')
export const CLI = join(OUT, 'cli')

export interface Timing {
  label: string
  seconds: number
  /** user + system CPU seconds of every process in the pipeline. */
  cpuSeconds: number
  peakRssMb: number
  stdout: string
}

export const TIME_LOG = join(tmpdir(), `billwatch-bench-time-${process.pid}.txt`)

/** Runs of each command; the fastest counts (single runs here swing by 10–20% with the machine's other load). */
const RUNS = 3

/** The fastest of RUNS runs of a shell pipeline (see timedOnce). */
export function timed(label: string, script: string): Timing {
  const runs = Array.from({length: RUNS}, () => timedOnce(label, script))
  return runs.reduce((best, run) => (run.seconds < best.seconds ? run : best))
}

/** Runs a shell pipeline; stages wrapped with measured() append their peak RSS and CPU to TIME_LOG. */
export function timedOnce(label: string, script: string): Timing {
  rmSync(TIME_LOG, {force: true})
  const started = performance.now()
  const result = spawnSync('bash', ['-c', script], {cwd: ROOT, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024})
  const seconds = (performance.now() - started) / 1000
  if (result.status !== 0) throw new Error(`${label} failed (${result.status}): ${result.stderr.slice(-2000)}`)
  const stages = existsSync(TIME_LOG)
    ? [...readFileSync(TIME_LOG, 'utf8').matchAll(/^STAGE (\d+) ([\d.]+) ([\d.]+)$/gm)]
    : []
  return {
    cpuSeconds: stages.reduce((sum, m) => sum + Number(m[2]) + Number(m[3]), 0),
    label,
    peakRssMb: Math.max(0, ...stages.map((m) => Number(m[1]))) / 1024,
    seconds,
    stdout: result.stdout,
  }
}

/** Wraps one command of a pipeline in /usr/bin/time (peak RSS KB, user s, system s). */
export function measured(command: string): string {
  return `/usr/bin/time -a -o ${TIME_LOG} -f 'STAGE %M %U %S' ${command}`
}

/**
 * Ends a bench: the load average, the scratch store and time log removed, the report written to bench/out/NAME.txt and
 * printed.
 */
export function finishReport(lines: string[], name: string, db: string, failed: boolean): void {
  lines.push(
    `load average at end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  )
  rmSync(db, {force: true})
  rmSync(`${db}.wal`, {force: true})
  rmSync(TIME_LOG, {force: true})
  writeFileSync(join(OUT, `${name}.txt`), `${lines.join('\n')}\n`)
  process.stdout.write(`${lines.join('\n')}\n`)
  if (failed) process.exitCode = 1
}

export function buildCli(): void {
  rmSync(CLI, {force: true, recursive: true})
  mkdirSync(join(CLI, 'bin'), {recursive: true})
  const sources = [...walk(join(ROOT, 'src')), ...walk(join(ROOT, 'commands'))].filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.d.ts'),
  )
  execFileSync(join(ROOT, 'node_modules/.bin/esbuild'), [
    ...sources,
    `--outdir=${join(CLI, 'dist')}`,
    `--outbase=${ROOT}`,
    '--format=esm',
    '--platform=node',
    '--target=node20',
    '--log-level=error',
  ])
  for (const json of walk(join(ROOT, 'src')).filter((f) => f.endsWith('.json'))) {
    const target = join(CLI, 'dist', json.slice(ROOT.length))
    mkdirSync(dirname(target), {recursive: true})
    copyFileSync(json, target)
  }
  // As `npm run build` does: DuckDB's JavaScript API in one file, which the store loads.
  execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/bundle-duckdb.ts'), join(CLI, 'dist')], {
    cwd: ROOT,
  })
  copyFileSync(join(ROOT, 'bin/run.js'), join(CLI, 'bin/run.js'))
  copyFileSync(join(ROOT, 'package.json'), join(CLI, 'package.json'))
  // As shipped: with its manifest, oclif loads only the command it runs, not every command module.
  copyFileSync(join(ROOT, 'oclif.manifest.json'), join(CLI, 'oclif.manifest.json'))
  symlinkSync(join(ROOT, 'node_modules'), join(CLI, 'node_modules'))
  const addon = 'src/pcap/native/build/Release/pcap_scan.node'
  if (!existsSync(join(ROOT, addon))) throw new Error(`${addon} is not built: run npm run build:native first`)
  mkdirSync(dirname(join(CLI, addon)), {recursive: true})
  copyFileSync(join(ROOT, addon), join(CLI, addon))
}

function walk(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  )
}
