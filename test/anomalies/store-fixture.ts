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
  account?: string
  /** Index into storeWith's `covers`: which export the row came from (default the first). */
  source?: number
}

/**
 * `covers`: one export per entry, the days [start, end) it covers (null: from its first to its last row).
 * Rows without an account come from an export without an account column, named `fixture-N.csv`.
 */
export async function storeWith(
  rows: UsageRow[],
  family = 'cur',
  covers: ([string, string] | null)[] = [null],
): Promise<{store: Store; path: string; cleanup: () => Promise<void>}> {
  const {cleanup, dir} = tempDir('billwatch-anomalies-')
  const path = join(dir, 'store.duckdb')
  const store = await Store.open(path)
  const ids: number[] = []
  for (const [i, cover] of covers.entries()) {
    const source = await store.one<{id: number}>(
      `INSERT INTO sources (path, format, family, content_hash, scope, cover_start, cover_end) VALUES ($1, $2, $2, 'h-' || random()::VARCHAR, 'all', $3::DATE, $4::DATE) RETURNING id`,
      [`/exports/fixture-${i}.csv`, family, cover?.[0] ?? null, cover?.[1] ?? null],
    )
    ids.push(source!.id)
  }
  await store.transaction(async () => {
    for (const r of rows) {
      await store.run(
        `INSERT INTO usage_daily (source_id, day, account, region, service, usage_type, usage_base, resource_id, amount, unit, cost, currency)
         VALUES ($1, $2::DATE, $8, 'us-east-1', 'AmazonEC2', $3, $3, $4, $5, $6, $7, 'USD')`,
        [
          ids[r.source ?? 0]!,
          r.day,
          r.usageType,
          r.resourceId ?? null,
          r.amount,
          r.unit ?? (r.usageType.endsWith('Bytes') ? 'bytes' : 'hours'),
          r.cost ?? null,
          r.account ?? null,
        ],
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
