/**
 * VPC Flow Logs text is rolled up by the native addon in the pass that hashes it (src/pcap/native/vpc.c), else by
 * DuckDB's scan: both store the same rows, row for row, also when the native roll-up holds fewer groups than the file
 * has and writes them out in parts. A broken record in a file the native roll-up takes is still named by its line,
 * and the store is left as it was.
 */
import {copyFileSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {generateFlowLogs} from '../../bench/flows/generate.js'
import {BillwatchError} from '../../src/errors.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {nativeScanner} from '../../src/pcap/native.js'
import {Store} from '../../src/store/index.js'
import {SAMPLES, tempDir} from '../helpers/cli.js'

const {dir, cleanup} = tempDir('billwatch-native-rollup-')
afterAll(cleanup)

/** Every stored flow row, as one sorted list of text lines (ids and paths aside). */
async function storedRows(path: string): Promise<string[]> {
  const store = await Store.open(path, {mustExist: true})
  try {
    const rows: string[] = []
    for (const sql of [
      `SELECT 'daily', day, exporter, interface, account, direction, action, protocol, port, bytes, packets, records FROM flow_daily`,
      `SELECT 'clients', month, interface, direction, protocol, port, client, bytes, packets, records FROM flow_clients`,
      `SELECT 'status', day, interface, status, records FROM flow_status`,
      `SELECT 'source', format, container, content_hash, bytes, records, nodata_records, skipdata_records, rejected_records, delivery FROM flow_sources`,
    ]) {
      for (const row of await store.all(sql)) rows.push(JSON.stringify(Object.values(row)))
    }
    return rows.sort()
  } finally {
    await store.close()
  }
}

/** Ingests `file` into a new store with the environment `env` set; returns the store's rows. */
async function ingestWith(file: string, name: string, env: Record<string, string>): Promise<string[]> {
  const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]))
  Object.assign(process.env, env)
  const db = join(dir, `${name}.duckdb`)
  try {
    const store = await Store.open(db)
    try {
      await ingestFiles(store, [file])
    } finally {
      await store.close()
    }
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  }
  return storedRows(db)
}

const native = nativeScanner()?.vpcCreate !== undefined

describe.skipIf(!native)('the native flow-log roll-up', () => {
  it.each([
    ['the NTP server mix', 'ntp'],
    ['the spread mix', 'spread'],
    ['a custom format with flow-direction and packet addresses', 'sample'],
  ] as const)('stores the same rows as the DuckDB scan: %s, whole and written out in parts', async (_, mix) => {
    const file = join(dir, `${mix}.log`)
    if (mix === 'sample') copyFileSync(join(SAMPLES, 'captures', 'ntp-server.vpcflow.log'), file)
    else await generateFlowLogs(file, 40_000, mix)
    const duckdb = await ingestWith(file, `${mix}-duckdb`, {BILLWATCH_FLOWS_NATIVE: '0'})
    expect(duckdb.length).toBeGreaterThan(10)
    expect(await ingestWith(file, `${mix}-native`, {})).toEqual(duckdb)
    // Partitioned, each partition within the bound; and partitions beyond it, summed again by the store.
    expect(await ingestWith(file, `${mix}-parts`, {BILLWATCH_FLOWS_GROUPS: '5000'})).toEqual(duckdb)
    expect(await ingestWith(file, `${mix}-small`, {BILLWATCH_FLOWS_GROUPS: '1024'})).toEqual(duckdb)
  })

  it('names a broken record by its line, deep in a file it reads, and leaves the store as it was', async () => {
    const file = join(dir, 'broken.log')
    await generateFlowLogs(file, 20_000, 'ntp')
    const lines = readFileSync(file, 'utf8').split('\n')
    // Line 12,346 (the header is line 1): its end is not a number.
    lines[12_345] = lines[12_345]!.replace(/ (\d+) (ACCEPT|REJECT|-) (OK|NODATA)$/, ' 17x9 $2 $3')
    writeFileSync(file, lines.join('\n'))
    const db = join(dir, 'broken.duckdb')
    const withStore = async <T>(fn: (store: Store) => Promise<T>): Promise<T> => {
      const store = await Store.open(db)
      try {
        return await fn(store)
      } finally {
        await store.close()
      }
    }
    await withStore((store) => ingestFiles(store, [join(SAMPLES, 'captures', 'ntp-server.vpcflow.log')]))
    const before = await storedRows(db)
    const error = await withStore((store) =>
      ingestFiles(store, [file]).then(
        () => undefined,
        (e: unknown) => e,
      ),
    )
    expect(error).toBeInstanceOf(BillwatchError)
    expect((error as BillwatchError).line).toBe(12_346)
    expect((error as BillwatchError).field).toBe('end')
    expect(await storedRows(db)).toEqual(before)
  })
})
