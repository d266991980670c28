/**
 * The scan of a VPC Flow Logs file with DuckDB's own readers (CSV for text and .log.gz, JSON for CloudWatch Logs
 * exports, Parquet with Hive partitions): the records rolled up in one scan into a Parquet file beside the store, read
 * through the `staged_flows` view that src/store/flow-import.ts commits. What a record means (its direction, server
 * port, what makes it broken) is src/flows'; every statement that runs it is here.
 */
import {quoteIdent, quoteLiteral} from '../ingest/columnar.js'
import {duckdbError} from '../ingest/duckdb-errors.js'
import {DUCKDB} from '../ingest/dialect.js'
import {BillwatchError, isOutOfMemory} from '../errors.js'
import {directionSql, privateAddressSql, serverPortSql} from '../flows/attribution.js'
import type {FlowSniff} from '../flows/sniff.js'
import {protocolNameSql} from '../flows/stage.js'
import {checkFormat} from '../flows/vpc-format.js'
import {throwFirstBrokenRecord, type VpcScanOptions} from '../flows/vpc.js'
import {FLOW_DAYS, FLOW_STAGING, flowStagingFile, removeFlowStagingFile} from './flow-import.js'
import type {Store} from './index.js'

/**
 * The records as columns named by flow-log field. Text delivery is read typed by DuckDB's CSV reader
 * (`-` is NULL, numbers parsed as they are read): a value that does not parse stops the scan, and the
 * file is read again to name its line. CloudWatch events and Parquet give VARCHAR, cast here.
 */
interface RecordSource {
  sql: string
  /** The field as VARCHAR, NULL for `-`; 'NULL' when the format lacks it. */
  text: (field: string) => string
  /** The field as BIGINT, NULL for `-` or a value that is not a number; 'NULL' when the format lacks it. */
  number: (field: string) => string
  has: (field: string) => boolean
}

function recordSource(path: string, sniff: FlowSniff): RecordSource {
  const compression = sniff.container === 'gzip' ? 'gzip' : 'none'
  const untyped = (column: (field: string) => null | string): RecordSource => ({
    has: (field) => column(field) !== null,
    number: (field) => (column(field) === null ? 'NULL' : `TRY_CAST(nullif(${column(field)}, '-') AS BIGINT)`),
    sql: '',
    text: (field) => (column(field) === null ? 'NULL' : `nullif(${column(field)}, '-')`),
  })
  if (sniff.kind === 'vpc-parquet') {
    const columns = sniff.columns ?? new Map<string, string>()
    return {
      ...untyped((field) => (columns.has(field) ? `CAST(${quoteIdent(columns.get(field)!)} AS VARCHAR)` : null)),
      sql: `read_parquet(${quoteLiteral(path)}, hive_partitioning = true)`,
    }
  }
  const index = new Map(sniff.fields.map((field, i) => [field, i]))
  if (sniff.kind === 'vpc-cloudwatch') {
    return {
      ...untyped((field) => (index.has(field) ? `f[${index.get(field)! + 1}]` : null)),
      sql: `(SELECT string_split(message, ' ') AS f FROM read_json(${quoteLiteral(path)}, format = 'newline_delimited', columns = {message: 'VARCHAR'}, compression = '${compression === 'gzip' ? 'gzip' : 'uncompressed'}'))`,
    }
  }
  // Only the fields the roll-up reads are typed; the others stay VARCHAR and are never projected. The reader's buffers
  // are 4 MB (records are short), not DuckDB's ~30 MB a thread, which the memory limit must hold beside the roll-up.
  const typed = new Set(['srcport', 'dstport', 'protocol', 'packets', 'bytes', 'end'])
  const columns = sniff.fields
    .map((field, i) => `${quoteLiteral(`c${i}`)}: '${typed.has(field) ? 'BIGINT' : 'VARCHAR'}'`)
    .join(', ')
  const column = (field: string) => (index.has(field) ? `c${index.get(field)}` : 'NULL')
  return {
    has: (field) => index.has(field),
    number: column,
    sql: `read_csv(${quoteLiteral(path)}, delim = ' ', quote = '', escape = '', header = ${sniff.header}, auto_detect = false, nullstr = '-',
            columns = {${columns}}, compression = '${compression}', null_padding = false, strict_mode = true,
            max_line_size = 1048576, buffer_size = 4194304)`,
    text: column,
  }
}

/**
 * Scans one flow-log file into the staging table in one pass of DuckDB: the daily series (day, interface, direction,
 * action, status, protocol, port) and the per-client totals of each calendar month, from the same records: two grouping
 * sets of one aggregate, which DuckDB spills to disk when they outgrow the memory limit; when that still runs out of
 * memory, one plain roll-up (per day, interface, client and key) that spills more finely. Returns the number of
 * records read.
 */
export async function stageVpc(
  store: Store,
  path: string,
  sniff: FlowSniff,
  options: VpcScanOptions = {},
): Promise<number> {
  if (sniff.kind !== 'vpc-parquet') checkFormat(sniff.fields, {file: path, line: sniff.header ? 1 : undefined})
  const {has, number, sql, text} = recordSource(path, sniff)
  const inner = (source: string) => `SELECT
      ${number('end')} AS end_s,
      coalesce(${text('interface-id')}, ${text('instance-id')}, 'unknown-interface') AS interface,
      ${text('account-id')} AS account,
      coalesce(${text('log-status')}, 'OK') AS status, coalesce(${text('action')}, 'ACCEPT') AS action,
      ${text('flow-direction')} AS flow_direction,
      ${text('srcaddr')} AS src, ${text('dstaddr')} AS dst,
      coalesce(${text('pkt-srcaddr')}, ${text('srcaddr')}) AS pkt_src, coalesce(${text('pkt-dstaddr')}, ${text('dstaddr')}) AS pkt_dst,
      ${number('srcport')} AS sp, ${number('dstport')} AS dp, ${number('protocol')} AS proto,
      ${number('bytes')} AS bytes, coalesce(${number('packets')}, 0) AS packets
    FROM ${source}`
  // A format with flow-direction has it on every traffic record, so addresses are not tested then.
  const hasDirection = has('flow-direction')
  const direction = directionSql({hasFlowDirection: hasDirection, hosts: options.hosts ?? []})
  const ok = `status = 'OK'`
  // A traffic record must have its bytes, end and protocol; the status must be one AWS writes.
  const broken = `(status NOT IN ('OK', 'NODATA', 'SKIPDATA') OR action NOT IN ('ACCEPT', 'REJECT')
      OR (${ok} AND (bytes IS NULL OR end_s IS NULL OR proto IS NULL OR least(bytes, packets, proto, coalesce(sp, 0), coalesce(dp, 0)) < 0)))`
  const sums = `sum(CASE WHEN ${ok} THEN bytes ELSE 0 END)::DOUBLE AS bytes, sum(CASE WHEN ${ok} THEN packets ELSE 0 END)::DOUBLE AS packets,
             count(*) AS records, count(*) FILTER (WHERE ${broken}) AS broken`
  // The record's day, interface, client and packed key (direction, action, status, protocol, port), from `source`.
  const coded = (source: string) => `WITH records AS (${inner(source)}), flagged AS (
        SELECT *, ${hasDirection ? 'false AS src_private, false AS dst_private' : `${privateAddressSql(DUCKDB, 'src')} AS src_private, ${privateAddressSql(DUCKDB, 'dst')} AS dst_private`} FROM records
      ), directed AS (
        SELECT *, ${direction} AS dir FROM flagged
      ), keyed AS (
        SELECT *, end_s // 86400 AS day_number,
          ${serverPortSql(ok)} AS port,
          CASE WHEN NOT ${ok} OR action <> 'ACCEPT' THEN NULL WHEN dir = 0 THEN pkt_dst WHEN dir = 1 THEN pkt_src END AS client
        FROM directed
      ), coded AS (
        SELECT day_number, (dir + 4 * (action = 'REJECT')::INTEGER + 8 * CASE status WHEN 'OK' THEN 0 WHEN 'NODATA' THEN 1 WHEN 'SKIPDATA' THEN 2 ELSE 3 END
               + 32 * (CASE WHEN ${ok} THEN coalesce(proto, 255) ELSE 0 END) + 8192 * (coalesce(port, -1) + 1))::BIGINT AS code,
               interface, client, account, bytes, packets, status, action, end_s, proto, sp, dp
        FROM keyed
      )`
  const file = quoteLiteral(flowStagingFile(store))
  // The day is packed above the other key (which stays below 2^30) and the account is carried, not grouped by (an
  // interface belongs to one account; the daily series keeps one account an interface): fewer keys hash faster.
  const DAY_UNIT = 2 ** 30
  const dayCode = `code + ${DAY_UNIT} * (coalesce(day_number, -1) + 1)`
  const dayOf = (code: string) =>
    `CASE WHEN ${code} >= ${DAY_UNIT} THEN DATE '1970-01-01' + CAST(${code} // ${DAY_UNIT} - 1 AS INTEGER) END`
  // Two grouping sets of one aggregate: the daily series (day, interface, packed key) and the per-client totals of
  // each calendar month (month, interface, client, packed key). DuckDB spills both to disk when they outgrow the memory
  // limit (about one per-client key per record: 10 million spread records within 640MB). It runs on a connection of
  // its own: if it still runs out of memory, that fails this statement only, not the ingest's transaction, and the
  // roll-up below follows.
  const grouped = `${coded(sql)}, rolled AS (
        SELECT ${dayCode} AS day_code, date_trunc('month', DATE '1970-01-01' + CAST(day_number AS INTEGER))::DATE AS month, code,
               interface, client, any_value(account) AS account, ${sums}, GROUPING(client) = 0 AS per_client
        FROM coded GROUP BY GROUPING SETS ((day_code, interface), (month, code, interface, client))
        HAVING GROUPING(client) = 1 OR client IS NOT NULL
      )
      SELECT CASE WHEN per_client THEN month ELSE ${dayOf('day_code')} END AS day,
             CASE WHEN per_client THEN code ELSE day_code % ${DAY_UNIT} END AS code,
             interface, account, client, bytes, packets, records, broken, per_client
      FROM rolled`
  // Else one plain aggregate per record's day, interface, client and packed key, which DuckDB spills to disk when it
  // outgrows the memory limit: the daily series and the per-client totals of each month are both sums of its rows.
  // Its rows go to a file, not a table: they can be about as many as the records, and a COPY streams them to disk (a
  // temporary table of them ran out of memory).
  const spilling = `${coded(sql)}, rolled AS (
        SELECT ${dayCode} AS day_code, interface, client, any_value(account) AS account, ${sums}
        FROM coded GROUP BY day_code, interface, client
      )
      SELECT ${dayOf('day_code')} AS day, day_code % ${DAY_UNIT} AS code, interface, account, client, bytes, packets,
             records, broken
      FROM rolled`
  let rolledPerMonth = false
  try {
    const scratch = await store.scratch()
    try {
      await scratch.run(`COPY (${grouped}) TO ${file} (FORMAT parquet)`)
      rolledPerMonth = true
    } catch (error) {
      if (!isOutOfMemory(error)) throw error
      removeFlowStagingFile(store)
    } finally {
      await scratch.close()
    }
    if (!rolledPerMonth) await store.run(`COPY (${spilling}) TO ${file} (FORMAT parquet)`)
  } catch (error) {
    // Out of memory aborts the ingest's transaction, so no second try can follow in it: said as such,
    // with the setting that raises the limit (not a hunt for a broken record).
    if (isOutOfMemory(error)) throw duckdbError(path, error, 'csv')
    await throwFirstBrokenRecord(path, sniff)
    throw scanError(path, error)
  }
  const rows = `read_parquet(${file})`
  return stageRolledUp(store, path, sniff, {
    clients: `(SELECT * FROM ${rows} WHERE ${rolledPerMonth ? 'per_client' : 'client IS NOT NULL'})`,
    daily: rolledPerMonth ? `(SELECT * FROM ${rows} WHERE NOT per_client)` : rows,
    perMonth: rolledPerMonth,
  })
}

/**
 * The native roll-up's rows (src/flows/rollup.ts wrote them while the file was hashed) staged as the scan's are.
 * `parts` says which rows it wrote in parts (a file of more groups than it holds at once), which are then summed
 * again per group: the daily rows (few), or the per-client rows (only when one of its partitions outgrew it too).
 */
export async function stageNativeRollup(
  store: Store,
  path: string,
  sniff: FlowSniff,
  rows: string,
  parts: {daily: boolean; clients: boolean},
): Promise<number> {
  checkFormat(sniff.fields, {file: path, line: sniff.header ? 1 : undefined})
  const text = (file: string, columns: string) =>
    `read_csv(${quoteLiteral(file)}, delim = ' ', quote = '', escape = '', header = false, auto_detect = false,
      columns = {${columns}}, null_padding = false, strict_mode = true, max_line_size = 4194304)`
  const days = `(SELECT DATE '1970-01-01' + day AS day, code, interface, account, bytes::DOUBLE AS bytes,
      packets::DOUBLE AS packets, records, 0::BIGINT AS broken
    FROM ${text(`${rows}.days`, `'day': 'INTEGER', 'code': 'BIGINT', 'interface': 'VARCHAR', 'account': 'VARCHAR', 'bytes': 'UBIGINT', 'packets': 'UBIGINT', 'records': 'BIGINT'`)})`
  const clients = `(SELECT DATE '1970-01-01' + month AS day, code, interface, client, bytes::DOUBLE AS bytes,
      packets::DOUBLE AS packets, records
    FROM ${text(rows, `'month': 'INTEGER', 'code': 'BIGINT', 'interface': 'VARCHAR', 'client': 'VARCHAR', 'bytes': 'UBIGINT', 'packets': 'UBIGINT', 'records': 'BIGINT'`)})`
  if (!parts.clients) {
    return stageRolledUp(store, path, sniff, {
      clients,
      clientsPerMonth: true,
      daily: days,
      perMonth: !parts.daily,
    })
  }
  // A group's rows are summed into the scan's file, by a GROUP BY that DuckDB spills to disk.
  const file = quoteLiteral(flowStagingFile(store))
  await store.run(`COPY (SELECT day, code, interface, client, sum(bytes) AS bytes, sum(packets) AS packets,
      sum(records)::BIGINT AS records FROM ${clients} GROUP BY day, code, interface, client) TO ${file} (FORMAT parquet)`)
  return stageRolledUp(store, path, sniff, {
    clients: `read_parquet(${file})`,
    clientsPerMonth: true,
    daily: days,
    perMonth: false,
  })
}

/**
 * The roll-up's rows as the `staged_flows` view: `daily` the daily series' (day, code, interface, account, bytes,
 * packets, records, broken), `clients` the per-client rows' (day, code, interface, client, bytes, packets, records);
 * `perMonth` when each group has one row already (else they are summed per group, and per month), `clientsPerMonth`
 * when the per-client rows have (the daily ones not).
 */
async function stageRolledUp(
  store: Store,
  path: string,
  sniff: FlowSniff,
  rows: {daily: string; clients: string; perMonth: boolean; clientsPerMonth?: boolean},
): Promise<number> {
  const rolledPerMonth = rows.perMonth
  const clientsPerMonth = rows.clientsPerMonth ?? rolledPerMonth
  // The daily series is small (days × interfaces × ports): a table. The per-client rows stay in the file: per calendar
  // month already, or summed per month on the packed key when the commit reads them (one plain GROUP BY, which spills).
  await store.run(
    rolledPerMonth
      ? `CREATE OR REPLACE TEMP TABLE ${FLOW_DAYS} AS SELECT day, code, interface, account, bytes, packets,
           records::BIGINT AS records, broken::BIGINT AS broken FROM ${rows.daily}`
      : `CREATE OR REPLACE TEMP TABLE ${FLOW_DAYS} AS SELECT day, code, interface, account,
      sum(bytes) AS bytes, sum(packets) AS packets, sum(records)::BIGINT AS records, sum(broken)::BIGINT AS broken
    FROM ${rows.daily} GROUP BY day, code, interface, account`,
  )
  const perClient = clientsPerMonth
    ? `SELECT day, code, interface, NULL, client, bytes, packets, records::BIGINT, 0::BIGINT, true
      FROM ${rows.clients}`
    : `SELECT date_trunc('month', day)::DATE, code, interface, NULL, client, sum(bytes), sum(packets), sum(records)::BIGINT, 0::BIGINT, true
      FROM ${rows.clients} GROUP BY date_trunc('month', day), code, interface, client`
  await store.run(`DROP TABLE IF EXISTS ${FLOW_STAGING}`)
  await store.run(`CREATE TEMP VIEW ${FLOW_STAGING} AS
    WITH staged AS (
      SELECT day, code, interface, account, NULL::VARCHAR AS client, bytes, packets, records, broken, false AS per_client FROM ${FLOW_DAYS}
      UNION ALL
      ${perClient}
    )
    SELECT day, 'vpc-flow-logs' AS exporter, interface, account, ['egress', 'ingress', 'internal', 'unknown'][code % 4 + 1] AS direction,
           CASE WHEN (code // 4) % 2 = 1 THEN 'REJECT' ELSE 'ACCEPT' END AS action,
           ['OK', 'NODATA', 'SKIPDATA', 'OTHER'][(code // 8) % 4 + 1] AS status,
           CASE WHEN (code // 8) % 4 = 0 THEN ${protocolNameSql('((code // 32) % 256)')} END AS protocol,
           (nullif(code // 8192, 0) - 1)::INTEGER AS port, client, bytes, packets, records, broken, per_client
    FROM staged`)
  const totals = await store.one<{records: null | number; broken: null | number}>(
    `SELECT sum(records)::BIGINT AS records, sum(broken)::BIGINT AS broken FROM ${FLOW_DAYS}`,
  )
  if ((totals?.broken ?? 0) > 0) {
    await throwFirstBrokenRecord(path, sniff)
    throw new BillwatchError('E_VALUE', `${totals?.broken} flow records do not parse`, {
      expected: 'whole numbers in bytes, end and protocol',
      file: path,
    })
  }
  return totals?.records ?? 0
}

function scanError(path: string, error: unknown): BillwatchError {
  const text = error instanceof Error ? error.message : String(error)
  const first = text.split('\n')[0] ?? text
  if (/gzip|inflate|zlib/i.test(text))
    return new BillwatchError('E_TRUNCATED', 'compressed data is corrupt', {
      expected: 'a complete .gz file',
      file: path,
    })
  return new BillwatchError('E_FORMAT', first.replace(/^[A-Za-z ]+Error: /, '').slice(0, 200), {file: path})
}
