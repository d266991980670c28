/**
 * The fuzz run: `node --import tsx bench/fuzz/run.ts --count 10000 --seed 1 [--kinds pcap,ntp] [--timeout-ms 10000]
 * [--jobs 2] [--cli-every 25] [--only 12,40] [--keep DIR] [--show-refusals] [--json]`. Runs the built CLI (npm run
 * build
 * first; BILLWATCH_FUZZ_SOURCES=1 runs the TypeScript sources): every input in a pool of long-lived CLI processes, and
 * every --cli-every-th one again through bin/run.js as its own process. Prints inputs, accepted, refused and failed
 * per kind, the failures by type, and each failure's kind, input number and first line. Exit 1 when anything failed.
 */
import {loadavg} from 'node:os'
import {parseArgs} from 'node:util'

import {type Kind, KINDS, runFuzz, WALL_FACTOR} from './harness.js'

const {values} = parseArgs({
  options: {
    'cli-every': {default: '25', type: 'string'},
    count: {default: '1000', type: 'string'},
    jobs: {default: '2', type: 'string'},
    json: {default: false, type: 'boolean'},
    keep: {type: 'string'},
    kinds: {type: 'string'},
    only: {type: 'string'},
    seed: {default: '1', type: 'string'},
    'show-refusals': {default: false, type: 'boolean'},
    'timeout-ms': {default: '10000', type: 'string'},
  },
})
const kinds = values.kinds?.split(',').map((k) => k.trim()) as Kind[] | undefined
for (const kind of kinds ?? [])
  if (!KINDS.includes(kind)) throw new Error(`unknown kind ${kind}; kinds: ${KINDS.join(', ')}`)
const count = Number(values.count)
const started = Date.now()
const report = await runFuzz({
  cliEvery: Number(values['cli-every']),
  count,
  jobs: Number(values.jobs),
  ...(values.only ? {only: values.only.split(',').map(Number)} : {}),
  ...(kinds ? {kinds} : {}),
  ...(values.keep ? {keepDir: values.keep} : {}),
  onResult: (done, failure, refusal, partial) => {
    if (refusal && values['show-refusals']) process.stderr.write(`${refusal}\n`)
    if (failure) process.stderr.write(`\r#${failure.index} ${failure.kind}: ${failure.type}: ${failure.detail}\n`)
    if (process.stderr.isTTY && done % 10 === 0) process.stderr.write(`\r${done}/${count}`)
    // Into a log: how far a long run got, with its counts so far, should it not finish.
    else if (!process.stderr.isTTY && done % 500 === 0) {
      const sum = (key: 'accepted' | 'failed' | 'refused') =>
        Object.values(partial.byKind).reduce((n, c) => n + c[key], 0)
      process.stderr.write(
        `${done}/${count} inputs after ${((Date.now() - started) / 1000).toFixed(0)} s (load ${loadavg()[0]!.toFixed(1)}): ${sum('accepted')} accepted, ${sum('refused')} refused, ${sum('failed')} failed\n`,
      )
    }
  },
  seed: Number(values.seed),
  timeoutMs: Number(values['timeout-ms']),
})
if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
else {
  const rows = Object.entries(report.byKind).map(
    ([kind, c]) =>
      `${kind.padEnd(18)} ${String(c.inputs).padStart(6)} ${String(c.accepted).padStart(9)} ${String(c.refused).padStart(8)} ${String(c.failed).padStart(7)} ${String(c.viaCli).padStart(7)} ${(c.inputs ? c.cpuMs / c.inputs : 0).toFixed(0).padStart(7)}`,
  )
  const slowest = report.slowest
    ? `; slowest input #${report.slowest.index} (${report.slowest.kind}) ${report.slowest.cpuMs} ms of CPU, ${report.slowest.ms} ms of wall time`
    : ''
  const [load1, load5, load15] = loadavg().map((l) => l.toFixed(1))
  process.stdout.write(
    [
      `${report.count} inputs, seed ${report.seed}, ${report.seconds.toFixed(0)} s (load average now ${load1}, ${load5}, ${load15})${slowest}; longest wall time ${report.slowestMs} ms (bound ${report.timeoutMs} ms of CPU, ${(report.timeoutMs * WALL_FACTOR) / 1000} s wall)`,
      `${'kind'.padEnd(18)} ${'inputs'.padStart(6)} ${'accepted'.padStart(9)} ${'refused'.padStart(8)} ${'failed'.padStart(7)} ${'via CLI'.padStart(7)} ${'CPU ms'.padStart(7)}`,
      ...rows,
      `crashes ${report.totals.crash}, hangs ${report.totals.hang}, raw errors ${report.totals.raw}, store changes ${report.totals.store}, escapes ${report.totals.escape}, CLI disagreements ${report.totals.cli}`,
      ...report.failures.map((f) => `  #${f.index} ${f.kind} ${f.type}: ${f.detail}`),
    ].join('\n') + '\n',
  )
}
process.exitCode = report.failures.length > 0 ? 1 : 0
