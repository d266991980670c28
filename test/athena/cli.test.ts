import {join} from 'node:path'

import {afterAll, expect, it} from 'vitest'

import {startAthenaEndpoint} from '../helpers/athena-endpoint.js'
import {runCli, tempDir} from '../helpers/cli.js'
import {GB} from '../ingest/billing-exports.js'
import {writeLayout} from './layouts.js'

const temp = tempDir()
afterAll(() => temp.cleanup())

it('billwatch ingest --athena prints the scan and its cost, in --json with units in the names', async () => {
  const days = ['2024-03-28', '2024-03-29'].map((day, i) => ({bytes: {'us-east-1': (i + 1) * GB}, day}))
  const layout = await writeLayout(temp.dir, 'focus', days)
  const endpoint = await startAthenaEndpoint({
    tables: [{database: 'cid_data_export', name: 'focus', partitionKeys: layout.partitionKeys, root: layout.root}],
  })
  try {
    const env = {
      AWS_ACCESS_KEY_ID: endpoint.credentials.accessKeyId,
      AWS_ENDPOINT_URL: endpoint.url,
      AWS_PROFILE: '',
      AWS_REGION: 'us-east-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_SECRET_ACCESS_KEY: endpoint.credentials.secretAccessKey,
    }
    const db = join(temp.dir, 'bw.duckdb')
    const run = await runCli(
      [
        'ingest',
        '--athena',
        'cid_data_export.focus',
        '--since',
        '2024-03-28',
        '--until',
        '2024-03-30',
        '--db',
        db,
        '--json',
      ],
      {
        env,
        timeoutMs: 300_000,
      },
    )
    expect(run.stderr).toBe('')
    const result = JSON.parse(run.stdout)
    expect(result).toMatchObject({kind: 'focus', source: 'athena', status: 'ingested', table: 'cid_data_export.focus'})
    expect(result.bytesScanned).toBeGreaterThan(0)
    // Again: those closed days are stored, so nothing is queried, however low the limit.
    const again = await runCli(
      [
        'ingest',
        '--athena',
        'focus',
        '--database',
        'cid_data_export',
        '--since',
        '2024-03-28',
        '--until',
        '2024-03-30',
        '--max-scan-gb',
        '0.000001',
        '--db',
        db,
      ],
      {env, timeoutMs: 300_000},
    )
    expect(again.stdout).toMatch(/already holds these days; nothing was queried/)
    // A fresh store needs the query, and the limit refuses it.
    const refused = await runCli(
      [
        'ingest',
        '--athena',
        'focus',
        '--database',
        'cid_data_export',
        '--since',
        '2024-03-28',
        '--until',
        '2024-03-30',
        '--max-scan-gb',
        '0.000001',
        '--db',
        join(temp.dir, 'fresh.duckdb'),
      ],
      {env, timeoutMs: 300_000},
    )
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/--max-scan-gb/)
    expect(endpoint.executions).toHaveLength(1)
  } finally {
    await endpoint.close()
  }
}, 600_000)
