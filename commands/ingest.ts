import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../src/cli/base-command.js'
import {renderTable} from '../src/cli/render.js'
import {FORMAT_KINDS, type FormatKind, type IngestResult, ingestFiles} from '../src/ingest/index.js'

export default class Ingest extends BaseCommand<typeof Ingest> {
  static override summary = 'Load AWS usage and billing exports into the store (format detected from content).'
  static override description = `Reads the legacy AWS Usage Report CSV, CUR 1.0 (CSV, .csv.gz, manifest JSON), CUR 2.0 and
FOCUS (CSV, .csv.gz or Parquet) and the Cost Explorer console CSV. Hourly lines roll up to UTC days;
data transfer is stored in bytes (AWS "GB" = 2^30 bytes).

All files of one call are one transaction: if any file is bad, nothing is stored and the error names
the file, line and column. Re-ingesting the same content is a no-op; a newer export of the same billing
period (CUR restates a month many times) replaces the older one.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> samples/usage-report-ec2-2013-06-01_2014-06-01.csv',
    '<%= config.bin %> <%= command.id %> samples/* --json',
    '<%= config.bin %> <%= command.id %> --format usage-report export.csv',
    '<%= config.bin %> <%= command.id %> cur/20240301-20240401/report-Manifest.json',
  ]

  static override strict = false

  static override args = {
    file: Args.string({description: 'export file(s) to ingest', required: false}),
  }

  static override flags = {
    format: Flags.string({
      description: 'skip detection and read the files as this export kind',
      options: FORMAT_KINDS,
    }),
  }

  async run(): Promise<IngestResult> {
    const {argv} = await this.parse(Ingest)
    const files = argv as string[]
    if (files.length === 0) this.usage('no files given; name one or more exports, e.g. billwatch ingest samples/*')
    const result = await this.withStore((store) =>
      ingestFiles(store, files, {
        ...(this.flags.format === undefined ? {} : {format: this.flags.format as FormatKind}),
        onProgress: (file) => {
          const bar = this.progress(`reading ${file}`)
          return bar.update
        },
      }),
    )
    this.log(
      renderTable(
        ['status', 'format', 'first day', 'last day', 'days', 'line items', 'file'],
        result.files.map((f) => [f.status, `${f.format} (${f.container})`, f.firstDay ?? '-', f.lastDay ?? '-', f.days, f.lineItems, f.path]),
        ['left', 'left', 'left', 'left', 'right', 'right', 'left'],
      ),
    )
    return result
  }
}
