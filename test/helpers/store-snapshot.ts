import {Store} from '../../src/store/index.js'

/** Every row of every table, as one comparable string: "the store is exactly as it was". */
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
    for (const table of tables) {
      const rows = await store.all(`SELECT * FROM ${table} ORDER BY ALL`)
      parts.push(`${table}:${JSON.stringify(rows, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`)
    }
    return parts.join('\n')
  } finally {
    if (typeof from === 'string') await store.close()
  }
}
