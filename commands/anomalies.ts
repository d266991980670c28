import {Flags} from '@oclif/core'

import {analyseAnomalies, type AnomaliesOptions, type AnomaliesResult, checkAnomaliesOptions, DEFAULT_MIN_RATIO, EGRESS_LABEL, renderLogChart, renderSvgChart} from '../src/anomalies/index.js'
import {formatAmount} from '../src/anomalies/chart.js'
import {BaseCommand} from '../src/cli/base-command.js'
import {parsePricePerGb, pricePerGbFlag} from '../src/cli/price-flag.js'
import {formatRatio, formatShare, formatMoney} from '../src/cli/format.js'
import {renderTable} from '../src/cli/render.js'
import {BillwatchError} from '../src/errors.js'
import {checkOutputFile, writeOutputFile} from '../src/util/files.js'

/** What `billwatch anomalies --json` prints: its JSON Schema is schemas/anomalies.json. */
export type AnomaliesCommandResult = AnomaliesResult

export default class Anomalies extends BaseCommand<typeof Anomalies> {
  static override summary = 'Find the step changes (and one-day spikes) in daily usage, on a log scale, with what each step costs.'
  static override description = `Reads the store's daily usage — by default internet egress (DataTransfer-Out-Bytes of every region, summed per day), and also each usage type and each resource where the exports name them — and finds level shifts with a change-point method (PELT on the log of usage, noise estimated from the data, weekly patterns and one-day spikes screened out). Missing days are gaps, not zeros. A step in the last days is tentative.

Each step gets its first day, the robust level before and after, the ratio, a confidence, and its cost per month and year: from the store's cost column when every day has one, else at --price-per-gb, else at today's AWS internet egress price with its 100 GB/month free allowance. Because that allowance resets monthly, the day a step starts to cost money (costStepDate) can come days after the usage step.`

  static override examples = [
    '<%= config.bin %> ingest samples/billing/usage-report-ec2-2013-06-01_2014-06-01.csv\n<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --log-scale',
    '<%= config.bin %> <%= command.id %> --svg /tmp/egress.svg --since 2014-01-01',
    "<%= config.bin %> <%= command.id %> --usage-type '*BoxUsage*' --min-ratio 1.5",
    '<%= config.bin %> <%= command.id %> --price-per-gb 0.12 --json',
  ]

  static override flags = {
    'log-scale': Flags.boolean({description: 'Also draw the series on a log axis in the terminal, steps marked.'}),
    'min-ratio': Flags.string({default: String(DEFAULT_MIN_RATIO), description: 'Report changes of at least this factor, up or down.', helpValue: 'X'}),
    'price-per-gb': pricePerGbFlag,
    since: Flags.string({description: 'First UTC day to analyse.', helpValue: 'YYYY-MM-DD'}),
    svg: Flags.string({description: 'Write the log-scale chart as an SVG image to FILE.', helpValue: 'FILE'}),
    until: Flags.string({description: 'Last UTC day to analyse (inclusive).', helpValue: 'YYYY-MM-DD'}),
    'usage-type': Flags.string({description: `Analyse the usage types matching this glob (e.g. '*BoxUsage*') instead of ${EGRESS_LABEL}; flow:PROTO/PORT (e.g. flow:udp/123, flow:*) analyses a port's daily egress from flow records.`, helpValue: 'GLOB'}),
  }

  async run(): Promise<AnomaliesCommandResult> {
    const {flags} = this
    const price = parsePricePerGb(flags['price-per-gb'])
    const progress = this.progress('analysing series')
    const options: AnomaliesOptions = {
      minRatio: parseNumber(flags['min-ratio'], '--min-ratio'),
      onProgress: progress.update,
      ...(price === undefined ? {} : {pricePerGb: price}),
      ...(flags.since === undefined ? {} : {since: flags.since}),
      ...(flags.until === undefined ? {} : {until: flags.until}),
      ...(flags['usage-type'] === undefined ? {} : {usageType: flags['usage-type']}),
    }
    // A bad flag is a usage error (exit 2) even when there is no store yet.
    checkAnomaliesOptions(options)
    if (flags.svg !== undefined) checkOutputFile(flags.svg, '--svg')
    const result = await this.withStore((store) => analyseAnomalies(store, options), {mustExist: true, readOnly: true})
    progress.done()
    const ofTotal = (s: {usageType: string}) => s.usageType === result.usageType
    const chart = {note: `Cost: ${result.pricing.label}`, points: result.series, spikes: result.spikes.filter((s) => ofTotal(s)), steps: result.steps.filter((s) => ofTotal(s)), title: `${result.usageType} per day, ${result.firstDay} .. ${result.lastDay}`, unit: result.unit}
    if (flags.svg !== undefined) {
      await writeOutputFile(flags.svg, renderSvgChart(chart), '--svg')
      this.note(`wrote ${flags.svg}`)
    }
    // `--svg -` puts the image on standard output: nothing else may go there.
    if (flags.svg === '-') return result
    this.print(() => renderResult(result))
    if (flags['log-scale']) this.print(() => `\n${renderLogChart(chart)}`)
    return result
  }
}

function parseNumber(text: string, field: string): number {
  const value = Number(text)
  if (text.trim() === '' || !Number.isFinite(value)) throw new BillwatchError('E_USAGE', '', {expected: 'a number', field, got: text})
  return value
}

function renderResult(result: AnomaliesResult): string {
  const gaps = result.missingDays > 0 ? `, ${result.missingDays} days missing` : ''
  const head = `${result.usageType}: ${result.firstDay} .. ${result.lastDay} (${result.days} days${gaps}), ${result.seriesAnalysed} series, changes of ${formatRatio(result.minRatio)} or more${result.weekly ? ', weekly pattern removed' : ''}`
  const lines = [head, '']
  if (result.steps.length === 0) lines.push('No steps.')
  else {
    lines.push(
      renderTable(
        ['first day', 'series', 'resource', 'change', 'before/day', 'after/day', 'confidence', 'costs from', 'per month', 'per year'],
        result.steps.map((s) => [
          s.date,
          s.usageType,
          s.resourceId ?? '-',
          `${s.direction} ${formatRatio(s.ratio)}${s.tentative ? ' (tentative)' : ''}`,
          formatAmount(s.levelBefore, s.unit),
          formatAmount(s.levelAfter, s.unit),
          formatShare(s.confidence, 0),
          s.costStepDate ?? '-',
          formatMoney(s.monthlyCost, s.currency),
          formatMoney(s.yearlyCost, s.currency),
        ]),
        ['left', 'left', 'left', 'left', 'right', 'right', 'right', 'left', 'right', 'right'],
      ),
    )
  }
  if (result.spikes.length > 0) {
    lines.push('', renderTable(
      ['spike day', 'series', 'resource', 'value', 'baseline/day', 'ratio'],
      result.spikes.map((s) => [s.date, s.usageType, s.resourceId ?? '-', formatAmount(s.value, s.unit), formatAmount(s.baseline, s.unit), formatRatio(s.ratio)]),
      ['left', 'left', 'left', 'right', 'right', 'right'],
    ))
  }
  lines.push('', `Cost: ${result.pricing.label}`)
  return lines.join('\n')
}
