import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {addDays, utcDay} from '../../src/aws/window.js'
import {type AwsEndpoint, startAwsEndpoint} from '../helpers/aws-endpoint.js'
import {runCli, tempDir} from '../helpers/cli.js'
import {costsFromUsageReport, metricSeries, shiftDays} from './fixtures.js'

// The CLI reads "today" from the clock: move Cunnie's March 30 step to ten days ago.
const today = utcDay(new Date())
const stepDay = addDays(today, -10)
const costs = shiftDays(await costsFromUsageReport(), '2014-03-30', stepDay)
const ntpOut = metricSeries(costs, {
  instanceId: 'i-0a1b2c3d',
  metric: 'NetworkOut',
  usageType: 'DataTransfer-Out-Bytes',
})

let endpoint: AwsEndpoint
let temp: {dir: string; cleanup: () => void}
let env: Record<string, string>

beforeAll(async () => {
  temp = tempDir()
  endpoint = await startAwsEndpoint({ceResultsPerPage: 14, costs, metrics: [ntpOut]})
  // Credentials come from a shared-config profile, as --profile reads them; nothing from this machine's ~/.aws.
  const aws = join(temp.dir, '.aws')
  mkdirSync(aws)
  writeFileSync(
    join(aws, 'credentials'),
    `[billing]\naws_access_key_id = ${endpoint.credentials.accessKeyId}\naws_secret_access_key = ${endpoint.credentials.secretAccessKey}\n`,
  )
  writeFileSync(join(aws, 'config'), '[profile billing]\nregion = us-east-1\n')
  env = {
    AWS_ACCESS_KEY_ID: '',
    AWS_CONFIG_FILE: join(aws, 'config'),
    AWS_ENDPOINT_URL: endpoint.url,
    AWS_PROFILE: '',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_SECRET_ACCESS_KEY: '',
    AWS_SHARED_CREDENTIALS_FILE: join(aws, 'credentials'),
    HOME: temp.dir,
  }
})

afterAll(async () => {
  await endpoint.close()
  temp.cleanup()
})

describe('billwatch ingest --cost-explorer / --cloudwatch', () => {
  it('ingests 30 days with --profile, reports the billed requests, and is incremental on the next run', async () => {
    const db = join(temp.dir, 'live.duckdb')
    const first = await runCli(
      ['ingest', '--cost-explorer', '--days', '30', '--profile', 'billing', '--db', db, '--json'],
      {env},
    )
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    const result = first.json()
    expect(result.costExplorer).toMatchObject({
      days: 30,
      fetched: {end: today, start: addDays(today, -30)},
      requestCostUsd: 0.03,
      requests: 3,
      restatedDays: 0,
      status: 'ingested',
    })
    expect(result).toMatchObject({cloudWatch: null, requestCostUsd: 0.03, requests: 3})

    const human = await runCli(['ingest', '--cost-explorer', '--days', '30', '--profile', 'billing', '--db', db], {env})
    expect(human.code).toBe(0)
    expect(human.stdout).toContain('Cost Explorer: 1 billed requests ($0.01).')
    expect(human.stdout).toMatch(
      /ingested\s+cost-explorer \(DAILY\)\s+\d{4}-\d{2}-\d{2}\s+\d{4}-\d{2}-\d{2}\s+3\s+3\s+/,
    )

    const status = await runCli(['status', '--db', db, '--json'])
    expect(status.code).toBe(0)
    // The second run restated the last 3 days: they moved to the new source, nothing counted twice.
    const {sources, usageTypes} = status.json()
    expect(sources.map((s: any) => [s.format, s.days])).toEqual([
      ['cost-explorer-data-transfer', 27],
      ['cost-explorer-data-transfer', 3],
    ])
    expect(usageTypes.find((u: any) => u.usageType === 'DataTransfer-Out-Bytes')).toMatchObject({
      days: 30,
      unit: 'bytes',
    })
  })

  it("--cloudwatch --instances stores the instance's daily NetworkOut", async () => {
    const db = join(temp.dir, 'cw.duckdb')
    const run = await runCli(
      [
        'ingest',
        '--cloudwatch',
        '--instances',
        'i-0a1b2c3d',
        '--days',
        '20',
        '--profile',
        'billing',
        '--db',
        db,
        '--json',
      ],
      {env},
    )
    expect(run.stderr).toBe('')
    expect(run.json().cloudWatch).toMatchObject({instances: ['i-0a1b2c3d'], region: 'us-east-1', requests: 1, rows: 20})
  })

  it('access denied: exit 1 and one line naming ce:GetCostAndUsage', async () => {
    endpoint.addFault({action: 'GetCostAndUsage', kind: 'deny', times: 1})
    const run = await runCli(
      ['ingest', '--cost-explorer', '--profile', 'billing', '--db', join(temp.dir, 'denied.duckdb')],
      {env},
    )
    expect(run.code).toBe(1)
    expect(run.stderr.trim().split('\n')[0]).toBe(
      'billwatch: GetCostAndUsage: access denied: arn:aws:iam::123456789012:user/billwatch lacks permission ce:GetCostAndUsage',
    )
  })

  it('flags that need --cost-explorer or --cloudwatch are usage errors', async () => {
    const run = await runCli(['ingest', '--granularity', 'HOURLY', '--db', join(temp.dir, 'x.duckdb')], {env})
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('--cost-explorer')
  })
})
