/**
 * The helper behind every "the store is unchanged" assertion: a snapshot that missed a change would let those tests
 * pass whatever the code did. Checked on a table long enough to be fingerprinted and on one written out in full.
 */
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {Store} from '../../src/store/index.js'
import {tempDir} from '../helpers/cli.js'
import {storeSnapshot} from '../helpers/store-snapshot.js'

describe('storeSnapshot', () => {
  const tmp = tempDir()
  let store: Store
  beforeAll(async () => {
    store = await Store.open(join(tmp.dir, 'store.duckdb'))
    await store.run(
      `INSERT INTO sources (id, path, format, family, content_hash, scope) VALUES (1, 'a.csv', 'cur1', 'cur', 'h', 'all')`,
    )
    // 6,000 rows: more than the snapshot writes out row by row.
    await store.run(
      `INSERT INTO usage_daily (source_id, day, region, service, usage_type, usage_base, resource_id, amount, unit)
       SELECT 1, DATE '2024-01-01' + (i % 365)::INTEGER, 'us-east-1', 'AmazonEC2', 'DataTransfer-Out-Bytes',
              'DataTransfer-Out-Bytes', printf('i-%05d', i), i * 1.5, 'GB' FROM range(6000) r(i)`,
    )
  })
  afterAll(async () => {
    await store.close()
    tmp.cleanup()
  })

  it('is the same for the same rows, and changes when one value, one row or one short-table row changes', async () => {
    const before = await storeSnapshot(store)
    expect(before).toContain('usage_daily: 6000 rows')
    expect(await storeSnapshot(store)).toBe(before)

    await store.run(`UPDATE usage_daily SET amount = amount + 1e-9 WHERE resource_id = 'i-04242'`)
    const nudged = await storeSnapshot(store)
    expect(nudged).not.toBe(before)
    await store.run(`UPDATE usage_daily SET amount = amount - 1e-9 WHERE resource_id = 'i-04242'`)

    // A renamed resource: the same row count and the same sums of every number.
    await store.run(`UPDATE usage_daily SET resource_id = 'i-x' WHERE resource_id = 'i-00002'`)
    expect(await storeSnapshot(store)).not.toBe(before)
    await store.run(`UPDATE usage_daily SET resource_id = 'i-00002' WHERE resource_id = 'i-x'`)
    expect(await storeSnapshot(store)).toBe(before)

    await store.run(`DELETE FROM usage_daily WHERE resource_id = 'i-00003'`)
    expect(await storeSnapshot(store)).not.toBe(before)

    await store.run(`UPDATE sources SET path = 'b.csv'`)
    expect(await storeSnapshot(store)).toContain('"path":"b.csv"')
  })
})
