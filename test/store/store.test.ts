import {existsSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {DuckDBInstance} from '@duckdb/node-api'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {MIGRATIONS} from '../../src/store/schema.js'
import {Store} from '../../src/store/index.js'
import {runCli, tempDir} from '../helpers/cli.js'

describe('the store', () => {
  let tmp: ReturnType<typeof tempDir>
  beforeEach(() => {
    tmp = tempDir()
  })
  afterEach(() => tmp.cleanup())

  it('creates its schema once and records every migration applied', async () => {
    const path = join(tmp.dir, 'nested', 'store.duckdb')
    const store = await Store.open(path)
    expect(await store.schemaVersion()).toBe(MIGRATIONS.at(-1)!.version)
    await store.close()
    const again = await Store.open(path)
    const applied = await again.all<{version: number}>('SELECT version FROM schema_version ORDER BY version')
    expect(applied.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version))
    await again.close()
  })

  it('refuses a store written by a newer billwatch instead of guessing at its schema', async () => {
    const path = join(tmp.dir, 'future.duckdb')
    const store = await Store.open(path)
    await store.run('INSERT INTO schema_version (version) VALUES (99)')
    await store.close()
    await expect(Store.open(path)).rejects.toMatchObject({
      code: 'E_STORE',
      message: expect.stringContaining('schema version 99, newer than this billwatch understands'),
    })
  })

  it('does not create a store for commands that only read', async () => {
    const path = join(tmp.dir, 'absent.duckdb')
    await expect(Store.open(path, {mustExist: true})).rejects.toMatchObject({code: 'E_NO_DATA'})
    expect(existsSync(path)).toBe(false)
  })

  it('keeps the newest evidence of each kind and subject', async () => {
    const store = await Store.open(join(tmp.dir, 'evidence.duckdb'))
    await store.saveEvidence('pcap', '/a.pcap', {n: 1})
    await store.saveEvidence('pcap', '/b.pcap', {n: 2})
    await store.saveEvidence('probe', 'ntp.example', {n: 3})
    expect((await store.latestEvidence<{n: number}>('pcap'))?.data).toEqual({n: 2})
    expect((await store.latestEvidence<{n: number}>('pcap', '/a.pcap'))?.data).toEqual({n: 1})
    expect(await store.latestEvidence('correlate')).toBeUndefined()
    // A new finding replaces the old one of its kind and subject; the others stay.
    await store.saveEvidence('pcap', '/a.pcap', {n: 4})
    expect((await store.latestEvidence<{n: number}>('pcap', '/a.pcap'))?.data).toEqual({n: 4})
    expect(await store.all('SELECT kind, subject FROM evidence ORDER BY kind, subject')).toEqual([
      {kind: 'pcap', subject: '/a.pcap'},
      {kind: 'pcap', subject: '/b.pcap'},
      {kind: 'probe', subject: 'ntp.example'},
    ])
    await store.close()
  })

  it('moves a version-1 store, which kept every run, to one finding per kind and subject: the newest', async () => {
    const path = join(tmp.dir, 'v1.duckdb')
    const instance = await DuckDBInstance.create(path)
    const v1 = await instance.connect()
    await v1.run(
      'CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)',
    )
    for (const statement of MIGRATIONS[0]!.statements) await v1.run(statement)
    await v1.run('INSERT INTO schema_version (version) VALUES (1)')
    await v1.run(`INSERT INTO evidence (kind, subject, created_at, data) VALUES
      ('pcap', '/a.pcap', '2026-01-01 10:00', '{"n": 1}'), ('pcap', '/a.pcap', '2026-01-02 10:00', '{"n": 2}'),
      ('pcap', '/b.pcap', '2026-01-01 09:00', '{"n": 3}'),
      ('probe', 'ntp.example', '2026-01-03 10:00', '{"n": 4}'), ('probe', 'ntp.example', '2026-01-03 10:00', '{"n": 5}')`)
    v1.closeSync()
    instance.closeSync()

    const store = await Store.open(path)
    expect(await store.schemaVersion()).toBe(MIGRATIONS.at(-1)!.version)
    // Same time: the later row is the newer run.
    expect(await store.all('SELECT kind, subject, data::VARCHAR AS data FROM evidence ORDER BY kind, subject')).toEqual(
      [
        {data: '{"n": 2}', kind: 'pcap', subject: '/a.pcap'},
        {data: '{"n": 3}', kind: 'pcap', subject: '/b.pcap'},
        {data: '{"n": 5}', kind: 'probe', subject: 'ntp.example'},
      ],
    )
    await store.saveEvidence('pcap', '/b.pcap', {n: 6})
    expect((await store.latestEvidence<{n: number}>('pcap'))?.data).toEqual({n: 6})
    await store.close()
  })

  it('rolls a failed transaction back completely', async () => {
    const store = await Store.open(join(tmp.dir, 'tx.duckdb'))
    await expect(
      store.transaction(async () => {
        await store.saveEvidence('pcap', '/a.pcap', {n: 1})
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(await store.latestEvidence('pcap')).toBeUndefined()
    await store.close()
  })

  it('says so in one line when another process holds the store', async () => {
    const path = join(tmp.dir, 'busy.duckdb')
    const holder = await Store.open(path)
    try {
      const result = await runCli(['status', '--db', path])
      expect(result.code).toBe(1)
      expect(result.stderr.trim().split('\n')[0]).toMatch(
        new RegExp(`^billwatch: store ${path} is in use by another process \\(node, PID ${process.pid}\\)$`),
      )
    } finally {
      await holder.close()
    }
  })

  it('takes its location from BILLWATCH_DB when --db is not given', async () => {
    const path = join(tmp.dir, 'env.duckdb')
    const store = await Store.open(path)
    await store.close()
    const result = await runCli(['status', '--json'], {env: {BILLWATCH_DB: path}})
    expect(result.code).toBe(0)
    expect(result.json().store).toBe(path)
  })
  it('lives in the oclif data dir by default: ~/.local/share/billwatch/billwatch.duckdb on Linux', async () => {
    const env = {BILLWATCH_DB: '', HOME: tmp.dir, XDG_DATA_HOME: ''}
    const csv = join(tmp.dir, 'r.csv')
    writeFileSync(
      csv,
      'Service, Operation, UsageType, Resource, StartTime, EndTime, UsageValue\nAmazonEC2,RunInstances,DataTransfer-Out-Bytes,,03/30/14 00:00:00,03/31/14 00:00:00,5\n',
    )
    const result = await runCli(['ingest', csv, '--json'], {env})
    expect(result.code).toBe(0)
    expect(result.json().store).toBe(join(tmp.dir, '.local', 'share', 'billwatch', 'billwatch.duckdb'))
    expect(existsSync(join(tmp.dir, '.local', 'share', 'billwatch', 'billwatch.duckdb'))).toBe(true)
  })
})
