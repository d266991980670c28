import {Flags} from '@oclif/core'

import {
  analyseAnomalies,
  type AnomaliesOptions,
  type AnomaliesResult,
  checkAnomaliesOptions,
  DEFAULT_MIN_RATIO,
  EGRESS_LABEL,
} from '../src/anomalies/index.js'
import {
  describeStep,
  formatAmount,
  leadDriver,
  levelChange,
  magnitude,
  seriesWords,
  tentativeNote,
} from '../src/anomalies/describe.js'
import {BaseCommand} from '../src/cli/base-command.js'
import {parsePricePerGb, pricePerGbFlag} from '../src/cli/price-flag.js'
import {formatCountOf, formatMoney, formatRatio, formatShare} from '../src/cli/format.js'
import {renderTable} from '../src/cli/render.js'
import {BillwatchError} from '../src/errors.js'
import {checkOutputFile, writeOutputFile} from '../src/util/files.js'

/** What `billwatch anomalies --json` prints: its JSON Schema is schemas/anomalies.json. */
export type AnomaliesCommandResult = AnomaliesResult

export default class Anomalies extends BaseCommand<typeof Anomalies> {
  static override summary =
    'Find the step changes (and one-day spikes) in daily usage, on a log scale, with what each step costs.'
  static override description = `Reads the store's daily usage — by default internet egress (DataTransfer-Out-Bytes of every region, summed per day), and also each usage type and each resource where the exports name them — and finds level shifts with a change-point method (PELT on the log of usage, noise estimated from the data, weekly patterns and spikes of one to three days screened out, slow ramps reported as trends).

Every account is analysed on its own (an export without an account column counts as its own account, named after its file, unless ingest --account named it), and so is every stretch of days the exports cover: a day inside an export's period without a line is zero usage, a day no export covers is a gap, and a gap of more than four weeks starts a new stretch. Each step names what moved: the usage types and resources whose own series stepped the same day, with their own levels, ratio and share of the change. A step within a week of the end of the data is tentative.

Each step gets its first day, the robust level before and after, the ratio, a confidence, and its cost per month and year: from the store's cost column when every day has one, else at --price-per-gb, else at today's AWS internet egress price with its 100 GB/month free allowance. Because that allowance resets monthly, the day a step starts to cost money (costStepDate) can come days after the usage step.`

  static override examples = [
    '<%= config.bin %> ingest samples/billing/usage-report-ec2-2013-06-01_2014-06-01.csv\n<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --log-scale',
    '<%= config.bin %> <%= command.id %> --svg /tmp/egress.svg --since 2014-01-01',
    "<%= config.bin %> <%= command.id %> --usage-type '*BoxUsage*' --min-ratio 1.5",
    '<%= config.bin %> <%= command.id %> --account 123456789012',
    '<%= config.bin %> <%= command.id %> --price-per-gb 0.12 --json',
  ]

  static override flags = {
    account: Flags.string({
      description:
        'Analyse only this account (an account id, or the file name of an export without an account column).',
      helpValue: 'ID',
    }),
    'log-scale': Flags.boolean({description: 'Also draw the series on a log axis in the terminal, steps marked.'}),
    'min-ratio': Flags.string({
      default: String(DEFAULT_MIN_RATIO),
      description: 'Report changes of at least this factor, up or down.',
      helpValue: 'X',
    }),
    'price-per-gb': pricePerGbFlag,
    since: Flags.string({description: 'First UTC day to analyse.', helpValue: 'YYYY-MM-DD'}),
    svg: Flags.string({description: 'Write the log-scale chart as an SVG image to FILE.', helpValue: 'FILE'}),
    until: Flags.string({description: 'Last UTC day to analyse (inclusive).', helpValue: 'YYYY-MM-DD'}),
    'usage-type': Flags.string({
      description: `Analyse the usage types matching this glob (e.g. '*BoxUsage*') instead of ${EGRESS_LABEL}; flow:PROTO/PORT (e.g. flow:udp/123, flow:*) analyses a port's daily egress from flow records.`,
      helpValue: 'GLOB',
    }),
  }

  async run(): Promise<AnomaliesCommandResult> {
    const {flags} = this
    const price = parsePricePerGb(flags['price-per-gb'])
    const progress = this.progress('analysing series')
    const options: AnomaliesOptions = {
      minRatio: parseNumber(flags['min-ratio'], '--min-ratio'),
      onProgress: progress.update,
      ...(price === undefined ? {} : {pricePerGb: price}),
      ...(flags.account === undefined ? {} : {account: flags.account}),
      ...(flags.since === undefined ? {} : {since: flags.since}),
      ...(flags.until === undefined ? {} : {until: flags.until}),
      ...(flags['usage-type'] === undefined ? {} : {usageType: flags['usage-type']}),
    }
    // A bad flag is a usage error (exit 2) even when there is no store yet.
    checkAnomaliesOptions(options)
    if (flags.svg !== undefined) checkOutputFile(flags.svg, '--svg')
    const result = await this.withStore((store) => analyseAnomalies(store, options), {mustExist: true, readOnly: true})
    progress.done()
    const headline = `${result.firstDay}..${result.lastDay}`
    const ofTotal = (s: {account: string; stretch: string; usageType: string}) =>
      s.usageType === result.usageType && s.account === result.account && s.stretch === headline
    const chart = {
      note: `Cost: ${result.pricing.label}`,
      points: result.series,
      spikes: result.spikes.filter((s) => ofTotal(s)),
      steps: result.steps.filter((s) => ofTotal(s)),
      title: `${result.usageType} per day, account ${result.account}, ${result.firstDay} .. ${result.lastDay}`,
      unit: result.unit,
    }
    // The chart module loads echarts, most of this command's start-up time: only when a chart is asked for.
    if (flags.svg !== undefined) {
      const {renderSvgChart} = await import('../src/anomalies/chart.js')
      await writeOutputFile(flags.svg, renderSvgChart(chart), '--svg')
      this.note(`wrote ${flags.svg}`)
    }
    // `--svg -` puts the image on standard output: nothing else may go there.
    if (flags.svg === '-') return result
    this.print(() => renderResult(result))
    if (flags['log-scale']) {
      const {renderLogChart} = await import('../src/anomalies/chart.js')
      this.print(() => `\n${renderLogChart(chart)}`)
    }
    return result
  }
}

function parseNumber(text: string, field: string): number {
  const value = Number(text)
  if (text.trim() === '' || !Number.isFinite(value))
    throw new BillwatchError('E_USAGE', '', {expected: 'a number', field, got: text})
  return value
}

function renderResult(result: AnomaliesResult): string {
  const lines = [
    `${result.usageType}: ${formatCountOf(result.stretches.length, 'stretch', 'stretches')} of ${formatCountOf(new Set(result.stretches.map((s) => s.account)).size, 'account')}, ${result.seriesAnalysed} series, changes of ${formatRatio(result.minRatio)} or more`,
  ]
  for (const s of result.stretches) {
    const gaps = s.missingDays > 0 ? `, ${s.missingDays} days not covered` : ''
    const found = [formatCountOf(s.steps, 'step'), formatCountOf(s.spikes, 'spike')].join(', ')
    lines.push(
      `  account ${s.account}${s.provider === 'AWS' ? '' : ` (${s.provider})`}: ${s.firstDay} .. ${s.lastDay} (${s.days} days${gaps})${s.weekly ? ', weekly pattern removed' : ''}: ${found}`,
    )
  }
  lines.push('')
  if (result.steps.length === 0) lines.push('No steps.')
  else {
    const accounts = new Set(result.steps.map((s) => s.account)).size > 1
    lines.push(
      renderTable(
        [
          'first day',
          ...(accounts ? ['account'] : []),
          'what moved',
          'its change',
          'series change',
          'confidence',
          'costs from',
          'per month',
          'per year',
        ],
        result.steps.map((s) => {
          const lead = leadDriver(s)
          const who = lead ? (lead.resourceId ?? lead.usageType) : (s.resourceId ?? s.usageType)
          const own = lead
            ? levelChange(lead.levelBefore, lead.levelAfter, lead.ratio, s.unit)
            : levelChange(s.levelBefore, s.levelAfter, s.ratio, s.unit)
          const series = lead ? `${seriesWords(s.usageType)} ${s.direction} ${magnitude(s.ratio)}` : '-'
          return [
            s.date,
            ...(accounts ? [s.account] : []),
            who,
            `${own}${s.tentative ? ` (tentative: ${formatCountOf(s.daysAfter, 'day')} of data)` : ''}`,
            series,
            formatShare(s.confidence, 0),
            s.costStepDate ?? '-',
            formatMoney(s.monthlyCost, s.currency),
            formatMoney(s.yearlyCost, s.currency),
          ]
        }),
        ['left', ...(accounts ? ['left' as const] : []), 'left', 'left', 'left', 'right', 'left', 'right', 'right'],
      ),
    )
    const withSeveral = result.steps.filter((s) => s.drivers.length > 1)
    for (const s of withSeveral) {
      lines.push('', `${s.date}: ${describeStep(s)}${tentativeNote(s)}. What moved:`)
      for (const d of s.drivers)
        lines.push(
          `  ${d.resourceId ?? d.usageType}${d.resourceId === null ? '' : ` (${d.usageType})`}: ${levelChange(d.levelBefore, d.levelAfter, d.ratio, s.unit)}, ${formatShare(d.shareOfChange, 0)} of the change`,
        )
    }
  }
  if (result.trends.length > 0) {
    lines.push(
      '',
      renderTable(
        ['trend', 'series', 'resource', 'change'],
        result.trends.map((t) => [
          `${t.firstDay} .. ${t.lastDay}`,
          t.usageType,
          t.resourceId ?? '-',
          levelChange(t.levelBefore, t.levelAfter, t.ratio, t.unit),
        ]),
        ['left', 'left', 'left', 'left'],
      ),
    )
  }
  if (result.spikes.length > 0) {
    lines.push(
      '',
      renderTable(
        ['spike day', 'series', 'resource', 'value', 'baseline/day', 'ratio'],
        result.spikes.map((s) => [
          s.date,
          s.usageType,
          s.resourceId ?? '-',
          formatAmount(s.value, s.unit),
          formatAmount(s.baseline, s.unit),
          formatRatio(s.ratio),
        ]),
        ['left', 'left', 'left', 'right', 'right', 'right'],
      ),
    )
  }
  lines.push('', `Cost: ${result.pricing.label}`)
  return lines.join('\n')
}
