/**
 * The root-cause story, told only from the evidence: every claim carries its figure and its source,
 * and missing evidence is said to be missing.
 */
import {basename} from 'node:path'

import {describeStep, leadDriver, tentativeNote} from '../anomalies/describe.js'
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
import {renderTable} from '../cli/render.js'
import {correlationSources} from '../correlate/index.js'
import type {Evidence, MonthTotal} from './evidence.js'
import {whenMade} from '../correlate/rank.js'
import {ntpFindings} from './remediation.js'

export interface Claim {
  text: string
  /** Where the figure comes from: a command and its input. */
  source: string
}

export interface Section {
  title: string
  claims: Claim[]
  /** Preformatted blocks (tables, config) shown after the claims. */
  blocks: string[]
}

export function buildNarrative(evidence: Evidence): Section[] {
  const sections: Section[] = []
  const {anomalies, bill, capture, change, probe, step, symmetry} = evidence
  const usageSource = `billwatch anomalies (store ${evidence.store})`

  if (step && bill && anomalies) {
    const unitText = (v: number) => formatAmount(v, step.unit)
    const claims: Claim[] = [
      ...(leadDriver(step)
        ? [{source: usageSource, text: `On ${step.date} ${describeStep(step)}${tentativeNote(step)}.`}]
        : []),
      {
        source: usageSource,
        text: `${step.usageType} went ${step.direction} ${formatRatio(step.ratio)} on ${step.date}: from ${unitText(step.levelBefore)}/day to ${unitText(step.levelAfter)}/day${step.account === '-' ? '' : ` (account ${step.account})`}.`,
      },
      {
        source: `${usageSource}; ${bill.pricing}`,
        text: `At that level the bill changes by ${formatMoney(bill.monthlyDelta, bill.currency)} a month, ${formatMoney(bill.yearlyDelta, bill.currency)} a year.`,
      },
    ]
    if (bill.costStepDate && bill.costStepDate !== step.date) {
      claims.push({
        source: usageSource,
        text: `The monthly free allowance absorbed it at first: the cost step falls on ${bill.costStepDate}, the usage step on ${step.date}.`,
      })
    }
    const others = anomalies.steps.length - 1
    if (others > 0)
      claims.push({
        source: usageSource,
        text: `${others} other step${others === 1 ? '' : 's'} and ${anomalies.spikes.length} one-day spike${anomalies.spikes.length === 1 ? '' : 's'} were found; this is the largest rise.`,
      })
    sections.push({blocks: [monthTable(evidence)], claims, title: 'The bill'})
  }

  if (symmetry) {
    const within = Math.abs(symmetry.ratio - 1)
    const figures = `outbound ${formatBytes(symmetry.egressBytes)}, inbound ${formatBytes(symmetry.ingressBytes)}, ${symmetry.from} to ${symmetry.to}`
    const text = {
      asymmetric: `Outbound is ${symmetry.ratio.toFixed(2)}× inbound (${figures}): neither a clear reply-for-request pattern nor an amplifier.`,
      'inbound-dominant': `Inbound dwarfs outbound (${figures}): the instance receives far more than it sends.`,
      'outbound-dominant': `Outbound is ${symmetry.ratio.toFixed(1)}× inbound (${figures}): replies far larger than requests — what an amplification attack (NTP monlist, DNS ANY) or a download service looks like.`,
      symmetric: `Inbound is within ${(within * 100).toFixed(1)}% of outbound (${figures}): each request gets a reply of about its own size — a busy server, which rules out an amplification attack.`,
    }[symmetry.verdict]
    sections.push({blocks: [], claims: [{source: usageSource, text}], title: 'Inbound against outbound'})
  }

  if (change) {
    const read = evidence.correlation ? correlationSources(evidence.correlation) : 'logs'
    const source = `billwatch correlate (${evidence.sources.correlation === 'repo' ? read : `store: ${read}`})`
    const claims: Claim[] = [
      {
        source,
        text: `Most likely cause: "${change.subject}"${change.commit ? ` (commit ${change.commit.slice(0, 10)})` : ''} made ${whenMade(change)}, ${change.daysBefore.toFixed(1)} days before the step (score ${change.score.toFixed(2)}).`,
      },
    ]
    claims.push({source, text: change.reason})
    const runnersUp = evidence.correlation?.steps.find((s) => s.date === step?.date)?.candidates.slice(1, 3) ?? []
    for (const other of runnersUp)
      claims.push({source, text: `Also in the window: "${other.subject}" (score ${other.score.toFixed(2)}).`})
    sections.push({blocks: [], claims, title: 'The change'})
  }

  if (capture) {
    const source = `billwatch pcap ${basename(capture.file)}${evidence.sources.capture === 'store' ? ' (from the store)' : ''}`
    const port123 = capture.byPort.find((p) => p.protocol === 'udp' && p.port === capture.ntp.port)
    const claims: Claim[] = [
      {
        source,
        text: `The capture spans ${formatCount(Math.round(capture.durationSec))} s; the host ${capture.host?.address ?? '(unknown)'} sent ${formatCount(capture.outbound.packets)} packets, ${formatBytes(capture.outbound.bytes)} on the wire (${formatBytes(capture.outbound.billableBytes)} billable at the IP layer), ${formatFixed(capture.outbound.kbitPerSec, 0)} kbit/s.`,
      },
      // What limits the capture's figures (too short or thin for a rate) comes with them.
      ...(capture.warnings ?? []).map((warning) => ({source, text: `Caution: ${warning.message}.`})),
    ]
    if (port123)
      claims.push({source, text: `UDP ${capture.ntp.port} (NTP) is ${formatShare(port123.share)} of outbound bytes.`})
    claims.push({
      source,
      text: `${formatCountOf(capture.ntp.uniqueClients, 'unique client')} sent ${formatCountOf(capture.ntp.requests, 'request')}; the capture's rate costs ${formatUsd(capture.cost.ntp.monthlyUsd)} a month, ${formatUsd(capture.cost.ntp.yearlyUsd)} a year (${capture.cost.pricing}).`,
    })
    const top = capture.ntp.topTalkers.slice(0, 3)
    if (top.length > 0)
      claims.push({
        source,
        text: `Top talkers: ${top.map((t) => `${t.address} (${formatCountOf(t.requests, 'request')}, ${formatFixed(t.qps, 1)} q/s)`).join('; ')}.`,
      })
    const {fleets, suspectedNat} = ntpFindings(capture)
    if (suspectedNat && suspectedNat.length > 0) {
      claims.push({
        source,
        text: `Likely NAT gateways, not single broken clients: ${suspectedNat
          .slice(0, 3)
          .map((n) => `${n.address} (~${n.estimatedHosts} hosts)`)
          .join('; ')}.`,
      })
    }
    if (fleets && fleets.length > 0) {
      claims.push({
        source,
        text: `Synchronised fleets: ${fleets
          .slice(0, 3)
          .map((f) => `${formatCount(f.clients)} clients at ${f.start}`)
          .join('; ')}.`,
      })
    }
    sections.push({blocks: [], claims, title: 'What the traffic is'})
  }

  if (evidence.flows) {
    const best = evidence.flows.best
    const source = best
      ? `billwatch flows --interface ${best.interface} (${best.source}, ${best.files} file${best.files === 1 ? '' : 's'}, ${best.coveredFrom} to ${best.coveredTo})`
      : 'billwatch flows'
    sections.push({blocks: [], claims: [{source, text: evidence.flows.summary}], title: 'What the flow records show'})
  }

  if (probe) {
    const source = `billwatch probe ${probe.host}${evidence.sources.probe === 'store' ? ' (from the store)' : ''}`
    sections.push({blocks: [], claims: [{source, text: probe.summary}], title: 'The server, from outside'})
  }

  sections.push(remedies(evidence))
  if (evidence.missing.length > 0) {
    sections.push({
      blocks: [],
      claims: evidence.missing.map((m) => ({
        source: 'missing',
        text: `No ${m.evidence} evidence: ${m.why}. To get it: ${m.how}.`,
      })),
      title: 'Missing evidence',
    })
  }
  return sections
}

function remedies(evidence: Evidence): Section {
  const {remediation} = evidence
  const claims: Claim[] = []
  const blocks: string[] = []
  const source = evidence.capture ? `billwatch pcap ${basename(evidence.capture.file)}` : 'billwatch'
  if (remediation.ntpEvidence.length > 0) {
    claims.push({source: 'billwatch explain', text: `NTP remedies, because ${remediation.ntpEvidence.join('; ')}.`})
  }
  if (remediation.blocking.length > 0) {
    claims.push({
      source,
      text: 'Blocking clients above a query count (the table of the NTP pool server incident, from this capture):',
    })
    blocks.push(
      renderTable(
        ['block clients with ≥ N queries', 'clients blocked', 'bandwidth cut', 'still costs/year'],
        remediation.blocking.map((row) => [
          row.minQueries,
          row.blockedClients,
          formatShare(row.bandwidthCutShare),
          formatUsd(row.annualCost),
        ]),
        ['right', 'right', 'right', 'right'],
      ),
    )
  }
  for (const snippet of remediation.snippets) {
    claims.push({
      source: snippet.effect ? source : 'configuration guide',
      text: `Rate-limit in ${snippet.daemon}${snippet.effect ? `: ${snippet.effect}` : ' (not replayed on a capture: effect unknown)'}.`,
    })
    blocks.push(snippet.config)
  }
  for (const advice of remediation.advice)
    claims.push({source: 'NTP pool practice, the NTP pool server and hard-coded IoT fleet incidents', text: advice})
  const otherSource = evidence.change
    ? `billwatch correlate (${evidence.correlation?.repo ?? 'logs'})`
    : 'billwatch explain'
  for (const text of remediation.other) claims.push({source: otherSource, text})
  return {blocks, claims, title: 'What to do'}
}

function monthTable(evidence: Evidence): string {
  const {headers, rows} = monthTableCells(evidence.bill?.months ?? [])
  return renderTable(headers, rows, ['left', 'right', 'right', 'right', 'right'])
}

/** Headers and rows of the bill's month table, as this narrative and the HTML report (src/report) show it. */
export function monthTableCells(months: MonthTotal[]): {headers: string[]; rows: (number | string)[][]} {
  return {
    headers: ['month', 'days', 'egress', 'ingress', 'egress cost'],
    rows: months.map((m) => [
      m.month,
      m.days,
      formatBytes(m.egressBytes),
      formatBytes(m.ingressBytes),
      m.egressCost === null ? 'not in export' : formatMoney(m.egressCost, m.egressCurrency),
    ]),
  }
}

export function renderText(sections: Section[]): string {
  return sections
    .map((section) =>
      [
        section.title.toUpperCase(),
        ...section.claims.map((c) => `- ${c.text} [${c.source}]`),
        ...section.blocks.map((b) => `\n${indent(b)}`),
      ].join('\n'),
    )
    .join('\n\n')
}

export function renderMarkdown(sections: Section[]): string {
  return sections
    .map((section) =>
      [
        `## ${markdownText(section.title)}`,
        '',
        ...section.claims.map((c) => `- ${markdownText(c.text)} _(${markdownText(c.source)})_`),
        ...section.blocks.map((b) => codeBlock(b)),
      ].join('\n'),
    )
    .join('\n\n')
}

/**
 * Text as Markdown shows it literally: claims quote commit subjects and file names, which must not
 * become HTML (`<img onerror=…>`), links or emphasis in a rendered incident note.
 */
export function markdownText(text: string): string {
  return text
    .replace(/\s*[\r\n]+\s*/g, ' ')
    .replace(/[\\`*_[\]|~!#]/g, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
}

/** A fenced block whose fence is longer than any run of backticks inside it, so it cannot be closed early. */
function codeBlock(block: string): string {
  const longest = Math.max(0, ...(block.match(/`+/g) ?? []).map((run) => run.length))
  const fence = '`'.repeat(Math.max(3, longest + 1))
  return `\n${fence}\n${block}\n${fence}`
}

function indent(block: string): string {
  return block
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n')
}
