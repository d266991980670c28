/**
 * Issue 20, the next files a careless hand gives: the kernel's pseudo-files (which look regular but
 * block or never end), UTF-16 text as Excel saves it, other compressions than gzip and zip, a
 * workbook, and a zip bomb. Each is named for what it is, in one line, without its content, and the
 * store is unchanged.
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'

import {strToU8, zipSync} from 'fflate'
import {describe, expect, it} from 'vitest'

import {BillwatchError} from '../../src/errors.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {storeSnapshot} from '../helpers/store-snapshot.js'
import {useTempStore} from '../helpers/temp-store.js'

const temp = useTempStore()
const REPORT = `${readFileSync(
  join(import.meta.dirname, '../../samples/billing/usage-report-ec2-2013-06-01_2014-06-01.csv'),
  'utf8',
)
  .split('\n')
  .slice(0, 30)
  .join('\n')}\n`

async function refused(path: string): Promise<string> {
  const before = await storeSnapshot(temp.store)
  const started = Date.now()
  const error = await ingestFiles(temp.store, [path]).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(BillwatchError)
  expect(Date.now() - started).toBeLessThan(30_000)
  expect(await storeSnapshot(temp.store)).toEqual(before)
  const message = (error as BillwatchError).message
  expect(message.startsWith(`${path}: `)).toBe(true)
  expect(message).not.toContain('AmazonEC2')
  return message
}

describe('files that look regular but are made by the kernel', () => {
  it('/proc/self/environ is refused at once, and nothing of it is printed', async () => {
    process.env.BILLWATCH_TEST_MARKER = 'Zq7SECRETxK2'
    const message = await refused('/proc/self/environ')
    expect(message).toMatch(/a kernel pseudo-file \(\/proc, \/sys\), not a saved file/)
    expect(message).not.toContain('Zq7SECRETxK2')
  })

  it.runIf(existsSync('/proc/kmsg') && process.getuid?.() === 0)(
    '/proc/kmsg (whose read blocks forever) is refused at once',
    async () => {
      expect(await refused('/proc/kmsg')).toMatch(/kernel pseudo-file/)
    },
  )

  it('a /sys file is refused', async () => {
    expect(
      await refused('/sys/kernel/mm/transparent_hugepage/enabled').catch(() => refused('/sys/power/state')),
    ).toMatch(/kernel pseudo-file/)
  })
})

describe('what a spreadsheet or another packer gives instead of an export', () => {
  const cases: {name: string; bytes: () => Buffer; says: RegExp}[] = [
    {
      bytes: () => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(REPORT, 'utf16le')]),
      name: 'report.csv (UTF-16 with a BOM)',
      says: /UTF-16 text, expected UTF-8 text/,
    },
    {
      bytes: () => Buffer.from(REPORT, 'utf16le'),
      name: 'plain.csv (UTF-16LE, no BOM)',
      says: /UTF-16 text, expected UTF-8 text/,
    },
    {
      bytes: () => Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(REPORT, 'utf16le').swap16()]),
      name: 'be.csv (UTF-16BE)',
      says: /UTF-16 text/,
    },
    // Each packer's own header (its magic bytes) before data: what the sniffer sees first.
    {
      bytes: () => Buffer.concat([Buffer.from('BZh91AY&SY'), gzipSync(REPORT)]),
      name: 'report.csv.bz2',
      says: /bzip2-compressed data, expected .*unpack it first/,
    },
    {
      bytes: () => Buffer.concat([Buffer.from('fd377a585a00', 'hex'), gzipSync(REPORT)]),
      name: 'report.csv.xz',
      says: /xz-compressed data/,
    },
    {
      bytes: () => Buffer.concat([Buffer.from('28b52ffd', 'hex'), gzipSync(REPORT)]),
      name: 'report.csv.zst',
      says: /zstd-compressed data/,
    },
    {
      bytes: () => Buffer.concat([Buffer.from('d0cf11e0a1b11ae1', 'hex'), Buffer.alloc(504)]),
      name: 'report.xls',
      says: /an Excel 97–2003 workbook/,
    },
  ]
  for (const {bytes, name, says} of cases) {
    it(`${name} is named for what it is`, async () => {
      expect(await refused(temp.write(name, bytes()))).toMatch(says)
    })
  }

  it('an .xlsx (a zip of XML parts) is named a workbook, not "a zip of more than one file"', async () => {
    const book = zipSync({'[Content_Types].xml': strToU8('<Types/>'), 'xl/workbook.xml': strToU8('<workbook/>')})
    expect(await refused(temp.write('book.xlsx', Buffer.from(book)))).toMatch(
      /an Excel workbook \(\.xlsx\), expected a CSV export/,
    )
  })

  it('a zip bomb is refused by its inflation ratio, as a .gz bomb is', async () => {
    const bomb = zipSync({'a.csv': strToU8(REPORT + 'x'.repeat(100 * 1024 * 1024))}, {level: 9})
    expect(await refused(temp.write('bomb.csv.zip', Buffer.from(bomb)))).toMatch(
      /inflates to more than 200 times its size \(a zip bomb/,
    )
  })
})
