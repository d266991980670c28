/**
 * 1,000 resource series × 365 days through `analyseAnomalies` (store query, screening, detection, costing).
 *
 *   node --import tsx bench/anomalies/run.ts [RESOURCES] [DAYS] [--compare]
 *
 * Builds bench/out/anomalies-bench-RESOURCESxDAYS.duckdb once and reuses it (log-normal daily egress per
 * instance; every tenth instance steps up 20x on a random day), then times the analysis alone, three runs, and
 * prints the best. --compare also analyses every resource series fully, screening none, and checks that the
 * findings are the same (slower: every series through the detector).
 */
import {existsSync, mkdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {analyseAnomalies} from '../../src/anomalies/index.js'
import {Store} from '../../src/store/index.js'

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const compare = process.argv.includes('--compare')
const resources = Number(args[0] ?? 1000)
const days = Number(args[1] ?? 365)
const out = join(fileURLToPath(new URL('../..', import.meta.url)), 'bench/out')
const path = join(out, `anomalies-bench-${resources}x${days}.duckdb`)
mkdirSync(out, {recursive: true})

if (!existsSync(path)) {
  const store = await Store.open(path)
  try {
    await store.run(
      `INSERT INTO sources (path, format, family, content_hash, scope) VALUES ('bench', 'cur', 'cur', 'bench', 'all')`,
    )
    // exp(N(0, 0.3)) noise via Box-Muller on DuckDB's random(); levels from 10 MB to 10 GB per day.
    await store.run(
      `
      INSERT INTO usage_daily (source_id, day, region, service, usage_type, usage_base, resource_id, amount, unit)
      SELECT 1, DATE '2024-01-01' + d::INTEGER, 'us-east-1', 'AmazonEC2', 'DataTransfer-Out-Bytes', 'DataTransfer-Out-Bytes',
             printf('i-%08d', r),
             pow(10, 7 + 3 * (hash(r) % 1000) / 1000.0)
               * CASE WHEN r % 10 = 0 AND d >= 30 + (hash(r * 7) % 300)::INTEGER THEN 20 ELSE 1 END
               * exp(0.3 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())),
             'bytes'
      FROM range($1) t(r), range($2) s(d)`,
      [resources, days],
    )
  } catch (error) {
    rmSync(path, {force: true})
    throw error
  } finally {
    await store.close()
  }
}

/**
 * The result as JSON with numbers to 12 significant figures: DuckDB adds a day's usage over resources in the order
 * its threads finish, so the total's daily sums (and levels taken from them) differ in their last bits between any
 * two runs, screened or not.
 */
function comparable(result: object): string {
  return JSON.stringify(result, (_, value: unknown) =>
    typeof value === 'number' && Number.isFinite(value) ? Number(value.toPrecision(12)) : value,
  )
}

const store = await Store.open(path, {mustExist: true})
try {
  let best = Number.POSITIVE_INFINITY
  // The machine is shared: CPU time of this process (DuckDB's threads included) next to wall time.
  let bestCpu = Number.POSITIVE_INFINITY
  let steps = 0
  let series = 0
  let findings = ''
  for (let run = 0; run < 3; run++) {
    const started = performance.now()
    const cpu = process.cpuUsage()
    const result = await analyseAnomalies(store)
    best = Math.min(best, performance.now() - started)
    const used = process.cpuUsage(cpu)
    bestCpu = Math.min(bestCpu, (used.user + used.system) / 1000)
    steps = result.steps.length
    series = result.seriesAnalysed
    findings = comparable(result)
  }
  console.log(
    `${series} series (total + ${resources} resources) × ${days} days: best of 3 runs ${(best / 1000).toFixed(2)} s wall, ${(bestCpu / 1000).toFixed(2)} s CPU, ${steps} steps reported`,
  )
  if (compare) {
    const started = performance.now()
    const full = await analyseAnomalies(store, {screen: false})
    const same = comparable(full) === findings
    console.log(
      `every series analysed fully, none screened: ${((performance.now() - started) / 1000).toFixed(2)} s wall, ${full.steps.length} steps, ${full.spikes.length} spikes, ${full.trends.length} trends: ${same ? 'the same findings' : 'DIFFERENT findings'}`,
    )
    if (!same) process.exitCode = 1
  }
} finally {
  await store.close()
}
