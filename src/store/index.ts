import {accessSync, constants, existsSync, mkdirSync, statSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname} from 'node:path'
import {fileURLToPath} from 'node:url'

import type * as DuckDb from '@duckdb/node-api'
import type {
  DuckDBAppender,
  DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  DuckDBListValue,
  DuckDBValue,
} from '@duckdb/node-api'

import {BillwatchError, isBillwatchError} from '../errors.js'
import {errnoReason, fileKind} from '../util/files.js'
import {FLOW_VIEWS, MIGRATIONS, USAGE_VIEW} from './schema.js'

let duckdb: typeof DuckDb | undefined

/**
 * DuckDB, loaded on first use and through `require`: an ESM import of this CommonJS package makes
 * Node lex its 124 files for named exports (~40 ms of every command's start-up), and a command that
 * fails before it opens the store should not pay for loading it at all. Built, it is the package bundled in one file
 * (scripts/bundle-duckdb.ts: about half the CPU of loading its files one by one); from the sources, the package.
 */
function loadDuckDb(): typeof DuckDb {
  if (duckdb) return duckdb
  const require = createRequire(import.meta.url)
  const bundled = new URL('../../vendor/duckdb-node-api.cjs', import.meta.url)
  duckdb = (existsSync(bundled) ? require(fileURLToPath(bundled)) : require('@duckdb/node-api')) as typeof DuckDb
  return duckdb
}

/**
 * Loads DuckDB the next time this thread would otherwise sit idle (waiting on a worker thread), so a
 * command that opens the store only after long work does not spend ~60 ms loading it then. A
 * failure is left for Store.open to report.
 */
export function preloadStore(): void {
  setImmediate(loadStoreLibrary)
}

/** Loads DuckDB now (see preloadStore); a failure is left for Store.open to report. */
export function loadStoreLibrary(): void {
  try {
    loadDuckDb()
  } catch {
    // The first real open reports a missing or broken DuckDB binding, located.
  }
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
  /** Only read: open READ_ONLY (an older schema is still updated, the one write a read makes). */
  readOnly?: boolean
}

/**
 * The billwatch store: one DuckDB file. Every command reads and writes through this class; the queries live
 * beside it in src/store as typed functions that take a Store (usage.ts, usage-series.ts, usage-import.ts, …).
 */
export class Store {
  private constructor(
    readonly path: string,
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly ownsInstance = true,
    /** Opened READ_ONLY: commands that only read never change the file (and can read one they may not write). */
    readonly readOnly = false,
  ) {}

  static async open(path: string, options: OpenOptions = {}): Promise<Store> {
    const inMemory = path === ':memory:'
    if (!inMemory) checkStorePath(path, options)
    const readOnly = options.readOnly === true && !inMemory
    let store = await Store.connect(path, readOnly)
    try {
      await store.checkIsBillwatchStore()
      const version = readOnly ? await store.schemaVersion() : LATEST_VERSION
      if (version === 0)
        throw new BillwatchError('E_NO_DATA', `no billwatch store in ${path} (an empty DuckDB file)`, {
          suggestions: ['billwatch ingest FILE… (or pass --db PATH / set BILLWATCH_DB)'],
        })
      if (version < LATEST_VERSION) {
        // An older billwatch's store: updating its schema is the one write a read may make.
        await store.close()
        store = await Store.connect(path, false)
      }
      if (!store.readOnly) await store.migrate()
    } catch (error) {
      await store.close()
      if (isBillwatchError(error)) throw error
      const text = error instanceof Error ? error.message : String(error)
      throw new BillwatchError(
        'E_STORE',
        `cannot update store ${path} to this billwatch's schema: ${storeProblem(text)}`,
        {cause: error},
      )
    }
    return store
  }

  private static async connect(path: string, readOnly: boolean): Promise<Store> {
    let instance: DuckDBInstance
    try {
      instance = await loadDuckDb().DuckDBInstance.create(path, readOnly ? {access_mode: 'READ_ONLY'} : undefined)
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error)
      const lock = /Could not set lock on file[^:]*: Conflicting lock is held in (.*?) \(PID (\d+)\)/.exec(text)
      if (lock || text.includes('Could not set lock on file')) {
        const holder = lock ? ` (${lock[1]!.split('/').at(-1)}, PID ${lock[2]})` : ''
        throw new BillwatchError('E_STORE', `store ${path} is in use by another process${holder}`, {
          cause: error,
          suggestions: ['wait for the other billwatch to finish'],
        })
      }
      throw new BillwatchError('E_STORE', `cannot open store ${path}: ${storeProblem(text)}`, {cause: error})
    }
    const store = new Store(path, instance, await instance.connect(), true, readOnly)
    // Aggregates over a billion-byte CSV need not keep row order (this halves peak memory), and a
    // bounded DuckDB spills to disk instead of growing past what a small instance or CI has.
    await store.run('SET preserve_insertion_order = false')
    await store.run(`SET memory_limit = '${process.env.BILLWATCH_MEMORY_LIMIT ?? '640MB'}'`)
    return store
  }

  /** Refuses a DuckDB file of something else (tables, none of them billwatch's): never add ours to it. */
  private async checkIsBillwatchStore(): Promise<void> {
    const tables = await this.all<{name: string}>(
      'SELECT table_name AS name FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary',
    )
    if (tables.length > 0 && !tables.some((t) => t.name === 'schema_version')) {
      throw new BillwatchError(
        'E_STORE',
        `${this.path} is a DuckDB database of something else (it holds ${tables.length} other table${tables.length === 1 ? '' : 's'}), not a billwatch store`,
        {
          field: '--db',
          suggestions: ['name a new file with --db PATH'],
        },
      )
    }
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
    return new Store(this.path, this.instance, await this.instance.connect(), false, this.readOnly)
  }

  /** DuckDB's appender for a temporary table of this connection (bulk writes: a million rows in seconds). */
  async appendToTemp(table: string): Promise<DuckDBAppender> {
    return this.connection.createAppender(table, 'main', 'temp')
  }

  /** Stops the statement running on this connection (it fails with DuckDB's interrupt error). */
  interrupt(): void {
    this.connection.interrupt()
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

  /**
   * Runs a query and hands its result to `visit` one chunk (up to 2,048 rows) at a time; numeric columns are read
   * without a row object each. The whole result is computed first, on all of DuckDB's threads, and held until the
   * last chunk is visited: the caller bounds its size (resourceLines reads one part of the resources at a time).
   * Streamed a chunk per request instead, a part of 100,000 × 365 took 5.5–7 s to read rather than 2.6–3.9 s.
   */
  async forEachChunk(
    sql: string,
    params: SqlParams | undefined,
    visit: (chunk: DuckDBDataChunk) => void,
  ): Promise<void> {
    const result = await this.connection.run(sql, params)
    for (let i = 0; i < result.chunkCount; i++) visit(result.getChunk(i))
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
      // A failed write (disk full, folder read-only) can leave nothing to roll back: the first error is the news.
      try {
        await this.run('ROLLBACK')
      } catch {
        // Nothing left to roll back: the write's own error below is the one to report.
      }
      throw error
    }
  }

  async schemaVersion(): Promise<number> {
    const exists = await this.one(
      "SELECT 1 FROM duckdb_tables() WHERE table_name = 'schema_version' AND database_name = current_database() AND NOT temporary",
    )
    if (!exists) return 0
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
    await this.saveEvidenceJson(kind, subject, JSON.stringify(data))
  }

  /** saveEvidence with the finding already written as JSON text. */
  async saveEvidenceJson(kind: string, subject: string, json: string): Promise<void> {
    await this.run(
      `INSERT INTO evidence (kind, subject, data) VALUES ($1, $2, $3)
       ON CONFLICT (kind, subject) DO UPDATE SET data = excluded.data, created_at = CAST(get_current_timestamp() AS TIMESTAMP)`,
      [kind, subject, json],
    )
  }

  /** The newest finding of a kind (for one subject, if given). */
  async latestEvidence<T>(
    kind: string,
    subject?: string,
  ): Promise<undefined | {createdAt: string; data: T; subject: string}> {
    const row = await this.one<{created_at: string; data: string; subject: string}>(
      `SELECT subject, strftime(created_at, '%Y-%m-%dT%H:%M:%SZ') AS created_at, data::VARCHAR AS data FROM evidence
       WHERE kind = $1 AND ($2::VARCHAR IS NULL OR subject = $2) ORDER BY created_at DESC, rowid DESC LIMIT 1`,
      [kind, subject ?? null],
    )
    return row ? {createdAt: row.created_at, data: JSON.parse(row.data) as T, subject: row.subject} : undefined
  }

  private async migrate(): Promise<void> {
    await this.run(
      'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)',
    )
    const current = await this.schemaVersion()
    const latest = LATEST_VERSION
    if (current > latest) {
      throw new BillwatchError(
        'E_STORE',
        `store ${this.path} has schema version ${current}, newer than this billwatch understands (${latest})`,
        {
          suggestions: ['upgrade billwatch, or use another --db'],
        },
      )
    }
    const pending = MIGRATIONS.filter((m) => m.version > current)
    if (pending.length === 0) return
    await this.transaction(async () => {
      for (const migration of pending) {
        for (const statement of migration.statements) await this.run(statement)
        await this.run('INSERT INTO schema_version (version) VALUES ($1)', [migration.version])
      }
      await this.run(USAGE_VIEW)
      for (const view of FLOW_VIEWS) await this.run(view)
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

const LATEST_VERSION = MIGRATIONS.at(-1)?.version ?? 0

/** What DuckDB's open error means for a user, in one line. */
function storeProblem(text: string): string {
  if (text.includes('not a valid DuckDB database file')) return 'not a DuckDB database file'
  if (
    /Could not read enough bytes|Corrupt database file|checksum|block at location|invalid block|Failed to read/i.test(
      text,
    )
  ) {
    return 'the file is damaged (truncated or corrupt); restore it from a backup or ingest again into a new --db'
  }
  if (/Permission denied|Read-only file system|cannot rollback/i.test(text))
    return 'the file or its folder cannot be written'
  // A process killed while it created the store can leave a log DuckDB then fails on.
  if (/replaying WAL/i.test(text))
    return 'its write-ahead log (the .wal file beside it) cannot be replayed: a write to it was cut short; move the .wal aside to open the store as of its last checkpoint'
  return (text.split('\n')[0] ?? text).replace(/^IO Error: /, '')
}

/** The store path must be a regular file (or not exist yet, in a folder billwatch may create it in). */
function checkStorePath(path: string, options: OpenOptions): void {
  const where = {field: '--db', file: path}
  // DuckDB reads '' as "in memory": an unset variable would lose everything ingested.
  if (path.trim() === '') throw new BillwatchError('E_USAGE', 'an empty store path', {field: '--db'})
  const stat = statSync(path, {throwIfNoEntry: false})
  if (stat && !stat.isFile())
    throw new BillwatchError('E_STORE', `the store is ${fileKind(stat)}, not a DuckDB file`, where)
  if (!stat && (options.mustExist || options.readOnly)) {
    throw new BillwatchError('E_NO_DATA', `no store at ${path}`, {
      suggestions: ['billwatch ingest FILE… (or pass --db PATH / set BILLWATCH_DB)'],
    })
  }
  if (options.readOnly) return
  const dir = dirname(path)
  try {
    if (!stat) mkdirSync(dir, {recursive: true})
    // DuckDB writes a .wal file beside the store: the folder must be writable, not only the file.
    accessSync(dir, constants.W_OK)
    if (stat) accessSync(path, constants.W_OK)
  } catch (error) {
    throw new BillwatchError('E_STORE', `cannot write the store: ${errnoReason(error)}`, {
      ...where,
      cause: error,
      suggestions: ['use --db PATH in a folder you can write'],
    })
  }
}
