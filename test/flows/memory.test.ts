/**
 * A flow-log file whose per-client roll-up needs more memory than billwatch may use (BILLWATCH_MEMORY_LIMIT): DuckDB
 * spills it to disk beside the store and the ingest succeeds, with the same totals as when it fits in memory. A file
 * that fails under the same limit leaves the store as it was. The records are the bench's generator's spread mix
 * (400,000 clients: about one per-client row per record).
 */
import {appendFileSync, copyFileSync, existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {generateFlowLogs} from '../../bench/flows/generate.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {Store} from '../../src/store/index.js'
import {runCli, tempDir} from '../helpers/cli.js'
import {skipInUnitTier} from '../helpers/tools.js'
import {storeSnapshot} from '../helpers/store-snapshot.js'

/** Far below what the roll-up of the file below holds in memory (it ran out at 640MB before it was spilled). */
const TINY = '96MB'

/**
 * Every flow total the store holds, without the ids and paths that differ between two stores: per table, the rows, the
 * sums and a sum of the rows' hashes (any row that differs changes it).
 */
async function flowTotals(path: string): Promise<string> {
  const store = await Store.open(path, {mustExist: true})
  try {
    const parts: string[] = []
    for (const [table, columns] of [
      ['flow_daily', 'day, interface, direction, action, protocol, port, bytes, packets, records'],
      ['flow_clients', 'month, interface, direction, protocol, port, client, bytes, packets, records'],
      ['flow_status', 'day, interface, status, records'],
      ['flow_sources', 'records, nodata_records, skipdata_records, rejected_records'],
    ] as const) {
      const row = await store.one(
        `SELECT count(*)::BIGINT AS n, sum(hash(${columns}))::VARCHAR AS hashes, sum(records)::BIGINT AS records
         ${table === 'flow_status' || table === 'flow_sources' ? '' : ', sum(bytes)::BIGINT AS bytes'} FROM ${table}`,
      )
      parts.push(`${table}: ${JSON.stringify(row, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`)
    }
    return parts.join('\n')
  } finally {
    await store.close()
  }
}

/** Runs `fn` with BILLWATCH_MEMORY_LIMIT set (read when a store is opened). */
async function withLimit<T>(limit: string, fn: () => Promise<T>): Promise<T> {
  const before = process.env.BILLWATCH_MEMORY_LIMIT
  process.env.BILLWATCH_MEMORY_LIMIT = limit
  try {
    return await fn()
  } finally {
    if (before === undefined) delete process.env.BILLWATCH_MEMORY_LIMIT
    else process.env.BILLWATCH_MEMORY_LIMIT = before
  }
}

describe('a flow-log roll-up larger than the memory limit', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())
  const spread = join(tmp.dir, 'spread.log')
  /** The roll-up's own files beside the stores: removed when an ingest ends, committed or not. */
  const leftBeside = () => readdirSync(tmp.dir).filter((name) => name.endsWith('.parquet'))

  it('spills to disk: the same totals as read within the default limit', async () => {
    // Before the 400,000 records are written: this test and the next compare with what the CLI stores.
    skipInUnitTier('spawns the billwatch CLI')
    await generateFlowLogs(spread, 400_000, 'spread')
    const roomy = join(tmp.dir, 'roomy.duckdb')
    const tight = join(tmp.dir, 'tight.duckdb')
    expect((await runCli(['ingest', spread, '--db', roomy])).code).toBe(0)
    // DuckDB makes its spill folder beside the store only when it spills: seen before the store closes.
    const spilled = await withLimit(TINY, async () => {
      const store = await Store.open(tight)
      try {
        const result = await ingestFiles(store, [spread])
        expect(result.flows[0]).toMatchObject({records: 400_000, status: 'ingested'})
        return existsSync(`${tight}.tmp`)
      } finally {
        await store.close()
      }
    })
    expect(spilled).toBe(true)
    expect(await flowTotals(tight)).toBe(await flowTotals(roomy))
    expect(leftBeside()).toEqual([])
  }, 300_000)

  it('a broken record after 400,000 good ones, under the same limit: named by line, the store unchanged', async () => {
    // The records and the store of the test before (which the unit tier skips).
    skipInUnitTier('spawns the billwatch CLI')
    const db = join(tmp.dir, 'tight.duckdb')
    const broken = join(tmp.dir, 'broken.log')
    copyFileSync(spread, broken)
    appendFileSync(
      broken,
      '2 123456789012 eni-0a1b2c3d4e5f60710 10.206.10.174 198.51.100.7 123 4000 17 1 x 0 60 ACCEPT OK\n',
    )
    const before = await storeSnapshot(db)
    const refused = await runCli(['ingest', broken, '--db', db], {env: {BILLWATCH_MEMORY_LIMIT: TINY}})
    expect(refused.code).toBe(1)
    expect(refused.stderr.trim().split('\n')[0]).toMatch(
      new RegExp(`^billwatch: ${broken.replaceAll('.', '\\.')}:400002: column "bytes"`),
    )
    expect(await storeSnapshot(db)).toBe(before)
    expect(leftBeside()).toEqual([])
  }, 300_000)

  it('a file whose first records repeat their clients and whose later ones do not: read within the same limit', async () => {
    // The grouping-sets roll-up may run out of memory part way at this limit (its first records repeat their clients,
    // the rest do not); the ingest then goes on with the plain roll-up that spills (out of memory must not fail it).
    skipInUnitTier('writes a million flow records')
    const repeating = join(tmp.dir, 'repeating.log')
    const many = join(tmp.dir, 'many.log')
    const mixed = join(tmp.dir, 'mixed.log')
    await generateFlowLogs(repeating, 300_000, 'ntp')
    await generateFlowLogs(many, 700_000, 'spread')
    copyFileSync(repeating, mixed)
    const rest = readFileSync(many, 'utf8')
    appendFileSync(mixed, rest.slice(rest.indexOf('\n') + 1))
    const ingest = async (db: string) => {
      const store = await Store.open(db)
      try {
        const result = await ingestFiles(store, [mixed])
        expect(result.flows[0]).toMatchObject({records: 1_000_000, status: 'ingested'})
      } finally {
        await store.close()
      }
    }
    const roomy = join(tmp.dir, 'mixed-roomy.duckdb')
    const tight = join(tmp.dir, 'mixed-tight.duckdb')
    await ingest(roomy)
    await withLimit(TINY, () => ingest(tight))
    expect(await flowTotals(tight)).toBe(await flowTotals(roomy))
    expect(leftBeside()).toEqual([])
  }, 300_000)
})
