/**
 * The report's HTML tables, one function per kind of evidence. Every cell is escaped; figures use src/cli/format.ts.
 */
import type {Step} from '../anomalies/types.js'
import {describeStep} from '../anomalies/describe.js'
import {
  formatAmount,
  formatBytes,
  formatCount,
  formatCountOf,
  formatFixed,
  formatMoney,
  formatRatio,
  formatShare,
  formatUsd,
} from '../cli/format.js'
import {sourcesOf} from '../correlate/cloud.js'
import type {CorrelatedStep} from '../correlate/types.js'
import type {BillEvidence, SymmetryEvidence} from '../explain/evidence.js'
import {monthTableCells} from '../explain/narrative.js'
import type {ConfigSnippet} from '../explain/remediation.js'
import type {NtpReport, PcapReport} from '../pcap/report.js'
import type {ProbeResult} from '../probe/index.js'
import type {LimiterResult, RateLimitReport} from '../ratelimit/index.js'

type Cell = number | string

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
}

/** Label/value rows (no header). */
export function keyValueTable(rows: [string, Cell][], id: string): string {
  return htmlTable(['', ''], rows, {id})
}

/** A table; numbers are right-aligned, like renderTable's text tables. */
export function htmlTable(headers: string[], rows: Cell[][], options: {caption?: string; id?: string} = {}): string {
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((row) => isFigure(row[i] ?? '')))
  const cell = (tag: string, value: Cell, i: number) =>
    `<${tag}${numeric[i] ? ' class="num"' : ''}>${escapeHtml(String(value))}</${tag}>`
  const id = options.id === undefined ? '' : ` id="${escapeHtml(options.id)}"`
  const caption = options.caption === undefined ? '' : `<caption>${escapeHtml(options.caption)}</caption>`
  const head = headers.some((h) => h !== '')
    ? `<thead><tr>${headers.map((h, i) => cell('th', h, i)).join('')}</tr></thead>`
    : ''
  return `<table${id}>${caption}${head}<tbody>${rows.map((row) => `<tr>${row.map((value, i) => cell('td', value, i)).join('')}</tr>`).join('')}</tbody></table>`
}

/** Numbers and figures like "8.29 GB", "$480.00", "99.6%", "0.33 s", "—" (not dates or addresses) are right-aligned. */
function isFigure(value: Cell): boolean {
  if (typeof value === 'number') return true
  return /^(?:[-$≥]?[\d,.]+(?: ?[A-Za-z%/]+)?|—)$/.test(value) && !/\d\.\d+\.\d/.test(value)
}

const orDash = <T>(value: null | T | undefined, format: (v: T) => string): string =>
  value === null || value === undefined ? '—' : format(value)

function level(value: number, unit: string): string {
  return `${formatAmount(value, unit)}/day`
}

export function stepsTable(steps: Step[]): string {
  return htmlTable(
    [
      'date',
      'what moved',
      'usage type',
      'direction',
      'before',
      'after',
      'ratio',
      'confidence',
      'costs from',
      'per month',
      'per year',
    ],
    steps.map((s) => [
      s.tentative ? `${s.date} (tentative: ${s.daysAfter} days of data)` : s.date,
      describeStep(s),
      s.resourceId ? `${s.usageType} · ${s.resourceId}` : s.usageType,
      s.direction,
      level(s.levelBefore, s.unit),
      level(s.levelAfter, s.unit),
      formatRatio(s.ratio),
      formatShare(s.confidence, 0),
      s.costStepDate ?? '—',
      formatMoney(s.monthlyCost, s.currency),
      formatMoney(s.yearlyCost, s.currency),
    ]),
    {id: 'steps-table'},
  )
}

/** Ranked changes per step; a step with nothing to rank shows its note. */
export function candidatesTables(steps: CorrelatedStep[]): string {
  return steps
    .map((step) => {
      const caption = `Step ${step.date} (${step.usageType}, ${step.direction}): changes from ${step.windowStart.slice(0, 10)} to ${step.windowEnd.slice(0, 10)}`
      if (step.candidates.length === 0)
        return `<p class="note"><strong>${escapeHtml(caption)}:</strong> ${escapeHtml(step.note ?? 'no candidate change')}</p>`
      return htmlTable(
        ['#', 'when (UTC)', 'change', 'commit', 'score', 'why'],
        step.candidates.map((c, i) => [
          i + 1,
          c.time.replace('T', ' ').replace(/:\d\dZ$/, ''),
          c.subject,
          c.cloud ? sourcesOf(c) : c.commit ? c.commit.slice(0, 7) : (c.origin ?? c.source),
          c.score.toFixed(2),
          [c.reason, ...c.findings.filter((f) => !c.reason.includes(f))].join('; '),
        ]),
        {caption, id: `candidates-${step.date}`},
      )
    })
    .join('\n')
}

export function captureOverview(capture: PcapReport): string {
  const rows: [string, Cell][] = [
    ['file', capture.file],
    ['span', `${capture.start ?? '?'} → ${capture.end ?? '?'} (${formatCount(Math.round(capture.durationSec))} s)`],
    ['server', capture.host ? `${capture.host.address}${capture.host.detected ? ' (detected)' : ''}` : 'unknown'],
    [
      'outbound',
      `${formatBytes(capture.outbound.billableBytes)} billable, ${formatFixed(capture.outbound.kbitPerSec, 1)} kbit/s on the wire`,
    ],
    [
      'inbound',
      `${formatBytes(capture.inbound.billableBytes)} billable, ${formatFixed(capture.inbound.kbitPerSec, 1)} kbit/s on the wire`,
    ],
    [`NTP (port ${capture.ntp.port}) share of outbound`, formatShare(capture.ntp.shareOfOutbound)],
    [
      'NTP clients',
      `${formatCount(capture.ntp.uniqueClients)} (${formatCountOf(capture.ntp.requests, 'request')}, ${formatCountOf(capture.ntp.kods, 'KoD')} sent)`,
    ],
    [
      'NTP egress cost',
      `${formatUsd(capture.cost.ntp.monthlyUsd)}/month, ${formatUsd(capture.cost.ntp.yearlyUsd)}/year (${formatFixed(capture.cost.ntp.gbPerMonth, 1)} GB/month; ${capture.cost.pricing})`,
    ],
  ]
  // Stored captures from before warnings existed have none.
  for (const warning of capture.warnings ?? []) rows.push([`caution (${warning.code})`, warning.message])
  if (capture.control) {
    const c = capture.control
    rows.push([
      'control server',
      `${c.file}: ${formatRatio(c.ratios.bytesPerSec)} less NTP bytes/s than this one, ${formatRatio(c.ratios.uniqueClientsNormalised)} the clients (same duration)`,
    ])
  }
  return keyValueTable(rows, 'capture-overview')
}

export function portsTable(capture: PcapReport): string {
  return htmlTable(
    ['protocol', 'port', 'packets', 'billable bytes', 'share of outbound'],
    capture.byPort.map((p) => [
      p.protocol,
      p.port ?? '—',
      formatCount(p.packets),
      formatBytes(p.billableBytes),
      formatShare(p.share),
    ]),
    {id: 'ports-table'},
  )
}

export function talkersTable(capture: PcapReport): string {
  return htmlTable(
    ['client', 'requests', 'q/s', 'median interval', 'KoDs', 'after KoD', 'versions', 'bytes', 'share of NTP'],
    capture.ntp.topTalkers.map((t) => [
      t.address,
      formatCount(t.requests),
      formatFixed(t.qps, 2),
      orDash(t.medianIntervalSec, (s) => `${s.toFixed(1)} s`),
      formatCount(t.kods),
      formatCount(t.requestsAfterKod),
      t.versions.map((v) => `v${v}`).join(' '),
      formatBytes(t.billableBytes),
      formatShare(t.share),
    ]),
    {id: 'talkers-table'},
  )
}

export function thresholdsTable(capture: PcapReport): string {
  return htmlTable(
    ['block clients with ≥ queries', 'clients blocked', 'NTP bytes cut', 'NTP egress left per year'],
    capture.ntp.thresholds.map((t) => [
      formatCount(t.minQueries),
      formatCount(t.blockedClients),
      formatShare(t.bandwidthCutShare),
      formatUsd(t.annualCost),
    ]),
    {id: 'thresholds-table'},
  )
}

/**
 * Replays of the capture through each daemon's limiter; `report` adds the baseline and assumptions when the capture has
 * them.
 */
export function rateLimitTable(results: LimiterResult[], report: RateLimitReport | undefined): string {
  const caption = report
    ? `Replay of ${formatCount(report.requests)} time requests; today: ${formatUsd(report.baseline.annualCostUsd)}/year (${report.pricing})`
    : "Replay of the capture's time requests"
  const table = htmlTable(
    [
      'daemon',
      'setting',
      'answered',
      'KoDs',
      'dropped',
      'egress cut',
      'per year',
      'saved per year',
      'NATs blacked out',
    ],
    results.map((r) => [
      r.algorithm,
      r.setting,
      r.answered,
      r.kods,
      r.dropped,
      formatShare(r.savedShare),
      formatUsd(r.annualCostUsd),
      formatUsd(r.savedAnnualUsd),
      r.blackedOutNats.length === 0 ? 'none' : r.blackedOutNats.map((n) => n.address).join(', '),
    ]),
    {caption, id: 'ratelimit-table'},
  )
  const assumptions = report?.assumptions ?? []
  return assumptions.length === 0
    ? table
    : `${table}<ul class="assumptions">${assumptions.map((a) => `<li>${escapeHtml(a)}</li>`).join('')}</ul>`
}

export function snippetsHtml(snippets: ConfigSnippet[]): string {
  return snippets
    .map(
      (s) =>
        `<div class="snippet"><p><strong>${escapeHtml(s.daemon)}</strong> (${escapeHtml(s.file)}): ${escapeHtml(s.effect ?? 'not replayed on a capture, so its effect is unknown')}</p><pre>${escapeHtml(s.config)}</pre></div>`,
    )
    .join('\n')
}

/** NAT gateways, misbehaving clients and fleets, as far as the capture analysis found them. */
export function behaviourTables(ntp: NtpReport): string {
  const parts: string[] = []
  if (ntp.suspectedNat === undefined && ntp.fleets === undefined && ntp.misbehaving === undefined) {
    return '<p class="missing">Not available: this capture analysis carries no client-behaviour findings (re-run billwatch pcap).</p>'
  }
  parts.push(
    !ntp.suspectedNat || ntp.suspectedNat.length === 0
      ? '<p class="note">No address looks like a NAT with many hosts behind it.</p>'
      : htmlTable(
          [
            'address',
            'hosts behind (est.)',
            'confidence',
            'method',
            'requests',
            'q/s',
            'source ports',
            'also misbehaving',
          ],
          ntp.suspectedNat.map((n) => [
            n.address,
            n.estimatedHosts,
            n.confidence,
            n.method,
            n.requests,
            n.qps.toFixed(2),
            n.ports,
            n.alsoMisbehaving ? 'yes' : 'no',
          ]),
          {
            caption: `Suspected NAT gateways (${ntp.suspectedNatTotal ?? ntp.suspectedNat.length}): do not block them as greedy clients`,
            id: 'nat-table',
          },
        ),
  )
  if (ntp.misbehaving && ntp.misbehaving.length > 0) {
    parts.push(
      htmlTable(
        ['address', 'why', 'requests', 'q/s', 'KoDs received', 'requests after KoD', 'behind NAT'],
        ntp.misbehaving.map((m) => [
          m.address,
          m.reasons.join(', '),
          m.requests,
          m.qps.toFixed(2),
          m.kodsReceived,
          m.requestsAfterKod,
          m.behindNat ? 'yes' : 'no',
        ]),
        {caption: `Misbehaving clients (${ntp.misbehavingTotal ?? ntp.misbehaving.length})`, id: 'misbehaving-table'},
      ),
    )
  }
  parts.push(
    !ntp.fleets || ntp.fleets.length === 0
      ? '<p class="note">No synchronised fleet of clients in the capture.</p>'
      : htmlTable(
          ['start', 'end', 'clients added', 'requests', 'one-shot share', 'version', 'recurs'],
          ntp.fleets.map((f) => [
            f.start,
            f.end,
            f.clients,
            f.requests,
            formatShare(f.oneShotShare),
            `v${f.dominantVersion} (${formatShare(f.dominantVersionShare, 0)})`,
            f.recurrence ? `${f.recurrence.period}, ${f.recurrence.phase} ×${f.recurrence.occurrences}` : 'no',
          ]),
          {caption: 'Synchronised fleets', id: 'fleets-table'},
        ),
  )
  return parts.join('\n')
}

export function billTables(bill: BillEvidence): string {
  const head = keyValueTable(
    [
      ['the step adds per month', formatMoney(bill.monthlyDelta, bill.currency)],
      ['the step adds per year', formatMoney(bill.yearlyDelta, bill.currency)],
      ['first day it costs money', bill.costStepDate ?? '—'],
      ['priced with', bill.pricing],
    ],
    'bill-table',
  )
  const {headers, rows} = monthTableCells(bill.months)
  const months = htmlTable(headers, rows, {caption: 'Internet data transfer per month', id: 'months-table'})
  return `${head}\n${months}`
}

export function symmetryTable(symmetry: SymmetryEvidence): string {
  return htmlTable(
    ['from', 'to', 'outbound', 'inbound', 'outbound ÷ inbound', 'verdict'],
    [
      [
        symmetry.from,
        symmetry.to,
        formatBytes(symmetry.egressBytes),
        formatBytes(symmetry.ingressBytes),
        symmetry.ratio.toFixed(3),
        symmetry.verdict,
      ],
    ],
    {id: 'symmetry-table'},
  )
}

export function probeTable(probe: ProbeResult): string {
  const rows: Cell[][] = probe.results.map((r) => [
    r.address,
    r.status,
    orDash(r.stratum, String),
    orDash(r.refid, String),
    orDash(r.offsetMs, (ms) => `${ms.toFixed(1)} ms`),
    r.kod ?? '—',
    orDash(r.mode6Exposed, (b) => (b ? 'exposed' : 'no')),
    orDash(r.mode7Exposed, (b) => (b ? 'exposed' : 'no')),
  ])
  const conclusion = probe.capture ? `<p>${escapeHtml(probe.capture.conclusion)}</p>` : ''
  return `<p class="verdict verdict-${escapeHtml(probe.verdict)}"><strong>${escapeHtml(probe.verdict)}</strong>: ${escapeHtml(probe.summary)}</p>${conclusion}${htmlTable(
    ['address', 'status', 'stratum', 'refid', 'offset', 'KoD', 'mode 6', 'mode 7'],
    rows,
    {id: 'probe-table'},
  )}`
}
