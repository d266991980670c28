import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {Store} from '../../src/store/index.js'
import {storeStatus} from '../../src/store/status.js'
import {tempDir} from '../helpers/cli.js'

describe('status on an unchanged store', () => {
  const tmp = tempDir()
  let store: Store

  beforeAll(async () => {
    store = await Store.open(join(tmp.dir, 'big.duckdb'))
    // Enough rows that DuckDB sums them on several threads, in whatever order the threads finish.
    await store.run(
      "INSERT INTO sources (path, format, family, content_hash, scope, line_items) VALUES ('x.csv', 'cur1', 'cur', 'xxh128:0', 'all', 1000000)",
    )
    await store.run(`INSERT INTO usage_daily (source_id, day, usage_type, usage_base, amount, unit, cost, currency)
      SELECT 1, DATE '2014-01-01' + (i % 365)::INTEGER, 'DataTransfer-Out-Bytes', 'DataTransfer-Out-Bytes', random() * 1e12, 'bytes', random() * 3, 'USD'
      FROM range(1000000) t(i)`)
    await store.run('SET threads = 4')
  }, 240_000)
  afterAll(async () => {
    await store.close()
    tmp.cleanup()
  })

  it('reports the same totals, to the last digit, on every run', async () => {
    const runs = new Set<string>()
    for (let i = 0; i < 4; i++) runs.add(JSON.stringify(await storeStatus(store)))
    expect(runs.size).toBe(1)
    const status = JSON.parse([...runs][0]!)
    expect(status.totals.amountBytes).toBeGreaterThan(1e17)
  }, 240_000)
})
