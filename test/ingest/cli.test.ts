import {copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'

import {DuckDBInstance} from '@duckdb/node-api'
import Papa from 'papaparse'
import {afterAll, describe, expect, it} from 'vitest'

import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'
import {storeSnapshot} from '../helpers/store-snapshot.js'

const BILLING = join(SAMPLES, 'billing')
const LEGACY = join(BILLING, 'usage-report-ec2-2013-06-01_2014-06-01.csv')
const CUR1 = join(BILLING, 'cur1-hourly-2014-03.csv.gz')
const CUR2 = join(BILLING, 'cur2-daily-2014-04.parquet')
const FOCUS = join(BILLING, 'focus1-daily-2014-05.csv')
const GB = 2 ** 30

/** A deliberately naive CSV reader: the samples quote no commas inside the columns summed here. */
function csvRows(text: string): Record<string, string>[] {
  const [head, ...lines] = text.trim().split('\n')
  const names = head!.split(',').map((h) => h.trim())
  return lines
    .filter((l) => l.replaceAll(',', '').trim() !== '')
    .map((line) => {
      const cells =
        line.match(/("([^"]|"")*"|[^,]*)(,|$)/g)?.map((c) => c.replace(/,$/, '').replace(/^"|"$/g, '')) ?? []
      return Object.fromEntries(names.map((n, i) => [n, cells[i] ?? '']))
    })
}

interface Expected {
  format: string
  firstDay: string
  lastDay: string
  days: number
  lineItems: number
  bytes: number
  costUsd: number
}

/** What each sample holds, computed here without billwatch's code. */
async function expectedFromFiles(): Promise<Record<string, Expected>> {
  const legacy = csvRows(readFileSync(LEGACY, 'utf8'))
  const legacyDays = new Set(legacy.map((r) => r.StartTime?.slice(0, 8)))
  const cur1 = csvRows(gunzipSync(readFileSync(CUR1)).toString('utf8'))
  const cur1Usage = cur1.filter((r) => r['lineItem/LineItemType'] === 'Usage')
  const focus = csvRows(readFileSync(FOCUS, 'utf8'))
  const instance = await DuckDBInstance.create(':memory:')
  const db = await instance.connect()
  const cur2 = (
    await db.runAndReadAll(`SELECT count(*)::INTEGER AS n, count(DISTINCT CAST(line_item_usage_start_date AS DATE))::INTEGER AS days,
      sum(line_item_usage_amount) FILTER (WHERE line_item_usage_type LIKE '%Bytes') AS gb, sum(line_item_unblended_cost) AS cost
      FROM read_parquet('${CUR2}')`)
  ).getRowObjectsJS()[0] as {n: number; days: number; gb: number; cost: number}
  db.closeSync()
  instance.closeSync()
  const sum = (rows: Record<string, string>[], pick: (r: Record<string, string>) => number) =>
    rows.reduce((a, r) => a + pick(r), 0)
  return {
    [CUR1]: {
      bytes: sum(
        cur1Usage.filter((r) => r['lineItem/UsageType']?.endsWith('Bytes')),
        (r) => Number(r['lineItem/UsageAmount']) * GB,
      ),
      costUsd: sum(cur1Usage, (r) => Number(r['lineItem/UnblendedCost'])),
      days: new Set(cur1Usage.map((r) => r['lineItem/UsageStartDate']?.slice(0, 10))).size,
      firstDay: '2014-03-01',
      format: 'cur1',
      lastDay: '2014-03-31',
      lineItems: cur1.length,
    },
    [CUR2]: {
      bytes: cur2.gb * GB,
      costUsd: cur2.cost,
      days: cur2.days,
      firstDay: '2014-04-01',
      format: 'cur2',
      lastDay: '2014-04-30',
      lineItems: cur2.n,
    },
    [FOCUS]: {
      bytes: sum(
        focus.filter((r) => r.x_UsageType?.endsWith('Bytes')),
        (r) => Number(r.ConsumedQuantity) * GB,
      ),
      costUsd: sum(focus, (r) => Number(r.BilledCost)),
      days: new Set(focus.map((r) => r.ChargePeriodStart?.slice(0, 10))).size,
      firstDay: '2014-05-01',
      format: 'focus',
      lastDay: '2014-05-31',
      lineItems: focus.length,
    },
    [LEGACY]: {
      bytes: sum(
        legacy.filter((r) => r.UsageType?.endsWith('Bytes')),
        (r) => Number(r.UsageValue),
      ),
      costUsd: 0,
      days: legacyDays.size,
      firstDay: '2013-06-01',
      format: 'usage-report',
      lastDay: '2014-05-31',
      lineItems: legacy.length,
    },
  }
}

describe('billwatch ingest on the bundled samples', () => {
  const tmp = tempDir()
  const db = join(tmp.dir, 'store.duckdb')
  afterAll(() => tmp.cleanup())

  it('ingests samples/* (what the shell expands it to): every export, each format detected, the rest skipped', async () => {
    const everything = readdirSync(SAMPLES)
      .sort()
      .map((name) => join(SAMPLES, name))
    const ingest = await runCli(['ingest', ...everything, '--db', db, '--json'])
    expect(ingest.code).toBe(0)
    const result = ingest.json<{
      files: {path: string; format: string; status: string}[]
      skipped: {path: string; reason: string}[]
    }>()
    expect(result.files.map((f) => [f.path, f.format, f.status])).toEqual([
      [CUR1, 'cur1', 'ingested'],
      [CUR2, 'cur2', 'ingested'],
      [FOCUS, 'focus', 'ingested'],
      [LEGACY, 'usage-report', 'ingested'],
    ])
    // The captures and scripts beside the exports are skipped, each with why; nothing else is.
    expect(result.skipped.map((s) => s.path.slice(SAMPLES.length + 1))).toEqual(
      expect.arrayContaining([
        'captures/ntp-control.pcap',
        'captures/ntp-server.pcap',
        'scripts/demo.sh',
        'scripts/make-etc-repo.sh',
      ]),
    )
    expect(result.skipped.find((s) => s.path.endsWith('ntp-server.pcap'))?.reason).toBe(
      'this is a packet capture, not a billing export',
    )

    const status = await runCli(['status', '--db', db, '--json'])
    expect(status.code).toBe(0)
    const expected = await expectedFromFiles()
    const sources = status.json().sources as (Expected & {path: string; amountBytes: number})[]
    expect(sources).toHaveLength(4)
    for (const source of sources) {
      const want = expected[source.path]!
      expect(source).toMatchObject({
        days: want.days,
        firstDay: want.firstDay,
        format: want.format,
        lastDay: want.lastDay,
        lineItems: want.lineItems,
      })
      expect(source.amountBytes).toBeCloseTo(want.bytes, -3)
      // Every sample bills in USD; the cost is the usage lines' (the CUR's tax line is a charge, apart).
      expect((source as unknown as {currency: string}).currency).toBe(want.costUsd === 0 ? null : 'USD')
      expect((source as unknown as {cost: number}).cost).toBeCloseTo(want.costUsd, 6)
    }
    // The legacy report and the three 2014 exports overlap; each day is counted once.
    expect(status.json()).toMatchObject({days: 365, firstDay: '2013-06-01', lastDay: '2014-05-31'})
  })

  it('prints the line items with thousands separators, like every other count', async () => {
    const human = join(tmp.dir, 'human.duckdb')
    const ingest = await runCli(['ingest', CUR1, '--db', human])
    expect(ingest.code).toBe(0)
    const items = (await expectedFromFiles())[CUR1]!.lineItems
    expect(items).toBeGreaterThan(999)
    const row = new RegExp(
      `^ingested\\s+cur1 \\(csv\\.gz\\)\\s+2014-03-01\\s+2014-03-31\\s+31\\s+${items.toLocaleString('en-US')}\\s+${CUR1}$`,
      'm',
    )
    expect(ingest.stdout).toMatch(row)
    const status = await runCli(['status', '--db', human])
    expect(status.stdout).toMatch(
      new RegExp(`^1\\s+cur1\\s+2014-03-01\\s+2014-03-31\\s+31\\s+${items.toLocaleString('en-US')}\\s+${CUR1}$`, 'm'),
    )
  })

  it('treats re-ingesting the same files as a no-op', async () => {
    const before = await storeSnapshot(db)
    const again = await runCli(['ingest', LEGACY, CUR1, '--db', db, '--json'])
    expect(again.code).toBe(0)
    expect((again.json().files as {status: string}[]).map((f) => f.status)).toEqual(['unchanged', 'unchanged'])
    expect(await storeSnapshot(db)).toBe(before)
  })

  describe('bad input: one located error line, non-zero exit, store exactly as it was', () => {
    const bad = tempDir()
    afterAll(() => bad.cleanup())
    const header = 'Service, Operation, UsageType, Resource, StartTime, EndTime, UsageValue'
    const row = (start: string, value: string) =>
      `AmazonEC2,RunInstances,DataTransfer-Out-Bytes,,${start},03/31/14 00:00:00,${value}`
    const curHeader = gunzipSync(readFileSync(CUR1)).toString('utf8').split('\n')[0]!
    const focusHeader = readFileSync(FOCUS, 'utf8').split('\n')[0]!
    const cases: {name: string; file: string; content: Buffer | string; code: string; message: string}[] = [
      {
        code: 'E_EMPTY',
        content: '',
        file: 'empty.csv',
        message: 'empty.csv: file is empty, expected an AWS usage or billing export',
        name: 'an empty file',
      },
      {
        code: 'E_HEADER',
        content: 'date,bytes\n2014-03-30,1\n',
        file: 'unknown.csv',
        message: 'unknown.csv:1: unknown header, expected a legacy Usage Report',
        name: 'an unknown header',
      },
      {
        code: 'E_HEADER',
        content:
          'Service, Operation, UsageType, Resource, StartTime, EndTime\nAmazonEC2,RunInstances,X,,03/30/14 00:00:00,03/31/14 00:00:00\n',
        file: 'missing.csv',
        message: 'missing.csv:1: column "UsageValue": missing required column',
        name: 'a missing required column',
      },
      {
        code: 'E_VALUE',
        content: `${header}\n${row('03/29/14 00:00:00', '17')}\n${row('03/30/14 00:00:00', 'n/a')}\n`,
        file: 'nan.csv',
        message: 'nan.csv:3: column "UsageValue": expected a number, got a value shaped "a/a"',
        name: 'a non-number at line 3',
      },
      {
        code: 'E_VALUE',
        content: `${header}\n${row('02/30/14 00:00:00', '17')}\n`,
        file: 'date.csv',
        message:
          'date.csv:2: column "StartTime": expected a date like 03/30/14 00:00:00, got a value shaped "99/99/99 99:99:99"',
        name: 'an impossible date',
      },
      {
        code: 'E_TRUNCATED',
        content: readFileSync(CUR1).subarray(0, 40_000),
        file: 'cut.csv.gz',
        message: 'cut.csv.gz: gzip stream is truncated or corrupt',
        name: 'a truncated .gz',
      },
      {
        code: 'E_FORMAT',
        content: Buffer.from(Array.from({length: 4096}, (_, i) => (i * 7919) % 256)),
        file: 'binary.csv',
        message: 'binary.csv: binary content, expected a CSV',
        name: 'a binary file renamed .csv',
      },
      {
        code: 'E_EMPTY',
        content: `${curHeader}\n`,
        file: 'cur-header.csv',
        message: 'cur-header.csv: no line items after the header',
        name: 'a CUR 1.0 CSV with only its header',
      },
      {
        code: 'E_EMPTY',
        content: `${focusHeader}\n`,
        file: 'focus-header.csv',
        message: 'focus-header.csv: no line items after the header',
        name: 'a FOCUS CSV with only its header',
      },
    ]
    for (const c of cases) {
      it(`rejects ${c.name}`, async () => {
        const path = join(bad.dir, c.file)
        writeFileSync(path, c.content)
        const before = await storeSnapshot(db)
        // The --json run beside it, on a copy of the same store.
        const copy = join(bad.dir, `${c.file}.duckdb`)
        copyFileSync(db, copy)
        const [result, json] = await Promise.all([
          // The good file first: it must not land either, since the call is one transaction.
          runCli(['ingest', join(BILLING, 'focus1-daily-2014-05.csv'), path, '--db', db]),
          runCli(['ingest', path, '--db', copy, '--json']),
        ])
        expect(result.code).toBe(1)
        const lines = result.stderr.trim().split('\n')
        expect(lines[0]).toContain(`billwatch: ${path.replace(c.file, '')}${c.message}`)
        expect(await storeSnapshot(db)).toBe(before)
        expect(json.code).toBe(1)
        expect(json.json().error.code).toBe(c.code)
      })
    }

    it('fails on a broken export inside a named directory too (only non-exports are skipped there)', async () => {
      const folder = join(bad.dir, 'exports')
      mkdirSync(folder, {recursive: true})
      writeFileSync(join(folder, 'part.csv.gz'), readFileSync(CUR1).subarray(0, 40_000))
      writeFileSync(join(folder, 'notes.txt'), 'monthly exports from the payer account\n')
      const before = await storeSnapshot(db)
      const result = await runCli(['ingest', folder, '--db', db, '--json'])
      expect(result.code).toBe(1)
      expect(result.json().error).toMatchObject({code: 'E_TRUNCATED', file: join(folder, 'part.csv.gz')})
      expect(await storeSnapshot(db)).toBe(before)
    })

    it('skips a header-only export inside a named directory, saying why', async () => {
      const folder = join(bad.dir, 'header-only')
      mkdirSync(folder, {recursive: true})
      writeFileSync(join(folder, 'cur.csv'), `${curHeader}\n`)
      const before = await storeSnapshot(db)
      const result = await runCli(['ingest', folder, '--db', db, '--json'])
      expect(result.code).toBe(0)
      expect(result.json()).toMatchObject({
        files: [],
        skipped: [{path: join(folder, 'cur.csv'), reason: 'no line items after the header'}],
      })
      expect(await storeSnapshot(db)).toBe(before)
    })

    it('rejects a bad number inside a CUR file with its line and column', async () => {
      const rows = Papa.parse<string[]>(gunzipSync(readFileSync(CUR1)).toString('utf8').trim()).data
      const amount = rows[0]!.indexOf('lineItem/UsageAmount')
      rows[41]![amount] = 'twelve'
      const path = join(bad.dir, 'cur-bad.csv')
      writeFileSync(path, Papa.unparse(rows))
      const before = await storeSnapshot(db)
      const result = await runCli(['ingest', path, '--db', db, '--json'])
      expect(result.code).toBe(1)
      expect(result.json().error).toMatchObject({
        code: 'E_VALUE',
        field: 'lineItem/UsageAmount',
        file: path,
        got: 'a value shaped "aaaaaa"',
        line: 42,
      })
      expect(await storeSnapshot(db)).toBe(before)
    })
  })
})
