import {existsSync, mkdirSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname} from 'node:path'

import type * as DuckDb from '@duckdb/node-api'
import type {DuckDBConnection, DuckDBInstance, DuckDBListValue, DuckDBValue} from '@duckdb/node-api'

import {BillwatchError, isBillwatchError} from '../errors.js'
import {MIGRATIONS, USAGE_VIEW} from './schema.js'

let duckdb: typeof DuckDb | undefined

/**
 * DuckDB, loaded on first use and through `require`: an ESM import of this CommonJS package makes
 * Node lex its 124 files for named exports (~40 ms of every command's start-up), and a command that
 * fails before it opens the store should not pay for loading it at all.
 */
function loadDuckDb(): typeof DuckDb {
  duckdb ??= createRequire(import.meta.url)('@duckdb/node-api') as typeof DuckDb
  return duckdb
}

/**
 * Loads DuckDB the next time this thread would otherwise sit idle (waiting on a worker thread), so a
 * command that opens the store only after long work does not spend ~60 ms loading it then. A
 * failure is left for Store.open to report.
 */
export function preloadStore(): void {
  setImmediate(() => {
    try {
      loadDuckDb()
    } catch {}
  })
}

/** A SQL list parameter (e.g. for `list_contains($types, …)`). */
export function sqlList(items: readonly DuckDBValue[]): DuckDBListValue {
  return loadDuckDb().listValue([...items])
}

export type SqlParams = DuckDBValue[] | Record<string, DuckDBValue>
export type Row = Record<string, unknown>

export interface OpenOptions {
  /** Refuse to create a new, empty store (commands that only read). */
  mustExist?: boolean
}

/**
 * The billwatch store: one DuckDB file. Every command reads and writes through this class; domain
 * modules add their own queries as functions that take a Store (see src/ingest, src/detect).
 */
export class Store {
  private constructor(
    readonly path: string,
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
    private readonly ownsInstance = true,
  ) {}

  static async open(path: string, options: OpenOptions = {}): Promise<Store> {
    const inMemory = path === ':memory:'
    if (!inMemory && !existsSync(path)) {
      if (options.mustExist) {
        throw new BillwatchError('E_NO_DATA', `no store at ${path}`, {
          suggestions: ['billwatch ingest FILE… (or pass --db PATH / set BILLWATCH_DB)'],
        })
      }
      mkdirSync(dirname(path), {recursive: true})
    }
    let instance: DuckDBInstance
    try {
      instance = await loadDuckDb().DuckDBInstance.create(path)
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error)
      const locked = /lock/i.test(text)
      throw new BillwatchError('E_STORE', locked ? `store ${path} is in use by another billwatch process` : `cannot open store ${path}: ${firstLine(text)}`, {cause: error})
    }
    const store = new Store(path, instance, await instance.connect())
    // Aggregates over a billion-byte CSV need not keep row order (this halves peak memory), and a
    // bounded DuckDB spills to disk instead of growing past what a small instance or CI has.
    await store.run('SET preserve_insertion_order = false')
    await store.run(`SET memory_limit = '${process.env.BILLWATCH_MEMORY_LIMIT ?? '640MB'}'`)
    try {
      await store.migrate()
    } catch (error) {
      await store.close()
      if (isBillwatchError(error)) throw error
      const text = error instanceof Error ? error.message : String(error)
      throw new BillwatchError('E_STORE', `cannot update store ${path} to this billwatch's schema: ${firstLine(text)}`, {cause: error})
    }
    return store
  }

  async close(): Promise<void> {
    this.connection.closeSync()
    if (this.ownsInstance) this.instance.closeSync()
  }

  /**
   * A second connection to the same database, outside this one's transaction: for work that must
   * still run after a statement aborted the transaction (e.g. locating the first bad CSV row).
   */
  async scratch(): Promise<Store> {
    return new Store(this.path, this.instance, await this.instance.connect(), false)
  }

  /** Runs a statement for its effect; returns the rows it inserted, updated or deleted. */
  async run(sql: string, params?: SqlParams): Promise<number> {
    return (await this.connection.run(sql, params)).rowsChanged
  }

  /** Runs a query and returns JSON-safe rows (BIGINT → number when safe, DATE → 'YYYY-MM-DD'). */
  async all<T = Row>(sql: string, params?: SqlParams): Promise<T[]> {
    const reader = await this.connection.runAndReadAll(sql, params)
    return reader.getRowObjectsJS().map((row) => normalizeRow(row) as T)
  }

  async one<T = Row>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0]
  }

  /** One transaction: everything in `fn` lands, or nothing does. */
  async transaction<R>(fn: () => Promise<R>): Promise<R> {
    await this.run('BEGIN TRANSACTION')
    try {
      const result = await fn()
      await this.run('COMMIT')
      return result
    } catch (error) {
      await this.run('ROLLBACK')
      throw error
    }
  }

  async schemaVersion(): Promise<number> {
    const row = await this.one<{v: null | number}>('SELECT max(version) AS v FROM schema_version')
    return row?.v ?? 0
  }

  /**
   * Saves a finding of one command for others to read back (kind: 'pcap', 'probe', 'correlate' …), in
   * place of the previous one of the same kind and subject: only the newest is ever read, and keeping
   * every run made the store grow, and every command on it slow down, without bound (91 pcap runs:
   * 800 MB, +0.85 s per command). One statement, so it is atomic inside a transaction or outside one.
   */
  async saveEvidence(kind: string, subject: string, data: unknown): Promise<void> {
    await this.run(
      `INSERT INTO evidence (kind, subject, data) VALUES ($1, $2, $3)
       ON CONFLICT (kind, subject) DO UPDATE SET data = excluded.data, created_at = CAST(get_current_timestamp() AS TIMESTAMP)`,
      [kind, subject, JSON.stringify(data)],
    )
  }

  /** The newest finding of a kind (for one subject, if given). */
  async latestEvidence<T>(kind: string, subject?: string): Promise<undefined | {createdAt: string; data: T; subject: string}> {
    const row = await this.one<{created_at: string; data: string; subject: string}>(
      `SELECT subject, strftime(created_at, '%Y-%m-%dT%H:%M:%SZ') AS created_at, data::VARCHAR AS data FROM evidence
       WHERE kind = $1 AND ($2::VARCHAR IS NULL OR subject = $2) ORDER BY created_at DESC, rowid DESC LIMIT 1`,
      [kind, subject ?? null],
    )
    return row ? {createdAt: row.created_at, data: JSON.parse(row.data) as T, subject: row.subject} : undefined
  }

  private async migrate(): Promise<void> {
    await this.run('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)')
    const current = await this.schemaVersion()
    const latest = MIGRATIONS.at(-1)?.version ?? 0
    if (current > latest) {
      throw new BillwatchError('E_STORE', `store ${this.path} has schema version ${current}, newer than this billwatch understands (${latest})`, {
        suggestions: ['upgrade billwatch, or use another --db'],
      })
    }
    const pending = MIGRATIONS.filter((m) => m.version > current)
    if (pending.length === 0) return
    await this.transaction(async () => {
      for (const migration of pending) {
        for (const statement of migration.statements) await this.run(statement)
        await this.run('INSERT INTO schema_version (version) VALUES ($1)', [migration.version])
      }
      await this.run(USAGE_VIEW)
    })
  }
}

function normalizeRow(row: Record<string, unknown>): Row {
  const out: Row = {}
  for (const [key, value] of Object.entries(row)) out[key] = normalizeValue(value)
  return out
}

function normalizeValue(value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString()
  if (value instanceof Date) {
    const iso = value.toISOString()
    return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso
  }
  return value
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text
}
