/**
 * The scans that read a billing file with DuckDB into the staging tables (src/store/usage-import.ts): a columnar
 * export (CUR, FOCUS, the DBR; CSV, .csv.gz or Parquet) through its scan plan (src/ingest/columnar.ts), rolled up
 * to days, with the first bad row located when the fast scan fails; and the legacy usage report. The plans and the
 * rules of a good line are src/ingest's; every statement that runs them is here.
 */
import {BillwatchError} from '../errors.js'
import {buildPlan, hasPlan, matchesAnyCase} from '../ingest/columnar.js'
import {Columns, quoteLiteral} from '../ingest/columns.js'
import {DUCKDB_CSV_BOUNDS, readCsv} from '../ingest/csv-text.js'
import {duckdbError} from '../ingest/duckdb-errors.js'
import type {Container, FormatKind} from '../ingest/sniff.js'
import {
  EXPECTED_AMOUNT,
  EXPECTED_COST,
  expectedDay,
  parsePlainNumber,
  PLAIN_NUMBER,
  usageProblemSql,
} from '../ingest/validate.js'
import type {Store} from './index.js'
import {dailyRollupSql, derivedSteps, ROLLUP_COLUMNS, rowKindSql, ruleBreak} from './rollup-sql.js'
import type {SourceMeta} from '../ingest/rows.js'
import {
  commitStaged,
  createStaging,
  findSourceByHash,
  insertValues,
  STAGED_CHARGES,
  STAGING_TABLE,
} from './usage-import.js'

/** What the scan of a legacy usage report staged: its lines and the days it covers. */
export interface StagedUsageReport {
  lineItems: number
  coverStart: string
  coverEnd: string
}

/** How FOCUS CSVs spell null: empty, NULL (the FinOps sample data), null (the specification's examples). */
const FOCUS_NULLS = ['', 'NULL', 'null', 'Null']

export interface ColumnarScan {
  lineItems: number
  billingStart: null | string
  billingEnd: null | string
  costBasis: string
}

let scanCounter = 0

/**
 * Scans one CUR/FOCUS/DBR file with DuckDB (CSV, .csv.gz or Parquet), rolls it up to days and
 * appends the usage rows and the other charges to the staging tables. Bad values are collected by
 * DuckDB's reject tables and the first one becomes a located error, so nothing is staged from a
 * bad file. `readPath` is where the bytes are (an extracted zip member); errors name `path`.
 */
export async function stageColumnar(
  store: Store,
  path: string,
  kind: FormatKind,
  container: Container,
  columns: string[],
  readPath = path,
): Promise<ColumnarScan> {
  try {
    return await scanColumnar(store, path, kind, container, columns, readPath)
  } catch (error) {
    // The fast scan stops at whichever bad row a thread meets first and names no column. A strict
    // read (csv-text.ts: UTF-8, quotes, field counts, true line numbers) goes first, since DuckDB's
    // reject tables can abort the whole database on a byte that is not UTF-8; then the reject tables
    // name a value that is not of its type, then the usage rule names a value no bill can hold.
    // Only failing files pay for this. A file with no rows (E_EMPTY) has no bad row to find.
    if (!(error instanceof BillwatchError) || error.code === 'E_HEADER' || error.code === 'E_EMPTY') throw error
    if (container !== 'parquet') {
      for await (const _ of readCsv(readPath, {file: path, gzip: container === 'csv.gz'})) {
        // Each record is checked as it is read; the first bad one throws.
      }
    }
    const scratch = await store.scratch()
    try {
      if (container !== 'parquet') await throwFirstBadRow(scratch, path, kind, container, columns, readPath)
      await throwFirstRuleBreak(scratch, path, kind, container, columns, readPath)
    } catch (located) {
      // A locating read that fails on its own (a damaged Parquet page it reaches) adds nothing to the scan's error.
      throw located instanceof BillwatchError ? located : error
    } finally {
      await scratch.close()
    }
    // Nothing found: the fast scan's own error stands.
    throw error
  }
}

async function scanColumnar(
  store: Store,
  path: string,
  kind: FormatKind,
  container: Container,
  columns: string[],
  readPath: string,
): Promise<ColumnarScan> {
  const {costBasis, scanTable} = await rollUp(store, path, kind, container, columns, readPath)
  return {costBasis, ...(await stageRollup(store, scanTable, path))}
}

/**
 * Moves one roll-up (a table of ROLLUP_COLUMNS) into the staging tables and drops it: usage rows to
 * staged_usage, the other charges to staged_charges. Refuses a roll-up with a rule break or no line items.
 */
export async function stageRollup(
  store: Store,
  scanTable: string,
  path: string,
): Promise<Omit<ColumnarScan, 'costBasis'>> {
  const totals = await store.one<{
    line_items: number
    problems: number
    billing_start: null | string
    billing_end: null | string
  }>(
    `SELECT coalesce(sum(line_items), 0)::BIGINT AS line_items, coalesce(sum(problems), 0)::BIGINT AS problems,
            strftime(min(billing_start), '%Y-%m-%d') AS billing_start, strftime(max(billing_end), '%Y-%m-%d') AS billing_end
     FROM ${scanTable}`,
  )
  if (totals && totals.problems > 0) {
    await store.run(`DROP TABLE ${scanTable}`)
    throw new BillwatchError('E_VALUE', 'a value breaks the usage rule', {file: path})
  }
  // A charge without a date (a DBR's rounding line) belongs to the month the file bills.
  await store.run(`INSERT INTO ${STAGED_CHARGES} (day, provider, account, region, service, category, cost, list_cost, currency)
    SELECT coalesce(day, (SELECT date_trunc('month', min(day)) FROM ${scanTable})), provider, account, region, service, category, cost, list_cost, currency
    FROM ${scanTable} WHERE row_kind = 'charge'`)
  const usage = `row_kind = 'usage' AND usage_lines > 0 AND usage_type IS NOT NULL AND usage_type <> '' AND day IS NOT NULL`
  // The first roll-up staged (one file, or a manifest's first part) becomes the staging table itself, its other rows
  // deleted: copying 80,000 daily rows into an empty table cost a third of a second. A usage row without a provider
  // is copied, so that the staging table's NOT NULL refuses it as before.
  const fit = await store.one<{staged: number; unnamed: number}>(
    `SELECT (SELECT count(*) FROM ${STAGING_TABLE})::BIGINT AS staged,
            (SELECT count(*) FROM ${scanTable} WHERE ${usage} AND provider IS NULL)::BIGINT AS unnamed`,
  )
  if (fit?.staged === 0 && fit.unnamed === 0) {
    await store.run(`DELETE FROM ${scanTable} WHERE NOT (${usage})`)
    await store.run(`DROP TABLE ${STAGING_TABLE}`)
    await store.run(`ALTER TABLE ${scanTable} RENAME TO ${STAGING_TABLE}`)
  } else {
    await store.run(`INSERT INTO ${STAGING_TABLE} (day, account, region, service, usage_type, operation, resource_id, amount, unit, cost, currency, provider, usage_base, list_cost)
      SELECT day, account, region, service, usage_type, operation, resource_id, amount, unit, cost, currency, provider, usage_base, list_cost
      FROM ${scanTable} WHERE ${usage}`)
    await store.run(`DROP TABLE ${scanTable}`)
  }
  if (!totals || totals.line_items === 0)
    throw new BillwatchError('E_EMPTY', 'no line items after the header', {file: path})
  return {billingEnd: totals.billing_end, billingStart: totals.billing_start, lineItems: totals.line_items}
}

/**
 * Rescans a CSV that failed, with DuckDB's reject tables, and throws its first bad row as a located
 * error. Only locates: it stages nothing, and returns when no row was rejected. Runs on a scratch
 * connection (the failed scan aborted the caller's transaction), which has no staging table.
 */
async function throwFirstBadRow(
  scratch: Store,
  path: string,
  kind: FormatKind,
  container: Container,
  columns: string[],
  readPath: string,
): Promise<void> {
  const {rejects, scanTable, typed} = await rollUp(scratch, path, kind, container, columns, readPath, true)
  await scratch.run(`DROP TABLE ${scanTable}`)
  await throwFirstReject(scratch, path, rejects, typed)
}

async function throwFirstReject(
  store: Store,
  path: string,
  rejects: string,
  typed: Record<string, string>,
): Promise<void> {
  const first = await store.one<{
    line: number
    column_name: null | string
    error_type: string
    csv_line: null | string
    error_message: string
  }>(`SELECT line, column_name, error_type, csv_line, error_message FROM ${rejects} ORDER BY line LIMIT 1`)
  await store.run(`DROP TABLE IF EXISTS ${rejects}; DROP TABLE IF EXISTS ${rejects}_scan`)
  if (!first) return
  if (first.error_type === 'CAST' && first.column_name) {
    const type = typed[first.column_name]
    const got = /Could not convert string "(.*)" to/.exec(first.error_message)?.[1]
    const expected =
      type === 'DOUBLE'
        ? 'a number'
        : got === undefined
          ? 'a valid ISO 8601 UTC timestamp (YYYY-MM-DDTHH:MM:SSZ)'
          : expectedDay(undefined, got)
    throw new BillwatchError('E_VALUE', '', {
      expected,
      field: first.column_name,
      file: path,
      line: first.line,
      ...(got === undefined ? {} : {got}),
    })
  }
  const what = first.error_type.toLowerCase().replaceAll('_', ' ')
  throw new BillwatchError('E_FORMAT', `malformed CSV row (${what})`, {
    expected: 'the same number of fields as the header',
    file: path,
    line: first.line,
  })
}

/**
 * The plan of one columnar file and the DuckDB source that reads it: typed CSV columns, FOCUS's
 * null spellings, and (with `rejects`) bad rows collected into that reject table instead of failing.
 */
function planScan(
  path: string,
  kind: FormatKind,
  container: Container,
  columns: string[],
  readPath: string,
  rejects?: string,
) {
  const cols = new Columns(columns, container === 'parquet', matchesAnyCase(kind))
  const plan = buildPlan(kind, cols, path, container === 'parquet' ? undefined : 1)
  const start = cols.timestamp(plan.start)
  const typed = cols.typed
  const source =
    container === 'parquet'
      ? `read_parquet(${quoteLiteral(readPath)})`
      : `read_csv(${quoteLiteral(readPath)}, header = true, all_varchar = true, quote = '"', escape = '"', delim = ',',
         types = {${Object.entries(typed)
           .map(([k, v]) => `${quoteLiteral(k)}: '${v}'`)
           .join(', ')}},
         ${plan.nullStrings ? `nullstr = [${FOCUS_NULLS.map(quoteLiteral).join(', ')}], ` : ''}
         compression = '${container === 'csv.gz' ? 'gzip' : 'none'}', ${DUCKDB_CSV_BOUNDS}
         ${rejects ? `, store_rejects = true, rejects_table = '${rejects}', rejects_scan = '${rejects}_scan'` : ''})`
  return {plan, rowKind: rowKindSql(plan), source, start, typed}
}

/**
 * Rolls the file up to one row per daily usage key (and per day and category of other charges), in
 * a temp table. With `collectRejects`, bad CSV rows go to the reject table named in the result
 * instead of failing the scan.
 */
async function rollUp(
  store: Store,
  path: string,
  kind: FormatKind,
  container: Container,
  columns: string[],
  readPath: string,
  collectRejects = false,
): Promise<{costBasis: string; rejects: string; scanTable: string; typed: Record<string, string>}> {
  const id = ++scanCounter
  const rejects = `bw_rejects_${id}`
  const {plan, source, start, typed} = planScan(
    path,
    kind,
    container,
    columns,
    readPath,
    collectRejects ? rejects : undefined,
  )
  const scanTable = `bw_scan_${id}`
  try {
    await store.run(`CREATE OR REPLACE TEMP TABLE ${scanTable} AS ${dailyRollupSql(plan, {source, start})}`)
  } catch (error) {
    throw duckdbError(path, error, container === 'csv.gz' ? 'csv.gz' : container === 'parquet' ? 'parquet' : 'csv')
  }
  return {costBasis: plan.costBasis, rejects, scanTable, typed}
}

/** The file's columns an expression reads (its quoted names that are columns), in order, for naming one in an error. */
function sourceColumns(expression: string, columns: string[]): string[] {
  const names: string[] = []
  for (const match of expression.matchAll(/"((?:[^"]|"")+)"/g)) {
    const name = match[1]!.replaceAll('""', '"')
    if (columns.includes(name) && !names.includes(name)) names.push(name)
  }
  return names
}

/**
 * Finds the first line whose values break the usage rule and throws it located: the record's line
 * (counted by the strict reader, which knows quoted newlines) or Parquet row, and the column.
 */
async function throwFirstRuleBreak(
  scratch: Store,
  path: string,
  kind: FormatKind,
  container: Container,
  columns: string[],
  readPath: string,
): Promise<void> {
  if (!hasPlan(kind)) return
  const {plan, rowKind, source, start, typed} = planScan(path, kind, container, columns, readPath)
  // One thread keeps the rows in file order, so the row number is the record's.
  await scratch.run('SET threads = 1')
  const first = await scratch.one<{row: number; problem: string}>(
    `WITH ${derivedSteps(plan.derived ?? [], source)}
          lines AS (SELECT *, ${rowKind} AS bw_row_kind, row_number() OVER () AS bw_row FROM bw_derived_${(plan.derived ?? []).length})
     SELECT bw_row AS row, problem FROM (SELECT bw_row, ${ruleBreak(plan, start)} AS problem FROM lines)
     WHERE problem IS NOT NULL ORDER BY bw_row LIMIT 1`,
  )
  if (!first) return
  const field =
    (
      {amount: plan.amount, billing: `${plan.billingStart} or ${plan.billingEnd}`, cost: plan.cost} as Record<
        string,
        string
      >
    )[first.problem] ?? plan.start
  const expected =
    first.problem === 'amount' ? EXPECTED_AMOUNT : first.problem === 'cost' ? EXPECTED_COST : expectedDay()
  // Derived values hide their columns: the numeric columns the scan types come after the expression's own.
  const numeric = Object.entries(typed)
    .filter(([, type]) => type === 'DOUBLE')
    .map(([name]) => name)
  const valueProblem = first.problem === 'amount' || first.problem === 'cost'
  const own = sourceColumns(field, columns)
  const candidates = valueProblem ? [...new Set([...own.filter((name) => numeric.includes(name)), ...numeric])] : own
  const fallback = candidates[0] ?? field
  if (container === 'parquet')
    throw new BillwatchError('E_VALUE', `row ${first.row}`, {expected, field: fallback, file: path})
  let record = 0
  let index = new Map<string, number>()
  for await (const {fields, header, line} of readCsv(readPath, {file: path, gzip: container === 'csv.gz'})) {
    if (header) index = new Map(fields.map((f, i) => [f.trim(), i]))
    else if (++record === Number(first.row)) {
      const raw = (name: string) => fields[index.get(name) ?? -1]?.trim() ?? ''
      // Of the columns the expression reads, the one whose own text breaks the rule.
      const breaks = (name: string) => {
        if (raw(name) === '') return false
        const value = parsePlainNumber(raw(name))
        return value === undefined || (first.problem === 'amount' && value < 0)
      }
      const name = (valueProblem ? candidates.find(breaks) : undefined) ?? fallback
      const got = index.has(name) ? raw(name) : undefined
      const told = valueProblem || got === undefined ? expected : expectedDay(undefined, got)
      throw new BillwatchError('E_VALUE', '', {
        expected: told,
        field: name,
        file: path,
        line,
        ...(got === undefined ? {} : {got}),
      })
    }
  }
  throw new BillwatchError('E_VALUE', `record ${first.row}`, {expected, field: fallback, file: path})
}

/** Column names of a Parquet file, via DuckDB (used by format sniffing). */
export async function parquetColumns(store: Store, path: string): Promise<string[]> {
  try {
    const rows = await store.all<{column_name: string}>(
      `SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(${quoteLiteral(path)}))`,
    )
    return rows.map((r) => r.column_name)
  } catch (error) {
    throw duckdbError(path, error, 'parquet')
  }
}

const REPORT_TIME = String.raw`(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\s+(\d{1,2}):(\d{2})(:(\d{2}))?`
const REPORT_TIME_FORMATS = ['%m/%d/%y %H:%M:%S', '%m/%d/%Y %H:%M:%S', '%m/%d/%y %H:%M', '%m/%d/%Y %H:%M']

/**
 * The fast read: DuckDB's CSV scan rolls the report up to daily keys (a 100 MB report in about a
 * second, in bounded memory) and counts the lines that break a check of usageReportLines below;
 * any such line, or any CSV error, fails the scan for the strict reader to locate.
 */
export async function scanUsageReport(
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

/**
 * A roll-up computed elsewhere (Athena's answer: text cells in ROLLUP_COLUMNS order) into the store in one
 * transaction: typed in DuckDB, staged and committed as a file's roll-up is. The same content hash again is a no-op.
 */
export async function writeRollupAnswer(
  store: Store,
  rows: (null | string)[][],
  meta: SourceMeta,
): Promise<{status: 'ingested' | 'unchanged'; rows: number; replacedRows: number; sourceId: null | number}> {
  return store.transaction(async () => {
    const previous = await findSourceByHash(store, meta.contentHash)
    if (previous)
      return {replacedRows: 0, rows: previous.rows, sourceId: previous.sourceId, status: 'unchanged' as const}
    await createStaging(store)
    await store.run(
      `CREATE OR REPLACE TEMP TABLE bw_athena_text (${ROLLUP_COLUMNS.map((c) => `${c} VARCHAR`).join(', ')})`,
    )
    await insertValues(store, 'INSERT INTO bw_athena_text', rows)
    const typed: Record<string, string> = {
      amount: 'DOUBLE',
      billing_end: 'TIMESTAMP',
      billing_start: 'TIMESTAMP',
      cost: 'DOUBLE',
      day: 'DATE',
      line_items: 'BIGINT',
      list_cost: 'DOUBLE',
      problems: 'BIGINT',
      usage_lines: 'BIGINT',
    }
    await store.run(
      `CREATE OR REPLACE TEMP TABLE bw_athena_rollup AS SELECT ${ROLLUP_COLUMNS.map((c) => (typed[c] ? `CAST(${c} AS ${typed[c]}) AS ${c}` : c)).join(', ')} FROM bw_athena_text`,
    )
    await store.run('DROP TABLE bw_athena_text')
    const staged = rows.length === 0 ? undefined : await stageRollup(store, 'bw_athena_rollup', meta.path)
    if (rows.length === 0) await store.run('DROP TABLE bw_athena_rollup')
    const outcome = await commitStaged(
      store,
      {
        ...meta,
        lineItems: staged?.lineItems ?? 0,
        ...(staged?.billingStart ? {billingPeriod: staged.billingStart.slice(0, 7)} : {}),
      },
      [],
      {daily: true},
    )
    return {
      replacedRows: outcome.replacedRows,
      rows: outcome.rows,
      sourceId: outcome.sourceId,
      status: 'ingested' as const,
    }
  })
}
