import {isUtf8} from 'node:buffer'
import {createReadStream} from 'node:fs'
import {stat} from 'node:fs/promises'
import {Transform, type TransformCallback} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import {parse} from 'csv-parse'

import {BillwatchError} from '../errors.js'
import {gzipFailure, inflating} from './fingerprint.js'
import {parsePlainNumber} from './validate.js'

/** One CSV record and the file line it starts on (1-based; a quoted newline makes a record span lines). */
export interface CsvRow {
  line: number
  fields: string[]
}

/** `file` is the name errors give when the bytes are read from elsewhere (an extracted zip member). */
export interface CsvReadOptions {
  file?: string
  gzip?: boolean | undefined
}

/** The longest record billwatch reads: no billing line is longer. */
export const MAX_RECORD_BYTES = 10_000_000

/**
 * DuckDB's CSV reader under the same bound. Its buffer otherwise defaults to 16 times the line bound
 * (160 MB), allocated whole for a .gz, which a small BILLWATCH_MEMORY_LIMIT (256MB) cannot hold: every
 * gzipped export failed there for memory.
 */
export const DUCKDB_CSV_BOUNDS = `max_line_size = ${MAX_RECORD_BYTES}, buffer_size = ${3 * MAX_RECORD_BYTES}`

/**
 * Reads a CSV strictly, streaming (any size in bounded memory): the header first, then every
 * record with the line it starts on. Fails with the file and line on invalid UTF-8 (never read as
 * U+FFFD), an unterminated quote, a stray quote, or a record with more or fewer fields than the
 * header (an unquoted `1,234` is one field too many). Empty lines are skipped; a BOM is dropped.
 */
export async function* readCsv(
  readPath: string,
  options: CsvReadOptions = {},
): AsyncGenerator<CsvRow & {header: boolean}> {
  const path = options.file ?? readPath
  const {size} = await stat(readPath)
  const parser = parse({
    bom: true,
    info: true,
    max_record_size: MAX_RECORD_BYTES,
    relax_column_count: false,
    skip_empty_lines: true,
  })
  const source = createReadStream(readPath, {highWaterMark: 1 << 20})
  const flowing = options.gzip
    ? pipeline(source, ...inflating(path, size), new Utf8Check(path), parser)
    : pipeline(source, new Utf8Check(path), parser)
  flowing.catch(() => undefined)
  let lastEnd = 0
  let first = true
  try {
    for await (const {info, record} of parser as AsyncIterable<{info: {lines: number}; record: string[]}>) {
      const line = info.lines - newlinesIn(record)
      lastEnd = info.lines
      yield {fields: record, header: first, line}
      first = false
    }
    await flowing
  } catch (error) {
    if (error instanceof BillwatchError) throw error
    const code = (error as {code?: unknown}).code
    throw (typeof code === 'string' && code.startsWith('CSV_')) || code === 'INVALID_OPENING_QUOTE'
      ? csvError(path, error, lastEnd)
      : gzipFailure(path, error)
  } finally {
    source.destroy()
  }
}

function newlinesIn(fields: string[]): number {
  let count = 0
  for (const field of fields) {
    for (let at = field.indexOf('\n'); at !== -1; at = field.indexOf('\n', at + 1)) count++
  }
  return count
}

/** csv-parse's error as one located line, naming what was wrong in words. */
function csvError(path: string, error: unknown, lastEnd: number): unknown {
  const code = (error as {code?: string}).code
  const lines = (error as {lines?: number}).lines
  const record = (error as {record?: string[]}).record
  switch (code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return new BillwatchError(
        'E_FORMAT',
        'unterminated quote: the quoted field that starts here runs to the end of the file',
        {
          expected: 'a closing "',
          file: path,
          line: lastEnd + 1,
        },
      )
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH': {
      const got = record?.length
      const line = lines === undefined ? lastEnd + 1 : lines - (record ? newlinesIn(record) : 0)
      const expected = /expect (\d+)/.exec((error as Error).message)?.[1]
      const hint =
        got !== undefined && expected !== undefined && got > Number(expected)
          ? ' (a number with an unquoted thousands separator, like 1,234, is one field too many)'
          : ''
      return new BillwatchError(
        'E_FORMAT',
        `${got ?? 'a different number of'} fields where the header has ${expected ?? 'another number'}${hint}`,
        {
          file: path,
          line: line,
        },
      )
    }
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'INVALID_OPENING_QUOTE':
      return new BillwatchError('E_FORMAT', 'a quote inside an unquoted field, or text after a closing quote', {
        expected: 'fields quoted whole, with "" for a quote inside',
        file: path,
        line: lines ?? lastEnd + 1,
      })
    default:
      return new BillwatchError('E_FORMAT', `unreadable CSV (${code ?? 'parse error'})`, {
        file: path,
        ...(lines === undefined ? {} : {line: lines}),
      })
  }
}

/**
 * Passes bytes through unchanged, failing at the first byte that is not UTF-8, with its line.
 * Valid chunks are checked whole by the fast `isUtf8`; only a failing one is walked byte by byte.
 */
class Utf8Check extends Transform {
  private carry = Buffer.alloc(0)
  private newlines = 0

  constructor(private readonly path: string) {
    super()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk
    const complete = completePrefix(data)
    const body = data.subarray(0, complete)
    if (!isUtf8(body)) return callback(this.invalidAt(body, firstInvalidUtf8(body)))
    this.countNewlines(body)
    this.carry = Buffer.from(data.subarray(complete))
    callback(null, body)
  }

  override _flush(callback: TransformCallback): void {
    if (this.carry.length > 0) return callback(this.invalidAt(this.carry, 0))
    callback()
  }

  private countNewlines(buffer: Buffer, end = buffer.length): void {
    for (let at = buffer.indexOf(10); at !== -1 && at < end; at = buffer.indexOf(10, at + 1)) this.newlines++
  }

  private invalidAt(buffer: Buffer, offset: number): BillwatchError {
    this.countNewlines(buffer, offset)
    return new BillwatchError(
      'E_FORMAT',
      `a byte that is not UTF-8 (0x${(buffer[offset] ?? 0).toString(16).padStart(2, '0')})`,
      {
        expected: 'UTF-8 text (re-save the file as UTF-8)',
        file: this.path,
        line: this.newlines + 1,
      },
    )
  }
}

/** Length of `data` without a multi-byte sequence cut off at its end (kept for the next chunk). */
function completePrefix(data: Buffer): number {
  for (let back = 1; back <= Math.min(3, data.length); back++) {
    const byte = data[data.length - back]!
    if ((byte & 0xc0) === 0x80) continue
    if (byte < 0x80) return data.length
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2
    return needed > back ? data.length - back : data.length
  }
  return data.length
}

/** Offset of the first byte that does not begin or continue a valid UTF-8 sequence. */
export function firstInvalidUtf8(data: Buffer): number {
  let i = 0
  while (i < data.length) {
    const byte = data[i]!
    if (byte < 0x80) {
      i++
      continue
    }
    const length =
      byte >= 0xc2 && byte <= 0xdf ? 2 : byte >= 0xe0 && byte <= 0xef ? 3 : byte >= 0xf0 && byte <= 0xf4 ? 4 : 0
    if (length === 0 || i + length > data.length || !isUtf8(data.subarray(i, i + length))) return i
    i += length
  }
  return data.length
}

/** "1,234,567" (a quoted thousands separator) → 1234567; undefined for anything that is not a finite number. */
export function parseNumber(text: string): number | undefined {
  return parsePlainNumber(text.trim().replaceAll(',', ''))
}

/** A real calendar day: rejects 2014-02-30 and friends. */
export function isRealDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate()
  return day <= days
}

export function isoDay(year: number, month: number, day: number): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`
}
