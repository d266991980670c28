/**
 * Issue 20, the content of billing files: damaged .gz, usage counted twice, manifest keys out of
 * their folder, values no bill can hold, bytes that are not UTF-8 and lenient CSV. Each class is
 * driven by the labelled generators in ./generators.ts against a real DuckDB store.
 */
import {mkdirSync, symlinkSync, utimesSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'

import fc from 'fast-check'
import {beforeEach, describe, expect, it} from 'vitest'

import {BillwatchError} from '../../src/errors.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {parseUsageReport} from '../../src/ingest/usage-report.js'
import {usageProblem, usageProblemSql} from '../../src/ingest/validate.js'
import {writeUsage} from '../../src/store/usage-import.js'
import {Store} from '../../src/store/index.js'
import {runCli} from '../helpers/cli.js'
import {propertyRuns} from '../helpers/property.js'
import {storeSnapshot} from '../helpers/store-snapshot.js'
import {useTempStore} from '../helpers/temp-store.js'
import {
  BAD_VALUES,
  csv,
  expectedBytes,
  FIELDS,
  FOCUS_HEADER,
  type Format,
  GB,
  LEGACY_HEADER,
  type Line,
  linesArb,
  NOT_UTF8,
  table,
} from './generators.js'

const temp = useTempStore()
let store: Store
let fileCounter = 0
beforeEach(() => {
  store = temp.store
})
const write = (name: string, content: Buffer | string) => temp.write(`${++fileCounter}-${name}`, content)
const snapshot = () => storeSnapshot(store)

/** Bytes per (usage type, day) in the store, as the reading commands see them. */
async function storedBytes(): Promise<Map<string, number>> {
  const rows = await store.all<{key: string; bytes: number}>(
    `SELECT usage_type || ' ' || strftime(day, '%Y-%m-%d') AS key, sum(amount) AS bytes FROM usage GROUP BY ALL`,
  )
  return new Map(rows.map((r) => [r.key, r.bytes]))
}

function expectSameBytes(actual: Map<string, number>, expected: Map<string, number>): void {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort())
  for (const [key, bytes] of expected) expect(actual.get(key)).toBeCloseTo(bytes, -2)
}

async function failure(paths: string[]): Promise<BillwatchError> {
  const error = await ingestFiles(store, paths).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(BillwatchError)
  return error as BillwatchError
}

function inflatesTo(bad: Buffer, gz: Buffer): boolean {
  try {
    return gunzipSync(bad).equals(gunzipSync(gz))
  } catch {
    return false
  }
}

const GOOD: Line[] = [{cost: 0.09, day: 4, gb: 1, hour: 0, resource: 'i-0aaa', usageType: 'DataTransfer-Out-Bytes'}]

describe('item 3: a damaged .gz is one located error, the store unchanged', () => {
  const damage = fc.oneof(
    fc.record({at: fc.double({max: 0.999, min: 0, noNaN: true}), kind: fc.constant('truncate' as const)}),
    fc.record({
      at: fc.double({max: 0.999, min: 0, noNaN: true}),
      bit: fc.integer({max: 7, min: 0}),
      kind: fc.constant('flip' as const),
    }),
    fc.record({bit: fc.integer({max: 31, min: 0}), kind: fc.constant('crc' as const)}),
    fc.record({
      garbage: fc.uint8Array({maxLength: 64, minLength: 1}).filter((g) => g[0] !== 0x1f),
      kind: fc.constant('trailing' as const),
    }),
  )
  it('truncated, flipped bits, bad CRC, trailing garbage: E_TRUNCATED naming the file, never an unhandled rejection', async () => {
    await fc.assert(
      fc.asyncProperty(
        linesArb,
        fc.constantFrom<Format>('cur1', 'focus', 'usage-report'),
        damage,
        async (lines, format, d) => {
          const gz = gzipSync(csv(table(format, lines)))
          const body = gz.length - 8 - 10
          let bad: Buffer
          if (d.kind === 'truncate') bad = gz.subarray(0, 10 + Math.floor(d.at * (gz.length - 10)))
          else if (d.kind === 'flip') {
            bad = Buffer.from(gz)
            const at = 10 + Math.floor(d.at * body)
            bad[at] = bad[at]! ^ (1 << d.bit)
          } else if (d.kind === 'crc') {
            bad = Buffer.from(gz)
            const at = gz.length - 8 + Math.floor(d.bit / 8)
            bad[at] = bad[at]! ^ (1 << (d.bit % 8))
          } else bad = Buffer.concat([gz, d.garbage])
          // A flip in the unused bits after the last block changes nothing: that file is still good.
          fc.pre(!inflatesTo(bad, gz))
          const good = write('good.csv', csv(table('cur1', GOOD)))
          const path = write('bad.csv.gz', bad)
          const before = await snapshot()
          const error = await failure([good, path])
          expect(error.file).toBe(path)
          // A flip can also land where the data still inflates; then the checksum or the content says so.
          expect(['E_TRUNCATED', 'E_FORMAT', 'E_VALUE', 'E_EMPTY', 'E_HEADER']).toContain(error.code)
          if (d.kind !== 'flip') expect(error.code).toBe('E_TRUNCATED')
          expect(error.message).not.toMatch(/\n/)
          expect(await snapshot()).toBe(before)
        },
      ),
      {numRuns: propertyRuns(80, 25)},
    )
  })

  it('refuses a gzip bomb by its inflation ratio, and reads a legitimately well-compressed export', async () => {
    const header = table('cur1', GOOD).map((r) => r.join(','))
    // 100 MB of one repeated line: ~1,000 times smaller compressed, which no export reaches.
    const bomb = gzipSync(
      Buffer.from(`${header[0]}\n${`${header[1]}\n`.repeat(100_000_000 / (header[1]!.length + 1))}`),
      {level: 9},
    )
    const path = write('bomb.csv.gz', bomb)
    const error = await failure([path])
    expect(error).toMatchObject({code: 'E_FORMAT', file: path})
    expect(error.message).toContain('gzip bomb')
    const lines = fc.sample(linesArb, {numRuns: 1, seed: 7})[0]!
    const ok = write('ok.csv.gz', gzipSync(csv(table('cur1', lines)), {level: 9}))
    await ingestFiles(store, [ok])
    expectSameBytes(await storedBytes(), expectedBytes(lines))
  })
})

describe('item 4: the same usage is never counted twice', () => {
  it('x.csv and x.csv.gz of the same content in one folder count once', async () => {
    await fc.assert(
      fc.asyncProperty(linesArb, fc.constantFrom<Format>('cur1', 'focus', 'usage-report'), async (lines, format) => {
        await store.run('DELETE FROM usage_daily; DELETE FROM sources')
        const folder = join(temp.dir, `dup-${++fileCounter}`)
        mkdirSync(folder)
        const text = csv(table(format, lines))
        writeFileSync(join(folder, 'x.csv'), text)
        writeFileSync(join(folder, 'x.csv.gz'), gzipSync(text))
        const result = await ingestFiles(store, [folder])
        expect(result.files.map((f) => f.status)).toEqual(['ingested', 'unchanged'])
        expectSameBytes(await storedBytes(), expectedBytes(lines))
      }),
      {numRuns: 12},
    )
  })

  it('two restatements of one billing period in one call: only the newer counts, in either order, and it says so', async () => {
    const restatement = linesArb.chain((lines) =>
      fc.record({
        newerFirst: fc.boolean(),
        older: fc.constant(lines),
        // The newer one states the same lines with other amounts, and may drop a few.
        newer: fc
          .array(fc.double({max: 3, min: 0.5, noNaN: true}), {maxLength: lines.length, minLength: lines.length})
          .map((factors) =>
            lines.map((l, i) => ({...l, gb: Math.round(l.gb * factors[i]! * 1e3) / 1e3})).filter((_, i) => i % 5 !== 4),
          ),
      }),
    )
    await fc.assert(
      fc.asyncProperty(
        restatement,
        fc.constantFrom<Format>('cur1', 'focus'),
        async ({newer, newerFirst, older}, format) => {
          fc.pre(csv(table(format, older)) !== csv(table(format, newer)))
          await store.run('DELETE FROM usage_daily; DELETE FROM sources')
          const olderPath = write('march-v1.csv', csv(table(format, older)))
          const newerPath = write('march-v2.csv', csv(table(format, newer)))
          utimesSync(olderPath, new Date('2024-04-02T00:00:00Z'), new Date('2024-04-02T00:00:00Z'))
          utimesSync(newerPath, new Date('2024-04-05T00:00:00Z'), new Date('2024-04-05T00:00:00Z'))
          const result = await ingestFiles(store, newerFirst ? [newerPath, olderPath] : [olderPath, newerPath])
          expectSameBytes(await storedBytes(), expectedBytes(newer))
          expect(result.files.find((f) => f.path === olderPath)?.replacedBy).toBe(newerPath)
        },
      ),
      {numRuns: 12},
    )
  })

  it('keeps the parts of one export together (disjoint usage lines of one period)', async () => {
    await fc.assert(
      fc.asyncProperty(linesArb, async (lines) => {
        await store.run('DELETE FROM usage_daily; DELETE FROM sources')
        const a = write(
          'part-1.csv',
          csv(
            table(
              'cur1',
              lines.filter((l) => l.day <= 15),
            ),
          ),
        )
        const b = write(
          'part-2.csv',
          csv(
            table(
              'cur1',
              lines.filter((l) => l.day > 15),
            ),
          ),
        )
        const paths = [a, b].filter((_, i) =>
          i === 0 ? lines.some((l) => l.day <= 15) : lines.some((l) => l.day > 15),
        )
        await ingestFiles(store, paths)
        expectSameBytes(await storedBytes(), expectedBytes(lines))
      }),
      {numRuns: 8},
    )
  })

  it('two usage reports of one call that overlap count the overlap once (the newer one)', async () => {
    const older = write('report-a.csv', csv(table('usage-report', [GOOD[0]!, {...GOOD[0]!, day: 5}])))
    const newer = write(
      'report-b.csv',
      csv(
        table('usage-report', [
          {...GOOD[0]!, day: 5, gb: 7},
          {...GOOD[0]!, day: 6, gb: 2},
        ]),
      ),
    )
    utimesSync(older, new Date('2024-04-02T00:00:00Z'), new Date('2024-04-02T00:00:00Z'))
    await ingestFiles(store, [newer, older])
    expectSameBytes(
      await storedBytes(),
      new Map([
        ['DataTransfer-Out-Bytes 2024-03-04', GB],
        ['DataTransfer-Out-Bytes 2024-03-05', 7 * GB],
        ['DataTransfer-Out-Bytes 2024-03-06', 2 * GB],
      ]),
    )
  })

  it('a manifest listing a key twice, or named with its parts, reads each part once', async () => {
    await fc.assert(
      fc.asyncProperty(
        linesArb,
        fc.array(fc.integer({max: 2, min: 0}), {maxLength: 6, minLength: 3}),
        async (lines, order) => {
          await store.run('DELETE FROM usage_daily; DELETE FROM sources')
          const dir = join(temp.dir, `manifest-${++fileCounter}`)
          const assembly = join(dir, 'abc')
          mkdirSync(assembly, {recursive: true})
          const split = [
            lines.filter((l) => l.day <= 10),
            lines.filter((l) => l.day > 10 && l.day <= 20),
            lines.filter((l) => l.day > 20),
          ]
          const used = [...new Set(order)].filter((i) => split[i]!.length > 0)
          for (const i of used)
            writeFileSync(join(assembly, `report-${i + 1}.csv.gz`), gzipSync(csv(table('cur1', split[i]!))))
          const keys = order
            .filter((i) => used.includes(i))
            .map((i) => `billing/report/20240301-20240401/abc/report-${i + 1}.csv.gz`)
          fc.pre(keys.length > 0)
          const manifest = join(dir, 'report-Manifest.json')
          writeFileSync(
            manifest,
            JSON.stringify({
              assemblyId: 'abc',
              billingPeriod: {end: '20240401T000000.000Z', start: '20240301T000000.000Z'},
              reportKeys: keys,
            }),
          )
          // The folder beside, named too: its parts are read through the manifest only.
          const result = await ingestFiles(store, [manifest, assembly])
          expect(result.files.map((f) => f.format)).toEqual(['cur1-manifest'])
          expectSameBytes(await storedBytes(), expectedBytes(used.flatMap((i) => split[i]!)))
        },
      ),
      {numRuns: 10},
    )
  })
})

describe('item 5: a manifest key never leads out of its folder, and no error quotes a file', () => {
  const SECRET = 'root:x:0:0:the-secret-line'
  for (const [label, key] of [
    ['..', '../outside/secret.csv'],
    ['an absolute path', '/etc/passwd'],
    ['.. in the middle', 'report/../../outside/secret.csv'],
    ['a bare ..', '..'],
    ['a symlink out', 'billing/report/link.csv'],
  ] as const) {
    it(`refuses ${label}`, async () => {
      const outside = join(temp.dir, 'outside')
      const dir = join(temp.dir, 'period')
      mkdirSync(outside, {recursive: true})
      mkdirSync(dir, {recursive: true})
      writeFileSync(join(outside, 'secret.csv'), `${SECRET}\n`)
      writeFileSync(join(outside, 'x.csv.gz'), gzipSync(csv(table('cur1', GOOD))))
      symlinkSync(join(outside, 'secret.csv'), join(dir, 'link.csv'))
      const manifest = join(dir, 'report-Manifest.json')
      writeFileSync(manifest, JSON.stringify({assemblyId: 'a', reportKeys: [key]}))
      const before = await snapshot()
      const error = await failure([manifest])
      expect(error).toMatchObject({field: 'reportKeys', file: manifest})
      expect(JSON.stringify(error.toJSON())).not.toContain('root:x')
      expect(await snapshot()).toBe(before)
    })
  }

  it('never quotes the manifest when it is not JSON', async () => {
    const manifest = write('m.json', `{"reportKeys": ["a"], ${'root:x:0:0'}`)
    const error = await failure([manifest])
    expect(error.message).not.toContain('root:x')
  })
})

describe('item 6: one numeric and date rule for every ingest path', () => {
  const where = fc.record({
    bad: fc.constantFrom(...BAD_VALUES),
    container: fc.constantFrom('csv', 'csv.gz'),
    format: fc.constantFrom<Format>('cur1', 'focus', 'usage-report'),
    multiline: fc.boolean(),
    row: fc.nat(),
  })
  it('refuses a year outside 2006..next year, NaN, infinities, 1e309 and negative quantities with file, line and column; the store unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(linesArb, where, async (lines, {bad, container, format, multiline, row}) => {
        fc.pre(!(format === 'usage-report' && bad.field === 'cost'))
        // FOCUS allows any decimal quantity: a finite negative one on a usage line is a reversal, kept as a correction
        // (focus-nulls-reversals.test.ts).
        fc.pre(
          !(
            format === 'focus' &&
            bad.field === 'amount' &&
            Number.isFinite(Number(bad.text(format))) &&
            Number(bad.text(format)) < 0
          ),
        )
        const rows = table(format, lines)
        const header = rows[0]!
        const at = 1 + (row % lines.length)
        const column = FIELDS[format][bad.field]!
        rows[at]![header.indexOf(column)] = bad.text(format)
        // A quoted newline in a row before the bad one: the line named is still the file's line.
        if (multiline && at > 1) rows[1]![header.indexOf(RESOURCE[format])] = 'i-0aaa\nsecond line'
        const text = csv(rows)
        const path = write(`bad.${container}`, container === 'csv' ? text : gzipSync(text))
        const good = write('good.csv', csv(table('cur1', GOOD)))
        const before = await snapshot()
        const error = await failure([good, path])
        expect(error).toMatchObject({
          code: 'E_VALUE',
          field: column,
          file: path,
          line: at + 1 + (multiline && at > 1 ? 1 : 0),
        })
        expect(await snapshot()).toBe(before)
      }),
      {numRuns: propertyRuns(60, 20)},
    )
  })

  it('refuses the same values in a CUR 2.0 Parquet file, naming the row and column', async () => {
    for (const [label, amount, start] of [
      ['NaN', `'NaN'::DOUBLE`, `TIMESTAMP '2024-03-05 00:00:00'`],
      ['inf', `'inf'::DOUBLE`, `TIMESTAMP '2024-03-05 00:00:00'`],
      ['negative', '-3.0', `TIMESTAMP '2024-03-05 00:00:00'`],
      ['year 9999', '1.0', `TIMESTAMP '9999-03-05 00:00:00'`],
      ['year 1999', '1.0', `TIMESTAMP '1999-03-05 00:00:00'`],
    ] as const) {
      const path = join(temp.dir, `cur2-${label.replace(' ', '-')}.parquet`)
      await store.run(`COPY (SELECT * FROM (VALUES
          (TIMESTAMP '2024-03-04 00:00:00', 1.0::DOUBLE, 0.09::DOUBLE, 'Usage', 'DataTransfer-Out-Bytes'),
          (${start}, ${amount}, 0.09::DOUBLE, 'Usage', 'DataTransfer-Out-Bytes'))
        t(line_item_usage_start_date, line_item_usage_amount, line_item_unblended_cost, line_item_line_item_type, line_item_usage_type)) TO '${path}' (FORMAT parquet)`)
      const error = await failure([path])
      expect(error, label).toMatchObject({code: 'E_VALUE', file: path})
      expect(error.message, label).toContain('row 2')
    }
  })

  it('accepts negative costs (credits, refunds) and negative quantities on lines that are not usage', async () => {
    const rows = table('cur1', [...GOOD, {...GOOD[0]!, cost: -0.05}])
    rows.push([...rows[1]!])
    const credit = rows.at(-1)!
    credit[CUR_TYPE] = 'Credit'
    credit[CUR_AMOUNT] = '-4'
    credit[CUR_COST] = '-1.5'
    await ingestFiles(store, [write('credits.csv', csv(rows))])
    expect((await store.one<{cost: number}>(`SELECT sum(cost) AS cost FROM usage`))?.cost).toBeCloseTo(0.04, 9)
  })

  it('refuses the same values from the APIs (Cost Explorer, CloudWatch rows)', async () => {
    for (const row of [
      {amount: Number.NaN, cost: 1, day: '2024-03-01'},
      {amount: 1, cost: Number.POSITIVE_INFINITY, day: '2024-03-01'},
      {amount: -1, cost: 0, day: '2024-03-01'},
      {amount: 1, cost: 0, day: '1970-01-01'},
    ]) {
      const error = await writeUsage(
        store,
        {
          bytes: 0,
          container: 'api',
          contentHash: `x${Math.random()}`,
          family: 'cost-explorer-api',
          format: 'cost-explorer-api',
          lineItems: 1,
          path: 'aws:cost-explorer',
          scope: 'listed',
        },
        [
          {
            account: null,
            currency: 'USD',
            operation: null,
            region: null,
            resourceId: null,
            service: 'AmazonEC2',
            unit: 'GB',
            usageType: 'DataTransfer-Out-Bytes',
            ...row,
          },
        ],
      ).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toMatchObject({code: 'E_VALUE', file: 'aws:cost-explorer'})
    }
    expect(await store.one(`SELECT count(*)::INTEGER AS n FROM sources`)).toEqual({n: 0})
  })

  it('states the rule once: the JavaScript and the DuckDB forms agree', async () => {
    const value = fc.oneof(
      fc.double(),
      fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, 1e308),
    )
    const day = fc
      .date({max: new Date('2300-12-31'), min: new Date('1900-01-01'), noInvalidDate: true})
      .map((d) => d.toISOString().slice(0, 10))
    await fc.assert(
      fc.asyncProperty(day, value, value, async (d, amount, cost) => {
        // Numbers go in as text: the client would bind a whole-valued double as a BIGINT.
        const sql = await store.one<{problem: null | string}>(
          `SELECT ${usageProblemSql({amount: 'CAST($2 AS DOUBLE)', cost: 'CAST($3 AS DOUBLE)', day: '$1::DATE'})} AS problem`,
          [d, String(amount), String(cost)],
        )
        expect(sql?.problem ?? undefined).toBe(usageProblem({amount, cost, day: d})?.field)
      }),
      {numRuns: 200},
    )
  })
})

const RESOURCE: Record<Format, string> = {cur1: 'lineItem/ResourceId', focus: 'ResourceId', 'usage-report': 'Resource'}
const CUR_TYPE = 4
const CUR_AMOUNT = 11
const CUR_COST = 12

describe('item 10: a byte that is not UTF-8 is one error naming file and line, the database intact', () => {
  it('in CUR, FOCUS and usage report files, plain or gzipped, at any line and field', async () => {
    const spot = fc.record({
      bytes: fc.constantFrom(...NOT_UTF8),
      column: fc.nat(),
      container: fc.constantFrom('csv', 'csv.gz'),
      end: fc.boolean(),
      format: fc.constantFrom<Format>('cur1', 'focus', 'usage-report'),
      row: fc.nat(),
    })
    await fc.assert(
      fc.asyncProperty(linesArb, spot, async (lines, {bytes, column, container, end, format, row}) => {
        const rows = table(format, lines)
        const at = 1 + (row % lines.length)
        const fields = rows[at]!
        const c = column % fields.length
        const text = csv(rows).split('\n')
        const cells = text[at]!.split(',')
        // The bad bytes at the end of a field (what cut a multi-byte character in two) or inside it.
        const chunks = cells.map((cell, i) =>
          i === c
            ? end
              ? Buffer.concat([Buffer.from(cell), bytes])
              : Buffer.concat([Buffer.from(cell.slice(0, 1)), bytes, Buffer.from(cell.slice(1))])
            : Buffer.from(cell),
        )
        const line = Buffer.concat(chunks.flatMap((b, i) => (i === 0 ? [b] : [Buffer.from(','), b])))
        const raw = Buffer.concat([
          Buffer.from(`${text.slice(0, at).join('\n')}\n`),
          line,
          Buffer.from(`\n${text.slice(at + 1).join('\n')}`),
        ])
        const path = write(`latin.${container}`, container === 'csv' ? raw : gzipSync(raw))
        const before = await snapshot()
        const error = await failure([path])
        expect(error).toMatchObject({code: 'E_FORMAT', file: path, line: at + 1})
        expect(error.message).toContain('not UTF-8')
        expect(await snapshot()).toBe(before)
        // The same store, the same connection, still takes a good file.
        const good = write('good.csv', csv(table('cur1', lines)))
        await ingestFiles(store, [good])
        await store.run('DELETE FROM usage_daily; DELETE FROM sources')
      }),
      {numRuns: propertyRuns(40, 15)},
    )
  })
})

describe('item 15: strict CSV', () => {
  const legacy = (body: string) => `${LEGACY}\n${body}`
  const LEGACY = 'Service,Operation,UsageType,Resource,StartTime,EndTime,UsageValue'
  const ok = 'AmazonEC2,RunInstances,DataTransfer-Out-Bytes,i-0aaa,03/05/24 00:00:00,03/06/24 00:00:00,5'
  const cases: [string, string, Partial<BillwatchError>, RegExp][] = [
    [
      'an unquoted 1,234 in a number column',
      legacy(`${ok}\nAmazonEC2,RunInstances,DataTransfer-Out-Bytes,i-0aaa,03/05/24 00:00:00,03/06/24 00:00:00,1,234\n`),
      {code: 'E_FORMAT', line: 3},
      /8 fields where the header has 7.*thousands separator/,
    ],
    [
      'a short row',
      legacy(`${ok}\n${ok}\nAmazonEC2,RunInstances,DataTransfer-Out-Bytes\n`),
      {code: 'E_FORMAT', line: 4},
      /3 fields where the header has 7/,
    ],
    [
      'a row after a quoted newline',
      legacy(
        `AmazonEC2,RunInstances,DataTransfer-Out-Bytes,"i-0aaa\nwith a newline",03/05/24 00:00:00,03/06/24 00:00:00,5\n${ok.replace(',5', ',n/a')}\n`,
      ),
      {code: 'E_VALUE', field: 'UsageValue', line: 4},
      /expected a number/,
    ],
    [
      'an unterminated quote',
      legacy(
        `${ok}\nAmazonEC2,RunInstances,"DataTransfer-Out-Bytes,i-0aaa,03/05/24 00:00:00,03/06/24 00:00:00,5\n${ok}\n`,
      ),
      {code: 'E_FORMAT', line: 3},
      /unterminated quote/,
    ],
    [
      'EndTime before StartTime',
      legacy(`${ok}\nAmazonEC2,RunInstances,DataTransfer-Out-Bytes,i-0aaa,03/06/24 00:00:00,03/05/24 00:00:00,5\n`),
      {code: 'E_VALUE', field: 'EndTime', line: 3},
      /expected a time after StartTime/,
    ],
    [
      'a long Cost Explorer row',
      '"Usage type","DataTransfer-Out-Bytes($)","Total costs($)"\n"2024-03-29","0.10","0.10"\n"2024-03-30","1","234","1.234"\n',
      {code: 'E_FORMAT', line: 3},
      /4 fields where the header has 3/,
    ],
    [
      'a short Cost Explorer row',
      '"Usage type","DataTransfer-Out-Bytes($)","Total costs($)"\n"2024-03-29","0.10","0.10"\n"2024-03-30"\n',
      {code: 'E_FORMAT', line: 3},
      /1 fields where the header has 3/,
    ],
    [
      'a Cost Explorer day before AWS billed',
      '"Usage type","DataTransfer-Out-Bytes($)","Total costs($)"\n"1999-03-29","0.10","0.10"\n',
      {code: 'E_VALUE', line: 2},
      /expected a date in 2006/,
    ],
  ]
  for (const [label, content, expected, message] of cases) {
    it(`refuses ${label}`, async () => {
      const path = write('strict.csv', content)
      const error = await failure([path])
      expect(error).toMatchObject({...expected, file: path})
      expect(error.message).toMatch(message)
    })
  }

  it('names the line of a non-number on a CUR line that is not usage (a Credit)', async () => {
    const rows = table('cur1', [...GOOD, ...GOOD, ...GOOD])
    rows[2]![CUR_TYPE] = 'Credit'
    rows[2]![CUR_AMOUNT] = 'twelve'
    const path = write('cur-credit.csv', csv(rows))
    const error = await failure([path])
    expect(error).toMatchObject({
      code: 'E_VALUE',
      field: 'lineItem/UsageAmount',
      file: path,
      got: 'a value shaped "aaaaaa"',
      line: 3,
    })
  })

  it('refuses an unquoted 1,234 in a CUR number column at its line', async () => {
    const rows = table('cur1', [...GOOD, ...GOOD, ...GOOD])
    const text = csv(rows).split('\n')
    text[2] = text[2]!.replace(',1,0.09,', ',1,234,0.09,')
    const path = write('cur-comma.csv', text.join('\n'))
    const error = await failure([path])
    expect(error).toMatchObject({code: 'E_FORMAT', file: path, line: 3})
  })
})

// Each case spawns the real CLI once or twice: on a loaded two-core machine that can take a minute.
describe(
  'the CLI on hostile content: one billwatch: line, exit 1, --json error, the store unchanged',
  {timeout: 300_000},
  () => {
    it('a .gz with a bad CRC', async () => {
      const gz = Buffer.from(gzipSync(csv(table('cur1', GOOD))))
      gz[gz.length - 6] = gz[gz.length - 6]! ^ 0xff
      const path = write('crc.csv.gz', gz)
      const db = join(temp.dir, 'cli.duckdb')
      const human = await runCli(['ingest', path, '--db', db])
      expect(human.code).toBe(1)
      expect(human.stderr.trim().split('\n')).toEqual([
        `billwatch: ${path}: gzip stream is truncated or corrupt (the checksum does not match: the data is damaged), expected a complete .gz file`,
      ])
      const json = await runCli(['ingest', path, '--db', db, '--json'])
      expect(json.code).toBe(1)
      expect(json.json().error).toMatchObject({code: 'E_TRUNCATED', file: path})
    })

    it('a FOCUS export with a cut multi-byte character (once a DuckDB FATAL): file and line, and the store still reads', async () => {
      const lines = csv(table('focus', [...GOOD, ...GOOD, ...GOOD])).split('\n')
      const raw = Buffer.concat([
        Buffer.from(`${lines.slice(0, 3).join('\n')}`),
        Buffer.from([0xc3]),
        Buffer.from(`\n${lines.slice(3).join('\n')}`),
      ])
      const path = write('focus-latin.csv', raw)
      const db = join(temp.dir, 'utf8.duckdb')
      const good = write('good.csv', csv(table('cur1', GOOD)))
      expect((await runCli(['ingest', good, '--db', db])).code).toBe(0)
      const result = await runCli(['ingest', path, '--db', db])
      expect(result.code).toBe(1)
      expect(result.stderr.trim().split('\n')).toEqual([
        `billwatch: ${path}:3: a byte that is not UTF-8 (0xc3), expected UTF-8 text (re-save the file as UTF-8)`,
      ])
      const status = await runCli(['status', '--db', db, '--json'])
      expect(status.code).toBe(0)
      expect(status.json().sources).toHaveLength(1)
    })

    it('a manifest key to a file outside its folder: refused, and nothing of that file in the error', async () => {
      const dir = join(temp.dir, 'period')
      mkdirSync(dir, {recursive: true})
      writeFileSync(join(temp.dir, 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n')
      const manifest = join(dir, 'report-Manifest.json')
      writeFileSync(manifest, JSON.stringify({assemblyId: 'a', reportKeys: ['../passwd']}))
      const result = await runCli(['ingest', manifest, '--db', join(temp.dir, 'm.duckdb'), '--json'])
      expect(result.code).toBe(1)
      expect(result.json().error).toMatchObject({code: 'E_FORMAT', field: 'reportKeys', file: manifest})
      expect(result.stdout + result.stderr).not.toContain('root:x')
    })

    it('a year -0001 in a FOCUS export and an unquoted 1,234 in a usage report: file, line and column under --json', async () => {
      const rows = table('focus', [...GOOD, ...GOOD])
      rows[2]![FOCUS_HEADER.indexOf('ChargePeriodStart')] = '-0001-03-05T00:00:00Z'
      const focus = write('focus-year.csv', csv(rows))
      const report = write(
        'report-comma.csv',
        `${LEGACY_HEADER.join(',')}\nAmazonEC2,RunInstances,DataTransfer-Out-Bytes,i-1,03/05/24 00:00:00,03/06/24 00:00:00,1,234\n`,
      )
      const db = join(temp.dir, 'values.duckdb')
      const year = await runCli(['ingest', focus, '--db', db, '--json'])
      expect(year.code).toBe(1)
      expect(year.json().error).toMatchObject({
        code: 'E_VALUE',
        field: 'ChargePeriodStart',
        file: focus,
        got: 'a value shaped "-9999-99-99a99:99:99a"',
        line: 3,
      })
      const comma = await runCli(['ingest', report, '--db', db])
      expect(comma.code).toBe(1)
      expect(comma.stderr.trim().split('\n')).toEqual([
        `billwatch: ${report}:2: 8 fields where the header has 7 (a number with an unquoted thousands separator, like 1,234, is one field too many)`,
      ])
    })

    it('says which of two restatements in one call counts', async () => {
      const older = write('v1.csv', csv(table('cur1', GOOD)))
      const newer = write('v2.csv', csv(table('cur1', [{...GOOD[0]!, gb: 3}])))
      utimesSync(older, new Date('2024-04-02T00:00:00Z'), new Date('2024-04-02T00:00:00Z'))
      const result = await runCli(['ingest', newer, older, '--db', join(temp.dir, 'r.duckdb')])
      expect(result.code).toBe(0)
      expect(result.stderr).toContain(
        `${older} restates the same usage as ${newer}, which is newer: only the newer one counts`,
      )
    })

    it('reads a store an earlier billwatch let a year -0001 and a NaN into', async () => {
      const db = join(temp.dir, 'poisoned.duckdb')
      const old = await Store.open(db)
      await ingestFiles(old, [write('good.csv', csv(table('cur1', fc.sample(linesArb, {numRuns: 1, seed: 3})[0]!)))])
      // What version 2 stores could hold: the rows, and no step 3 recorded.
      const columns =
        'source_id, day, account, region, service, usage_type, usage_base, operation, resource_id, amount, unit, cost, currency'
      await old.run(
        `INSERT INTO usage_daily (${columns}) SELECT source_id, DATE '0001-03-05' - INTERVAL 2 YEAR, account, region, service, usage_type, usage_base, operation, resource_id, amount, unit, cost, currency FROM usage_daily LIMIT 1`,
      )
      await old.run(
        `INSERT INTO usage_daily (${columns}) SELECT source_id, day + 1, account, region, service, usage_type, usage_base, operation, resource_id, 'NaN'::DOUBLE, unit, cost, currency FROM usage_daily WHERE day > DATE '2006-01-01' LIMIT 1`,
      )
      // What a store of schema version 3, before the usage rule (step 4), could hold: the rows, and no later step.
      await old.run(`DELETE FROM schema_version WHERE version >= 4`)
      for (const table of ['flow_sources', 'flow_daily', 'flow_clients', 'flow_status'])
        await old.run(`DROP TABLE ${table}`)
      await old.run(`DROP SEQUENCE flow_source_id_seq`)
      await old.close()
      const anomalies = await runCli(['anomalies', '--db', db, '--json'])
      expect(anomalies.stderr).not.toContain('bad day')
      expect(anomalies.code).toBe(0)
      const status = await runCli(['status', '--db', db, '--json'])
      expect(status.json().firstDay >= '2006-01-01').toBe(true)
    })
  },
)

describe('the usage report: the fast DuckDB scan and the strict line reader agree', () => {
  it('on values at the edge of what each accepts', async () => {
    const time = fc.constantFrom(
      '03/05/24 00:00:00',
      '3/5/2024 0:00',
      '03/05/2024 00:00',
      '03/05/24 00:00',
      '3/5/24 1:00:00',
      '02/30/24 00:00:00',
      '03/05/24 24:00:00',
      '03/05/24 00:60:00',
      '13/01/24 00:00:00',
      '03/05/1999 00:00:00',
      '03/05/99 00:00:00',
      '03/05/24T00:00:00',
      '2024-03-05 00:00:00',
      '03/06/24 00:00:00',
      '',
    )
    const value = fc.constantFrom(
      '5',
      '"1,234"',
      ' 7 ',
      '+5',
      '.5',
      '5.',
      '1e3',
      '1_000',
      '0x10',
      'NaN',
      '',
      '-0',
      '-1',
      '"1,2,3"',
      '1e309',
    )
    const line = fc.record({
      end: time,
      start: time,
      type: fc.constantFrom('DataTransfer-Out-Bytes', '', 'BoxUsage'),
      value,
    })
    await fc.assert(
      fc.asyncProperty(fc.array(line, {maxLength: 4, minLength: 1}), async (lines) => {
        await store.run('DELETE FROM usage_daily; DELETE FROM sources')
        const path = write(
          'edge.csv',
          `Service,Operation,UsageType,Resource,StartTime,EndTime,UsageValue\n${lines.map((l) => `AmazonEC2,RunInstances,${l.type},i-1,${l.start},${l.end},${l.value}`).join('\n')}\n`,
        )
        const strict = await parseUsageReport(path).then(
          () => 'ok',
          (e: unknown) => (e as BillwatchError).code,
        )
        const fast = await ingestFiles(store, [path]).then(
          () => 'ok',
          (e: unknown) => (e as BillwatchError).code,
        )
        expect(fast).toBe(strict)
      }),
      {numRuns: propertyRuns(60, 20)},
    )
  })
})
