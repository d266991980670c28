import {
  formatBytes,
  formatCount,
  formatCountOf,
  formatFixed,
  formatRatio,
  formatShare,
  formatUsd,
} from '../core/units.js'
import {renderTable} from '../core/table.js'
import type {PcapReport} from './report.js'

const MODE_NAMES: Record<string, string> = {0: 'reserved', 5: 'broadcast', 6: 'control, ntpq', 7: 'private, ntpdc'}

/** The human form of `billwatch pcap` (the --json form is the report object itself). */
export function renderPcapReport(report: PcapReport): string {
  const out: string[] = []
  const span = report.start
    ? `${report.start} .. ${report.end} (${formatCount(Math.round(report.durationSec))} s)`
    : 'no timestamps'
  out.push(
    `${report.file}: ${report.format}${report.compression && report.compression !== 'none' ? ` (${report.compression})` : ''}, ${report.linkTypes.join(', ') || 'no interfaces'}, ${span}`,
  )
  if (report.live) {
    const how = {
      duration: 'for the duration asked',
      end: 'until tcpdump stopped',
      interrupt: 'until interrupted (Ctrl-C)',
    }[report.live.stoppedBy]
    out.push(
      `captured live on ${report.live.interface}${report.live.filter ? ` (filter: ${report.live.filter})` : ''} ${how}` +
        (report.live.droppedByKernel
          ? `; tcpdump says the kernel dropped ${formatCountOf(report.live.droppedByKernel, 'packet')}`
          : ''),
    )
  }
  if (report.files)
    out.push(
      `read as one capture: ${report.files.length} files in time order, ${report.files[0]?.file} .. ${report.files.at(-1)?.file}`,
    )
  for (const gap of report.gaps ?? []) {
    out.push(
      gap.seconds >= 0
        ? `  gap of ${formatCount(Math.round(gap.seconds))} s between ${gap.after} and ${gap.before} (${gap.from} .. ${gap.to})`
        : `  ${gap.before} starts ${formatCount(Math.round(-gap.seconds))} s before ${gap.after} ends`,
    )
  }
  for (const warning of report.warnings) out.push(`warning (${warning.code}): ${warning.message}`)
  const tunnels = Object.entries(report.encapsulations ?? {})
  if (tunnels.length > 0) {
    out.push(
      `encapsulated: ${tunnels.map(([name, n]) => `${formatCountOf(n, 'packet')} in ${name}`).join(', ')}; the figures below are the inner packets' (a mirrored copy bills as the packet it copies)`,
    )
  }
  if (report.truncated) {
    out.push(
      `warning: the last record${report.truncated.file ? ` of ${report.truncated.file}` : ''} (#${report.truncated.record}, byte ${report.truncated.offset}) is cut: ${report.truncated.available} of ${report.truncated.needed} bytes; it is not counted`,
    )
  }
  out.push(
    `packets ${formatCount(report.packets)}; bytes on the wire ${formatCount(report.bytes)}, captured (pcap_len) ${formatCount(report.capturedBytes)}, billable IP ${formatCount(report.billableBytes)}` +
      (report.fragments > 0
        ? `; ${formatCount(report.fragments)} IP fragments (${formatCount(report.fragmentsAttributed)} later fragments billed to their datagram's port, ${formatCount(report.fragmentsUnmatched)} without their first fragment)`
        : '') +
      (report.nonIpPackets > 0 ? `; ${formatCount(report.nonIpPackets)} non-IP` : ''),
  )
  if (!report.host) {
    out.push('no IP traffic: nothing to attribute')
    return out.join('\n')
  }
  out.push(`host ${report.host.address}${report.host.detected ? ' (auto: the busiest address)' : ''}`, '')
  out.push(
    renderTable(
      ['direction', 'packets', 'wire bytes', 'billable bytes', 'kbit/s'],
      [
        [
          'outbound',
          formatCount(report.outbound.packets),
          formatCount(report.outbound.bytes),
          formatCount(report.outbound.billableBytes),
          formatFixed(report.outbound.kbitPerSec, 1),
        ],
        [
          'inbound',
          formatCount(report.inbound.packets),
          formatCount(report.inbound.bytes),
          formatCount(report.inbound.billableBytes),
          formatFixed(report.inbound.kbitPerSec, 1),
        ],
      ],
      ['left', 'right', 'right', 'right', 'right'],
    ),
    '',
    'outbound by protocol and port',
    renderTable(
      ['protocol', 'port', 'packets', 'wire bytes', 'share', 'billable bytes'],
      report.byPort
        .slice(0, 10)
        .map((row) => [
          row.protocol,
          row.port ?? '-',
          formatCount(row.packets),
          formatCount(row.bytes),
          formatShare(row.share),
          formatCount(row.billableBytes),
        ]),
      ['left', 'right', 'right', 'right', 'right', 'right'],
    ),
    '',
    `cost at this rate (${report.cost.pricing}): outbound ${report.cost.outbound.gbPerMonth === null ? 'withheld' : formatBytes(report.cost.outbound.gbPerMonth * 2 ** 30)}/month = ${formatUsd(report.cost.outbound.monthlyUsd)}/month, ${formatUsd(report.cost.outbound.yearlyUsd)}/year; NTP alone ${formatUsd(report.cost.ntp.yearlyUsd)}/year`,
  )
  const ntp = report.ntp
  out.push(
    '',
    `NTP (port ${ntp.port}): ${formatCountOf(ntp.requests, 'request')}, ${formatCountOf(ntp.responses, 'reply', 'replies')} (${formatShare(ntp.shareOfOutbound)} of outbound bytes), ` +
      `${formatCount(ntp.unanswered)} unanswered, ${formatCountOf(ntp.kods, 'KoD')}${
        ntp.kods > 0
          ? ` (${Object.entries(ntp.kissCodes)
              .map(([code, n]) => `${code} ${formatCount(n)}`)
              .join(', ')})`
          : ''
      }`,
    ...(Object.keys(ntp.unsynchronised).length > 0
      ? [
          `${formatCountOf(
            Object.values(ntp.unsynchronised).reduce((a, b) => a + b, 0),
            'reply',
            'replies',
          )} came from an unsynchronised server that still answers (${Object.entries(ntp.unsynchronised)
            .map(([why, n]) => `${why} ${formatCount(n)}`)
            .join(', ')}): served, and billed, though not a usable time`,
        ]
      : []),
    ...Object.entries(ntp.otherModes).map(
      ([mode, t]) =>
        `mode ${mode} (${MODE_NAMES[mode] ?? 'unknown'}) packets from port ${ntp.port}, not counted as replies: ${formatCount(t.packets)}, ${formatCount(t.billableBytes)} billable bytes`,
    ),
    `unique clients ${formatCount(ntp.uniqueClients)} (${formatCount(ntp.requestingClients)} sent requests, ${formatCount(ntp.answeredClients)} got replies)`,
  )
  if (ntp.topTalkers.length > 0) {
    out.push(
      '',
      'top talkers',
      renderTable(
        [
          'address',
          'requests',
          'q/s',
          'median gap',
          'ports',
          'versions',
          'modes',
          'KoD sent',
          'asked after KoD',
          'share',
        ],
        ntp.topTalkers.map((t) => [
          t.address,
          formatCount(t.requests),
          formatFixed(t.qps, 2),
          t.medianIntervalSec === null ? '-' : `${t.medianIntervalSec.toFixed(2)} s`,
          formatCount(t.sourcePorts),
          t.versions.join(','),
          t.modes.join(','),
          formatCount(t.kods),
          formatCount(t.requestsAfterKod),
          formatShare(t.share),
        ]),
        ['left', 'right', 'right', 'right', 'right', 'left', 'left', 'right', 'right', 'right'],
      ),
    )
  }
  if (ntp.thresholds.length > 0) {
    out.push(
      '',
      'if we block clients that sent at least N requests (a NAT of honest hosts looks like one greedy client — check suspected NATs first)',
      renderTable(
        ['N', 'clients blocked', 'bandwidth cut', 'NTP egress left, per year'],
        ntp.thresholds.map((t) => [
          formatCount(t.minQueries),
          formatCount(t.blockedClients),
          formatShare(t.bandwidthCutShare, 0),
          formatUsd(t.annualCost),
        ]),
        ['right', 'right', 'right', 'right'],
      ),
    )
  }
  if (ntp.suspectedNat && ntp.suspectedNat.length > 0) {
    out.push(
      '',
      `likely NAT/CGNAT gateways (${formatCount(ntp.suspectedNatTotal ?? ntp.suspectedNat.length)}): many polite hosts behind one address — do not block them as greedy clients`,
      renderTable(
        ['address', 'est. hosts', 'confidence', 'requests', 'q/s', 'ports', 'schedules'],
        ntp.suspectedNat
          .slice(0, 10)
          .map((n) => [
            n.address,
            formatCount(n.estimatedHosts),
            n.confidence,
            formatCount(n.requests),
            n.qps.toFixed(2),
            formatCount(n.ports),
            formatCount(n.schedules),
          ]),
        ['left', 'right', 'left', 'right', 'right', 'right', 'right'],
      ),
    )
  }
  if (ntp.fleets && ntp.fleets.length > 0) {
    out.push(
      '',
      'synchronised fleets (many distinct clients in one window)',
      renderTable(
        ['start', 'minutes', 'clients', 'one-shot', 'recurs'],
        ntp.fleets.map((f) => [
          f.start,
          (f.durationSec / 60).toFixed(0),
          formatCount(f.clients),
          formatShare(f.oneShotShare, 0),
          f.recurrence ? JSON.stringify(f.recurrence) : '-',
        ]),
        ['left', 'right', 'right', 'right', 'left'],
      ),
    )
  }
  if (ntp.violations && ntp.violations.length > 0) {
    out.push(
      '',
      'client-rule violations',
      ...ntp.violations.map(
        (v) =>
          `  ${v.rule}: ${formatCountOf(v.clients, 'client')}, ${formatCountOf(v.requests, 'request')} — ${v.description} (${v.reference})`,
      ),
    )
  }
  if (ntp.rateLimiting) {
    out.push(
      '',
      `rate limiting replayed on this capture (${ntp.rateLimiting.assumptions[0] ?? ''})` +
        (ntp.rateLimiting.baseline.unanswered > 0
          ? `; ${formatCountOf(ntp.rateLimiting.baseline.unanswered, 'request')} the server left unanswered stay unanswered in every replay`
          : ''),
      renderTable(
        ['setting', 'answered', 'KoD', 'dropped', 'egress saved', 'saved per year', 'NATs blacked out'],
        ntp.rateLimiting.results.map((r) => [
          r.setting,
          formatCount(r.answered),
          formatCount(r.kods),
          formatCount(r.dropped),
          formatShare(r.savedShare),
          formatUsd(r.savedAnnualUsd),
          formatCount(r.blackedOutNats.length),
        ]),
        ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
      ),
    )
  }
  if (report.control) {
    const c = report.control
    out.push(
      '',
      `control ${c.file}${c.host ? ` (host ${c.host})` : ''}: ${formatCount(Math.round(c.durationSec))} s, ${formatCount(Math.round(c.ntpBytesPerSec))} NTP bytes/s, ${formatCount(c.uniqueClients)} clients, ${formatCount(Math.round(c.bytesPerClient))} bytes per client`,
      `this server vs control: ${formatRatio(c.ratios.bytesPerSec)} the NTP bytes/s, ${formatRatio(c.ratios.uniqueClients)} the clients (${formatRatio(c.ratios.uniqueClientsNormalised)} over the same duration), ${formatRatio(c.ratios.bytesPerClient)} the bytes per client (${formatRatio(c.ratios.bytesPerClientPerSec)} per second)`,
    )
  }
  return out.join('\n')
}
