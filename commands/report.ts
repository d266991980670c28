import {resolve} from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand} from '../src/cli/base-command.js'
import {formatBytes} from '../src/cli/format.js'
import {computesEvidence, evidenceFlags, evidenceOptions} from '../src/cli/evidence-flags.js'
import {gatherEvidence, type MissingEvidence} from '../src/explain/evidence.js'
import {type ChartSummary, renderReport} from '../src/report/html.js'
import {checkReportTarget, writeReportFile} from '../src/report/write.js'
import {isStreamPath} from '../src/util/files.js'

export interface ReportResult {
  /** Absolute path of the HTML file written. */
  out: string
  bytes: number
  charts: ChartSummary[]
  missing: MissingEvidence[]
}

/** What `billwatch report --json` prints: its JSON Schema is schemas/report.json. */
export type ReportCommandResult = ReportResult

export default class Report extends BaseCommand<typeof Report> {
  static override summary = 'Write the investigation as one self-contained HTML page: charts, tables and the story.'
  static override description = `Gathers the same evidence as \`billwatch explain\` (the store's usage and steps, --repo, --pcap, --probe, or the last correlate/pcap/probe results in the store) and writes one HTML file that opens without a network. It shows the daily series on a log axis (a button switches to linear) with the steps marked and the ranked configuration change annotated; the cumulative traffic-by-client chart with the blocking thresholds; and the tables: steps, changes, bill, inbound against outbound, capture, top talkers, blocking and rate-limit what-ifs with configuration snippets, NAT and fleet findings, probe verdict. Evidence that is missing is shown as missing. Charts are drawn by ECharts, inlined into the file.`

  static override examples = [
    '<%= config.bin %> ingest samples/billing/usage-report-ec2-2013-06-01_2014-06-01.csv && <%= config.bin %> <%= command.id %> --out report.html',
    '<%= config.bin %> <%= command.id %> --repo /tmp/etc-history --pcap samples/captures/ntp-server.pcap --out report.html',
    '<%= config.bin %> <%= command.id %> --out report.html --json',
  ]

  static override flags = {
    ...evidenceFlags,
    out: Flags.string({
      description:
        'The HTML file to write (a regular file is replaced atomically; - or /dev/stdout writes to standard output).',
      helpValue: 'FILE.html',
      required: true,
    }),
  }

  async run(): Promise<ReportCommandResult> {
    const options = evidenceOptions(this.flags)
    const out = isStreamPath(this.flags.out) ? this.flags.out : resolve(this.flags.out)
    checkReportTarget(out)
    const evidence = await this.withStore((store) => gatherEvidence(store, options), {
      mustExist: true,
      readOnly: !computesEvidence(options),
    })
    const {charts, html} = renderReport(evidence)
    const {bytes, stream} = await writeReportFile(out, html)
    // Written to a stream (`--out -`, /dev/stdout): the summary must not mix into the HTML.
    const say = (line: string) => (stream ? this.note(line) : this.log(line))
    say(`report written to ${out} (${formatBytes(bytes)}, charts: ${charts.map((c) => c.id).join(', ') || 'none'})`)
    for (const m of evidence.missing) say(`  missing ${m.evidence}: ${m.why}`)
    return {bytes, charts, missing: evidence.missing, out}
  }
}
