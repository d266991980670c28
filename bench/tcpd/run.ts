/**
 * Runs billwatch's change-point detector, with its one default setting, over every univariate series of the
 * Turing Change Point Detection benchmark and scores it with the benchmark's own scorer.
 *
 *   node --import tsx bench/tcpd/run.ts [TCPD_DIR]     (default ../shared/tcpd)
 *
 * Predictions go to bench/out/tcpd-predictions.json; the scorer's table (with the published TCPDBench methods
 * averaged over the same series) is printed as is.
 */
import {spawnSync} from 'node:child_process'
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {detectChangePoints} from '../../src/detect/index.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const tcpd = resolve(process.argv[2] ?? join(root, '../shared/tcpd'))
const out = join(root, 'bench/out')

interface Dataset {
  name: string
  n_dim: number
  series: {raw: (null | number)[]}[]
}

const predictions: Record<string, number[]> = {}
const started = performance.now()
for (const file of readdirSync(join(tcpd, 'datasets'))
  .filter((f) => f.endsWith('.json'))
  .sort()) {
  const dataset = JSON.parse(readFileSync(join(tcpd, 'datasets', file), 'utf8')) as Dataset
  if (dataset.n_dim !== 1) continue
  // Every option at its default, as `billwatch anomalies` runs it (the scale is chosen from the data by the same rule).
  predictions[dataset.name] = detectChangePoints(dataset.series[0]!.raw)
}
const elapsedMs = performance.now() - started
mkdirSync(out, {recursive: true})
const file = join(out, 'tcpd-predictions.json')
writeFileSync(file, `${JSON.stringify(predictions, null, 1)}\n`)
const scored = spawnSync(process.execPath, [join(tcpd, 'score.mjs'), file, '--json', join(out, 'tcpd-scores.json')], {
  encoding: 'utf8',
})
process.stdout.write(scored.stdout)
process.stderr.write(scored.stderr)
console.log(`\n${Object.keys(predictions).length} series analysed in ${elapsedMs.toFixed(0)} ms; predictions: ${file}`)
process.exitCode = scored.status ?? 1
