/**
 * The detector's ground-truth suite: labelled scenarios (bench/detect/scenarios.ts) written into a real store,
 * analysed by `analyseAnomalies` exactly as `billwatch anomalies --min-ratio 1.4` runs, and scored per class.
 *
 *   node --import tsx bench/detect/run.ts [SCENARIOS=1400] [SEED=1] [--misses] [--store=FILE]
 *
 * --store=FILE keeps the written store in FILE and, when FILE already holds these scenarios (same count and seed),
 * analyses it again without writing: a change to the detector is scored in the analysis time alone.
 * The minimum ratio is 1.4 so that the 1.5x steps the scenarios hold are in scope (the default, 2, would hide them).
 */
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {analyseAnomalies} from '../../src/anomalies/index.js'
import {Store} from '../../src/store/index.js'
import {generateScenarios, headline, renderScore, score, writeScenarios} from './scenarios.js'

export const BENCH_MIN_RATIO = 1.4

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const count = Number(args[0] ?? 1400)
const seed = Number(args[1] ?? 1)
const kept = process.argv.find((a) => a.startsWith('--store='))?.slice('--store='.length)
const dir = kept === undefined ? mkdtempSync(join(tmpdir(), 'billwatch-detect-')) : undefined
const file = kept ?? join(dir!, 'bench.duckdb')
// The scenarios a kept store holds, written beside it once the store is complete.
const marker = `${file}.scenarios`
const reuse =
  kept !== undefined && existsSync(file) && existsSync(marker) && readFileSync(marker, 'utf8') === `${count} ${seed}`
if (kept !== undefined && !reuse) for (const f of [file, `${file}.wal`, marker]) rmSync(f, {force: true})
const store = await Store.open(file)
try {
  const scenarios = generateScenarios(count, seed)
  let started = performance.now()
  if (!reuse) await writeScenarios(store, scenarios)
  if (kept !== undefined && !reuse) writeFileSync(marker, `${count} ${seed}`)
  const written = (performance.now() - started) / 1000
  started = performance.now()
  const result = await analyseAnomalies(store, {minRatio: BENCH_MIN_RATIO})
  const analysed = (performance.now() - started) / 1000
  const scored = score(scenarios, result)
  if (process.argv.includes('--misses')) console.log(scored.misses.join('\n'), '\n')
  console.log(renderScore(scored))
  const h = headline(scored)
  console.log(
    `\n${count} scenarios (seed ${seed}), ${scored.total.trueSteps} true steps, ${scored.total.seriesYears.toFixed(0)} series-years; ${reuse ? `store ${file} reused` : `written in ${written.toFixed(1)} s`}, analysed in ${analysed.toFixed(1)} s (${result.seriesAnalysed} series, ${result.stretches.length} stretches)`,
  )
  const target = (name: string, value: number, ok: boolean) =>
    console.log(`${name.padEnd(28)} ${value.toFixed(3)}  ${ok ? 'met' : 'NOT met'}`)
  target('step precision (≥ 0.97)', h.precision, h.precision >= 0.97)
  target('step recall (≥ 0.97)', h.recall, h.recall >= 0.97)
  target('false steps / series-year (≤ 0.1)', h.falseStepsPerSeriesYear, h.falseStepsPerSeriesYear <= 0.1)
  target('false spikes / series-year (≤ 0.5)', h.falseSpikesPerSeriesYear, h.falseSpikesPerSeriesYear <= 0.5)
  target('driver right (≥ 0.97)', h.driverRight, h.driverRight >= 0.97)
} finally {
  await store.close()
  if (dir !== undefined) rmSync(dir, {force: true, recursive: true})
}
