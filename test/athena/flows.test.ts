/**
 * `ingest --athena` over a VPC Flow Logs table: the same daily per-port bytes as the local flow-log
 * ingest of the same records. The records are Parquet laid out as AWS delivers flow logs with
 * Hive-compatible prefixes (AWS "Flow log files", Parquet: AWSLogs/aws-account-id=…/aws-service=vpcflowlogs/
 * aws-region=…/year=YYYY/month=MM/day=DD/hour=HH/…log.parquet, columns named with underscores);
 * the table is the one the Athena integration creates over them (those partitions, fields as columns).
 */
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import fc from 'fast-check'
import {afterAll, describe, expect, it} from 'vitest'

import {flowsQuery} from '../../src/store/athena-flows.js'
import {ingestAthena} from '../../src/athena/index.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {Store} from '../../src/store/index.js'
import {type AthenaEndpoint, startAthenaEndpoint} from '../helpers/athena-endpoint.js'
import {tempDir} from '../helpers/cli.js'

const ACCOUNT = '123456789012'
const PARTITIONS = ['aws-account-id', 'aws-service', 'aws-region', 'year', 'month', 'day', 'hour']
const FIELDS = [
  'version',
  'account_id',
  'interface_id',
  'srcaddr',
  'dstaddr',
  'srcport',
  'dstport',
  'protocol',
  'packets',
  'bytes',
  'start',
  'end',
  'action',
  'log_status',
]
const DAY0 = Date.UTC(2024, 3, 1) / 1000

interface FlowRecord {
  eni: string
  src: string
  dst: string
  sp: null | number
  dp: null | number
  proto: null | number
  packets: null | number
  bytes: null | number
  end: number
  action: '-' | 'ACCEPT' | 'REJECT'
  status: 'NODATA' | 'OK' | 'SKIPDATA'
}

const temp = tempDir()
afterAll(() => temp.cleanup())
let count = 0

/**
 * A server's traffic: it answers NTP and HTTPS clients out on the internet, talks to a private database, is probed;
 * some capture windows are empty.
 */
const recordArb: fc.Arbitrary<FlowRecord> = fc
  .record({
    action: fc.constantFrom<'ACCEPT' | 'REJECT'>('ACCEPT', 'ACCEPT', 'ACCEPT', 'REJECT'),
    bytes: fc.integer({max: 5_000_000, min: 40}),
    // Four days, some records ending in a day's last minutes (delivered in the next day's first hour).
    end: fc
      .oneof(
        fc.integer({max: 4 * 86400 - 1, min: 60}),
        fc.integer({max: 3, min: 0}).map((d) => (d + 1) * 86400 - 30),
      )
      .map((s) => DAY0 + s),
    eni: fc.constantFrom('eni-0a1b2c3d4e5f60718', 'eni-0f9e8d7c6b5a40312'),
    kind: fc.constantFrom('ntp', 'https-in', 'db', 'icmp', 'nodata', 'scan'),
    peer: fc.integer({max: 250, min: 1}),
    port: fc.integer({max: 65_535, min: 1024}),
  })
  .map(({action, bytes, end, eni, kind, peer, port}): FlowRecord => {
    const server = '10.0.1.5'
    const base = {action, bytes, end, eni, packets: Math.max(1, Math.floor(bytes / 1200)), status: 'OK' as const}
    switch (kind) {
      case 'ntp':
        return {...base, dp: port, dst: `203.0.113.${peer}`, proto: 17, sp: 123, src: server}
      case 'https-in':
        return {...base, dp: 443, dst: server, proto: 6, sp: port, src: `198.51.100.${peer}`}
      case 'db':
        return {...base, dp: 5432, dst: `10.0.2.${peer}`, proto: 6, sp: port, src: server}
      case 'icmp':
        return {...base, dp: 0, dst: `192.0.2.${peer}`, proto: 1, sp: 0, src: server}
      case 'scan':
        return {...base, action: 'REJECT', dp: 22, dst: server, proto: 6, sp: port, src: `198.51.100.${peer}`}
      default:
        return {
          action: '-',
          bytes: null,
          dp: null,
          dst: '-',
          end,
          eni,
          packets: null,
          proto: null,
          sp: null,
          src: '-',
          status: 'NODATA',
        }
    }
  })

/**
 * Parquet files per delivery hour (the hour after the record's end, as flow logs are published), columns typed as AWS's
 * Parquet is.
 */
async function writeFlowLogs(records: FlowRecord[]): Promise<string> {
  const root = join(temp.dir, `flows-${++count}`)
  const writer = await Store.open(join(root, 'writer.duckdb'))
  try {
    const byHour = new Map<number, FlowRecord[]>()
    for (const r of records) {
      const delivered = Math.floor((r.end + 300) / 3600)
      byHour.set(delivered, [...(byHour.get(delivered) ?? []), r])
    }
    for (const [hour, batch] of byHour) {
      const at = new Date(hour * 3_600_000).toISOString()
      const folder = join(
        root,
        'AWSLogs',
        `aws-account-id=${ACCOUNT}`,
        'aws-service=vpcflowlogs',
        'aws-region=us-east-1',
        `year=${at.slice(0, 4)}`,
        `month=${at.slice(5, 7)}`,
        `day=${at.slice(8, 10)}`,
        `hour=${at.slice(11, 13)}`,
      )
      mkdirSync(folder, {recursive: true})
      const text = join(root, `batch-${hour}.txt`)
      writeFileSync(
        text,
        batch
          .map((r) =>
            [
              2,
              ACCOUNT,
              r.eni,
              r.src,
              r.dst,
              r.sp ?? '-',
              r.dp ?? '-',
              r.proto ?? '-',
              r.packets ?? '-',
              r.bytes ?? '-',
              r.end - 55,
              r.end,
              r.action,
              r.status,
            ].join(' '),
          )
          .join('\n'),
      )
      const int = new Set(['version', 'srcport', 'dstport', 'protocol'])
      const long = new Set(['packets', 'bytes', 'start', 'end'])
      const select = FIELDS.map(
        (f, i) => `nullif(c${i}, '-')${int.has(f) ? '::INTEGER' : long.has(f) ? '::BIGINT' : ''} AS "${f}"`,
      ).join(', ')
      const file = join(
        folder,
        `${ACCOUNT}_vpcflowlogs_us-east-1_fl-0123456789abcdef0_${at.slice(0, 13).replaceAll('-', '').replace('T', 'T')}00Z_${hour.toString(16)}.log.parquet`,
      )
      await writer.run(`COPY (SELECT ${select} FROM read_csv('${text}', delim = ' ', header = false, quote = '', auto_detect = false, columns = {${FIELDS.map((_, i) => `'c${i}': 'VARCHAR'`).join(', ')}}))
        TO '${file}' (FORMAT parquet, COMPRESSION snappy)`)
    }
  } finally {
    await writer.close()
  }
  return join(root, 'AWSLogs')
}

const SERIES = `SELECT strftime(day, '%Y-%m-%d') AS day, interface, direction, action, protocol, port, sum(bytes) AS bytes, sum(packets) AS packets, sum(records)::BIGINT AS records
  FROM flow_daily_counted GROUP BY ALL ORDER BY ALL`
const STATUS = `SELECT strftime(day, '%Y-%m-%d') AS day, interface, status, sum(records)::BIGINT AS records FROM flow_status_counted GROUP BY ALL ORDER BY ALL`

function connection(url: string, credentials: AthenaEndpoint['credentials']) {
  return {credentials, endpoint: url, maxAttempts: 4, pollMs: 2, region: 'us-east-1'}
}

describe('ingest --athena over a VPC Flow Logs table', () => {
  it('gives the same daily per-port bytes as the local flow-log ingest of the same records', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(recordArb, {maxLength: 60, minLength: 1}), async (records) => {
        records[0] = {
          ...records[0]!,
          action: 'ACCEPT',
          bytes: records[0]!.bytes ?? 100,
          dp: 40_000,
          dst: '203.0.113.9',
          packets: 1,
          proto: 17,
          sp: 123,
          src: '10.0.1.5',
          status: 'OK',
        }
        const logs = await writeFlowLogs(records)
        const endpoint = await startAthenaEndpoint({
          queuedPolls: 0,
          runningPolls: 1,
          rowsPerPage: 5,
          tables: [{database: 'vpclogs', name: 'vpc_flow_logs', partitionKeys: PARTITIONS, root: logs}],
        })
        const local = await Store.open(join(temp.dir, `local-${count}.duckdb`))
        const remote = await Store.open(join(temp.dir, `remote-${count}.duckdb`))
        try {
          await ingestFiles(local, [logs])
          const result = await ingestAthena(remote, {
            ...connection(endpoint.url, endpoint.credentials),
            now: new Date('2024-04-20T00:00:00Z'),
            since: '2024-04-01',
            table: 'vpclogs.vpc_flow_logs',
            until: '2024-04-05',
          })
          expect(result).toMatchObject({kind: 'vpc', status: 'ingested'})
          expect(await remote.all(SERIES)).toEqual(await local.all(SERIES))
          expect(await remote.all(STATUS)).toEqual(await local.all(STATUS))
          // Ground truth: the NTP answers' accepted bytes per day, by the record's end.
          const ntp: Record<string, number> = {}
          for (const r of records)
            if (r.status === 'OK' && r.action === 'ACCEPT' && r.sp === 123)
              ntp[new Date(r.end * 1000).toISOString().slice(0, 10)] =
                (ntp[new Date(r.end * 1000).toISOString().slice(0, 10)] ?? 0) + r.bytes!
          const stored = await remote.all<{
            day: string
            bytes: number
          }>(`SELECT strftime(day, '%Y-%m-%d') AS day, sum(bytes) AS bytes FROM flow_daily_counted
          WHERE direction = 'egress' AND action = 'ACCEPT' AND protocol = 'udp' AND port = 123 GROUP BY ALL ORDER BY ALL`)
          expect(Object.fromEntries(stored.map((s) => [s.day, s.bytes]))).toEqual(ntp)
        } finally {
          await local.close()
          await remote.close()
          await endpoint.close()
        }
      }),
      {numRuns: 4},
    )
  }, 300_000)

  it('re-runs replace the days they query again (never double-count), and a re-run of settled days queries nothing', async () => {
    const records = fc.sample(recordArb, {numRuns: 80, seed: 27})
    const logs = await writeFlowLogs(records)
    const endpoint = await startAthenaEndpoint({
      queuedPolls: 0,
      runningPolls: 0,
      tables: [{database: 'vpclogs', name: 'vpc_flow_logs', partitionKeys: PARTITIONS, root: logs}],
    })
    const store = await Store.open(join(temp.dir, `rerun-${count}.duckdb`))
    try {
      const options = {
        ...connection(endpoint.url, endpoint.credentials),
        since: '2024-04-01',
        table: 'vpclogs.vpc_flow_logs',
      }
      // "Today" is 2024-04-04: the 3rd is still settling, so it is read again next time.
      const first = await ingestAthena(store, {...options, now: new Date('2024-04-04T09:00:00Z')})
      const once = await store.all(SERIES)
      const again = await ingestAthena(store, {...options, now: new Date('2024-04-04T09:00:00Z')})
      expect(again.fetched).toEqual({end: '2024-04-04', start: '2024-04-03'})
      // The second query reads the 3rd's and 4th's hour partitions only: fewer bytes scanned, and as estimated.
      expect(again.bytesScanned).toBeGreaterThan(0)
      expect(again.bytesScanned).toBeLessThan(first.bytesScanned)
      expect(again.bytesScanned).toBe(again.estimatedScanBytes)
      expect(await store.all(SERIES)).toEqual(once)
      const settled = await ingestAthena(store, {
        ...options,
        now: new Date('2024-04-04T09:00:00Z'),
        until: '2024-04-03',
      })
      expect(settled).toMatchObject({queryExecutionId: null, status: 'up to date'})
      expect(endpoint.executions).toHaveLength(2)
    } finally {
      await store.close()
      await endpoint.close()
    }
  }, 120_000)

  it('prunes to the days asked for (and the next day, where their last records are delivered)', () => {
    const table = {
      bytes: null,
      columns: FIELDS.map((name) => ({
        name,
        type: ['srcport', 'dstport', 'protocol', 'version'].includes(name)
          ? 'int'
          : ['packets', 'bytes', 'start', 'end'].includes(name)
            ? 'bigint'
            : 'string',
      })),
      database: 'vpclogs',
      kind: 'vpc' as const,
      location: null,
      name: 'vpc_flow_logs',
      partitionKeys: PARTITIONS.map((name) => ({name, type: 'string'})),
    }
    const sql = flowsQuery(table, {end: '2024-05-01', start: '2024-04-29'})
    expect(sql).toContain(
      `("year" = '2024' AND "month" IN ('4', '04') AND "day" IN ('29', '30')) OR ("year" = '2024' AND "month" IN ('5', '05') AND "day" IN ('1', '01'))`,
    )
    expect(sql).toContain(`CAST("end" AS BIGINT) >= ${Date.UTC(2024, 3, 29) / 1000}`)
    const byDate = flowsQuery(
      {...table, partitionKeys: [{name: 'date', type: 'date'}]},
      {end: '2024-05-01', start: '2024-04-29'},
    )
    expect(byDate).toContain(`"date" >= DATE '2024-04-29' AND "date" < DATE '2024-05-02'`)
  })
})
