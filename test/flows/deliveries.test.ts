/**
 * The same flow records delivered twice never count twice: x.log beside x.log.gz, one file named
 * twice, a re-ingest, and an S3 delivery (several part files) beside a CloudWatch Logs export of the
 * same interface, in any order and in one call or several.
 */
import {copyFileSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'

import fc from 'fast-check'
import {afterAll, describe, expect, it} from 'vitest'

import {analyseFlows} from '../../src/flows/report.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {Store} from '../../src/store/index.js'
import {tempDir} from '../helpers/cli.js'
import {storeSnapshot} from '../helpers/store-snapshot.js'
import {propertyRuns} from '../helpers/property.js'
import {withStore as withStoreAt} from '../helpers/temp-store.js'

const tmp = tempDir('billwatch-deliveries-')
afterAll(() => tmp.cleanup())
let counter = 0
const fresh = (name: string) => join(tmp.dir, `${++counter}-${name}`)

const HEADER =
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status'
const HOST = '10.0.1.5'
const START = Date.UTC(2014, 2, 30) / 1000

interface Rec {
  eni: string
  client: string
  egress: boolean
  port: 22 | 123 | 443
  bytes: number
  /** Seconds after START (over four days, across a month's end). */
  at: number
  nodata: boolean
}

const recArb: fc.Arbitrary<Rec> = fc.record({
  at: fc.integer({max: 4 * 86_400 - 1, min: 60}),
  bytes: fc.integer({max: 1_000_000, min: 40}),
  client: fc.constantFrom('203.0.113.7', '198.51.100.9', '192.0.2.44', '203.0.113.200'),
  egress: fc.boolean(),
  eni: fc.constantFrom('eni-0aaaaaaaaaaaaaaa1', 'eni-0aaaaaaaaaaaaaaa1', 'eni-0bbbbbbbbbbbbbbb2'),
  nodata: fc.integer({max: 4, min: 0}).map((n) => n === 0),
  port: fc.constantFrom<22 | 123 | 443>(22, 123, 123, 443),
})

function line(r: Rec): string {
  const end = START + r.at
  if (r.nodata) return `2 123456789012 ${r.eni} - - - - - - - ${end - 60} ${end} - NODATA`
  const [src, dst, sp, dp] = r.egress ? [HOST, r.client, r.port, 40_000] : [r.client, HOST, 40_000, r.port]
  return `2 123456789012 ${r.eni} ${src} ${dst} ${sp} ${dp} ${r.port === 123 ? 17 : 6} 1 ${r.bytes} ${end - 50} ${end} ACCEPT OK`
}

/** S3 delivery: one part file per six hours of record ends, each with the header line, gzipped, in AWS's layout. */
function writeS3(dir: string, records: Rec[]): void {
  const parts = new Map<number, Rec[]>()
  for (const r of records) parts.set(Math.floor(r.at / 21_600), [...(parts.get(Math.floor(r.at / 21_600)) ?? []), r])
  for (const [part, recs] of parts) {
    const when = new Date((START + part * 21_600) * 1000)
    const day = join(
      dir,
      'AWSLogs',
      '123456789012',
      'vpcflowlogs',
      'us-east-1',
      ...when.toISOString().slice(0, 10).split('-'),
    )
    mkdirSync(day, {recursive: true})
    const stamp = when.toISOString().replaceAll(/[-:]/g, '').slice(0, 13)
    writeFileSync(
      join(day, `123456789012_vpcflowlogs_us-east-1_fl-1234abcd_${stamp}Z_${part}.log.gz`),
      gzipSync(`${HEADER}\n${recs.map(line).join('\n')}\n`),
    )
  }
}

/** CloudWatch Logs export of the same records: JSON events whose message is the record (default format). */
function writeCloudWatch(path: string, records: Rec[]): void {
  writeFileSync(
    path,
    `${records.map((r) => JSON.stringify({logStreamName: `${r.eni}-all`, message: line(r), timestamp: (START + r.at - 50) * 1000})).join('\n')}\n`,
  )
}

/** A fresh store (or the one at `path`) for `fn`. */
const withStore = <T>(fn: (store: Store) => Promise<T>, path = fresh('store.duckdb')): Promise<T> =>
  withStoreAt(path, fn)

/** What every analysis reads: accepted egress by interface and port, records (NODATA too), clients' egress. */
async function counted(
  store: Store,
): Promise<{egress: Record<string, number>; records: number; clients: Record<string, number>}> {
  const egress = await store.all<{k: string; b: number}>(
    `SELECT interface || ' ' || protocol || '/' || port AS k, sum(bytes) AS b FROM flow_daily_counted WHERE direction = 'egress' AND action = 'ACCEPT' GROUP BY ALL`,
  )
  const records = await store.one<{n: number}>(
    `SELECT ((SELECT coalesce(sum(records), 0) FROM flow_daily_counted) + (SELECT coalesce(sum(records), 0) FROM flow_status_counted))::INTEGER AS n`,
  )
  const clients = await store.all<{k: string; b: number}>(
    `SELECT interface || ' ' || client || ' ' || strftime(month, '%Y-%m') AS k, sum(bytes) AS b FROM flow_clients_counted WHERE direction = 'egress' GROUP BY ALL`,
  )
  return {
    clients: Object.fromEntries(clients.map((r) => [r.k, r.b])),
    egress: Object.fromEntries(egress.map((r) => [r.k, r.b])),
    records: records?.n ?? 0,
  }
}

function expected(records: Rec[]): {egress: Record<string, number>; records: number; clients: Record<string, number>} {
  const egress: Record<string, number> = {}
  const clients: Record<string, number> = {}
  for (const r of records) {
    if (r.nodata || !r.egress) continue
    const k = `${r.eni} ${r.port === 123 ? 'udp' : 'tcp'}/${r.port}`
    egress[k] = (egress[k] ?? 0) + r.bytes
    const c = `${r.eni} ${r.client} ${new Date((START + r.at) * 1000).toISOString().slice(0, 7)}`
    clients[c] = (clients[c] ?? 0) + r.bytes
  }
  return {clients, egress, records: records.length}
}

describe('the same flow records delivered twice count once', () => {
  it('an S3 delivery and a CloudWatch Logs export of the same interface, in either order, one call or two', async () => {
    // Every order each run (3 cases each under BILLWATCH_TEST_DEEP=1, 1 by default: test/helpers/property.ts).
    for (const order of ['one call, S3 first', 'one call, export first', 'S3 then export', 'export then S3'])
      await fc.assert(
        fc.asyncProperty(fc.array(recArb, {maxLength: 60, minLength: 1}), async (records) => {
          records[0]!.nodata = false
          const dir = fresh('delivery')
          mkdirSync(dir)
          writeS3(dir, records)
          const export_ = join(dir, 'z-cloudwatch-export.jsonl')
          writeCloudWatch(export_, records)
          const truth = expected(records)
          await withStore(async (store) => {
            if (order === 'one call, S3 first') await ingestFiles(store, [join(dir, 'AWSLogs'), export_])
            else if (order === 'one call, export first') await ingestFiles(store, [export_, join(dir, 'AWSLogs')])
            else if (order === 'S3 then export') {
              await ingestFiles(store, [join(dir, 'AWSLogs')])
              await ingestFiles(store, [export_])
            } else {
              await ingestFiles(store, [export_])
              await ingestFiles(store, [join(dir, 'AWSLogs')])
            }
            expect(await counted(store)).toEqual(truth)
            const report = await analyseFlows(store, {interface: records.find((r) => !r.nodata)!.eni})
            expect(report.sources.length).toBeGreaterThan(0)
          })
        }),
        {numRuns: propertyRuns(3, 1)},
      )
  }, 300_000)

  it('a fuller delivery counts where the other covers only some of the days', async () => {
    const records: Rec[] = Array.from({length: 48}, (_, i) => ({
      at: i * 7200 + 60,
      bytes: 1000 + i,
      client: '203.0.113.7',
      egress: i % 3 !== 0,
      eni: 'eni-0aaaaaaaaaaaaaaa1',
      nodata: false,
      port: 123,
    }))
    const dir = fresh('partial')
    mkdirSync(dir)
    writeS3(dir, records)
    // The export holds only the first day and a half: every day it has, the S3 delivery has too.
    const partial = join(dir, 'partial-export.jsonl')
    writeCloudWatch(partial, records.slice(0, 18))
    for (const paths of [
      [partial, join(dir, 'AWSLogs')],
      [join(dir, 'AWSLogs'), partial],
    ]) {
      await withStore(async (store) => {
        await ingestFiles(store, paths)
        expect(await counted(store)).toEqual(expected(records))
      })
    }
  })

  it('x.log beside x.log.gz, a file named twice, and a re-ingest: one source, counted once, the store unchanged', async () => {
    const records: Rec[] = Array.from({length: 30}, (_, i) => ({
      at: i * 3000 + 60,
      bytes: 500 + i,
      client: i % 2 ? '198.51.100.9' : '203.0.113.7',
      egress: i % 2 === 0,
      eni: 'eni-0aaaaaaaaaaaaaaa1',
      nodata: i === 7,
      port: 123,
    }))
    const dir = fresh('twins')
    mkdirSync(dir)
    const text = `${HEADER}\n${records.map(line).join('\n')}\n`
    writeFileSync(join(dir, 'x.log'), text)
    writeFileSync(join(dir, 'x.log.gz'), gzipSync(text))
    const db = fresh('store.duckdb')
    await withStore(async (store) => {
      const result = await ingestFiles(store, [dir])
      expect(result.flows.map((f) => f.status)).toEqual(['ingested', 'unchanged'])
      expect(await counted(store)).toEqual(expected(records))
      const twice = await ingestFiles(store, [join(dir, 'x.log'), join(dir, 'x.log')])
      expect(twice.flows.map((f) => f.status)).toEqual(['unchanged', 'unchanged'])
    }, db)
    const before = await storeSnapshot(db)
    // A copy under another name, in another call: the same content, a no-op.
    copyFileSync(join(dir, 'x.log.gz'), join(dir, 'copy.log.gz'))
    await withStore(async (store) => {
      const again = await ingestFiles(store, [join(dir, 'copy.log.gz'), join(dir, 'x.log')])
      expect(again.flows.map((f) => f.status)).toEqual(['unchanged', 'unchanged'])
    }, db)
    expect(await storeSnapshot(db)).toBe(before)
  })

  it('two interfaces in two deliveries are not the same records: both count', async () => {
    const a: Rec[] = [
      {
        at: 600,
        bytes: 1234,
        client: '203.0.113.7',
        egress: true,
        eni: 'eni-0aaaaaaaaaaaaaaa1',
        nodata: false,
        port: 123,
      },
    ]
    const b: Rec[] = [
      {
        at: 600,
        bytes: 4321,
        client: '203.0.113.7',
        egress: true,
        eni: 'eni-0bbbbbbbbbbbbbbb2',
        nodata: false,
        port: 123,
      },
    ]
    const dir = fresh('two')
    mkdirSync(dir)
    writeS3(dir, a)
    writeCloudWatch(join(dir, 'b.jsonl'), b)
    await withStore(async (store) => {
      await ingestFiles(store, [join(dir, 'AWSLogs'), join(dir, 'b.jsonl')])
      expect(await counted(store)).toEqual(expected([...a, ...b]))
    })
  })
})
