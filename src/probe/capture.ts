/** Reads what a capture says about the host's egress: `--pcap FILE`, or `billwatch pcap`'s saved evidence. */
import {analyseCapture} from '../pcap/analyse.js'
import {type PcapReport, buildReport} from '../pcap/report.js'
import type {CaptureSummary} from './verdict.js'

/** The part of a PcapReport the probe reads (evidence saved by older versions may lack the rest). */
export type PcapEvidence = Pick<PcapReport, 'byPort' | 'host' | 'outbound'> & {
  file?: string
  ntp?: Partial<Pick<PcapReport['ntp'], 'port' | 'shareOfOutbound' | 'uniqueClients'>> & {outbound?: {bytes: number}}
}

/** Measures a capture file with the pcap analysis, for the server on `port`. */
export function summariseCaptureFile(file: string, port: number, host?: string): CaptureSummary {
  // Only counts are read here: skip the behaviour heuristics, the limiter replay and the top talkers.
  const report = buildReport(analyseCapture(file, {host: host ?? 'auto', ntpPort: port}), {behaviour: false, top: 0})
  return summarisePcapReport(report, port, {createdAt: null, file, source: 'file'})
}

/** Outbound bytes from UDP `port` and their share of all outbound bytes (wire bytes, as `billwatch pcap` reports). */
export function summarisePcapReport(
  report: PcapEvidence,
  port: number,
  origin: Pick<CaptureSummary, 'createdAt' | 'file' | 'source'>,
): CaptureSummary {
  const outboundBytes = report.outbound?.bytes ?? 0
  const analysedPort = report.ntp?.port
  // The NTP figures count every reply from the port the capture was analysed for. A byPort row credits
  // a flow to its lower port (a server above its clients' ports shows under theirs), so it stands in
  // only for another port, or for older evidence that names no port.
  const ntp = analysedPort === port || analysedPort === undefined ? report.ntp : undefined
  const row = analysedPort === port ? undefined : report.byPort?.find((p) => p.protocol === 'udp' && p.port === port)
  const ntpBytes = row?.bytes ?? ntp?.outbound?.bytes ?? 0
  const ntpShare = row?.share ?? ntp?.shareOfOutbound ?? (outboundBytes > 0 ? ntpBytes / outboundBytes : 0)
  return {
    ...origin,
    file: origin.file ?? report.file ?? null,
    host: report.host?.address ?? null,
    ntpBytes,
    ntpClients: ntp?.uniqueClients ?? null,
    ntpShare,
    outboundBytes,
  }
}
