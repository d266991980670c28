import {formatBytes, formatCount, formatShare, formatUsd} from '../core/units.js'
import {renderTable} from '../core/table.js'
import {type FlowsReport, serviceLabel} from './report.js'

/** The human form of `billwatch flows` (the --json form is the report object itself). */
export function renderFlowsReport(report: FlowsReport): string {
  const out: string[] = []
  out.push(
    `${report.interface} (${report.exporters.join(', ')}): ${report.firstDay} .. ${report.lastDay}, ${formatCount(report.days)} days with traffic, ${formatCount(report.records)} records`,
  )
  const status: string[] = []
  if (report.nodataRecords > 0) status.push(`${formatCount(report.nodataRecords)} NODATA (no traffic in the window)`)
  if (report.skipdataRecords > 0)
    status.push(`${formatCount(report.skipdataRecords)} SKIPDATA (records skipped by AWS)`)
  if (report.rejectedRecords > 0)
    status.push(`${formatCount(report.rejectedRecords)} REJECT, ${formatBytes(report.rejectedBytes)} (not egress)`)
  if (status.length > 0) out.push(`not traffic: ${status.join('; ')}`)
  for (const source of report.sources) if (source.sampling) out.push(`sampling: ${source.sampling} (${source.path})`)
  out.push(
    `accepted: egress ${formatBytes(report.egressBytes)}, ingress ${formatBytes(report.ingressBytes)}${report.otherBytes > 0 ? `, direction unknown ${formatBytes(report.otherBytes)}` : ''}`,
    '',
    "egress by protocol and port (the interface's own port)",
    renderTable(
      ['protocol', 'port', 'egress bytes', 'share', 'egress packets', 'ingress bytes', 'ingress packets'],
      report.byPort
        .slice(0, 10)
        .map((p) => [
          p.protocol,
          p.port ?? '-',
          formatCount(p.egressBytes),
          formatShare(p.egressShare),
          formatCount(p.egressPackets),
          formatCount(p.ingressBytes),
          formatCount(p.ingressPackets),
        ]),
      ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
    '',
    `cost at the average rate, ${formatBytes(report.cost.egressBytesPerDay)}/day (${report.cost.pricing}): ${formatUsd(report.cost.monthlyUsd)}/month, ${formatUsd(report.cost.yearlyUsd)}/year${report.estimated ? ' (estimated from sampled records)' : ''}`,
  )
  const service = report.service
  if (service) {
    const label = serviceLabel(service.protocol, service.port).toUpperCase()
    out.push(
      '',
      `${label}: ${formatBytes(service.egressBytes)} egress, ${formatBytes(service.egressBytesPerDay)}/day, ${formatCount(service.uniqueClients)} clients`,
    )
    if (service.topTalkers.length > 0) {
      out.push(
        '',
        'top talkers',
        renderTable(
          ['address', 'requests', 'egress bytes', 'ingress bytes', 'share'],
          service.topTalkers.map((t) => [
            t.address,
            formatCount(t.requests),
            formatCount(t.egressBytes),
            formatCount(t.ingressBytes),
            formatShare(t.share),
          ]),
          ['left', 'right', 'right', 'right', 'right'],
        ),
      )
    }
    if (service.thresholds.length > 0) {
      out.push(
        '',
        `blocking clients above a request count (their traffic ${service.clientsFrom} .. ${service.clientsTo})`,
        renderTable(
          ['block clients with ≥ N requests', 'clients blocked', 'bandwidth cut', 'still costs/year'],
          service.thresholds.map((row) => [
            formatCount(row.minQueries),
            formatCount(row.blockedClients),
            formatShare(row.bandwidthCutShare),
            formatUsd(row.annualCost),
          ]),
          ['right', 'right', 'right', 'right'],
        ),
      )
    }
  }
  out.push('', 'what flow records cannot tell', ...report.cannotTell.map((line) => `- ${line}`))
  return out.join('\n')
}
