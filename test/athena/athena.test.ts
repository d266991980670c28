import {statSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {athenaQuery, ingestAthena} from '../../src/athena/index.js'
import {partitionPredicate} from '../../src/athena/catalog.js'
import {scanCostUsd} from '../../src/athena/query.js'
import {isBillwatchError} from '../../src/errors.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {Store} from '../../src/store/index.js'
import {type AthenaEndpoint, type AthenaEndpointOptions, startAthenaEndpoint} from '../helpers/athena-endpoint.js'
import {tempDir} from '../helpers/cli.js'
import {storeSnapshot} from '../helpers/store-snapshot.js'
import {GB, type EgressDay} from '../ingest/billing-exports.js'
import {type Layout, type WrittenLayout, writeLayout} from './layouts.js'

/** Nine days over a month end, with a step on 2024-04-02 (the NTP pool server incident's shape). */
const DAYS: EgressDay[] = [
  '2024-03-27',
  '2024-03-28',
  '2024-03-29',
  '2024-03-30',
  '2024-03-31',
  '2024-04-01',
  '2024-04-02',
  '2024-04-03',
  '2024-04-04',
].map((day, i) => ({
  bytes: {'us-east-1': (i < 6 ? 3 : 3000) * GB + i * 12_345, 'us-west-2': (1 + i) * 1_000_003},
  day,
}))
const RANGE = {since: '2024-03-27', until: '2024-04-05'}
const NOW = new Date('2024-04-20T08:00:00Z')
const DATABASES: Record<Layout, {database: string; name: string}> = {
  cur1: {database: 'athenacurcfn_myreport', name: 'myreport'},
  cur2: {database: 'cid_data_export', name: 'cur2'},
  focus: {database: 'cid_data_export', name: 'focus'},
}

const temp = tempDir()
const layouts = {} as Record<Layout, WrittenLayout>
beforeAll(async () => {
  for (const layout of ['cur1', 'cur2', 'focus'] as const) layouts[layout] = await writeLayout(temp.dir, layout, DAYS)
}, 120_000)
afterAll(() => temp.cleanup())

let endpoint: AthenaEndpoint | undefined
const stores: Store[] = []
afterEach(async () => {
  await endpoint?.close()
  endpoint = undefined
  for (const store of stores.splice(0)) await store.close()
})

async function start(
  options: Partial<AthenaEndpointOptions> = {},
  fixture: Partial<AthenaEndpointOptions['tables'][number]> = {},
): Promise<AthenaEndpoint> {
  endpoint = await startAthenaEndpoint({
    queuedPolls: 1,
    runningPolls: 1,
    tables: (['cur1', 'cur2', 'focus'] as const).map((layout) => ({
      ...DATABASES[layout],
      partitionKeys: layouts[layout].partitionKeys,
      root: layouts[layout].root,
      ...fixture,
    })),
    ...options,
  })
  return endpoint
}

let storeCount = 0
async function openStore(): Promise<Store> {
  const store = await Store.open(join(temp.dir, `bw-${++storeCount}.duckdb`))
  stores.push(store)
  return store
}

function connection() {
  return {credentials: endpoint!.credentials, endpoint: endpoint!.url, maxAttempts: 4, pollMs: 2, region: 'us-east-1'}
}

function tableOf(layout: Layout): string {
  return `${DATABASES[layout].database}.${DATABASES[layout].name}`
}

async function dailyEgress(store: Store): Promise<{day: string; bytes: number; cost: number}[]> {
  return store.all(`SELECT strftime(day, '%Y-%m-%d') AS day, sum(amount) AS bytes, sum(cost) AS cost FROM usage
                    WHERE usage_base = 'DataTransfer-Out-Bytes' GROUP BY day ORDER BY day`)
}

async function usageRows(store: Store) {
  return store.all<{day: string; usage_type: string; region: string; amount: number; cost: number; unit: string}>(
    `SELECT strftime(day, '%Y-%m-%d') AS day, usage_type, region, unit, sum(amount) AS amount, sum(cost) AS cost FROM usage GROUP BY ALL ORDER BY ALL`,
  )
}

async function failure(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!isBillwatchError(error)) throw new Error(`expected a BillwatchError, got ${String(error)}`)
  return error
}

describe('ingest --athena', () => {
  for (const layout of ['cur1', 'cur2', 'focus'] as const) {
    it(`${layout}: gives the same daily egress series as ingesting the same Parquet locally`, async () => {
      await start({rowsPerPage: 7})
      const local = await openStore()
      await ingestFiles(local, layouts[layout].files)
      const remote = await openStore()
      const result = await ingestAthena(remote, {...connection(), ...RANGE, now: NOW, table: tableOf(layout)})

      expect(result).toMatchObject({
        fetched: {end: '2024-04-05', start: '2024-03-27'},
        kind: layout,
        status: 'ingested',
      })
      const expected = DAYS.map((d) => ({bytes: Object.values(d.bytes).reduce((a, b) => a + b, 0), day: d.day}))
      const local_ = await dailyEgress(local)
      const remote_ = await dailyEgress(remote)
      expect(remote_.map((r) => r.day)).toEqual(expected.map((e) => e.day))
      for (const [i, row] of remote_.entries()) {
        expect(row.bytes).toBeCloseTo(expected[i]!.bytes, 0)
        expect(row.bytes).toBeCloseTo(local_[i]!.bytes, 3)
        expect(row.cost).toBeCloseTo(local_[i]!.cost, 9)
      }
      // Every usage row, not only egress: the same roll-up on both engines.
      const [a, b] = [await usageRows(local), await usageRows(remote)]
      expect(b.map((r) => [r.day, r.usage_type, r.region, r.unit])).toEqual(
        a.map((r) => [r.day, r.usage_type, r.region, r.unit]),
      )
      for (const [i, row] of b.entries()) expect(row.amount).toBeCloseTo(a[i]!.amount, 3)

      // One query, paged (7 rows a page), polled through QUEUED and RUNNING.
      expect(endpoint!.executions).toHaveLength(1)
      expect(endpoint!.callsOf('GetQueryResults').length).toBeGreaterThan(1)
      expect(result.resultPages).toBe(endpoint!.callsOf('GetQueryResults').length)
      expect(endpoint!.callsOf('GetQueryExecution')).toHaveLength(3)
      expect(result.bytesScanned).toBe(layouts[layout].files.reduce((sum, f) => sum + statSize(f), 0))
      expect(result.scanCostUsd).toBe(scanCostUsd(result.bytesScanned))
    }, 120_000)
  }

  it('prunes partitions: Glue and the query name only the months asked for', async () => {
    await start()
    const store = await openStore()
    const result = await ingestAthena(store, {
      ...connection(),
      now: NOW,
      since: '2024-04-01',
      table: tableOf('cur1'),
      until: '2024-04-05',
    })
    expect(endpoint!.callsOf('GetPartitions')[0]!.body.Expression).toBe(`(year = '2024' AND month IN ('4', '04'))`)
    expect(result.sql).toContain(`("year" = '2024' AND "month" IN ('4', '04'))`)
    expect(result.partitions).toBe(1)
    expect((await dailyEgress(store)).map((r) => r.day)).toEqual([
      '2024-04-01',
      '2024-04-02',
      '2024-04-03',
      '2024-04-04',
    ])
    // Only April's files are scanned and billed: fewer bytes than the whole table, as many as the estimate.
    const april = layouts.cur1.files.filter((f) => f.includes('month=4/'))
    expect(april).toHaveLength(1)
    expect(result.bytesScanned).toBe(statSize(april[0]!))
    expect(result.bytesScanned).toBeLessThan(layouts.cur1.files.reduce((sum, f) => sum + statSize(f), 0))
    expect(result.estimatedScanBytes).toBe(result.bytesScanned)
    const cur2 = await ingestAthena(store, {
      ...connection(),
      now: NOW,
      since: '2024-03-30',
      table: tableOf('cur2'),
      until: '2024-04-02',
    })
    expect(cur2.sql).toContain(`"billing_period" IN ('2024-03', '2024-04')`)
  }, 60_000)

  it('is incremental: a second run queries only the open billing period again, and never double-counts', async () => {
    await start()
    const store = await openStore()
    await ingestAthena(store, {...connection(), ...RANGE, now: NOW, table: tableOf('cur2')})
    const first = await dailyEgress(store)
    const again = await ingestAthena(store, {...connection(), ...RANGE, now: NOW, table: tableOf('cur2')})
    // April is still open on April 20 (AWS restates it): queried again; March is closed and stored.
    expect(again.fetched).toEqual({end: '2024-04-05', start: '2024-04-01'})
    expect(again.restatedDays).toBe(4)
    expect(again.sql).toContain(`"billing_period" IN ('2024-04')`)
    expect(await dailyEgress(store)).toEqual(first)
    // Months later nothing is open: no query at all.
    const later = await ingestAthena(store, {
      ...connection(),
      ...RANGE,
      now: new Date('2024-07-01T00:00:00Z'),
      table: tableOf('cur2'),
    })
    expect(later.status).toBe('up to date')
    expect(endpoint!.executions).toHaveLength(2)
  }, 60_000)

  it('refuses a query whose estimate is above --max-scan-gb, before running anything', async () => {
    await start({}, {partitionBytes: 30 * GB})
    const store = await openStore()
    const before = await storeSnapshot(store)
    const error = await failure(
      ingestAthena(store, {...connection(), ...RANGE, maxScanGb: 50, now: NOW, table: tableOf('cur2')}),
    )
    expect(error.message).toMatch(/would scan up to 60\.0 GB \(2 partitions, about \$0\.29\), above --max-scan-gb 50/)
    expect(endpoint!.callsOf('StartQueryExecution')).toHaveLength(0)
    expect(await storeSnapshot(store)).toEqual(before)
    // Within the limit it runs.
    await ingestAthena(store, {...connection(), ...RANGE, maxScanGb: 61, now: NOW, table: tableOf('cur2')})
    expect(endpoint!.executions).toHaveLength(1)
  }, 60_000)

  it('retries throttling: the query runs once and its cost is counted once', async () => {
    await start({
      faults: [
        {action: 'StartQueryExecution', kind: 'throttle', times: 2},
        {action: 'GetQueryResults', kind: 'throttle', times: 1},
      ],
    })
    const store = await openStore()
    const result = await ingestAthena(store, {...connection(), ...RANGE, now: NOW, table: tableOf('focus')})
    expect(endpoint!.callsOf('StartQueryExecution').map((c) => c.status)).toEqual([400, 400, 200])
    expect(endpoint!.executions).toHaveLength(1)
    expect(result.throttledRetries).toBe(3)
    expect(result.scanCostUsd).toBe(scanCostUsd(endpoint!.executions[0]!.bytes))
    const sources = await store.all<{bytes: number}>(`SELECT bytes FROM sources`)
    expect(sources).toEqual([{bytes: endpoint!.executions[0]!.bytes}])
  }, 60_000)

  it('says in one line which workgroup, database, table or output is wrong, or which permission is missing', async () => {
    await start({workgroups: {'no-output': null, primary: 's3://results/'}})
    const store = await openStore()
    const run = (overrides: Record<string, unknown>) =>
      failure(ingestAthena(store, {...connection(), ...RANGE, now: NOW, table: tableOf('cur2'), ...overrides}))
    expect((await run({workgroup: 'nope'})).message).toMatch(/--workgroup.*no Athena workgroup nope/)
    expect((await run({workgroup: 'no-output'})).message).toMatch(/--output.*has no query result location/)
    expect((await run({table: 'nodb.cur2'})).message).toMatch(/--database.*no database nodb/)
    expect((await run({table: 'cid_data_export.nope'})).message).toMatch(/no table nope in database cid_data_export/)
    expect((await run({output: 'http://x'})).message).toMatch(/--output.*not an S3 location/)
    endpoint!.calls.length = 0
    const denied = await startDenied('StartQueryExecution')
    expect(denied.message).toMatch(
      /StartQueryExecution: access denied: arn:aws:iam::123456789012:user\/billwatch lacks permission athena:StartQueryExecution/,
    )
    const glue = await startDenied('GetTable')
    expect(glue.message).toMatch(/lacks permission glue:GetTable/)
    expect(await store.one<{n: number}>('SELECT count(*)::INTEGER AS n FROM sources')).toEqual({n: 0})
  }, 60_000)

  it('stops the query in Athena when interrupted, and writes nothing', async () => {
    await start({neverFinish: true})
    const store = await openStore()
    const controller = new AbortController()
    let polls = 0
    const error = await failure(
      ingestAthena(store, {
        ...connection(),
        ...RANGE,
        now: NOW,
        onPoll: () => ++polls === 3 && controller.abort(),
        signal: controller.signal,
        table: tableOf('cur1'),
      }),
    )
    expect(error.message).toMatch(/interrupted: Athena query .* was stopped; nothing was written/)
    expect(error.exitCode).toBe(130)
    expect(endpoint!.callsOf('StopQueryExecution')).toHaveLength(1)
    expect(endpoint!.executions[0]!.state).toBe('CANCELLED')
    expect(await store.one<{n: number}>('SELECT count(*)::INTEGER AS n FROM sources')).toEqual({n: 0})
  }, 60_000)
})

describe('the Trino rendering', () => {
  it('prunes by date for a table partitioned by day', () => {
    expect(partitionPredicate([{name: 'date', type: 'string'}], {end: '2024-04-03', start: '2024-04-01'})).toBe(
      `"date" >= '2024-04-01' AND "date" < '2024-04-03'`,
    )
    expect(partitionPredicate([{name: 'region', type: 'string'}], {end: '2024-04-03', start: '2024-04-01'})).toBeNull()
  })

  it('renders the same plan as the local scan, in Trino spelling', () => {
    const table = {
      bytes: null,
      columns: [
        {name: 'chargeperiodstart', type: 'timestamp'},
        {name: 'chargecategory', type: 'string'},
        {name: 'billedcost', type: 'double'},
        {name: 'chargedescription', type: 'string'},
      ],
      database: 'd',
      kind: 'focus' as const,
      location: null,
      name: 't',
      partitionKeys: [{name: 'billing_period', type: 'string'}],
    }
    const {sql} = athenaQuery(table, {end: '2024-04-03', start: '2024-04-01'})
    expect(sql).toContain('regexp_like(')
    expect(sql).not.toMatch(/regexp_matches|::|GROUP BY ALL|any_value|isfinite\(/)
    expect(sql).toContain(`"chargeperiodstart" >= TIMESTAMP '2024-04-01 00:00:00'`)
  })
})

async function startDenied(action: 'GetTable' | 'StartQueryExecution') {
  await endpoint!.close()
  await start({faults: [{action, kind: 'deny', times: 1}]})
  return failure(ingestAthena(await openStore(), {...connection(), ...RANGE, now: NOW, table: tableOf('cur2')}))
}

function statSize(path: string): number {
  return statSync(path).size
}
