/**
 * `billwatch flows`: for one interface (ENI) or host and a period, what `billwatch pcap` reports for
 * a capture — bytes by protocol and port, clients, top talkers, the blocking-threshold table, monthly
 * and yearly cost — from the flow records in the store, and what flow records cannot tell.
 */
import {BillwatchError} from '../errors.js'
import {thresholdTable, type ThresholdRow} from '../pcap/report.js'
import {costOfRate, CURRENT_EGRESS_PRICING, type EgressPricing} from '../pricing/egress.js'
import {
  flowBusiestInterface,
  flowInterfaceCounts,
  type FlowInterfacePeriod,
  flowInterfacePorts,
  flowInterfaceSources,
  flowInterfaceSpan,
  flowInterfaceStatus,
  flowInterfaceTotals,
  flowMonthsCover,
  type FlowPeriod,
  flowServiceClients,
  flowServiceDaily,
} from '../store/flows.js'
import type {Store} from '../store/index.js'

export interface FlowsOptions {
  /** An interface id (eni-…) or a NetFlow host address; default: the one with the most accepted egress. */
  interface?: string
  since?: string
  until?: string
  /** The service to study for clients, e.g. 'udp/123'; default: the port with the most egress. */
  port?: string
  top?: number
  blockThresholds?: number[]
  pricing?: EgressPricing
}

export interface FlowPortRow {
  protocol: string
  port: null | number
  egressBytes: number
  egressPackets: number
  ingressBytes: number
  ingressPackets: number
  /** Share of the interface's accepted egress bytes. */
  egressShare: number
}

export interface FlowTalker {
  address: string
  /** Packets the client sent to the port (its requests), or the replies it got when only egress was logged. */
  requests: number
  egressBytes: number
  ingressBytes: number
  /** Share of the port's egress bytes. */
  share: number
}

export interface FlowsReport {
  interface: string
  exporters: string[]
  firstDay: string
  lastDay: string
  /** Days with accepted traffic on the interface in the period. */
  days: number
  sources: {path: string; format: string; records: number; sampling: null | string}[]
  records: number
  nodataRecords: number
  skipdataRecords: number
  rejectedRecords: number
  rejectedBytes: number
  egressBytes: number
  ingressBytes: number
  /**
   * Accepted traffic whose direction the records could not tell (both peers private, or public IPv6 without
   * flow-direction).
   */
  otherBytes: number
  byPort: FlowPortRow[]
  service: null | {
    protocol: string
    port: null | number
    egressBytes: number
    egressBytesPerDay: number
    uniqueClients: number
    /**
     * The days the client figures (clients, top talkers, thresholds) cover: per-client totals are
     * kept per calendar month, so a period that cuts a month gets the whole month's clients.
     */
    clientsFrom: string
    clientsTo: string
    topTalkers: FlowTalker[]
    thresholds: ThresholdRow[]
    daily: {day: string; egressBytes: number}[]
  }
  cost: {pricing: string; egressBytesPerDay: number; gbPerMonth: number; monthlyUsd: number; yearlyUsd: number}
  /** Sampled counts are estimates; set when any record was sampled. */
  estimated: boolean
  cannotTell: string[]
}

/** 'udp/123' → {protocol: 'udp', port: 123}; 'icmp' → port null. */
export function parseService(text: string, field = '--port'): {protocol: string; port: null | number} {
  const match = /^([a-z0-9-]+)(?:\/(\d{1,5}))?$/i.exec(text.trim())
  const port = match?.[2] === undefined ? null : Number(match[2])
  if (!match || (port !== null && port > 65_535))
    throw new BillwatchError('E_USAGE', '', {
      expected: 'PROTOCOL/PORT such as udp/123, or a protocol such as icmp',
      field,
      got: text,
    })
  return {port, protocol: match[1]!.toLowerCase()}
}

export function serviceLabel(protocol: string, port: null | number): string {
  return port === null ? protocol : `${protocol}/${port}`
}

export async function analyseFlows(store: Store, options: FlowsOptions = {}): Promise<FlowsReport> {
  const pricing = options.pricing ?? CURRENT_EGRESS_PRICING
  const period = {since: options.since ?? null, until: options.until ?? null}
  const chosen = options.interface ?? (await busiestInterface(store, period))
  const params = {...period, iface: chosen}
  const span = await flowInterfaceSpan(store, params)
  if (!span?.first || !span.last) {
    throw new BillwatchError(
      'E_NO_DATA',
      `no accepted flow records of ${chosen}${period.since || period.until ? ' in the period' : ''} in store ${store.path}`,
      {
        suggestions: [
          'billwatch ingest FLOW-LOGS… (VPC Flow Logs or nfcapd files)',
          'billwatch flows --json (lists the interfaces with traffic)',
        ],
      },
    )
  }
  const totals = await flowInterfaceTotals(store, params)
  const egressBytes = totals?.egress ?? 0
  const ports = await flowInterfacePorts(store, params)
  const byPort: FlowPortRow[] = ports.map((p) => ({
    egressBytes: p.eb ?? 0,
    egressPackets: p.ep ?? 0,
    egressShare: egressBytes > 0 ? (p.eb ?? 0) / egressBytes : 0,
    ingressBytes: p.ib ?? 0,
    ingressPackets: p.ip ?? 0,
    port: p.port,
    protocol: p.protocol,
  }))
  const sources = await flowInterfaceSources(store, params)
  const status = await flowInterfaceStatus(store, params)
  const counts = await flowInterfaceCounts(store, params)

  const days = span.days
  const perDay = days > 0 ? egressBytes / days : 0
  const cost = costOfRate(perDay / 86_400, pricing)
  const focus = options.port ? parseService(options.port) : byPort.find((p) => p.egressBytes > 0)
  const service = focus
    ? await serviceReport(store, params, {first: span.first, last: span.last}, focus, days, pricing, options)
    : null
  const estimated = sources.some((s) => s.sampling !== null)
  const nodata = status?.nodata ?? 0
  const skipdata = status?.skipdata ?? 0
  const cannotTell = [
    "NTP modes, versions and Kiss-o'-Death replies: flow records carry no payload (a capture does: billwatch pcap).",
    "Request timing within a record's window (one record sums a flow over up to 10 minutes), so no per-client rate or interval.",
    'Billed bytes: flow bytes count every peer, intra-VPC and cross-AZ traffic too; the bill counts only chargeable transfer.',
  ]
  if (service && (service.clientsFrom < span.first || service.clientsTo > span.last)) {
    cannotTell.push(
      `Clients of the period alone: per-client totals are kept per calendar month, so clients, top talkers and the blocking table cover ${service.clientsFrom} to ${service.clientsTo} (bytes by port and the daily series are the period's).`,
    )
  }
  if (estimated)
    cannotTell.push(
      'Exact counts: sampled records were scaled up, so bytes, packets and clients are estimates (small clients may be missed).',
    )
  if (skipdata > 0)
    cannotTell.push(
      `What ${skipdata} SKIPDATA record${skipdata === 1 ? '' : 's'} hid: AWS skipped records in those windows (capacity or an internal error).`,
    )
  if (sources.some((s) => s.format.startsWith('vpc')))
    cannotTell.push(
      'NTP to the Amazon Time Sync Service (169.254.169.123): VPC Flow Logs never record it (nor is it billed).',
    )
  return {
    byPort,
    cannotTell,
    cost: {
      egressBytesPerDay: perDay,
      gbPerMonth: cost.gbPerMonth,
      monthlyUsd: cost.monthlyUsd,
      pricing: pricing.label,
      yearlyUsd: cost.yearlyUsd,
    },
    days,
    egressBytes,
    estimated,
    exporters: span.exporters,
    firstDay: span.first,
    ingressBytes: totals?.ingress ?? 0,
    interface: chosen,
    lastDay: span.last,
    nodataRecords: nodata,
    otherBytes: totals?.other ?? 0,
    records: (counts?.records ?? 0) + nodata + skipdata,
    rejectedBytes: totals?.rejected ?? 0,
    rejectedRecords: counts?.rejected ?? 0,
    service,
    skipdataRecords: skipdata,
    sources: sources.map((s) => ({format: s.format, path: s.path, records: s.records, sampling: s.sampling})),
  }
}

async function busiestInterface(store: Store, period: FlowPeriod): Promise<string> {
  const row = await flowBusiestInterface(store, period)
  if (!row)
    throw new BillwatchError('E_NO_DATA', 'no flow records in the store', {
      suggestions: ['billwatch ingest FLOW-LOGS… (VPC Flow Logs or nfcapd files)'],
    })
  return row.interface
}

async function serviceReport(
  store: Store,
  params: FlowInterfacePeriod,
  span: {first: string; last: string},
  focus: {protocol: string; port: null | number},
  days: number,
  pricing: EgressPricing,
  options: FlowsOptions,
): Promise<FlowsReport['service']> {
  // Per-client totals are per calendar month: the months the period's traffic touches, and the
  // days with traffic in them (the blocking table's duration).
  const months = {first: span.first, iface: params.iface, last: span.last}
  const cover = await flowMonthsCover(store, months)
  const clients = await flowServiceClients(store, {...months, port: focus.port, protocol: focus.protocol})
  const durationSec = (cover?.days ?? days) * 86_400
  const daily = await flowServiceDaily(store, {...params, port: focus.port, protocol: focus.protocol})
  const egressBytes = daily.reduce((sum, d) => sum + d.bytes, 0)
  // Requests are what a client sent to the port; with egress-only records, the replies it received.
  const hasIngress = clients.some((c) => (c.ip ?? 0) > 0)
  const requestsOf = (c: (typeof clients)[number]) => Math.round((hasIngress ? c.ip : c.ep) ?? 0)
  const requests = Uint32Array.from(clients, (c) => Math.min(requestsOf(c), 0xff_ff_ff_ff))
  const bytes = Float64Array.from(clients, (c) => c.eb ?? 0)
  const top = [...clients]
    .sort((a, b) => (b.eb ?? 0) - (a.eb ?? 0) || requestsOf(b) - requestsOf(a) || (a.client < b.client ? -1 : 1))
    .slice(0, options.top ?? 10)
  return {
    clientsFrom: cover?.from ?? span.first,
    clientsTo: cover?.to ?? span.last,
    daily: daily.map((d) => ({day: d.day, egressBytes: d.bytes})),
    egressBytes,
    egressBytesPerDay: days > 0 ? egressBytes / days : 0,
    port: focus.port,
    protocol: focus.protocol,
    thresholds: thresholdTable(requests, bytes, durationSec, pricing, options.blockThresholds ?? []),
    topTalkers: top.map((c) => ({
      address: c.client,
      egressBytes: c.eb ?? 0,
      ingressBytes: c.ib ?? 0,
      requests: requestsOf(c),
      share: egressBytes > 0 ? (c.eb ?? 0) / egressBytes : 0,
    })),
    uniqueClients: clients.length,
  }
}
