import {copyFileSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'

import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {BillwatchError} from '../../src/errors.js'
import {analyseFlows} from '../../src/flows/report.js'
import {DEFAULT_VPC_FORMAT} from '../../src/flows/vpc-format.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {analyseCapture} from '../../src/pcap/analyse.js'
import {buildReport} from '../../src/pcap/report.js'
import {Store} from '../../src/store/index.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'
import {propertyRuns} from '../helpers/property.js'
import {storeSnapshot} from '../helpers/store-snapshot.js'
import {withStore as withStoreAt} from '../helpers/temp-store.js'

const tmp = tempDir('billwatch-flows-')
afterAll(() => tmp.cleanup())
let counter = 0
const fresh = (name: string) => join(tmp.dir, `${++counter}-${name}`)

/** A fresh store (or the one at `path`) for `fn`. */
const withStore = <T>(fn: (store: Store) => Promise<T>, path = fresh('store.duckdb')): Promise<T> =>
  withStoreAt(path, fn)

/** Accepted egress bytes by 'proto/port' of the store's flow records. */
async function egressByPort(store: Store): Promise<Record<string, number>> {
  const rows = await store.all<{service: string; bytes: number}>(
    `SELECT protocol || '/' || coalesce(port::VARCHAR, '-') AS service, sum(bytes) AS bytes FROM flow_daily
     WHERE action = 'ACCEPT' AND direction = 'egress' GROUP BY ALL`,
  )
  return Object.fromEntries(rows.map((r) => [r.service, r.bytes]))
}

describe('VPC Flow Logs from the sample capture', () => {
  it("egress bytes by port equal billwatch pcap's billable outbound bytes on the same packets", async () => {
    const report = buildReport(analyseCapture(join(SAMPLES, 'captures', 'ntp-server.pcap')), {behaviour: false})
    const expected = Object.fromEntries(
      report.byPort.filter((p) => p.billableBytes > 0).map((p) => [`${p.protocol}/${p.port ?? '-'}`, p.billableBytes]),
    )
    await withStore(async (store) => {
      const result = await ingestFiles(store, [join(SAMPLES, 'captures', 'ntp-server.vpcflow.log')])
      expect(result.flows).toHaveLength(1)
      expect(result.flows[0]!.egressBytes).toBe(report.outbound.billableBytes)
      expect(await egressByPort(store)).toEqual(expected)
      const flows = await analyseFlows(store)
      expect(flows.service?.protocol).toBe('udp')
      expect(flows.service?.port).toBe(123)
      expect(flows.service?.uniqueClients).toBe(report.ntp.uniqueClients)
    })
  })
})

// ---- A labelled generator: records with known totals, written in every delivery form. ----

interface GenRecord {
  egress: boolean
  client: string
  hostPort: number
  clientPort: number
  proto: 6 | 17 | 1
  packets: number
  bytes: number
  end: number
  action: 'ACCEPT' | 'REJECT'
  status: 'NODATA' | 'OK' | 'SKIPDATA'
}

const HOST = '10.0.1.5'
const ENI = 'eni-0123456789abcdef0'

const recordArb: fc.Arbitrary<GenRecord> = fc.record({
  action: fc.constantFrom('ACCEPT', 'ACCEPT', 'ACCEPT', 'REJECT'),
  bytes: fc.integer({max: 10_000_000, min: 40}),
  client: fc.constantFrom('203.0.113.7', '198.51.100.9', '192.0.2.44', '2001:db8::5'),
  clientPort: fc.integer({max: 65_535, min: 1024}),
  egress: fc.boolean(),
  end: fc.integer({max: 1_400_000_000 + 5 * 86_400, min: 1_400_000_000}),
  hostPort: fc.constantFrom(22, 123, 443, 8080),
  packets: fc.integer({max: 10_000, min: 1}),
  proto: fc.constantFrom<6 | 17 | 1>(6, 17, 17, 1),
  status: fc.constantFrom('OK', 'OK', 'OK', 'OK', 'NODATA', 'SKIPDATA'),
})

/** The fields billwatch needs, plus a shuffled choice of the others, in any order. */
const formatArb = fc
  .tuple(
    fc.shuffledSubarray([
      'version',
      'account-id',
      'vpc-id',
      'instance-id',
      'tcp-flags',
      'type',
      'region',
      'pkt-src-aws-service',
      'traffic-path',
      'start',
      'packets',
      'action',
      'log-status',
      'ecs-task-id',
      'reject-reason',
    ]),
    fc.boolean(),
  )
  .chain(([extra, direction]) => {
    const fields = [
      ...extra,
      'interface-id',
      'srcaddr',
      'dstaddr',
      'srcport',
      'dstport',
      'protocol',
      'bytes',
      'end',
      ...(direction ? ['flow-direction'] : []),
    ]
    return fc.shuffledSubarray(fields, {minLength: fields.length})
  })

function fieldValue(field: string, r: GenRecord): string {
  const traffic = r.status === 'OK'
  const src = r.egress ? HOST : r.client
  const dst = r.egress ? r.client : HOST
  const ported = r.proto !== 1
  const sp = !ported ? 0 : r.egress ? r.hostPort : r.clientPort
  const dp = !ported ? 0 : r.egress ? r.clientPort : r.hostPort
  const values: Record<string, number | string> = {
    'account-id': '123456789012',
    action: traffic ? r.action : '-',
    bytes: r.bytes,
    dstaddr: dst,
    dstport: dp,
    'ecs-task-id': '-',
    end: r.end,
    'flow-direction': r.egress ? 'egress' : 'ingress',
    'instance-id': 'i-0abc',
    'interface-id': ENI,
    'log-status': r.status,
    packets: r.packets,
    'pkt-src-aws-service': '-',
    protocol: r.proto,
    region: 'us-east-1',
    'reject-reason': '-',
    srcaddr: src,
    srcport: sp,
    start: r.end - 50,
    'tcp-flags': r.proto === 6 ? 19 : '-',
    'traffic-path': r.egress ? 8 : '-',
    type: r.client.includes(':') ? 'IPv6' : 'IPv4',
    version: 5,
    'vpc-id': 'vpc-0abc',
  }
  // NODATA and SKIPDATA records carry '-' in every traffic field (AWS's examples).
  if (
    !traffic &&
    ![
      'version',
      'account-id',
      'interface-id',
      'end',
      'start',
      'log-status',
      'instance-id',
      'vpc-id',
      'region',
    ].includes(field)
  )
    return '-'
  return String(values[field])
}

/**
 * What billwatch must store: accepted OK egress by proto/port (the host's own port); IPv6 needs flow-direction or
 * --host.
 */
function expectedEgress(records: GenRecord[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const r of records) {
    if (r.status !== 'OK' || r.action !== 'ACCEPT' || !r.egress) continue
    const name = r.proto === 6 ? 'tcp' : r.proto === 17 ? 'udp' : 'icmp'
    const key = `${name}/${r.proto === 1 ? '-' : r.hostPort}`
    out[key] = (out[key] ?? 0) + r.bytes
  }
  return out
}

type Delivery = 'cloudwatch' | 'headerless' | 'parquet' | 's3-gzip' | 's3-text'

async function writeDelivery(
  kind: Delivery,
  format: string[],
  records: GenRecord[],
): Promise<{path: string; flowFormat?: string}> {
  const lines = records.map((r) => format.map((f) => fieldValue(f, r)).join(' '))
  const dir = fresh(kind)
  mkdirSync(dir, {recursive: true})
  if (kind === 's3-text') {
    writeFileSync(join(dir, 'x.log'), `${format.join(' ')}\n${lines.join('\n')}\n`)
    return {path: join(dir, 'x.log')}
  }
  if (kind === 's3-gzip') {
    // AWS's folder layout: the whole tree is read from its top.
    const day = join(dir, 'AWSLogs', '123456789012', 'vpcflowlogs', 'us-east-1', '2014', '05', '13')
    mkdirSync(day, {recursive: true})
    writeFileSync(
      join(day, '123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20140513T1620Z_fe123456.log.gz'),
      gzipSync(`${format.join(' ')}\n${lines.join('\n')}\n`),
    )
    return {path: dir}
  }
  if (kind === 'headerless') {
    writeFileSync(join(dir, 'firehose.log'), `${lines.join('\n')}\n`)
    return {flowFormat: format.map((f) => `\${${f}}`).join(' '), path: join(dir, 'firehose.log')}
  }
  if (kind === 'cloudwatch') {
    const events = records.map((r, i) =>
      JSON.stringify({
        ingestionTime: r.end * 1000 + 60_000,
        logStreamName: `${ENI}-all`,
        message: lines[i],
        timestamp: (r.end - 50) * 1000,
      }),
    )
    writeFileSync(join(dir, 'events.jsonl'), `${events.join('\n')}\n`)
    return {flowFormat: format.join(' '), path: join(dir, 'events.jsonl')}
  }
  // Parquet with Hive partitions, columns named with underscores as AWS's Parquet delivery does.
  const csv = join(dir, 'records.txt')
  writeFileSync(csv, `${format.join(' ')}\n${lines.join('\n')}\n`)
  const target = join(
    dir,
    'AWSLogs',
    'aws-account-id=123456789012',
    'aws-service=vpcflowlogs',
    'aws-region=us-east-1',
    'year=2014',
    'month=05',
    'day=13',
  )
  mkdirSync(target, {recursive: true})
  await withStore(async (store) => {
    const columns = format.map(
      (f) =>
        `NULLIF(${JSON.stringify(`c${format.indexOf(f)}`)}, '-')${['bytes', 'packets', 'end', 'start'].includes(f) ? '::BIGINT' : ['srcport', 'dstport', 'protocol'].includes(f) ? '::INTEGER' : ''} AS "${f.replaceAll('-', '_')}"`,
    )
    await store.run(`COPY (SELECT ${columns.join(', ')} FROM read_csv('${csv}', delim = ' ', header = true, quote = '', auto_detect = false, columns = {${format.map((_, i) => `'c${i}': 'VARCHAR'`).join(', ')}}))
      TO '${join(target, '123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20140513T1620Z_fe123456.log.parquet')}' (FORMAT parquet, COMPRESSION gzip)`)
  }, fresh('writer.duckdb'))
  return {path: join(dir, 'AWSLogs')}
}

describe('VPC Flow Logs in every delivery form', () => {
  it("stores exactly the accepted egress by the interface's own port; NODATA, SKIPDATA and REJECT are never egress", async () => {
    // Every delivery form each run (5 cases each under BILLWATCH_TEST_DEEP=1, 2 by default: test/helpers/property.ts).
    for (const kind of ['s3-text', 's3-gzip', 'headerless', 'cloudwatch', 'parquet'] as const satisfies Delivery[])
      await fc.assert(
        fc.asyncProperty(formatArb, fc.array(recordArb, {maxLength: 40, minLength: 1}), async (format, records) => {
          // At least one traffic record, so the file is not all NODATA. Without a log-status (or action)
          // field every record is traffic (accepted): AWS writes no NODATA record in such a format.
          records[0]!.status = 'OK'
          if (!format.includes('log-status')) for (const r of records) r.status = 'OK'
          if (!format.includes('action')) for (const r of records) r.action = 'ACCEPT'
          const {path, flowFormat} = await writeDelivery(kind, format, records)
          await withStore(async (store) => {
            const result = await ingestFiles(store, [path], {
              flows: {
                host: HOST,
                ...(flowFormat ? {format: flowFormat.split(' ').map((t) => t.replace(/^\$\{|\}$/g, ''))} : {}),
              },
            })
            expect(result.flows.length).toBe(1)
            const flow = result.flows[0]!
            expect(flow.records).toBe(records.length)
            if (format.includes('log-status')) {
              expect(flow.nodataRecords).toBe(records.filter((r) => r.status === 'NODATA').length)
              expect(flow.skipdataRecords).toBe(records.filter((r) => r.status === 'SKIPDATA').length)
            }
            expect(await egressByPort(store)).toEqual(expectedEgress(records))
            // Per-client totals (kept per calendar month; these records fall in one): each client's accepted egress.
            const clients = await store.all<{client: string; bytes: number}>(
              `SELECT client, sum(bytes) AS bytes FROM flow_clients WHERE direction = 'egress' GROUP BY ALL`,
            )
            const want: Record<string, number> = {}
            for (const r of records)
              if (r.status === 'OK' && r.action === 'ACCEPT' && r.egress)
                want[r.client] = (want[r.client] ?? 0) + r.bytes
            expect(Object.fromEntries(clients.map((c) => [c.client, c.bytes]))).toEqual(want)
          })
        }),
        {numRuns: propertyRuns(5, 2)},
      )
    // 25 ingests into real stores under BILLWATCH_TEST_DEEP=1: about 40 s on a quiet machine.
  }, 300_000)

  it('reads a default-format CloudWatch Logs export without --flow-format, and refuses a custom one without it', async () => {
    const dir = fresh('cw')
    mkdirSync(dir)
    const line =
      '2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.5 123 40000 17 3 228 1418530010 1418530070 ACCEPT OK'
    writeFileSync(join(dir, 'default.jsonl'), `${JSON.stringify({message: line, timestamp: 1418530010000})}\n`)
    writeFileSync(
      join(dir, 'custom.jsonl'),
      `${JSON.stringify({message: 'eni-1235b8ca123456789 172.31.16.139 203.0.113.5 123 40000 17 228 1418530070'})}\n`,
    )
    await withStore(async (store) => {
      const result = await ingestFiles(store, [join(dir, 'default.jsonl')])
      expect(result.flows[0]!.egressBytes).toBe(228)
      await expect(ingestFiles(store, [join(dir, 'custom.jsonl')])).rejects.toThrow(/--flow-format/)
    })
    expect(DEFAULT_VPC_FORMAT).toHaveLength(14)
  })
})

describe('broken flow records', () => {
  /** A store holding the sample capture's flow log, ingested once: each case below starts from a copy of it. */
  const withSample = fresh('sample.duckdb')
  beforeAll(() =>
    withStore(async (store) => {
      await ingestFiles(store, [join(SAMPLES, 'captures', 'ntp-server.vpcflow.log')])
    }, withSample),
  )
  const header =
    'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status'
  const good =
    '2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.5 123 40000 17 3 228 1418530010 1418530070 ACCEPT OK'

  it.each([
    ['a number that is not one', `${header}\n${good}\n${good.replace(' 228 ', ' 22x8 ')}\n`, 3, 'bytes'],
    [
      'a record with fields missing',
      `${header}\n${good}\n${good}\n${good.split(' ').slice(0, 9).join(' ')}\n`,
      4,
      undefined,
    ],
    ['an unknown log-status', `${header}\n${good.replace(' OK', ' MAYBE')}\n`, 2, 'log-status'],
    ['a negative port', `${header}\n${good}\n${good.replace(' 40000 ', ' -4 ')}\n`, 3, 'dstport'],
    ['a number past 18 digits', `${header}\n${good}\n${good.replace(' 228 ', ' 99999999999999999999 ')}\n`, 3, 'bytes'],
    [
      'a NODATA record with something else than - or a number',
      `${header}\n${good}\n${good}\n2 123456789010 eni-1235b8ca123456789 - - - - - - x 1418530010 1418530070 - NODATA\n`,
      4,
      'bytes',
    ],
  ])('%s: names file and line, and the store is unchanged (gzip too)', async (_, text, line, field) => {
    const db = fresh('store.duckdb')
    copyFileSync(withSample, db)
    const before = await storeSnapshot(db)
    for (const gz of [false, true]) {
      const path = fresh(gz ? 'bad.log.gz' : 'bad.log')
      writeFileSync(path, gz ? gzipSync(text) : text)
      const error = await withStore(
        async (store) =>
          ingestFiles(store, [path]).then(
            () => undefined,
            (e: unknown) => e,
          ),
        db,
      )
      expect(error).toBeInstanceOf(BillwatchError)
      const located = error as BillwatchError
      expect(located.file).toBe(path)
      expect(located.line).toBe(line)
      if (field) expect(located.field).toBe(field)
      expect(await storeSnapshot(db)).toBe(before)
    }
  })

  it('the CLI says it in one line and exits 1; re-ingesting a good file is a no-op', async () => {
    const db = fresh('cli.duckdb')
    const bad = fresh('bad.log')
    writeFileSync(bad, `${header}\n${good}\n${good.replace(' 17 ', ' udp ')}\n`)
    const failed = await runCli(['ingest', bad, '--db', db])
    expect(failed.code).toBe(1)
    expect(failed.stderr.trim().split('\n')[0]).toMatch(
      new RegExp(`${bad.replaceAll('.', '\\.')}:3: column "protocol"`),
    )
    const sample = join(SAMPLES, 'captures', 'ntp-server.vpcflow.log')
    const first = (await runCli(['ingest', sample, '--db', db, '--json'])).json()
    const again = (await runCli(['ingest', sample, '--db', db, '--json'])).json()
    expect(first.flows[0].status).toBe('ingested')
    expect(again.flows[0].status).toBe('unchanged')
    const flows = (await runCli(['flows', '--db', db, '--json'])).json()
    expect(flows.egressBytes).toBe(first.flows[0].egressBytes)
    expect(readFileSync(sample, 'utf8').split('\n')[0]).toContain('flow-direction')
  }, 240_000)
})
