import {isByteUsage} from '../aws/usage-types.js'
import {addDays} from '../aws/window.js'
import {BillwatchError} from '../errors.js'
import type {Store} from '../store/index.js'
import {type CsvReadOptions, DUCKDB_CSV_BOUNDS, isRealDate, isoDay, parseNumber, readCsv} from './csv-text.js'
import {quoteLiteral} from './columnar.js'
import {duckdbError} from './duckdb-errors.js'
import {checkUsageRow, PLAIN_NUMBER, usageProblemSql} from './validate.js'
import {STAGING_TABLE, type UsageRow} from './write.js'

const REQUIRED = ['Service', 'Operation', 'UsageType', 'StartTime', 'EndTime', 'UsageValue'] as const

export interface StagedUsageReport {
  lineItems: number
  coverStart: string
  coverEnd: string
}

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

const REPORT_TIME = String.raw`(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\s+(\d{1,2}):(\d{2})(:(\d{2}))?`
const REPORT_TIME_FORMATS = ['%m/%d/%y %H:%M:%S', '%m/%d/%Y %H:%M:%S', '%m/%d/%y %H:%M', '%m/%d/%Y %H:%M']

/**
 * The fast read: DuckDB's CSV scan rolls the report up to daily keys (a 100 MB report in about a
 * second, in bounded memory) and counts the lines that break a check of usageReportLines below;
 * any such line, or any CSV error, fails the scan for the strict reader to locate.
 */
async function scanUsageReport(
  store: Store,
  path: string,
  columns: string[],
  options: {gzip?: boolean; readPath?: string},
): Promise<StagedUsageReport> {
  const col = (name: string) => (columns.includes(name) ? `trim(c${columns.indexOf(name)})` : 'NULL')
  const time = (name: string) =>
    `CASE WHEN regexp_full_match(${col(name)}, ${quoteLiteral(REPORT_TIME)}) THEN try_strptime(${col(name)}, [${REPORT_TIME_FORMATS.map(quoteLiteral).join(', ')}]) END`
  const value = `replace(${col('UsageValue')}, ',', '')`
  const source = `read_csv(${quoteLiteral(options.readPath ?? path)}, header = false, skip = 1, quote = '"', escape = '"', delim = ',',
    columns = {${columns.map((_, i) => `'c${i}': 'VARCHAR'`).join(', ')}}, compression = '${options.gzip ? 'gzip' : 'none'}', ${DUCKDB_CSV_BOUNDS})`
  const notBlank = columns.map((_, i) => `coalesce(trim(c${i}), '') <> ''`).join(' OR ')
  const scan = `bw_report_${Date.now()}_${Math.floor(Math.random() * 1e6)}`
  try {
    await store.run(`CREATE OR REPLACE TEMP TABLE ${scan} AS
      WITH lines AS (
        SELECT ${col('UsageType')} AS usage_type, nullif(${col('Service')}, '') AS service, nullif(${col('Operation')}, '') AS operation,
               nullif(${col('Resource')}, '') AS resource_id, ${time('StartTime')} AS start_at, ${time('EndTime')} AS end_at,
               CASE WHEN regexp_full_match(${value}, ${quoteLiteral(PLAIN_NUMBER)}) THEN TRY_CAST(${value} AS DOUBLE) END AS amount
        FROM ${source} WHERE ${notBlank})
      SELECT CAST(start_at AS DATE) AS day, service, operation, usage_type, resource_id, sum(amount) AS amount, count(*) AS lines,
             count(*) FILTER (WHERE coalesce(usage_type, '') = '' OR start_at IS NULL OR end_at IS NULL OR end_at <= start_at OR amount IS NULL
                              OR ${usageProblemSql({amount: 'amount', day: 'start_at', extraDays: ['end_at']})} IS NOT NULL) AS problems,
             max(CASE WHEN end_at = date_trunc('day', end_at) THEN CAST(end_at AS DATE) ELSE CAST(end_at AS DATE) + 1 END) AS end_day
      FROM lines GROUP BY ALL`)
  } catch (error) {
    throw duckdbError(path, error, options.gzip ? 'csv.gz' : 'csv')
  }
  try {
    const totals = await store.one<{lines: number; problems: number; first: null | string; end: null | string}>(
      `SELECT coalesce(sum(lines), 0)::BIGINT AS lines, coalesce(sum(problems), 0)::BIGINT AS problems,
              strftime(min(day), '%Y-%m-%d') AS first, strftime(max(end_day), '%Y-%m-%d') AS end FROM ${scan}`,
    )
    if (totals && totals.problems > 0) throw new BillwatchError('E_VALUE', 'a line breaks a check', {file: path})
    if (!totals || totals.lines === 0 || !totals.first || !totals.end)
      throw new BillwatchError('E_EMPTY', 'no usage rows after the header', {file: path})
    await store.run(`INSERT INTO ${STAGING_TABLE} (day, account, region, service, usage_type, operation, resource_id, amount, unit, cost, currency)
      SELECT day, NULL, NULL, service, usage_type, operation, resource_id, amount,
             CASE WHEN regexp_matches(usage_type, 'Bytes$') THEN 'bytes' END, NULL, NULL FROM ${scan}`)
    return {coverEnd: totals.end, coverStart: totals.first, lineItems: totals.lines}
  } finally {
    await store.run(`DROP TABLE IF EXISTS ${scan}`)
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
