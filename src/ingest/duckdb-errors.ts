/**
 * DuckDB's read errors in billwatch's words. DuckDB's text names its own options, quotes the line it
 * failed on and suggests settings a user cannot change, so none of it is shown: each class it
 * reports becomes one cause a user can act on (the original stays in `cause` for a maintainer).
 * Only the first line is matched: a CSV error lists every reader option after it, among them
 * `compression`, which once made any unreadable CSV read as "compressed data is corrupt".
 */
import {BillwatchError, isOutOfMemory} from '../errors.js'
import {MAX_RECORD_BYTES} from './csv-text.js'

export type ReadAs = 'csv' | 'csv.gz' | 'parquet'

const PARQUET = 'a complete Parquet export'

export function duckdbError(path: string, error: unknown, readAs: ReadAs): BillwatchError {
  const text = error instanceof Error ? error.message : String(error)
  const first = text.split('\n')[0] ?? ''
  const lineNumber = /CSV Error on Line: (\d+)/.exec(text)?.[1]
  const line = lineNumber === undefined ? {} : {line: Number(lineNumber)}
  const at = {cause: error, file: path}
  if (first.startsWith('INTERRUPT Error')) return new BillwatchError('E_INTERNAL', 'reading was interrupted', at)
  if (isOutOfMemory(error)) {
    return new BillwatchError(
      'E_MEMORY',
      `reading it needs more memory than billwatch may use (${process.env.BILLWATCH_MEMORY_LIMIT ?? '640MB'})`,
      {
        ...at,
        suggestions: ['set BILLWATCH_MEMORY_LIMIT higher (e.g. BILLWATCH_MEMORY_LIMIT=2GB)'],
      },
    )
  }
  if (readAs === 'parquet') return parquetError(first, at)
  if (readAs === 'csv.gz' && /GZIP|gzip|inflate|zlib|decompress/.test(first)) {
    return new BillwatchError('E_TRUNCATED', 'gzip stream is truncated or corrupt', {
      ...at,
      expected: 'a complete .gz file',
    })
  }
  if (/Invalid unicode|not utf-8 encoded/i.test(text)) {
    return new BillwatchError('E_FORMAT', 'a byte that is not UTF-8', {
      ...at,
      ...line,
      expected: 'UTF-8 text (re-save the file as UTF-8)',
    })
  }
  if (/Maximum line size of \d+ bytes exceeded/i.test(text)) {
    return new BillwatchError('E_FORMAT', `a line longer than ${MAX_RECORD_BYTES / 1_000_000} MB`, {
      ...at,
      ...line,
      expected: 'a CSV export, one record per line',
    })
  }
  if (/Value with unterminated quote/i.test(text)) {
    return new BillwatchError('E_FORMAT', 'unterminated quote: a quoted field runs to the end of the file', {
      ...at,
      ...line,
      expected: 'a closing "',
    })
  }
  const convert = /Error when converting column "([^"\n]*)"[^\n]*to '(\w+)'/.exec(text)
  if (convert) {
    const expected = /DOUBLE|DECIMAL|INT/.test(convert[2]!)
      ? 'a number'
      : /TIMESTAMP|DATE/.test(convert[2]!)
        ? 'a date'
        : `a ${convert[2]!.toLowerCase()}`
    return new BillwatchError('E_VALUE', '', {...at, ...line, expected, field: convert[1]!})
  }
  const columns = /Expected Number of Columns: (\d+) Found: (\d+)/.exec(text)
  if (columns)
    return new BillwatchError('E_FORMAT', `${columns[2]} fields where the header has ${columns[1]}`, {...at, ...line})
  if (first.includes('Error when sniffing file')) {
    // With the dialect fixed (comma, double quote), the sniffer fails when no sample of lines has one
    // consistent number of fields: rows of different widths, or a header that is not one CSV line.
    return new BillwatchError('E_FORMAT', 'its lines do not have one number of comma-separated fields', {
      ...at,
      expected: 'a CSV export: every line as many fields as the header',
    })
  }
  return new BillwatchError('E_FORMAT', readAs === 'csv.gz' ? 'unreadable gzipped CSV' : 'unreadable CSV', {
    ...at,
    ...line,
    expected: 'a CSV export as AWS writes it',
  })
}

/** Parquet: a missing footer, damaged metadata, a damaged page, or a file too short for either. */
function parquetError(first: string, at: {cause: unknown; file: string}): BillwatchError {
  if (/No magic bytes|too small to be a Parquet file|not a parquet file/i.test(first)) {
    return new BillwatchError(
      'E_TRUNCATED',
      'not a complete Parquet file (its footer is missing: cut short, or another kind of file)',
      {
        ...at,
        expected: PARQUET,
      },
    )
  }
  if (/snappy|zstd|gzip|brotli|lz4|decompress/i.test(first)) {
    return new BillwatchError('E_FORMAT', 'a damaged compressed page in the Parquet data', {...at, expected: PARQUET})
  }
  if (/TProtocolException|thrift|don't know what type|metadata|footer|deserializ/i.test(first)) {
    return new BillwatchError('E_FORMAT', 'damaged Parquet metadata (the footer that describes its columns)', {
      ...at,
      expected: PARQUET,
    })
  }
  return new BillwatchError('E_FORMAT', 'damaged Parquet data', {...at, expected: PARQUET})
}
