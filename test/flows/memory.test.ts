/**
 * A flow-log file whose roll-up needs more memory than billwatch may use (BILLWATCH_MEMORY_LIMIT):
 * refused as such, in one line that names the setting, and the store is left as it was. Running out
 * of memory aborts ingest's transaction, so no second pass may follow in it (one did: it failed with
 * "Current transaction is aborted"). The records are the bench's generator's spread mix, small.
 */
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {generateFlowLogs} from '../../bench/flows/generate.js'
import {runCli, tempDir} from '../helpers/cli.js'
import {storeSnapshot} from '../helpers/store-snapshot.js'

describe('a flow-log roll-up beyond the memory limit', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('is refused in one line naming BILLWATCH_MEMORY_LIMIT, the store unchanged; the same file reads within the default limit', async () => {
    const first = join(tmp.dir, 'first.log')
    const spread = join(tmp.dir, 'spread.log')
    await generateFlowLogs(first, 2000, 'ntp')
    await generateFlowLogs(spread, 20_000, 'spread')
    const db = join(tmp.dir, 'store.duckdb')
    expect((await runCli(['ingest', first, '--db', db])).code).toBe(0)
    const before = await storeSnapshot(db)
    const refused = await runCli(['ingest', spread, '--db', db], {env: {BILLWATCH_MEMORY_LIMIT: '4MB'}})
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toMatch(
      new RegExp(
        `^billwatch: ${spread.replaceAll('.', '\\.')}: reading it needs more memory than billwatch may use \\(4MB\\)\\n`,
      ),
    )
    expect(refused.stderr).toMatch(/BILLWATCH_MEMORY_LIMIT/)
    expect(refused.stderr).not.toMatch(/transaction|Out of Memory Error/)
    expect(await storeSnapshot(db)).toBe(before)
    const read = await runCli(['ingest', spread, '--db', db, '--json'])
    expect(read.json().flows[0]).toMatchObject({records: 20_000, status: 'ingested'})
  }, 180_000)
})
