/**
 * The reads of the flow-log tables (flow_daily_counted, flow_status_counted) the flows domain builds on: the
 * daily egress series `anomalies` takes for `flow:` usage types, and the records around a bill step that
 * `explain` names as evidence. Statement for statement what the flows domain ran itself before.
 */
import type {Store} from './index.js'

/** The SQL label of a flow_daily row's service: 'udp/123', or 'icmp' for protocols without ports. */
export const SERVICE_SQL = `protocol || CASE WHEN port IS NULL THEN '' ELSE '/' || port END`

/** First and last day (YYYY-MM-DD) to bound a read by; null leaves that end open. */
export interface FlowDayBounds {
  since: null | string
  until: null | string
}

/** One service's accepted egress on one interface, per day (days since 1970-01-01, bytes alongside). */
export interface FlowServiceEgress {
  service: string
  interface: string
  days: number[]
  bytes: number[]
}

/** Accepted egress per service (protocol/port) matching `glob` and interface, day by day, within the bounds. */
export async function flowEgressByService(
  store: Store,
  query: FlowDayBounds & {glob: string},
): Promise<FlowServiceEgress[]> {
  return store.all<FlowServiceEgress>(
    `WITH daily AS (
       SELECT ${SERVICE_SQL} AS service, interface, day, sum(bytes) AS bytes FROM flow_daily_counted
       WHERE action = 'ACCEPT' AND direction = 'egress' AND (${SERVICE_SQL}) GLOB $glob
         AND ($since::DATE IS NULL OR day >= $since::DATE) AND ($until::DATE IS NULL OR day <= $until::DATE)
       GROUP BY ALL
     )
     SELECT service, interface, list(day - DATE '1970-01-01' ORDER BY day) AS days, list(bytes ORDER BY day) AS bytes
     FROM daily GROUP BY ALL ORDER BY ALL`,
    {glob: query.glob, since: query.since, until: query.until},
  )
}

/** The days each interface was logged (any record, NODATA included) within the bounds. */
export async function flowLoggedDays(
  store: Store,
  bounds: FlowDayBounds,
): Promise<{interface: string; days: number[]}[]> {
  return store.all<{interface: string; days: number[]}>(
    `SELECT interface, list(DISTINCT day - DATE '1970-01-01') AS days FROM (
       SELECT interface, day FROM flow_daily_counted UNION ALL SELECT interface, day FROM flow_status_counted WHERE day IS NOT NULL AND interface IS NOT NULL
     ) WHERE ($since::DATE IS NULL OR day >= $since::DATE) AND ($until::DATE IS NULL OR day <= $until::DATE) GROUP BY interface`,
    {since: bounds.since, until: bounds.until},
  )
}

/** The first and last day (YYYY-MM-DD) the flow roll-up holds; nulls when it is empty. */
export async function flowDayCover(store: Store): Promise<{first: null | string; last: null | string} | undefined> {
  return store.one<{first: null | string; last: null | string}>(
    `SELECT strftime(min(day), '%Y-%m-%d') AS first, strftime(max(day), '%Y-%m-%d') AS last FROM flow_daily_counted`,
  )
}

/** One exporter's interface and service: accepted egress per day and the number of files it came from. */
export interface FlowWindowEgress {
  exporter: string
  interface: string
  protocol: string
  port: null | number
  days: number[]
  bytes: number[]
  files: number
}

/** Accepted egress per exporter, interface, protocol and port, day by day in [from, to] (YYYY-MM-DD). */
export async function flowEgressInWindow(
  store: Store,
  window: {from: string; to: string},
): Promise<FlowWindowEgress[]> {
  return store.all<FlowWindowEgress>(
    `SELECT exporter, interface, protocol, port, list(day - DATE '1970-01-01' ORDER BY day) AS days, list(bytes ORDER BY day) AS bytes, max(files) AS files FROM (
       SELECT exporter, interface, protocol, port, day, sum(bytes) AS bytes, count(DISTINCT source_id) AS files FROM flow_daily_counted
       WHERE action = 'ACCEPT' AND direction = 'egress' AND day BETWEEN $from::DATE AND $to::DATE GROUP BY ALL
     ) GROUP BY ALL`,
    {from: window.from, to: window.to},
  )
}

/** The days each interface was logged in [from, to] and the number of files that logged it. */
export async function flowLoggedDaysInWindow(
  store: Store,
  window: {from: string; to: string},
): Promise<{interface: string; days: number[]; files: number}[]> {
  return store.all<{interface: string; days: number[]; files: number}>(
    `SELECT interface, list(DISTINCT day - DATE '1970-01-01') AS days, count(DISTINCT source_id) AS files FROM (
       SELECT interface, day, source_id FROM flow_daily_counted UNION ALL SELECT interface, day, source_id FROM flow_status_counted WHERE interface IS NOT NULL
     ) WHERE day BETWEEN $from::DATE AND $to::DATE GROUP BY interface`,
    {from: window.from, to: window.to},
  )
}

/** The period of a flows report: first and last day (YYYY-MM-DD), null leaving that end open. */
export type FlowPeriod = FlowDayBounds

/** One interface over a period. */
export type FlowInterfacePeriod = FlowPeriod & {iface: string}

const IN_PERIOD = `($since::DATE IS NULL OR day >= $since::DATE) AND ($until::DATE IS NULL OR day <= $until::DATE)`
const ON_INTERFACE = `interface = $iface AND ${IN_PERIOD}`
/** The parameters of ON_INTERFACE (DuckDB refuses a parameter the statement does not use). */
const onInterface = (q: FlowInterfacePeriod) => ({iface: q.iface, since: q.since, until: q.until})

/** The interface with the most accepted egress in the period (then the most bytes, then by name). */
export async function flowBusiestInterface(store: Store, period: FlowPeriod): Promise<{interface: string} | undefined> {
  return store.one<{interface: string}>(
    `SELECT interface FROM flow_daily_counted WHERE action = 'ACCEPT' AND ${IN_PERIOD}
     GROUP BY interface ORDER BY sum(bytes) FILTER (WHERE direction = 'egress') DESC NULLS LAST, sum(bytes) DESC, interface LIMIT 1`,
    {since: period.since, until: period.until},
  )
}

/** First and last day with accepted records of the interface in the period, how many days, which exporters. */
export async function flowInterfaceSpan(
  store: Store,
  q: FlowInterfacePeriod,
): Promise<{first: null | string; last: null | string; days: number; exporters: string[]} | undefined> {
  return store.one<{first: null | string; last: null | string; days: number; exporters: string[]}>(
    `SELECT strftime(min(day), '%Y-%m-%d') AS first, strftime(max(day), '%Y-%m-%d') AS last, count(DISTINCT day) AS days,
            list(DISTINCT exporter ORDER BY exporter) AS exporters
     FROM flow_daily_counted WHERE ${ON_INTERFACE} AND action = 'ACCEPT'`,
    onInterface(q),
  )
}

/** Bytes of the interface in the period: accepted egress, ingress and other directions, and rejected. */
export async function flowInterfaceTotals(
  store: Store,
  q: FlowInterfacePeriod,
): Promise<{egress: null | number; ingress: null | number; other: null | number; rejected: null | number} | undefined> {
  return store.one<{egress: null | number; ingress: null | number; other: null | number; rejected: null | number}>(
    `SELECT sum(bytes) FILTER (WHERE action = 'ACCEPT' AND direction = 'egress') AS egress,
            sum(bytes) FILTER (WHERE action = 'ACCEPT' AND direction = 'ingress') AS ingress,
            sum(bytes) FILTER (WHERE action = 'ACCEPT' AND direction NOT IN ('egress', 'ingress')) AS other,
            sum(bytes) FILTER (WHERE action = 'REJECT') AS rejected
     FROM flow_daily_counted WHERE ${ON_INTERFACE}`,
    onInterface(q),
  )
}

/** Accepted bytes and packets of one protocol and port, egress (eb, ep) and ingress (ib, ip). */
export interface FlowPortTotals {
  protocol: string
  port: null | number
  eb: null | number
  ep: null | number
  ib: null | number
  ip: null | number
}

/** The interface's accepted traffic per protocol and port in the period, most egress first. */
export async function flowInterfacePorts(store: Store, q: FlowInterfacePeriod): Promise<FlowPortTotals[]> {
  return store.all<FlowPortTotals>(
    `SELECT protocol, port,
            sum(bytes) FILTER (WHERE direction = 'egress') AS eb, sum(packets) FILTER (WHERE direction = 'egress') AS ep,
            sum(bytes) FILTER (WHERE direction = 'ingress') AS ib, sum(packets) FILTER (WHERE direction = 'ingress') AS ip
     FROM flow_daily_counted WHERE ${ON_INTERFACE} AND action = 'ACCEPT' AND direction IN ('egress', 'ingress')
     GROUP BY ALL ORDER BY eb DESC NULLS LAST, ib DESC NULLS LAST, protocol, port`,
    onInterface(q),
  )
}

/** A flow-log file that holds records of the interface in the period. */
export interface FlowSourceRow {
  path: string
  format: string
  records: number
  sampling: null | string
  nodata: number
  skipdata: number
  rejected: number
}

/** The files holding records of the interface in the period, by path. */
export async function flowInterfaceSources(store: Store, q: FlowInterfacePeriod): Promise<FlowSourceRow[]> {
  return store.all<FlowSourceRow>(
    `SELECT path, format, records, sampling, nodata_records AS nodata, skipdata_records AS skipdata, rejected_records AS rejected FROM flow_sources
     WHERE id IN (SELECT DISTINCT source_id FROM flow_daily_counted WHERE ${ON_INTERFACE}) ORDER BY path`,
    onInterface(q),
  )
}

/** NODATA and SKIPDATA records of the interface in the period. */
export async function flowInterfaceStatus(
  store: Store,
  q: FlowInterfacePeriod,
): Promise<{nodata: null | number; skipdata: null | number} | undefined> {
  return store.one<{nodata: null | number; skipdata: null | number}>(
    `SELECT sum(records) FILTER (WHERE status = 'NODATA')::BIGINT AS nodata, sum(records) FILTER (WHERE status = 'SKIPDATA')::BIGINT AS skipdata
     FROM flow_status_counted WHERE interface = $iface AND ${IN_PERIOD}`,
    onInterface(q),
  )
}

/** Records of the interface in the period, and how many of them were rejected. */
export async function flowInterfaceCounts(
  store: Store,
  q: FlowInterfacePeriod,
): Promise<{records: null | number; rejected: null | number} | undefined> {
  return store.one<{records: null | number; rejected: null | number}>(
    `SELECT sum(records)::BIGINT AS records, sum(records) FILTER (WHERE action = 'REJECT')::BIGINT AS rejected FROM flow_daily_counted WHERE ${ON_INTERFACE}`,
    onInterface(q),
  )
}

/** The calendar months from `first` to `last` (YYYY-MM-DD) on one interface. */
export interface FlowMonths {
  first: string
  last: string
  iface: null | string
}

/** A service: protocol and server port (null for protocols without ports). */
export interface FlowService {
  protocol: string
  port: null | number
}

/** First and last day with accepted records of the interface in the months, and how many days. */
export async function flowMonthsCover(
  store: Store,
  months: FlowMonths,
): Promise<{from: string; to: string; days: number} | undefined> {
  return store.one<{from: string; to: string; days: number}>(
    `SELECT strftime(min(day), '%Y-%m-%d') AS "from", strftime(max(day), '%Y-%m-%d') AS "to", count(DISTINCT day) AS days FROM flow_daily_counted
     WHERE interface = $iface AND action = 'ACCEPT' AND day BETWEEN date_trunc('month', $first::DATE) AND last_day($last::DATE)`,
    {first: months.first, iface: months.iface, last: months.last},
  )
}

/** One client's bytes and packets with a service, egress (eb, ep) and ingress (ib, ip). */
export interface FlowClientTotals {
  client: string
  eb: null | number
  ep: null | number
  ib: null | number
  ip: null | number
}

const MATCH_SERVICE = `protocol = $protocol AND port IS NOT DISTINCT FROM $port::INTEGER`

/** Per-client totals with the service on the interface in the months (clients are counted per month). */
export async function flowServiceClients(store: Store, q: FlowMonths & FlowService): Promise<FlowClientTotals[]> {
  const inMonths = `interface = $iface AND month BETWEEN date_trunc('month', $first::DATE) AND date_trunc('month', $last::DATE)`
  return store.all<FlowClientTotals>(
    `SELECT client, sum(bytes) FILTER (WHERE direction = 'egress') AS eb, sum(packets) FILTER (WHERE direction = 'egress') AS ep,
            sum(bytes) FILTER (WHERE direction = 'ingress') AS ib, sum(packets) FILTER (WHERE direction = 'ingress') AS ip
     FROM flow_clients_counted WHERE ${inMonths} AND ${MATCH_SERVICE} GROUP BY client`,
    {first: q.first, iface: q.iface, last: q.last, port: q.port, protocol: q.protocol},
  )
}

/** Accepted egress of the service on the interface per day (YYYY-MM-DD) in the period. */
export async function flowServiceDaily(
  store: Store,
  q: FlowInterfacePeriod & FlowService,
): Promise<{day: string; bytes: number}[]> {
  return store.all<{day: string; bytes: number}>(
    `SELECT strftime(day, '%Y-%m-%d') AS day, sum(bytes) AS bytes FROM flow_daily_counted
     WHERE ${ON_INTERFACE} AND ${MATCH_SERVICE} AND action = 'ACCEPT' AND direction = 'egress' GROUP BY day ORDER BY day`,
    {...onInterface(q), port: q.port, protocol: q.protocol},
  )
}
