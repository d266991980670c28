/** Writes usage rows straight into a real store (sources + usage_daily), as ingest would. */
import {join} from 'node:path'

import {Store} from '../../src/store/index.js'
import {tempDir} from '../helpers/cli.js'

export interface UsageRow {
  day: string
  usageType: string
  amount: number
  resourceId?: string
  cost?: number
  unit?: string
}

export async function storeWith(rows: UsageRow[], family = 'cur'): Promise<{store: Store; path: string; cleanup: () => Promise<void>}> {
  const {cleanup, dir} = tempDir('billwatch-anomalies-')
  const path = join(dir, 'store.duckdb')
  const store = await Store.open(path)
  await store.run(`INSERT INTO sources (path, format, family, content_hash, scope) VALUES ('fixture.csv', $1, $1, 'h-' || random()::VARCHAR, 'all')`, [family])
  const source = await store.one<{id: number}>('SELECT max(id) AS id FROM sources')
  await store.transaction(async () => {
    for (const r of rows) {
      await store.run(
        `INSERT INTO usage_daily (source_id, day, region, service, usage_type, usage_base, resource_id, amount, unit, cost, currency)
         VALUES ($1, $2::DATE, 'us-east-1', 'AmazonEC2', $3, $3, $4, $5, $6, $7, 'USD')`,
        [source!.id, r.day, r.usageType, r.resourceId ?? null, r.amount, r.unit ?? (r.usageType.endsWith('Bytes') ? 'bytes' : 'hours'), r.cost ?? null],
      )
    }
  })
  return {
    async cleanup() {
      await store.close()
      cleanup()
    },
    path,
    store,
  }
}
