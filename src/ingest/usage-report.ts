import {isByteUsage} from '../aws/usage-types.js'
import {addDays} from '../aws/window.js'
import {BillwatchError} from '../errors.js'
import {isRealDate, isoDay, parseNumber, readSmallCsv} from './csv-text.js'
import type {UsageRow} from './write.js'

const REQUIRED = ['Service', 'Operation', 'UsageType', 'StartTime', 'EndTime', 'UsageValue'] as const

export interface ParsedUsageReport {
  rows: UsageRow[]
  lineItems: number
  coverStart: string
  coverEnd: string
}

/**
 * The legacy AWS Usage Report CSV (../shared/research/formats.md §1): header `Service, Operation,
 * UsageType, Resource, StartTime, EndTime, UsageValue` (6-column variant without Resource too),
 * GMT times `MM/DD/YY HH:MM:SS`, `*-Bytes` values in bytes. Quirks handled: spaces in the header,
 * quoted thousands separators, spreadsheet dates `M/D/YYYY H:MM`, rows of only commas.
 */
export async function parseUsageReport(readPath: string, path = readPath): Promise<ParsedUsageReport> {
  const {header, rows} = await readSmallCsv(readPath, path)
  const index = new Map(header.map((name, i) => [name, i]))
  for (const name of REQUIRED) {
    if (!index.has(name)) throw new BillwatchError('E_HEADER', 'missing required column', {field: name, file: path, line: 1})
  }
  const at = (fields: string[], name: string) => (index.has(name) ? (fields[index.get(name) as number] ?? '').trim() : '')
  const out: UsageRow[] = []
  let coverStart: string | undefined
  let coverEnd: string | undefined
  for (const {fields, line} of rows) {
    const usageType = at(fields, 'UsageType')
    if (usageType === '') throw new BillwatchError('E_VALUE', '', {expected: 'a usage type', field: 'UsageType', file: path, line})
    const start = parseReportTime(at(fields, 'StartTime'))
    if (!start) throw new BillwatchError('E_VALUE', '', {expected: 'a date like 03/30/14 00:00:00', field: 'StartTime', file: path, got: at(fields, 'StartTime'), line})
    const end = parseReportTime(at(fields, 'EndTime'))
    if (!end) throw new BillwatchError('E_VALUE', '', {expected: 'a date like 03/31/14 00:00:00', field: 'EndTime', file: path, got: at(fields, 'EndTime'), line})
    const amount = parseNumber(at(fields, 'UsageValue'))
    if (amount === undefined) throw new BillwatchError('E_VALUE', '', {expected: 'a number', field: 'UsageValue', file: path, got: at(fields, 'UsageValue'), line})
    const service = at(fields, 'Service') || null
    out.push({
      account: null,
      amount,
      cost: null,
      currency: null,
      day: start.day,
      operation: at(fields, 'Operation') || null,
      region: null,
      resourceId: at(fields, 'Resource') || null,
      service,
      unit: isByteUsage(usageType) ? 'bytes' : null,
      usageType,
    })
    if (coverStart === undefined || start.day < coverStart) coverStart = start.day
    // EndTime is exclusive: a daily row 03/29 → 03/30 covers only the 29th.
    const endDay = end.midnight ? end.day : addDays(end.day, 1)
    if (coverEnd === undefined || endDay > coverEnd) coverEnd = endDay
  }
  if (out.length === 0 || coverStart === undefined || coverEnd === undefined) {
    throw new BillwatchError('E_EMPTY', 'no usage rows after the header', {file: path})
  }
  return {coverEnd, coverStart, lineItems: out.length, rows: out}
}

/** `03/30/14 00:00:00`, `3/30/2014 0:00`, `03/30/2014 00:00:00`; GMT. */
function parseReportTime(text: string): undefined | {day: string; midnight: boolean} {
  const match = /^(\d{1,2})\/(\d{1,2})\/(\d{2}|\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text)
  if (!match) return undefined
  const [, mm, dd, yy, hh, mi, ss] = match
  const year = (yy as string).length === 2 ? 2000 + Number(yy) : Number(yy)
  const month = Number(mm)
  const day = Number(dd)
  if (!isRealDate(year, month, day) || Number(hh) > 23 || Number(mi) > 59 || Number(ss ?? 0) > 59) return undefined
  return {day: isoDay(year, month, day), midnight: Number(hh) === 0 && Number(mi) === 0 && Number(ss ?? 0) === 0}
}
