/**
 * How a flow record is attributed, as SQL for either engine (the local DuckDB scan of flow-log files
 * and the Athena query over a flow-log table render the same rule): its direction relative to the
 * interface, and the server-side port its bytes count under. Written only with what DuckDB and
 * Trino share (CASE, IN, coalesce); the one spelling that differs (a regular expression) comes from
 * the dialect.
 */
import type {SqlDialect} from '../ingest/dialect.js'
import {quoteLiteral} from '../ingest/columnar.js'
import {PORT_PROTOCOLS} from './stage.js'

/** IPv4 RFC 1918, link-local and CGNAT space, IPv6 unique-local and link-local: the VPC side of a record. */
const PRIVATE_ADDRESS = String.raw`^(10\.|192\.168\.|169\.254\.|172\.(1[6-9]|2[0-9]|3[01])\.|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.|[fF][cdCD]|[fF][eE]80:)`

/** One anchored regular expression: four times faster than a chain of prefix tests on a billion-byte file. */
export function privateAddressSql(dialect: SqlDialect, address: string): string {
  return dialect.regexMatches(address, `'${PRIVATE_ADDRESS}'`)
}

/** Direction codes of `directionSql`, in this order. */
export const DIRECTIONS = ['egress', 'ingress', 'internal', 'unknown'] as const

/**
 * The direction code (0 egress, 1 ingress, 2 internal: both peers private, 3 unknown) from the
 * record's flow-direction when the format has it, else the interfaces' own addresses (`hosts`), else
 * which side is private. Only the branches the format can take: per-row string tests are most of a
 * scan's cost. Names are of columns already computed: flow_direction, src, dst, src_private, dst_private.
 */
export function directionSql(options: {hasFlowDirection: boolean; hosts: string[]}): string {
  const hosts = options.hosts.map(quoteLiteral).join(', ')
  return `CASE ${options.hasFlowDirection ? `WHEN flow_direction = 'egress' THEN 0 WHEN flow_direction = 'ingress' THEN 1` : ''}
      ${options.hosts.length > 0 ? `WHEN src IN (${hosts}) THEN 0 WHEN dst IN (${hosts}) THEN 1` : ''}
      WHEN src_private AND NOT dst_private THEN 0 WHEN dst_private AND NOT src_private THEN 1
      WHEN src_private AND dst_private THEN 2 ELSE 3 END`
}

/**
 * The server-side port of a record that carries traffic (`ok`) over a protocol with ports: the
 * source port of egress (the interface answers), the destination port of ingress, else the lower of
 * the two (the lower of the two present when one is missing). NULL otherwise. Columns: dir, proto, sp, dp.
 */
export function serverPortSql(ok: string): string {
  return `CASE WHEN NOT (${ok}) OR NOT coalesce(proto IN (${PORT_PROTOCOLS.join(', ')}), false) THEN NULL
               WHEN dir = 0 THEN sp WHEN dir = 1 THEN dp
               WHEN sp IS NULL THEN dp WHEN dp IS NULL OR dp > sp THEN sp ELSE dp END`
}
