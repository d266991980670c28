/**
 * The statements of `billwatch ingest --athena TABLE` over a VPC Flow Logs table (the Athena integration's, or the DDL
 * AWS documents: the flow-log fields as columns, account_id, log_status …; partitions by
 * year/month/day/hour or by date): the per-day per-port roll-up of the local flow-log scan, with the
 * same direction and server-port rule (src/flows/attribution.ts) rendered for Trino, run where the
 * logs are. The daily rows come back and are committed through the flow store's own path.
 */
import type {AthenaTable} from '../athena/catalog.js'
import {addDays, type DayRange} from '../aws/window.js'
import {DIRECTIONS, directionSql, privateAddressSql, serverPortSql} from '../flows/attribution.js'
import {protocolNameSql} from '../flows/stage.js'
import {fieldName} from '../flows/vpc-format.js'
import {quoteIdent, quoteLiteral} from '../ingest/columnar.js'
import {TRINO} from '../ingest/dialect.js'
import {commitFlows, createFlowStaging, FLOW_STAGING} from './flow-import.js'
import type {Store} from './index.js'
import {insertValues} from './usage-import.js'
import {partitionPredicate} from '../athena/catalog.js'

/** Columns of the answer, in order. */
export const FLOW_ROLLUP_COLUMNS = [
  'day_number',
  'interface',
  'account',
  'dir',
  'action',
  'status',
  'protocol',
  'port',
  'bytes',
  'packets',
  'records',
  'broken',
] as const

const NUMERIC_TYPE = /^(tinyint|smallint|int|integer|bigint)$/

/**
 * The Trino query: records whose end falls in [range.start, range.end), one row per day (of the
 * record's end, as the local scan counts it), interface, direction, action, status, protocol and
 * server-side port. Partitions are pruned to the range and one day more: a record of a day's last
 * minutes is delivered, and partitioned, in the next.
 */
export function flowsQuery(table: AthenaTable, range: DayRange, hosts: string[] = []): string {
  const byField = new Map([...table.columns, ...table.partitionKeys].map((c) => [fieldName(c.name), c]))
  const column = (field: string) => byField.get(field)
  const text = (field: string) => {
    const c = column(field)
    return c ? `nullif(CAST(${quoteIdent(c.name)} AS VARCHAR), '-')` : 'CAST(NULL AS VARCHAR)'
  }
  // A typed column is read as it is (and the end bound on it skips row groups); a text one is parsed, '-' and junk as
  // NULL.
  const number = (field: string) => {
    const c = column(field)
    if (!c) return 'CAST(NULL AS BIGINT)'
    return NUMERIC_TYPE.test(c.type)
      ? `CAST(${quoteIdent(c.name)} AS BIGINT)`
      : `TRY_CAST(nullif(${quoteIdent(c.name)}, '-') AS BIGINT)`
  }
  const epoch = (day: string) => Date.parse(`${day}T00:00:00Z`) / 1000
  const filters = [
    partitionPredicate(table.partitionKeys, {end: addDays(range.end, 1), start: range.start}),
    `${number('end')} >= ${epoch(range.start)}`,
    `${number('end')} < ${epoch(range.end)}`,
  ]
    .filter((f) => f !== null)
    .map((f) => `(${f})`)
  const hasFlowDirection = column('flow-direction') !== undefined
  const ok = `status = 'OK'`
  const broken = `(status NOT IN ('OK', 'NODATA', 'SKIPDATA') OR action NOT IN ('ACCEPT', 'REJECT') OR (${ok} AND (bytes IS NULL OR end_s IS NULL OR proto IS NULL)))`
  return `WITH records AS (
      SELECT ${number('end')} AS end_s,
        coalesce(${text('interface-id')}, ${text('instance-id')}, 'unknown-interface') AS interface, ${text('account-id')} AS account,
        coalesce(${text('log-status')}, 'OK') AS status, coalesce(${text('action')}, 'ACCEPT') AS action, ${text('flow-direction')} AS flow_direction,
        ${text('srcaddr')} AS src, ${text('dstaddr')} AS dst,
        ${number('srcport')} AS sp, ${number('dstport')} AS dp, ${number('protocol')} AS proto, ${number('bytes')} AS bytes, coalesce(${number('packets')}, 0) AS packets
      FROM ${quoteIdent(table.database)}.${quoteIdent(table.name)} WHERE ${filters.join(' AND ')}
    ), flagged AS (
      SELECT *, ${hasFlowDirection ? 'false AS src_private, false AS dst_private' : `${privateAddressSql(TRINO, 'src')} AS src_private, ${privateAddressSql(TRINO, 'dst')} AS dst_private`} FROM records
    ), directed AS (
      SELECT *, ${directionSql({hasFlowDirection, hosts})} AS dir FROM flagged
    ), keyed AS (
      SELECT *, CAST(floor(end_s / 86400.0) AS BIGINT) AS day_number, ${serverPortSql(ok)} AS port,
        CASE WHEN ${ok} THEN proto END AS protocol, CASE WHEN ${broken} THEN 1 ELSE 0 END AS is_broken
      FROM directed
    )
    SELECT day_number, interface, ${TRINO.anyValue('account')} AS account, dir, action, status, protocol, port,
      sum(CASE WHEN ${ok} THEN bytes ELSE 0 END) AS bytes, sum(CASE WHEN ${ok} THEN packets ELSE 0 END) AS packets, count(*) AS records, sum(is_broken) AS broken
    FROM keyed GROUP BY day_number, interface, dir, action, status, protocol, port`
}

export interface FlowWrite {
  status: 'ingested' | 'unchanged'
  rows: number
  replacedRows: number
  sourceId: null | number
  records: number
  egressBytes: number
}

/**
 * Athena's answer (text cells in FLOW_ROLLUP_COLUMNS order) into the flow store in one transaction: earlier
 * Athena answers of the table `where` (DATABASE.TABLE) for the same days are replaced (a re-run never
 * double-counts), then the rows are committed as one flow source whose delivery is the table. The same content
 * hash again is a no-op.
 */
export async function writeFlowAnswer(
  store: Store,
  answer: {where: string; range: DayRange; path: string; contentHash: string; rows: (null | string)[][]},
): Promise<FlowWrite> {
  const {contentHash, path, range, rows, where} = answer
  return store.transaction(async () => {
    const previous = await store.one<{id: number; records: number}>(
      'SELECT id, records FROM flow_sources WHERE content_hash = $1',
      [contentHash],
    )
    if (previous)
      return {
        egressBytes: 0,
        records: previous.records,
        replacedRows: 0,
        rows: 0,
        sourceId: previous.id,
        status: 'unchanged' as const,
      }
    const earlier = `SELECT id FROM flow_sources WHERE path LIKE ${quoteLiteral(`athena:${where}:%`)}`
    const days = `day >= ${quoteLiteral(range.start)}::DATE AND day < ${quoteLiteral(range.end)}::DATE`
    const replaced = await store.one<{n: number}>(
      `SELECT count(*)::INTEGER AS n FROM flow_daily WHERE source_id IN (${earlier}) AND ${days}`,
    )
    await store.run(`DELETE FROM flow_daily WHERE source_id IN (${earlier}) AND ${days}`)
    await store.run(`DELETE FROM flow_status WHERE source_id IN (${earlier}) AND ${days}`)
    if (rows.length === 0)
      return {
        egressBytes: 0,
        records: 0,
        replacedRows: replaced?.n ?? 0,
        rows: 0,
        sourceId: null,
        status: 'ingested' as const,
      }
    await createFlowStaging(store)
    await store.run(
      `CREATE OR REPLACE TEMP TABLE bw_athena_flows (${FLOW_ROLLUP_COLUMNS.map((c) => `${c} VARCHAR`).join(', ')})`,
    )
    await insertValues(store, 'INSERT INTO bw_athena_flows', rows)
    await store.run(`INSERT INTO ${FLOW_STAGING} (day, exporter, interface, account, direction, action, status, protocol, port, client, bytes, packets, records, broken, per_client)
      SELECT DATE '1970-01-01' + CAST(day_number AS INTEGER), 'vpc-flow-logs', interface, account,
             [${DIRECTIONS.map(quoteLiteral).join(', ')}][CAST(dir AS INTEGER) + 1], action, status,
             ${protocolNameSql('CAST(protocol AS BIGINT)')}, CAST(port AS INTEGER), NULL,
             CAST(bytes AS DOUBLE), CAST(packets AS DOUBLE), CAST(records AS BIGINT), CAST(broken AS BIGINT), false
      FROM bw_athena_flows`)
    await store.run('DROP TABLE bw_athena_flows')
    const committed = await commitFlows(store, {
      bytes: 0,
      container: 'athena',
      contentHash,
      delivery: `athena: ${where}`,
      format: 'athena-vpc',
      path,
      sampling: null,
    })
    await store.run(`DROP TABLE ${FLOW_STAGING}`)
    const written = await store.one<{n: number}>('SELECT count(*)::INTEGER AS n FROM flow_daily WHERE source_id = $1', [
      committed.sourceId,
    ])
    return {
      egressBytes: committed.egressBytes,
      records: committed.records,
      replacedRows: replaced?.n ?? 0,
      rows: written?.n ?? 0,
      sourceId: committed.sourceId,
      status: 'ingested' as const,
    }
  })
}

/** Days [start, end) each earlier Athena answer of this table covered (from its source's path). */
export async function coveredFlowDays(store: Store, table: AthenaTable): Promise<DayRange[]> {
  const rows = await store.all<{path: string}>(`SELECT path FROM flow_sources WHERE path LIKE $1`, [
    `athena:${table.database}.${table.name}:%`,
  ])
  return rows
    .map((r) => /:(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$/.exec(r.path))
    .filter((m) => m !== null)
    .map((m) => ({end: m[2]!, start: m[1]!}))
}
