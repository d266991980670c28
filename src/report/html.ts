/**
 * `billwatch report` as a library: one self-contained HTML page (no network needed to open it) drawn from the
 * gathered Evidence. ECharts is inlined from node_modules; the evidence and the chart options are embedded as
 * JSON; tables are rendered here. The page exposes hooks for tests: `[data-chart=ID]`, `#log-toggle`,
 * and `window.billwatchReport = {charts, ready}` once every chart has drawn.
 */
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'

import {formatBytes, formatCount, formatShare} from '../cli/format.js'
import type {Evidence, MissingEvidence} from '../explain/evidence.js'
import {buildNarrative} from '../explain/narrative.js'
import {type ChartSpec, cumulativeChart, seriesChart} from './charts.js'
import {
  behaviourTables,
  billTables,
  candidatesTables,
  captureOverview,
  escapeHtml,
  portsTable,
  probeTable,
  rateLimitTable,
  snippetsHtml,
  stepsTable,
  symmetryTable,
  talkersTable,
  thresholdsTable,
} from './tables.js'

export interface ChartSummary {
  id: ChartSpec['id']
  title: string
  series: number
  markers: number
}

export interface RenderedReport {
  html: string
  charts: ChartSummary[]
}

let echartsSource: string | undefined

/** The ECharts browser build, read from the installed package (never copied into the repository). */
function loadEcharts(): string {
  echartsSource ??= readFileSync(createRequire(import.meta.url).resolve('echarts/dist/echarts.min.js'), 'utf8')
  return echartsSource
}

/** The evidence with at most `top` of the capture's top talkers. */
function withTopTalkers(evidence: Evidence, top: number): Evidence {
  const {capture} = evidence
  if (!capture || capture.ntp.topTalkers.length <= top) return evidence
  return {...evidence, capture: {...capture, ntp: {...capture.ntp, topTalkers: capture.ntp.topTalkers.slice(0, top)}}}
}

/** JSON safe inside a <script> element: no "</script>" or "<!--" can close or confuse it. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replaceAll('<', String.raw`\u003c`)
}

/** Narrative sections drawn elsewhere in the page with more detail than a sentence list. */
const NARRATIVE_SHOWN_ELSEWHERE = new Set(['Missing evidence', 'What to do'])

/** Top talkers a report lists (and embeds): a capture analysed with a large --top may hold every client. */
const REPORT_TOP_TALKERS = 20

export function renderReport(gathered: Evidence): RenderedReport {
  const evidence = withTopTalkers(gathered, REPORT_TOP_TALKERS)
  const charts: ChartSpec[] = []
  const sections: string[] = []
  const missingNote = (kinds: MissingEvidence['evidence'][], fallback: string) => {
    const entry = evidence.missing.find((m) => kinds.includes(m.evidence))
    const text = entry ? `${entry.why}. To get it: ${entry.how}.` : fallback
    return `<p class="missing">Not available: ${escapeHtml(text)}</p>`
  }
  const chartBox = (spec: ChartSpec) => {
    charts.push(spec)
    const toggle =
      spec.id === 'series'
        ? '<button id="log-toggle" type="button" aria-pressed="true">y axis: log (switch to linear)</button>'
        : ''
    return `<figure><figcaption>${escapeHtml(spec.title)} ${toggle}</figcaption><div class="chart" data-chart="${spec.id}"></div></figure>`
  }
  const {anomalies, bill, capture, correlation, probe, remediation, symmetry} = evidence

  const story = buildNarrative(evidence).filter(
    (section) => !NARRATIVE_SHOWN_ELSEWHERE.has(section.title) && section.claims.length > 0,
  )
  if (story.length > 0) {
    const body = story
      .map(
        (section) =>
          `<h3>${escapeHtml(section.title)}</h3><ul class="claims">${section.claims.map((c) => `<li>${escapeHtml(c.text)} <span class="source">${escapeHtml(c.source)}</span></li>`).join('')}</ul>`,
      )
      .join('\n')
    sections.push(section('story', 'What happened', body))
  }

  if (anomalies) {
    const body = [
      // The chart draws the headline stretch's series: only its own steps and spikes are marked on it.
      chartBox(
        seriesChart({
          correlated: correlation?.steps ?? [],
          label: anomalies.usageType,
          points: anomalies.series,
          spikes: anomalies.spikes.filter((s) => onHeadline(s, anomalies)),
          steps: anomalies.steps.filter((s) => onHeadline(s, anomalies)),
          unit: anomalies.unit,
        }),
      ),
      anomalies.steps.length === 0 ? missingNote(['step'], 'no step in the series.') : stepsTable(anomalies.steps),
      `<p class="note">${escapeHtml(`${anomalies.usageType}: ${anomalies.days} days from ${anomalies.firstDay} to ${anomalies.lastDay}${anomalies.missingDays > 0 ? `, ${anomalies.missingDays} days without data (gaps, not zeros)` : ''}; usage types: ${anomalies.usageTypes.join(', ')}. Costs: ${anomalies.pricing.label}.`)}</p>`,
    ]
    sections.push(section('usage', 'Daily usage and its steps', body.join('\n')))
  } else {
    sections.push(
      section('usage', 'Daily usage and its steps', missingNote(['usage'], 'no usage series in the store.')),
    )
  }
  sections.push(
    section('bill', 'The bill', bill ? billTables(bill) : missingNote(['usage', 'step'], 'no step to price.')),
  )
  sections.push(
    section(
      'symmetry',
      'Inbound against outbound',
      symmetry ? symmetryTable(symmetry) : missingNote(['ingress', 'usage'], 'no inbound usage to compare with.'),
    ),
  )
  sections.push(
    section(
      'changes',
      'Configuration changes around each step',
      correlation && correlation.steps.length > 0
        ? candidatesTables(correlation.steps)
        : missingNote(['change'], 'no configuration history was read.'),
    ),
  )

  if (capture) {
    const body = [
      captureOverview(capture),
      '<h3>Outbound traffic by port</h3>',
      portsTable(capture),
      capture.ntp.cumulativeShare.length > 0
        ? chartBox(cumulativeChart(capture.ntp.cumulativeShare, capture.ntp.thresholds))
        : '<p class="note">The capture holds no NTP replies, so there is no traffic-by-client curve.</p>',
      '<h3>What blocking greedy clients would save</h3>',
      thresholdsTable(capture),
      `<h3>Top talkers${gathered.capture!.ntp.topTalkers.length > REPORT_TOP_TALKERS ? ` (the first ${REPORT_TOP_TALKERS} of the ${formatCount(gathered.capture!.ntp.topTalkers.length)} the capture's analysis lists)` : ''}</h3>`,
      talkersTable(capture),
      '<h3>NAT gateways, misbehaving clients and fleets</h3>',
      behaviourTables(capture.ntp),
    ]
    sections.push(section('capture', 'Who the traffic goes to (packet capture)', body.join('\n')))
  } else {
    sections.push(
      section('capture', 'Who the traffic goes to (packet capture)', missingNote(['capture'], 'no packet capture.')),
    )
  }

  // NTP remedies only with NTP evidence (explain/remediation.ts); otherwise what the evidence does support.
  const remedies =
    remediation.ntpEvidence.length === 0
      ? [`<ul>${remediation.other.map((a) => `<li>${escapeHtml(a)}</li>`).join('')}</ul>`]
      : [
          `<p class="note">${escapeHtml(`NTP remedies, because ${remediation.ntpEvidence.join('; ')}.`)}</p>`,
          '<h3>Rate limiting: what the capture would have cost</h3>',
          remediation.rateLimiting.length > 0
            ? rateLimitTable(remediation.rateLimiting, capture?.ntp.rateLimiting)
            : missingNote(['capture'], 'no replay of the capture through the rate limiters.'),
          '<h3>Configuration</h3>',
          snippetsHtml(remediation.snippets),
          '<h3>The pool and the devices</h3>',
          `<ul>${remediation.advice.map((a) => `<li>${escapeHtml(a)}</li>`).join('')}</ul>`,
        ]
  sections.push(section('remedies', 'What to do', remedies.join('\n')))
  sections.push(
    section(
      'probe',
      'Does the server answer anyone? (probe)',
      probe ? probeTable(probe) : missingNote(['probe'], 'no probe result.'),
    ),
  )
  sections.push(
    section(
      'missing',
      'Missing evidence',
      evidence.missing.length === 0
        ? '<p class="note">Nothing is missing: every kind of evidence was available.</p>'
        : `<ul class="missing-list">${evidence.missing.map((m) => `<li><strong>${escapeHtml(m.evidence)}</strong>: ${escapeHtml(m.why)}. To get it: <code>${escapeHtml(m.how)}</code></li>`).join('')}</ul>`,
    ),
  )

  const chartData = charts.map(({id, option, yAxisType, yFormat}) => ({id, option, yAxisType, yFormat}))
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>billwatch report</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>billwatch report</h1><p class="meta">Generated ${escapeHtml(evidence.generatedAt)} from store ${escapeHtml(evidence.store)}. Every figure comes from the evidence embedded in this file; what is missing is said to be missing.</p></header>
<main>
${sections.join('\n')}
</main>
<script type="application/json" id="billwatch-evidence">${scriptJson(evidence)}</script>
<script type="application/json" id="billwatch-charts">${scriptJson(chartData)}</script>
<script>${loadEcharts()}</script>
<script>
${formatBytes.toString()}
${formatShare.toString()}
${formatCount.toString()}
${CLIENT_SCRIPT}
</script>
</body>
</html>
`
  return {charts: charts.map(({id, markers, series, title}) => ({id, markers, series, title})), html}
}

function section(id: string, title: string, body: string): string {
  return `<section id="${id}"><h2>${escapeHtml(title)}</h2>\n${body}\n</section>`
}

/** Plain, readable, printable; system fonts only (no network). */
const STYLE = `
:root { color-scheme: light; --ink: #1d2329; --muted: #5d6770; --rule: #d9dee3; --accent: #1f5f8b; --missing: #a05a00; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: #fff; }
header, main { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; border-bottom: 2px solid var(--accent); }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 32px 0 10px; font-size: 20px; color: var(--accent); }
h3 { margin: 20px 0 8px; font-size: 16px; }
.meta { color: var(--muted); margin: 0 0 12px; }
figure { margin: 12px 0 16px; border: 1px solid var(--rule); border-radius: 6px; padding: 8px 10px 4px; }
figcaption { display: flex; justify-content: space-between; align-items: center; font-weight: 600; }
.chart { width: 100%; height: 380px; }
button { font: inherit; font-size: 13px; padding: 3px 10px; border: 1px solid var(--accent); border-radius: 4px; background: #eef4f9; color: var(--accent); cursor: pointer; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13.5px; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
th { background: #f3f5f7; font-weight: 600; }
.num { text-align: right; white-space: nowrap; }
td:last-child { max-width: 560px; }
.missing { color: var(--missing); background: #fff6e8; border-left: 4px solid var(--missing); padding: 6px 10px; }
.note { color: var(--muted); }
.verdict-served { color: #a02020; }
.claims li { margin: 3px 0; }
.source { color: var(--muted); font-size: 12.5px; }
.source::before { content: "— "; }
pre { background: #f6f8fa; border: 1px solid var(--rule); border-radius: 4px; padding: 8px 10px; font-size: 13px; overflow-x: auto; }
code { font-size: 13px; background: #f3f5f7; padding: 1px 4px; border-radius: 3px; }
.assumptions { color: var(--muted); font-size: 13px; }
@media print { .chart { break-inside: avoid; } button { display: none; } }
`

/**
 * Runs in the page: draws every chart from the embedded options, adds formatters (functions cannot travel as
 * JSON), wires the log/linear toggle, and publishes window.billwatchReport for tests.
 */
const CLIENT_SCRIPT = `
(function () {
  var specs = JSON.parse(document.getElementById('billwatch-charts').textContent);
  var formatters = {
    bytes: function (v) { return v == null ? '—' : formatBytes(v); },
    count: function (v) { return v == null ? '—' : formatCount(v); },
    share: function (v) { return v == null ? '—' : formatShare(v, 0); }
  };
  var charts = {};
  var pending = specs.length;
  var report = window.billwatchReport = { charts: charts, ready: false, yAxisType: {} };
  function done() { if (--pending === 0) report.ready = true; }
  specs.forEach(function (spec) {
    var el = document.querySelector('[data-chart="' + spec.id + '"]');
    var chart = echarts.init(el, null, { renderer: 'canvas' });
    charts[spec.id] = chart;
    var format = formatters[spec.yFormat];
    var option = spec.option;
    option.yAxis.axisLabel = { formatter: format };
    spec.yAxis = option.yAxis;
    option.tooltip.valueFormatter = format;
    chart.on('finished', function once() { chart.off('finished', once); done(); });
    chart.setOption(option);
    report.yAxisType[spec.id] = spec.yAxisType;
  });
  if (pending === 0) report.ready = true;
  var toggle = document.getElementById('log-toggle');
  if (toggle && charts.series) {
    toggle.addEventListener('click', function () {
      var next = report.yAxisType.series === 'log' ? 'value' : 'log';
      // A new axis type is a new axis model: give it the whole axis (formatter included), not just the type.
      var yAxis = Object.assign({}, specs.filter(function (s) { return s.id === 'series'; })[0].yAxis, { type: next });
      charts.series.setOption({ yAxis: yAxis });
      report.yAxisType.series = next;
      toggle.setAttribute('aria-pressed', String(next === 'log'));
      toggle.textContent = next === 'log' ? 'y axis: log (switch to linear)' : 'y axis: linear (switch to log)';
    });
  }
  window.addEventListener('resize', function () { Object.keys(charts).forEach(function (id) { charts[id].resize(); }); });
})();
`

function onHeadline(
  finding: {account: string; stretch: string},
  anomalies: {account: string; firstDay: string; lastDay: string},
): boolean {
  return finding.account === anomalies.account && finding.stretch === `${anomalies.firstDay}..${anomalies.lastDay}`
}
