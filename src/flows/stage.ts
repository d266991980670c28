/**
 * Flow records as the readers stage them and the store commits them (src/store/flow-import.ts): the staged row, what
 * a commit records, how a file delivers its records, and how a protocol number is named.
 */
/** Column order of `staged_flows` (and of the tuples `appendFlowRows` takes). */
export interface StagedFlow {
  day: string
  exporter: string
  interface: string
  account: null | string
  /** 'egress' | 'ingress' relative to the interface, 'internal' (both peers private), 'unknown'. */
  direction: string
  action: string
  /** 'OK', 'NODATA', 'SKIPDATA'. */
  status: string
  protocol: null | string
  port: null | number
  client: null | string
  bytes: number
  packets: number
  records: number
}

export interface FlowSourceMeta {
  path: string
  format: string
  container: string
  contentHash: string
  bytes: number
  /** How sampled counts were scaled, in words; null when unsampled. */
  sampling: null | string
  /** How the records were delivered (see deliveryOf): two deliveries of one interface's days count once. */
  delivery: string
  /**
   * The staging's per-client rows are already one per month, interface, direction, protocol, port and client (the VPC
   * scan sums them so): copied, not summed again (as many rows as records, for a file with many clients).
   */
  clientsRolledUp?: boolean
}

export interface FlowCommit {
  sourceId: number
  records: number
  nodataRecords: number
  skipdataRecords: number
  rejectedRecords: number
  firstDay: null | string
  lastDay: null | string
  interfaces: string[]
  egressBytes: number
  /**
   * Interface-days of this file that another, fuller delivery of the same interface's records holds: not counted (see
   * FLOW_VIEWS).
   */
  duplicateDays: number
}

/** SQL that names a protocol number as `billwatch pcap` does ('udp', 'tcp', 'icmp', 'ipv6-icmp', 'ip-N'). */
export function protocolNameSql(number: string): string {
  return `CASE ${number} WHEN 17 THEN 'udp' WHEN 6 THEN 'tcp' WHEN 1 THEN 'icmp' WHEN 58 THEN 'ipv6-icmp' ELSE 'ip-' || ${number} END`
}

/** Protocols whose records carry ports. */
export const PORT_PROTOCOLS = [6, 17, 132]

/**
 * How a file delivers its records: the reader and the fields in order. An S3 delivery's files share
 * one (they are parts, each a few minutes of the log); a CloudWatch Logs export, a Parquet delivery or
 * a second flow log with other fields of the same interface is another delivery of the same traffic.
 */
export function deliveryOf(format: string, fields: string[]): string {
  return fields.length === 0 ? format : `${format}: ${fields.join(' ')}`
}
