import {isByteUsage} from '../aws/usage-types.js'
import {addDays} from '../aws/window.js'
import {BillwatchError} from '../errors.js'
import type {Store} from '../store/index.js'
import {scanUsageReport, type StagedUsageReport} from '../store/usage-scan.js'
import {type CsvReadOptions, isRealDate, isoDay, parseNumber, readCsv} from './csv-text.js'
import type {UsageRow} from './rows.js'
import {checkUsageRow} from './validate.js'

const REQUIRED = ['Service', 'Operation', 'UsageType', 'StartTime', 'EndTime', 'UsageValue'] as const

/**
 * The legacy AWS Usage Report CSV (../shared/research/formats.md §1): header `Service, Operation,
 * UsageType, Resource, StartTime, EndTime, UsageValue` (6-column variant without Resource too),
 * GMT times `MM/DD/YY HH:MM:SS`, `*-Bytes` values in bytes. Quirks handled: spaces in the header,
 * quoted thousands separators, spreadsheet dates `M/D/YYYY H:MM`, rows of only commas.
 * DuckDB streams and rolls up the file; a report that fails is read again strictly to name the line.
 */
/** `options.readPath` is where the bytes are when they are not at `path` (an extracted zip member). */
export async function stageUsageReport(
  store: Store,
  path: string,
  columns: string[],
  options: {gzip?: boolean; readPath?: string} = {},
): Promise<StagedUsageReport> {
  for (const name of REQUIRED) {
    if (!columns.includes(name))
      throw new BillwatchError('E_HEADER', 'missing required column', {field: name, file: path, line: 1})
  }
  try {
    return await scanUsageReport(store, path, columns, options)
  } catch (error) {
    // DuckDB names no line and no column: the strict reader, which applies the same checks line by
    // line, finds the first bad one. Only a failing report is read twice.
    if (!(error instanceof BillwatchError) || error.code === 'E_EMPTY') throw error
    for await (const _ of usageReportLines(options.readPath ?? path, {file: path, gzip: options.gzip})) {
      // Each line is checked as it is read; the first bad one throws.
    }
    throw error
  }
}

/** Every line of a usage report as a row, held in memory (small reports, test fixtures). */
export async function parseUsageReport(path: string): Promise<{rows: UsageRow[]}> {
  const rows: UsageRow[] = []
  for await (const {row} of usageReportLines(path)) rows.push(row)
  return {rows}
}

/** The report's lines, checked (strict CSV, the usage rule), each with the day after the last one it covers. */
async function* usageReportLines(
  readPath: string,
  options: CsvReadOptions = {},
): AsyncGenerator<{row: UsageRow; endDay: string}> {
  const path = options.file ?? readPath
  let index = new Map<string, number>()
  for await (const {fields, header, line} of readCsv(readPath, options)) {
    if (header) {
      index = new Map(fields.map((name, i) => [name.trim(), i]))
      for (const name of REQUIRED) {
        if (!index.has(name))
          throw new BillwatchError('E_HEADER', 'missing required column', {field: name, file: path, line})
      }
      continue
    }
    const at = (name: string) => (index.has(name) ? (fields[index.get(name)!] ?? '').trim() : '')
    if (fields.every((f) => f.trim() === '')) continue
    const usageType = at('UsageType')
    if (usageType === '')
      throw new BillwatchError('E_VALUE', '', {expected: 'a usage type', field: 'UsageType', file: path, line})
    const start = parseReportTime(at('StartTime'))
    if (!start)
      throw new BillwatchError('E_VALUE', '', {
        expected: 'a date like 03/30/14 00:00:00',
        field: 'StartTime',
        file: path,
        got: at('StartTime'),
        line,
      })
    checkUsageRow(
      {amount: null, cost: null, day: start.day},
      {fields: {day: 'StartTime'}, file: path, line, raw: {day: at('StartTime')}},
    )
    const end = parseReportTime(at('EndTime'))
    if (!end)
      throw new BillwatchError('E_VALUE', '', {
        expected: 'a date like 03/31/14 00:00:00',
        field: 'EndTime',
        file: path,
        got: at('EndTime'),
        line,
      })
    checkUsageRow(
      {amount: null, cost: null, day: end.day},
      {fields: {day: 'EndTime'}, file: path, line, raw: {day: at('EndTime')}},
    )
    if (end.at <= start.at)
      throw new BillwatchError('E_VALUE', '', {
        expected: 'a time after StartTime',
        field: 'EndTime',
        file: path,
        got: at('EndTime'),
        line,
      })
    const amount = parseNumber(at('UsageValue'))
    if (amount === undefined)
      throw new BillwatchError('E_VALUE', '', {
        expected: 'a number',
        field: 'UsageValue',
        file: path,
        got: at('UsageValue'),
        line,
      })
    checkUsageRow(
      {amount, cost: null, day: start.day},
      {fields: {amount: 'UsageValue'}, file: path, line, raw: {amount: at('UsageValue')}},
    )
    yield {
      // EndTime is exclusive: a daily row 03/29 → 03/30 covers only the 29th.
      endDay: end.midnight ? end.day : addDays(end.day, 1),
      row: {
        account: null,
        amount,
        cost: null,
        currency: null,
        day: start.day,
        operation: at('Operation') || null,
        region: null,
        resourceId: at('Resource') || null,
        service: at('Service') || null,
        unit: isByteUsage(usageType) ? 'bytes' : null,
        usageType,
      },
    }
  }
}

/** `03/30/14 00:00:00`, `3/30/2014 0:00`, `03/30/2014 00:00:00`; GMT. */
function parseReportTime(text: string): undefined | {at: number; day: string; midnight: boolean} {
  const match = /^(\d{1,2})\/(\d{1,2})\/(\d{2}|\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text)
  if (!match) return undefined
  const [, mm, dd, yy, hh, mi, ss] = match
  const year = yy!.length === 2 ? 2000 + Number(yy) : Number(yy)
  const month = Number(mm)
  const day = Number(dd)
  if (!isRealDate(year, month, day) || Number(hh) > 23 || Number(mi) > 59 || Number(ss ?? 0) > 59) return undefined
  return {
    at: Date.UTC(year, month - 1, day, Number(hh), Number(mi), Number(ss ?? 0)),
    day: isoDay(year, month, day),
    midnight: Number(hh) === 0 && Number(mi) === 0 && Number(ss ?? 0) === 0,
  }
}
