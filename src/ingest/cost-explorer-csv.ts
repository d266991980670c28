import {BillwatchError} from '../errors.js'
import {type CsvReadOptions, type CsvRow, isRealDate, isoDay, parseNumber, readCsv} from './csv-text.js'
import {checkUsageRow} from './validate.js'
import type {UsageRow} from './write.js'

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

export interface ParsedCostExplorerCsv {
  rows: UsageRow[]
  lineItems: number
}

/**
 * The Cost Explorer console "Download CSV" (formats.md §5.4): a pivot with one column per group
 * (`DataTransfer-Out-Bytes($)`), a `Total costs($)` column, a `… total` row, then one row per day
 * (`YYYY-MM-DD`) or month. `($)` columns are cost in USD; any other `(unit)` suffix is usage in that
 * unit. The transposed layout (months as columns, groups as rows) is read too.
 */
export async function parseCostExplorerCsv(
  readPath: string,
  options: CsvReadOptions = {},
): Promise<ParsedCostExplorerCsv> {
  const path = options.file ?? readPath
  let header: string[] = []
  const rows: CsvRow[] = []
  // A console download is one row per day or month: small enough to hold whole.
  for await (const record of readCsv(readPath, options)) {
    if (record.header) header = record.fields.map((name) => name.trim())
    else if (!record.fields.every((f) => f.trim() === '')) rows.push(record)
  }
  const dimension = header[0] ?? ''
  const groups = header.slice(1).map((name, i) => ({column: i + 1, ...splitSuffix(name)}))
  const transposed =
    groups.length > 0 &&
    groups.filter((g) => !/^total/i.test(g.name)).every((g) => parseMonthName(g.name) !== undefined)
  refuseUngrouped(path, groups, rows, transposed)
  const out: UsageRow[] = []
  const push = (
    day: string,
    group: string,
    suffix: string,
    value: number,
    line: number,
    column: string,
    raw: string,
  ) => {
    const isCost = suffix === '$'
    checkUsageRow(
      {amount: isCost ? null : value, cost: isCost ? value : null, day},
      {
        fields: {amount: column, cost: column, day: transposed ? column : dimension},
        file: path,
        line,
        raw: {amount: raw, cost: raw},
      },
    )
    const byService = /^service$/i.test(dimension)
    out.push({
      account: null,
      amount: isCost ? null : value,
      cost: isCost ? value : null,
      currency: isCost ? 'USD' : null,
      day,
      operation: null,
      region: null,
      resourceId: null,
      service: byService ? group : null,
      unit: isCost ? null : suffix,
      usageType: byService ? `${group} (all usage types)` : group,
    })
  }
  for (const {fields, line} of rows) {
    const label = (fields[0] ?? '').trim()
    if (/ total$/i.test(label) || /^total costs/i.test(label)) continue
    const readValue = (column: number, name: string): number | undefined => {
      const text = (fields[column] ?? '').trim()
      if (text === '') return undefined
      const value = parseNumber(text)
      if (value === undefined)
        throw new BillwatchError('E_VALUE', '', {expected: 'a number', field: name, file: path, got: text, line})
      return value
    }
    if (transposed) {
      for (const group of groups) {
        const day = parseMonthName(group.name)
        if (day === undefined) continue
        const value = readValue(group.column, header[group.column] ?? '')
        if (value !== undefined)
          push(day, label, group.suffix, value, line, header[group.column] ?? '', fields[group.column] ?? '')
      }
      continue
    }
    const day = parseDay(label)
    if (day === undefined) {
      throw new BillwatchError('E_VALUE', '', {
        expected: 'a date YYYY-MM-DD (or YYYY-MM)',
        field: dimension,
        file: path,
        got: label,
        line,
      })
    }
    for (const group of groups) {
      if (/^total/i.test(group.name)) continue
      const value = readValue(group.column, header[group.column] ?? '')
      if (value !== undefined)
        push(day, group.name, group.suffix, value, line, header[group.column] ?? '', fields[group.column] ?? '')
    }
  }
  if (out.length === 0) throw new BillwatchError('E_EMPTY', 'no values after the header', {file: path})
  return {lineItems: rows.length, rows: out}
}

const DAILY_BY_USAGE_TYPE =
  'in Cost Explorer choose Granularity "Daily" and Group by "Usage type" (filter Usage type group "EC2: Data Transfer - Internet (Out)"), then Download CSV'

/**
 * A download without a usage grouping (only `Total costs($)`) or without day rows (only the total
 * row) holds no daily usage per usage type, so no egress step can be found in it: say what it holds.
 */
function refuseUngrouped(
  path: string,
  groups: {name: string}[],
  rows: {fields: string[]}[],
  transposed: boolean,
): void {
  const days = rows
    .map((r) => parseDay((r.fields[0] ?? '').trim()))
    .filter((d): d is string => d !== undefined)
    .sort()
  const span =
    days.length === 0
      ? 'for the whole period it was run for'
      : `per ${days.some((d) => !d.endsWith('-01')) ? 'day' : 'month'}, ${days[0]} to ${days.at(-1)}`
  if (groups.every((g) => /^total/i.test(g.name))) {
    throw new BillwatchError(
      'E_FORMAT',
      `a Cost Explorer download without a grouping: it holds only the total cost of every service ${span}, no usage type, so no egress step can be found in it`,
      {file: path, suggestions: [DAILY_BY_USAGE_TYPE]},
    )
  }
  if (days.length === 0 && !transposed) {
    throw new BillwatchError(
      'E_FORMAT',
      `a Cost Explorer download without days: it holds one total per group for the whole period (${groups
        .filter((g) => !/^total/i.test(g.name))
        .slice(0, 3)
        .map((g) => g.name)
        .join(', ')}…), so no daily step can be found in it`,
      {file: path, suggestions: [DAILY_BY_USAGE_TYPE]},
    )
  }
}

function splitSuffix(name: string): {name: string; suffix: string} {
  const match = /^(.*)\(([^()]+)\)$/.exec(name)
  return match ? {name: match[1]!.trim(), suffix: match[2]!.trim()} : {name, suffix: '$'}
}

function parseDay(text: string): string | undefined {
  const match = /^(\d{4})-(\d{2})(?:-(\d{2}))?$/.exec(text)
  if (!match) return undefined
  const year = Number(match[1])
  const month = Number(match[2])
  const day = match[3] === undefined ? 1 : Number(match[3])
  return isRealDate(year, month, day) ? isoDay(year, month, day) : undefined
}

/** "Jul 2026" → "2026-07-01". */
function parseMonthName(text: string): string | undefined {
  const match = /^([A-Z][a-z]{2})\w* (\d{4})$/.exec(text.trim())
  if (!match) return undefined
  const month = MONTHS.indexOf(match[1]!) + 1
  return month === 0 ? undefined : isoDay(Number(match[2]), month, 1)
}
