import {open} from 'node:fs/promises'
import {createGunzip} from 'node:zlib'

import Papa from 'papaparse'

import {BillwatchError} from '../errors.js'
import {checkInputFile, unopenableFile} from '../util/files.js'
import {isDbrHeader} from './dbr.js'
import {refuseForeignExport} from './refusals.js'
import {zipHead} from './zip.js'
import {gzipFailure} from './fingerprint.js'

/** What billwatch can ingest. `kind` is the export; `container` how its bytes are packed. */
export type FormatKind = 'cost-explorer-csv' | 'cur1' | 'cur1-manifest' | 'cur2' | 'dbr' | 'focus' | 'usage-report'
export type Container = 'csv' | 'csv.gz' | 'csv.zip' | 'json' | 'parquet'

export const FORMAT_KINDS: FormatKind[] = [
  'usage-report',
  'cur1',
  'cur1-manifest',
  'cur2',
  'focus',
  'dbr',
  'cost-explorer-csv',
]

export interface Sniffed {
  kind: FormatKind
  container: Container
  /** Header names, trimmed, BOM removed (CSV and Parquet). */
  columns: string[]
}

const HEAD_BYTES = 64 * 1024

/**
 * Detects an export's format from its content (never its name): magic bytes, then the header row
 * or Parquet schema. `forced` (--format) overrides the kind, not the container.
 */
export async function sniffFile(
  path: string,
  parquetColumns: (path: string) => Promise<string[]>,
  forced?: FormatKind,
): Promise<Sniffed> {
  const raw = await readHead(path)
  if (raw.length === 0)
    throw new BillwatchError('E_EMPTY', 'file is empty', {expected: 'an AWS usage or billing export', file: path})
  const magic = raw.subarray(0, 4).toString('hex')
  if (magic.startsWith('1f8b')) {
    const inner = await gunzipHead(path)
    if (inner.trim().length === 0) throw new BillwatchError('E_EMPTY', 'compressed file holds no data', {file: path})
    if (looksBinary(Buffer.from(inner.slice(0, 8192), 'utf8'))) {
      throw new BillwatchError('E_FORMAT', 'the .gz holds binary content', {
        expected: 'a gzipped CSV export',
        file: path,
      })
    }
    return classifyText(path, inner, 'csv.gz', forced)
  }
  if (magic === '50415231') {
    const columns = await parquetColumns(path)
    return {columns, container: 'parquet', kind: forced ?? classifyColumns(path, columns, 1)}
  }
  if (magic === '504b0304') {
    // The DBR (and CUR 1.0 when asked for ZIP) came as a zip of one CSV.
    const inner = await zipHead(path)
    if (inner.trim().length === 0) throw new BillwatchError('E_EMPTY', 'zip archive holds an empty file', {file: path})
    if (looksBinary(Buffer.from(inner.slice(0, 8192))))
      throw new BillwatchError('E_FORMAT', 'zip archive of a binary file', {
        expected: 'a zip of one CSV export',
        file: path,
      })
    return classifyText(path, inner, 'csv.zip', forced)
  }
  if (['d4c3b2a1', 'a1b2c3d4', '4d3cb2a1', 'a1b23c4d', '0a0d0d0a'].includes(magic)) {
    throw new BillwatchError('E_FORMAT', 'this is a packet capture, not a billing export', {
      file: path,
      suggestions: [`billwatch pcap ${path}`],
    })
  }
  const other = otherFormat(raw)
  if (other) throw new BillwatchError('E_FORMAT', other.what, {expected: other.expected, file: path})
  if (looksBinary(raw)) {
    throw new BillwatchError('E_FORMAT', 'binary content', {
      expected: 'a CSV, .csv.gz, Parquet or CUR manifest export',
      file: path,
    })
  }
  return classifyText(path, raw.toString('utf8'), 'csv', forced)
}

const AS_CSV = 'a CSV, .csv.gz, Parquet or CUR manifest export'

/**
 * What a careless hand gives instead of an export, named by its first bytes: a spreadsheet, UTF-16
 * text (Excel's "Unicode text"), or another compression than gzip and zip.
 */
function otherFormat(head: Buffer): undefined | {what: string; expected: string} {
  const hex = head.subarray(0, 8).toString('hex')
  const utf16 = hex.startsWith('fffe') || hex.startsWith('feff') || isUtf16WithoutBom(head)
  if (utf16) return {expected: 'UTF-8 text (re-save the file as CSV UTF-8)', what: 'UTF-16 text'}
  if (hex.startsWith('d0cf11e0a1b11ae1'))
    return {
      expected: 'a CSV export (save the sheet as CSV UTF-8)',
      what: 'an Excel 97–2003 workbook (or another OLE document)',
    }
  const compressed = [
    ['425a68', 'bzip2'],
    ['fd377a585a00', 'xz'],
    ['28b52ffd', 'zstd'],
    ['377abcaf271c', '7-Zip'],
    ['526172211a07', 'RAR'],
    ['04224d18', 'LZ4'],
  ].find(([magic]) => hex.startsWith(magic!))
  if (compressed)
    return {expected: `${AS_CSV} (unpack it first, or compress it with gzip)`, what: `${compressed[1]}-compressed data`}
  return undefined
}

/** UTF-16 text without a byte order mark: every other byte zero, the rest not. */
function isUtf16WithoutBom(head: Buffer): boolean {
  const sample = head.subarray(0, 1024)
  if (sample.length < 8) return false
  let zeroOdd = 0
  let zeroEven = 0
  for (let i = 0; i + 1 < sample.length; i += 2) {
    if (sample[i] === 0) zeroEven++
    if (sample[i + 1] === 0) zeroOdd++
  }
  const pairs = Math.floor(sample.length / 2)
  return (zeroOdd > pairs * 0.6 && zeroEven < pairs * 0.1) || (zeroEven > pairs * 0.6 && zeroOdd < pairs * 0.1)
}

function classifyText(path: string, text: string, container: Container, forced?: FormatKind): Sniffed {
  const body = text.replace(/^\uFEFF/, '')
  if (body.trimStart().startsWith('{')) {
    if (forced && forced !== 'cur1-manifest')
      throw new BillwatchError('E_FORMAT', `JSON content cannot be read as ${forced}`, {file: path})
    if (!/"reportKeys"|"assemblyId"/.test(body)) {
      throw new BillwatchError('E_FORMAT', 'JSON that is not a CUR manifest', {
        expected: 'a manifest with "reportKeys"',
        file: path,
      })
    }
    return {columns: [], container: 'json', kind: 'cur1-manifest'}
  }
  const firstLine = body.split(/\r?\n/, 1)[0] ?? ''
  if (firstLine.trim() === '')
    throw new BillwatchError('E_EMPTY', 'no header row', {expected: 'a CSV header on line 1', file: path, line: 1})
  const parsed = Papa.parse<string[]>(firstLine, {header: false})
  const columns = (parsed.data[0] ?? []).map((c) => c.trim())
  return {columns, container, kind: forced ?? classifyColumns(path, columns, 1)}
}

/** Header names that identify each export (../shared/research/formats.md §0). */
export function classifyColumns(path: string, columns: string[], line: number): FormatKind {
  const set = new Set(columns)
  const lower = new Set(columns.map((c) => c.toLowerCase()))
  if (set.has('UsageType') && set.has('StartTime')) return 'usage-report'
  // Oracle's native reports also name columns lineItem/…: named before they pass for CUR 1.0.
  refuseForeignExport(path, columns)
  if (columns.some((c) => c.startsWith('lineItem/'))) return 'cur1'
  // Any case: a Glue crawler lower-cases FOCUS names.
  if (lower.has('chargeperiodstart') && (lower.has('billedcost') || lower.has('effectivecost'))) return 'focus'
  // CUR 2.0 and CUR 1.0 Athena/Parquet share snake_case names; both are read the same way.
  if (set.has('line_item_usage_start_date')) return 'cur2'
  if (isDbrHeader(columns)) return 'dbr'
  if (columns.length >= 2 && /\(.+\)$/.test(columns.at(-1) ?? '') && columns.slice(1).every((c) => /\(.+\)$/.test(c)))
    return 'cost-explorer-csv'
  throw new BillwatchError('E_HEADER', 'unknown header', {
    expected:
      'a legacy Usage Report (Service, Operation, UsageType, …), CUR 1.0 (lineItem/…), CUR 2.0 (line_item_…), FOCUS (ChargePeriodStart, BilledCost, …), Detailed Billing Report (InvoiceID, PayerAccountId, LinkedAccountId, RecordType, …) or Cost Explorer CSV header',
    file: path,
    got: columns.slice(0, 4).join(','),
    line,
  })
}

export async function readHead(path: string): Promise<Buffer> {
  // Regular files only: a FIFO's open would wait for a writer, /dev/zero never ends, and DuckDB
  // and the fingerprint read the file again (a pipe cannot be read twice).
  checkInputFile(path, {expected: 'an AWS usage or billing export saved to a file'})
  let handle
  try {
    handle = await open(path, 'r')
  } catch (error) {
    throw unopenableFile(path, error)
  }
  try {
    const buffer = Buffer.alloc(HEAD_BYTES)
    const {bytesRead} = await handle.read(buffer, 0, HEAD_BYTES, 0)
    return buffer.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

/** The first ~64 KB of a gzip file's content (enough for the header row). */
export async function gunzipHead(path: string): Promise<string> {
  const handle = await open(path, 'r')
  const gunzip = createGunzip()
  const chunks: Buffer[] = []
  let size = 0
  return new Promise((resolve, reject) => {
    const finish = () => {
      void handle.close()
      resolve(Buffer.concat(chunks).toString('utf8'))
    }
    gunzip.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      size += chunk.length
      if (size >= HEAD_BYTES) {
        gunzip.removeAllListeners('data')
        gunzip.destroy()
        finish()
      }
    })
    gunzip.on('end', finish)
    gunzip.on('error', (error) => {
      if (size > 0) return finish()
      void handle.close()
      reject(gzipFailure(path, error))
    })
    const stream = handle.createReadStream({autoClose: false, end: 4 * 1024 * 1024})
    stream.pipe(gunzip)
  })
}

export function looksBinary(head: Buffer): boolean {
  const sample = head.subarray(0, 8192)
  let control = 0
  for (const byte of sample) {
    if (byte === 0) return true
    if (byte < 9 || (byte > 13 && byte < 32)) control++
  }
  return control > sample.length * 0.1
}
