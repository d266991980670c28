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
