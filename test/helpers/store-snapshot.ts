import {Store} from '../../src/store/index.js'

/** Tables longer than this are fingerprinted in DuckDB instead of read into JavaScript row by row. */
const ROWS_SHOWN_IN_FULL = 5_000

/**
 * Every row of every table, as one comparable string: "the store is exactly as it was". A short table is written out
 * row by row (a failing comparison shows which row moved); a long one as its row count and the sum of its rows'
 * hashes, computed in DuckDB (any changed, added or removed row changes it), since reading ~400,000 flow rows into
 * JavaScript took longer than the ingest it checks.
 */
export async function storeSnapshot(from: Store | string): Promise<string> {
  const store = typeof from === 'string' ? await Store.open(from, {mustExist: true}) : from
  try {
    const tables = [
      'schema_version',
      'sources',
      'usage_daily',
      'charges_daily',
      'evidence',
      'flow_sources',
      'flow_daily',
      'flow_clients',
      'flow_status',
    ]
    const parts: string[] = []
    const text = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v))
    for (const table of tables) {
      const {hashes, rows} = (await store.one<{hashes: null | string; rows: number}>(
        `SELECT count(*)::INTEGER AS rows, sum(hash(t)::HUGEINT)::VARCHAR AS hashes FROM ${table} t`,
      ))!
      parts.push(
        rows > ROWS_SHOWN_IN_FULL
          ? `${table}: ${rows} rows, hash sum ${hashes}`
          : `${table}:${text(await store.all(`SELECT * FROM ${table} ORDER BY ALL`))}`,
      )
    }
    return parts.join('\n')
  } finally {
    if (typeof from === 'string') await store.close()
  }
}
