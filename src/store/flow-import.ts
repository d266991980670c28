/**
 * The store's write path for flow records: a reader fills `staged_flows` with two kinds of rows, the daily series (one
 * per day, interface, direction, action, status, protocol and port; `per_client` false) and per-client totals
 * (`per_client`, `client` set, any day of their month); `commitFlows` moves them into flow_daily / flow_status and, per
 * calendar month, flow_clients as one new source. Call inside a transaction. Every statement of it is here; what a
 * record means (direction, server port, sampling) is decided in src/flows.
 */
import {rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {BillwatchError} from '../errors.js'
import type {FlowCommit, FlowSourceMeta, StagedFlow} from '../flows/stage.js'
import type {Store} from './index.js'
import {insertValues} from './usage-import.js'

export const FLOW_STAGING = 'staged_flows'

/** The VPC scan's daily series, summed from its file. */
export const FLOW_DAYS = 'staged_flow_days'

/**
 * The VPC Flow Logs scan's roll-up (src/flows/vpc.ts): one row per day, interface, account, client and packed key
 * (direction, action, status, protocol, port), read through the `staged_flows` view that decodes it. A file beside
 * the store, where DuckDB spills too: a file with many clients has about as many of these rows as records, more than
 * memory holds. Removed when the file's ingest ends, committed or not.
 */
export function flowStagingFile(store: Store): string {
  const beside = store.path === ':memory:' ? join(tmpdir(), 'billwatch') : store.path
  // A new name for every file ingested: DuckDB may keep what it read of a Parquet file by its name.
  return `${beside}.flows-${process.pid}-${stagingSerial}.parquet`
}

let stagingSerial = 0

/**
 * The native roll-up's per-client rows of the file being ingested (src/flows/rollup.ts), beside the scan's file; its
 * daily rows are in the same name with `.days` added.
 */
export function flowRollupFile(store: Store): string {
  return flowStagingFile(store).replace(/\.parquet$/, '.rows')
}

export async function createFlowStaging(store: Store): Promise<void> {
  await dropFlowStaging(store)
  stagingSerial++
  await store.run(`CREATE OR REPLACE TEMP TABLE ${FLOW_STAGING} (
    day DATE, exporter VARCHAR, interface VARCHAR, account VARCHAR, direction VARCHAR, action VARCHAR, status VARCHAR,
    protocol VARCHAR, port INTEGER, client VARCHAR, bytes DOUBLE, packets DOUBLE, records BIGINT, broken BIGINT DEFAULT 0, per_client BOOLEAN DEFAULT true)`)
}

/** Drops the staging (a table, or the VPC scan's view over its file) and removes the file. */
export async function dropFlowStaging(store: Store): Promise<void> {
  const view = await store.one<{n: number}>(
    `SELECT count(*)::INTEGER AS n FROM duckdb_views() WHERE temporary AND view_name = '${FLOW_STAGING}'`,
  )
  await store.run(`DROP ${view?.n ? 'VIEW' : 'TABLE'} IF EXISTS ${FLOW_STAGING}`)
  await store.run(`DROP TABLE IF EXISTS ${FLOW_DAYS}`)
  removeFlowStagingFile(store)
}

/** Removes the VPC scan's files (also after a failure, when the aborted transaction runs no more SQL). */
export function removeFlowStagingFile(store: Store): void {
  rmSync(flowStagingFile(store), {force: true})
  rmSync(flowRollupFile(store), {force: true})
  // The daily rows, and the per-client partitions of a roll-up that failed before it merged them (vpc.c's PARTS).
  for (const suffix of ['.days', '.0', '.1', '.2', '.3', '.4', '.5', '.6', '.7'])
    rmSync(`${flowRollupFile(store)}${suffix}`, {force: true})
}

/** Per-client rows of a reader that rolls up in JavaScript (nfdump); the daily series is summed from them. */
export async function appendFlowRows(store: Store, rows: StagedFlow[]): Promise<void> {
  const columns =
    'day, exporter, interface, account, direction, action, status, protocol, port, client, bytes, packets, records'
  await insertValues(
    store,
    `INSERT INTO ${FLOW_STAGING} (${columns})`,
    rows.map((r) => [
      r.day,
      r.exporter,
      r.interface,
      r.account,
      r.direction,
      r.action,
      r.status,
      r.protocol,
      r.port,
      r.client,
      r.bytes,
      r.packets,
      r.records,
    ]),
  )
  await store.run(`INSERT INTO ${FLOW_STAGING} SELECT day, exporter, interface, any_value(account), direction, action, status, protocol, port, NULL,
     sum(bytes), sum(packets), sum(records), 0, false FROM ${FLOW_STAGING} GROUP BY day, exporter, interface, direction, action, status, protocol, port`)
  await store.run(
    `DELETE FROM ${FLOW_STAGING} WHERE per_client AND (client IS NULL OR status <> 'OK' OR action <> 'ACCEPT')`,
  )
}

export async function commitFlows(store: Store, meta: FlowSourceMeta): Promise<FlowCommit> {
  const totals = await store.one<{
    records: null | number
    nodata: null | number
    skipdata: null | number
    rejected: null | number
    first: null | string
    last: null | string
    egress: null | number
  }>(
    `SELECT sum(records)::BIGINT AS records, sum(records) FILTER (WHERE status = 'NODATA')::BIGINT AS nodata,
            sum(records) FILTER (WHERE status = 'SKIPDATA')::BIGINT AS skipdata,
            sum(records) FILTER (WHERE status = 'OK' AND action = 'REJECT')::BIGINT AS rejected,
            strftime(min(day), '%Y-%m-%d') AS first, strftime(max(day), '%Y-%m-%d') AS last,
            sum(bytes) FILTER (WHERE status = 'OK' AND action = 'ACCEPT' AND direction = 'egress') AS egress
     FROM ${FLOW_STAGING} WHERE NOT per_client`,
  )
  if (!totals?.records)
    throw new BillwatchError('E_EMPTY', 'no flow records', {expected: 'at least one flow record', file: meta.path})
  const inserted = await store.one<{id: number}>(
    `INSERT INTO flow_sources (path, format, container, content_hash, bytes, records, nodata_records, skipdata_records, rejected_records, sampling, delivery)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
    [
      meta.path,
      meta.format,
      meta.container,
      meta.contentHash,
      meta.bytes,
      totals.records,
      totals.nodata ?? 0,
      totals.skipdata ?? 0,
      totals.rejected ?? 0,
      meta.sampling,
      meta.delivery,
    ],
  )
  if (!inserted) throw new BillwatchError('E_STORE', `could not record flow source ${meta.path}`)
  const id = inserted.id
  await store.run(
    `INSERT INTO flow_daily SELECT $1, day, exporter, interface, any_value(account), direction, action, protocol, port,
            sum(bytes), sum(packets), sum(records)
     FROM ${FLOW_STAGING} WHERE NOT per_client AND status = 'OK' GROUP BY day, exporter, interface, direction, action, protocol, port`,
    [id],
  )
  const perClient = `${FLOW_STAGING} WHERE per_client AND status = 'OK' AND action = 'ACCEPT' AND client IS NOT NULL`
  await store.run(
    meta.clientsRolledUp
      ? `INSERT INTO flow_clients SELECT $1, date_trunc('month', day)::DATE, interface, direction, protocol, port, client, bytes, packets, records
         FROM ${perClient}`
      : `INSERT INTO flow_clients SELECT $1, date_trunc('month', day)::DATE AS month, interface, direction, protocol, port, client,
            sum(bytes), sum(packets), sum(records) FROM ${perClient} GROUP BY ALL`,
    [id],
  )
  await store.run(
    `INSERT INTO flow_status SELECT $1, day, interface, status, sum(records) FROM ${FLOW_STAGING} WHERE NOT per_client AND status <> 'OK' GROUP BY ALL`,
    [id],
  )
  const interfaces = await store.all<{interface: string}>(
    `SELECT DISTINCT interface FROM ${FLOW_STAGING} WHERE NOT per_client ORDER BY 1`,
  )
  const duplicateDays = await uncountedDays(store, id)
  return {
    duplicateDays,
    egressBytes: totals.egress ?? 0,
    firstDay: totals.first,
    interfaces: interfaces.map((r) => r.interface),
    lastDay: totals.last,
    nodataRecords: totals.nodata ?? 0,
    records: totals.records,
    rejectedRecords: totals.rejected ?? 0,
    skipdataRecords: totals.skipdata ?? 0,
    sourceId: id,
  }
}

/** Interface-days of a source that another delivery of the same records counts for. */
async function uncountedDays(store: Store, sourceId: number): Promise<number> {
  const row = await store.one<{n: number}>(
    `SELECT count(*)::INTEGER AS n FROM (SELECT DISTINCT interface, day FROM flow_daily WHERE source_id = $1
       EXCEPT SELECT interface, day FROM flow_daily_counted WHERE source_id = $1)`,
    [sourceId],
  )
  return row?.n ?? 0
}

/** The flow source stored with this content hash, if any (re-ingesting the same file is a no-op). */
export async function findFlowSource(store: Store, contentHash: string): Promise<FlowCommit | undefined> {
  const row = await store.one<{id: number; records: number; nodata: number; skipdata: number; rejected: number}>(
    `SELECT id, records, nodata_records AS nodata, skipdata_records AS skipdata, rejected_records AS rejected FROM flow_sources WHERE content_hash = $1`,
    [contentHash],
  )
  if (!row) return undefined
  const span = await store.one<{
    first: null | string
    last: null | string
    interfaces: string[]
    egress: null | number
  }>(
    `SELECT strftime(min(day), '%Y-%m-%d') AS first, strftime(max(day), '%Y-%m-%d') AS last, list(DISTINCT interface ORDER BY interface) AS interfaces,
            sum(bytes) FILTER (WHERE action = 'ACCEPT' AND direction = 'egress') AS egress
     FROM flow_daily WHERE source_id = $1`,
    [row.id],
  )
  return {
    duplicateDays: await uncountedDays(store, row.id),
    egressBytes: span?.egress ?? 0,
    firstDay: span?.first ?? null,
    interfaces: span?.interfaces ?? [],
    lastDay: span?.last ?? null,
    nodataRecords: row.nodata,
    records: row.records,
    rejectedRecords: row.rejected,
    skipdataRecords: row.skipdata,
    sourceId: row.id,
  }
}
