/**
 * Issue 20, how a refusal reads: one line naming the file, the line or field, and what was expected,
 * in billwatch's words. No DuckDB text (its options, its quoting of the line, its advice), and no file
 * content: a secret planted in the input never appears in the message or the --json error.
 * Each refusal class the fuzz harness (bench/fuzz) produces is built here from real files and a real
 * DuckDB store.
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {BillwatchError, describeValue} from '../../src/errors.js'
import {duckdbError} from '../../src/ingest/duckdb-errors.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {Store} from '../../src/store/index.js'
import {runCli} from '../helpers/cli.js'
import {storeSnapshot} from '../helpers/store-snapshot.js'
import {useTempStore} from '../helpers/temp-store.js'
import {csv, CUR1_HEADER, FOCUS_HEADER, LEGACY_HEADER} from './generators.js'

const temp = useTempStore()
const SECRET = 'Zq7SECRETxK2'
const CUR2_PARQUET = join(import.meta.dirname, '../../samples/billing/cur2-daily-2014-04.parquet')
const CUR1_GZ = join(import.meta.dirname, '../../samples/billing/cur1-hourly-2014-03.csv.gz')
/** Words of DuckDB's and other libraries' messages that a billwatch refusal never carries. */
const LIBRARY_TEXT =
  /Error:|Exception|sniff|magic bytes|thrift|Possible (fix|solution)|read_csv|read_parquet|strict_mode|LINE \d|Invalid Input|Conversion Error|Out of Memory|compressed data is corrupt|Original Line/i

/** One FOCUS usage line of 5 GB on 2024-03-05, with the fields a test breaks given. */
function focusCsv({quantity = '5', start = '2024-03-05T00:00:00Z'}: {quantity?: string; start?: string}): string {
  const row = [
    '2024-03-01T00:00:00Z',
    '2024-04-01T00:00:00Z',
    start,
    '2024-03-05T01:00:00Z',
    'Usage',
    '',
    '111122223333',
    'us-east-1',
    quantity,
  ]
  return csv([FOCUS_HEADER, [...row, 'GB', '1', 'USD', 'AmazonEC2', 'DataTransfer-Out-Bytes', 'RunInstances', 'i-1']])
}

/** The refusal of ingesting `path`: a BillwatchError whose one line names the file first. */
async function refusal(path: string): Promise<BillwatchError> {
  const before = await storeSnapshot(temp.store)
  const error = await ingestFiles(temp.store, [path]).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, `${path} was taken`).toBeInstanceOf(BillwatchError)
  const refused = error as BillwatchError
  expect(refused.message.split('\n')).toHaveLength(1)
  expect(refused.message.startsWith(`${refused.file ?? '?'}`)).toBe(true)
  expect(refused.message).not.toMatch(LIBRARY_TEXT)
  expect(JSON.stringify(refused.toJSON())).not.toContain(SECRET)
  expect(await storeSnapshot(temp.store)).toEqual(before)
  return refused
}

describe("Parquet refusals name the damage, never DuckDB's text", () => {
  const parquet = readFileSync(CUR2_PARQUET)

  it('a Parquet file cut short is "not a complete Parquet file"', async () => {
    for (const keep of [8, parquet.length / 2, parquet.length - 1]) {
      const path = temp.write(
        `cut-${keep}.parquet`,
        Buffer.concat([Buffer.from('PAR1'), parquet.subarray(4, Math.floor(keep))]),
      )
      const error = await refusal(path)
      expect(error.file).toBe(path)
      expect(error.message).toMatch(/not a complete Parquet file .*expected a complete Parquet export$/)
    }
  })

  it('damaged footer metadata is named as the metadata', async () => {
    const footerLength = parquet.readUInt32LE(parquet.length - 8)
    const damaged = Buffer.from(parquet)
    // Overwrite the start of the footer (its Thrift header) with bytes no Thrift reader accepts.
    damaged.fill(0xff, parquet.length - 8 - footerLength, parquet.length - 8 - footerLength + 16)
    const error = await refusal(temp.write('footer.parquet', damaged))
    expect(error.message).toMatch(/damaged Parquet metadata.*expected a complete Parquet export$/)
  })

  it("any damage anywhere: one line naming the file, in billwatch's words (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(), fc.integer({max: 255, min: 0})), {maxLength: 12, minLength: 1}),
        async (edits) => {
          const damaged = Buffer.from(parquet)
          for (const [at, value] of edits) damaged[at % damaged.length] = value
          const path = temp.write('flipped.parquet', damaged)
          const error = await ingestFiles(temp.store, [path]).then(
            () => undefined,
            (e: unknown) => e,
          )
          if (error === undefined) return // a flip DuckDB does not notice (a value in a page) can be a valid file
          expect(error).toBeInstanceOf(BillwatchError)
          expect((error as BillwatchError).message).not.toMatch(LIBRARY_TEXT)
          expect((error as BillwatchError).file).toBe(path)
        },
      ),
      {numRuns: 25, seed: 20},
    )
  })
})

describe("DuckDB read errors, each class in billwatch's words (real DuckDB messages)", () => {
  /** The error DuckDB itself raises reading `content` as billwatch's scans read CSV. */
  async function duckdbFailure(content: Buffer | string, options: string, select = 'count(*)'): Promise<unknown> {
    const path = temp.write('direct.csv', content)
    const scratch = await Store.open(':memory:')
    try {
      await scratch.run(
        `SELECT ${select} FROM read_csv('${path}', header = true, quote = '"', escape = '"', delim = ',', ${options})`,
      )
    } catch (error) {
      return error
    } finally {
      await scratch.close()
    }
    throw new Error('DuckDB read it')
  }

  it('a sniffer failure is about the fields, not "compressed data is corrupt" (its option list names compression)', async () => {
    const error = await duckdbFailure(
      `a,b,c\n"1\n2,"3\n${'x,'.repeat(50)}\n`,
      "columns = {'a': 'VARCHAR', 'b': 'VARCHAR', 'c': 'VARCHAR', 'd': 'VARCHAR'}, compression = 'none'",
    )
    expect(String(error)).toMatch(/sniffing file[\s\S]*compression/)
    const refused = duckdbError('/x/report.csv', error, 'csv')
    expect(refused.message).toBe(
      '/x/report.csv: its lines do not have one number of comma-separated fields, expected a CSV export: every line as many fields as the header',
    )
  })

  it('a value of the wrong type names its column and line, not the value', async () => {
    const error = await duckdbFailure(
      `a,cost\nx,${SECRET}\n`,
      "types = {'cost': 'DOUBLE'}, compression = 'none'",
      'sum(cost)',
    )
    const refused = duckdbError('/x/cur.csv', error, 'csv')
    expect(refused.message).toBe('/x/cur.csv:2: column "cost": expected a number')
  })

  it('bytes that are not UTF-8 are named as such, with the line', async () => {
    const error = await duckdbFailure(
      Buffer.concat([Buffer.from('a,b\nx,'), Buffer.from([0xff, 0xfe]), Buffer.from(`${SECRET}\n`)]),
      "compression = 'none'",
    )
    const refused = duckdbError('/x/cur.csv', error, 'csv')
    expect(refused.message).toMatch(/^\/x\/cur\.csv:2: a byte that is not UTF-8, expected UTF-8 text/)
  })

  it('a .gz DuckDB cannot inflate is a damaged .gz; a plain CSV never is', async () => {
    const error = await duckdbFailure(`a,b\n1,2\n`, "compression = 'gzip'")
    expect(duckdbError('/x/cur.csv.gz', error, 'csv.gz').message).toBe(
      '/x/cur.csv.gz: gzip stream is truncated or corrupt, expected a complete .gz file',
    )
    expect(duckdbError('/x/cur.csv', error, 'csv').message).not.toMatch(/gzip|compress/)
  })

  it('memory it may not use is named with the limit and how to raise it', async () => {
    const scratch = await Store.open(':memory:')
    let error: unknown
    try {
      await scratch.run("SET memory_limit = '1MB'")
      await scratch.run(
        `SELECT count(*) FROM read_csv('${CUR1_GZ}', all_varchar = true, compression = 'gzip', max_line_size = 10000000)`,
      )
    } catch (caught) {
      error = caught
    } finally {
      await scratch.close()
    }
    expect(String(error)).toMatch(/Out of Memory/)
    const refused = duckdbError('/x/cur.csv.gz', error, 'csv.gz')
    expect(refused.code).toBe('E_MEMORY')
    expect(refused.message).toMatch(/^\/x\/cur\.csv\.gz: reading it needs more memory than billwatch may use \(.+\)$/)
    expect(refused.suggestions.join(' ')).toMatch(/BILLWATCH_MEMORY_LIMIT/)
  })
})

describe('a value from a file is described, never quoted', () => {
  it('classes and shapes, never the text', () => {
    expect(describeValue('')).toBe('an empty value')
    expect(describeValue('   ')).toBe('only spaces')
    expect(describeValue('NaN')).toBe('NaN (not a number)')
    expect(describeValue('-inf')).toBe('an infinite number')
    expect(describeValue('1e309')).toBe('a number out of range')
    expect(describeValue('1e-400')).toBe('a number too small to hold')
    expect(describeValue('-5')).toBe('a negative number')
    expect(describeValue('1,234')).toBe('a number with a thousands separator')
    expect(describeValue('2014-02-30')).toBe('a value shaped "9999-99-99"')
    expect(describeValue('\u001b]52;c;cHduZWQ=\u0007')).toBe('text with control or invisible formatting characters')
    expect(describeValue('\u202eevil')).toBe('text with control or invisible formatting characters')
    expect(describeValue('A'.repeat(5000))).toBe('text of 5000 characters')
  })

  it('no text of any value survives its description (property)', () => {
    const CLASSES =
      /^(an empty value|only spaces|text with control or invisible formatting characters|NaN \(not a number\)|an infinite number|a number with a thousands separator|a number out of range|a number too small to hold|a negative number|a number|text of \d+ characters)$/
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({minLength: 1}),
          fc.string({minLength: 1, unit: 'binary'}),
          fc.constantFrom(SECRET, 'root:x:0:0:root:/root:/bin/bash', '2014-02-30', '\ud800x'),
        ),
        (value) => {
          const described = describeValue(value)
          const shape = /^a value shaped "(.*)"$/su.exec(described)
          // A shape keeps punctuation and length; of letters and digits only a and 9.
          if (shape) expect(shape[1]).not.toMatch(/(?![a9])[\p{L}\p{N}]/u)
          else expect(described).toMatch(CLASSES)
        },
      ),
      {numRuns: 500, seed: 20},
    )
  })

  it('a bad value in each CSV format: the file, line and column are named, the value is not', async () => {
    const files = {
      focus: focusCsv({quantity: SECRET}),
      legacy: csv([
        LEGACY_HEADER,
        ['AmazonEC2', 'RunInstances', 'DataTransfer-Out-Bytes', 'i-1', `03/05/24 ${SECRET}`, '03/06/24 00:00:00', '5'],
      ]),
      legacyValue: csv([
        LEGACY_HEADER,
        [
          'AmazonEC2',
          'RunInstances',
          'DataTransfer-Out-Bytes',
          'i-1',
          '03/05/24 00:00:00',
          '03/06/24 00:00:00',
          SECRET,
        ],
      ]),
    }
    for (const [name, content] of Object.entries(files)) {
      const error = await refusal(temp.write(`${name}.csv`, content))
      expect(error.line, name).toBe(2)
      expect(error.message, name).toMatch(/:2: column "[^"]+": .*expected .*, got (a value shaped|text)/)
    }
  })

  it('a day of the wrong shape is told ISO 8601; a day that is no calendar day, or out of the years, is told that (FOCUS, CUR 1.0)', async () => {
    const told = async (name: string, content: string) => (await refusal(temp.write(name, content))).message
    // Shapes a person or a spreadsheet writes: US and European order, two-digit years, dots, no separators.
    for (const [i, day] of ['4/1/25', '01.04.2025', '20250401', 'April 1, 2025'].entries()) {
      expect(await told(`shape-${i}.csv`, focusCsv({start: day}))).toMatch(
        /expected an ISO 8601 date such as 2024-03-01/,
      )
    }
    const cur1 = (start: string) =>
      csv([
        CUR1_HEADER,
        [
          'id0',
          '2024-03-01T00:00:00Z',
          '2024-04-01T00:00:00Z',
          '111122223333',
          'Usage',
          start,
          start,
          'AmazonEC2',
          'DataTransfer-Out-Bytes',
          'RunInstances',
          'i-1',
          '5',
          '1',
          'USD',
          'GB',
        ],
      ])
    expect(await told('cur1-shape.csv', cur1('4/1/25 0:00'))).toMatch(/expected an ISO 8601 date such as 2024-03-01/)
    expect(await told('cur1-calendar.csv', cur1('2024-02-30T00:00:00Z'))).toMatch(
      /expected a calendar date \(YYYY-MM-DD\)/,
    )
    expect(await told('calendar.csv', focusCsv({start: '2014-02-30T00:00:00Z'}))).toMatch(
      /expected a calendar date \(YYYY-MM-DD\) in 2006/,
    )
    const outside = await told('outside.csv', focusCsv({start: '1999-03-05T00:00:00Z'}))
    expect(outside).toMatch(/expected a date in 2006–\d{4}/)
    expect(outside).not.toMatch(/ISO 8601|calendar/)
  })

  it('a file given by mistake (/etc/passwd-like) is refused without a word of it, human and --json', async () => {
    const path = temp.write(
      'passwd',
      `root:x:0:0:${SECRET}:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n`,
    )
    for (const json of [false, true]) {
      const result = await runCli(['ingest', path, '--db', join(temp.dir, 'cli.duckdb'), ...(json ? ['--json'] : [])])
      expect(result.code).toBe(1)
      expect(`${result.stdout}${result.stderr}`).not.toContain(SECRET)
      expect(`${result.stdout}${result.stderr}`).not.toContain('root')
      expect(result.stderr).toContain(path)
    }
  }, 180_000)
})

describe('careless but valid inputs are taken (the harness once refused every CUR 1.0 .csv.gz)', () => {
  it('a CUR 1.0 .csv.gz ingests under a small BILLWATCH_MEMORY_LIMIT (DuckDB sized its .gz buffer at 160 MB)', async () => {
    const previous = process.env.BILLWATCH_MEMORY_LIMIT
    process.env.BILLWATCH_MEMORY_LIMIT = '200MB'
    try {
      const store = await Store.open(join(temp.dir, 'small.duckdb'))
      try {
        const path = temp.write('cur1.csv.gz', gzipSync(gunzipSync(readFileSync(CUR1_GZ))))
        const {files} = await ingestFiles(store, [path])
        expect(files[0]?.lineItems).toBeGreaterThan(1000)
      } finally {
        await store.close()
      }
    } finally {
      if (previous === undefined) delete process.env.BILLWATCH_MEMORY_LIMIT
      else process.env.BILLWATCH_MEMORY_LIMIT = previous
    }
  })

  it('a manifest written oddly (keys reordered, unknown fields, a part listed twice under two prefixes, no billing period) is taken once', async () => {
    const part = gzipSync(`${gunzipSync(readFileSync(CUR1_GZ)).toString('utf8').split('\n').slice(0, 20).join('\n')}\n`)
    temp.write('bw-1.csv.gz', part)
    const manifests = [
      {
        reportKeys: ['cur/bw/20140301-20140401/a1/bw-1.csv.gz', 'other/bw-1.csv.gz'],
        reportName: '\u001b[2J<b>x</b>',
        zeta: {nested: [1, 2]},
      },
      {
        additionalArtifactKeys: [{artifactType: 'RedshiftCommands', name: 'x.sql'}],
        billingPeriod: null,
        reportKeys: ['bw-1.csv.gz'],
      },
    ]
    for (const [i, manifest] of manifests.entries()) {
      const path = temp.write(`m${i}-Manifest.json`, JSON.stringify(manifest, null, i === 0 ? '\t' : 0))
      const store = await Store.open(join(temp.dir, `m${i}.duckdb`))
      try {
        const {files} = await ingestFiles(store, [path])
        expect(
          files.map((f) => [f.format, f.lineItems]),
          JSON.stringify(manifest),
        ).toEqual([['cur1-manifest', 19]])
      } finally {
        await store.close()
      }
    }
  })
})
