import {statSync} from 'node:fs'
import {resolve} from 'node:path'

import {Args, Flags} from '@oclif/core'

import type {AthenaIngestResult} from '../src/athena/index.js'
import {DEFAULT_MAX_SCAN_GB} from '../src/athena/limits.js'
import type {LiveIngestResult} from '../src/aws/index.js'
import {BaseCommand} from '../src/cli/base-command.js'
import {formatBytes, formatCount} from '../src/cli/format.js'
import {renderTable} from '../src/cli/render.js'
import {renderAthenaIngest, renderLiveIngest} from '../src/cli/render-ingest.js'
import {parseFlowFormat} from '../src/flows/vpc-format.js'
import {checkInputFile} from '../src/util/files.js'
import {hashEarly} from '../src/ingest/fingerprint.js'
import {FORMAT_KINDS, type FormatKind, type IngestResult, ingestFiles} from '../src/ingest/index.js'

/** What `billwatch ingest --json` prints: its JSON Schema is schemas/ingest.json. */
export type IngestCommandResult = AthenaIngestResult | IngestResult | LiveIngestResult

export default class Ingest extends BaseCommand<typeof Ingest> {
  static override summary = 'Load usage and billing exports into the store (format detected from content).'
  static override description = `Reads the legacy AWS Usage Report CSV, the Detailed Billing Report (with or without resources and tags, CSV or the .csv.zip AWS delivered), CUR 1.0 (CSV, .csv.gz, .csv.zip, manifest JSON), CUR 2.0, FOCUS 1.0-1.2 from any provider (AWS, Azure, Google Cloud, Oracle; CSV, .csv.gz or Parquet) and the Cost Explorer console CSV. Hourly lines roll up to UTC days; data transfer is stored in bytes (AWS "GB" = 2^30 bytes). Internet egress in other providers' FOCUS rows is found by the rules in src/ingest/egress-rules.json.

Cost is the real charge, in the currency billed: FOCUS EffectiveCost; CUR Savings Plan and reservation effective cost and net unblended cost where the report has them; the list cost is kept beside it. Credits, taxes, purchases, fees and corrections are kept as charges, apart from usage. Other clouds' own cost files (Azure EA/MCA, Google Cloud's BigQuery export, OCI cost reports) and Cost Explorer downloads without days or a usage grouping are refused with the export to make instead.

All files of one call are one transaction: if any file is bad, nothing is stored and the error names the file, line and column. Re-ingesting the same content is a no-op; a newer export of the same billing period (CUR restates a month many times) replaces the older one.

A directory stands for the files directly in it: those that are not billing exports (captures, scripts, other CSVs) are skipped with a note, while a file named on its own must be an export.

Flow records are detected the same way and go to their own tables (see billwatch flows): VPC Flow Logs as S3 delivers them (.log or .log.gz with the header line of any custom format; the AWSLogs/…/vpcflowlogs/… folders walked whole; Parquet with Hive partitions), CloudWatch Logs exports (JSON lines whose message is a record; give a custom format with --flow-format), and nfcapd files of NetFlow v5/v9 and IPFIX (read through nfdump). NODATA and SKIPDATA records are counted, never taken as traffic.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> samples/billing/usage-report-ec2-2013-06-01_2014-06-01.csv',
    '<%= config.bin %> <%= command.id %> samples/* --json',
    '<%= config.bin %> <%= command.id %> ~/Downloads/cur-exports/',
    '<%= config.bin %> <%= command.id %> --format usage-report export.csv',
    '<%= config.bin %> <%= command.id %> --account 123456789012 usage-report-2014.csv',
    '<%= config.bin %> <%= command.id %> cur/20240301-20240401/report-Manifest.json',
    '<%= config.bin %> <%= command.id %> samples/flows/',
    "<%= config.bin %> <%= command.id %> --flow-format '${version} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status} ${flow-direction}' cloudwatch-export.jsonl",
    '<%= config.bin %> <%= command.id %> /var/cache/nfdump/nfcapd.201403300000 --host 198.51.100.7',
    '<%= config.bin %> <%= command.id %> --cost-explorer --days 90 --profile billing',
    '<%= config.bin %> <%= command.id %> --cloudwatch --region us-east-1 --instances i-0a1b2c3d',
    '<%= config.bin %> <%= command.id %> --athena athenacurcfn_myreport.myreport --region us-east-1',
    '<%= config.bin %> <%= command.id %> --athena cur2 --database cid_data_export --workgroup billing --output s3://my-athena-results/billwatch/ --since 2024-01-01 --max-scan-gb 20',
    '<%= config.bin %> <%= command.id %> --athena vpclogs.vpc_flow_logs --since 2024-04-01 --max-scan-gb 50',
  ]

  static override strict = false

  static override args = {
    file: Args.string({description: 'export file(s) to ingest', required: false}),
  }

  static override flags = {
    account: Flags.string({
      description:
        'the account of exports without an account column (usage report, Cost Explorer CSV); default: each such file is its own account, named after it',
      helpValue: 'ID',
    }),
    format: Flags.string({
      description: 'skip detection and read the files as this export kind',
      options: FORMAT_KINDS,
    }),
    'flow-format': Flags.string({
      description:
        "fields of headerless VPC flow-log records (CloudWatch Logs events): the log group's format, '${version} ${account-id} …'",
      helpValue: 'FORMAT',
    }),
    host: Flags.string({
      description:
        'flow records: the server address (NetFlow/IPFIX: default the busiest address; flow logs without flow-direction: the interface address)',
      helpValue: 'ADDRESS',
    }),
    sampling: Flags.integer({
      description:
        'flow records: 1-in-N packet sampling the exporter did not announce (softflowd -s N); counts are multiplied by N',
      helpValue: 'N',
      min: 1,
    }),
    // Live AWS (src/aws): credentials and region from the standard chain; these only override it.
    'all-instances': Flags.boolean({
      dependsOn: ['cloudwatch'],
      description:
        'with --cloudwatch: every instance that reported NetworkOut in the last 2 weeks (needs cloudwatch:ListMetrics)',
      exclusive: ['instances'],
    }),
    'all-usage': Flags.boolean({
      dependsOn: ['cost-explorer'],
      description: 'with --cost-explorer: every usage type, not only data transfer',
    }),
    cloudwatch: Flags.boolean({
      description: 'read daily NetworkOut/NetworkIn per EC2 instance from CloudWatch GetMetricData',
    }),
    'cost-explorer': Flags.boolean({
      description: 'read Cost Explorer GetCostAndUsage (incremental; each request costs $0.01)',
    }),
    days: Flags.integer({description: 'days before today to hold [default: 90; 14 for HOURLY]', helpValue: 'N'}),
    granularity: Flags.string({
      dependsOn: ['cost-explorer'],
      description: 'Cost Explorer granularity (summed to days)',
      options: ['DAILY', 'HOURLY'],
    }),
    instances: Flags.string({
      dependsOn: ['cloudwatch'],
      description: 'with --cloudwatch: EC2 instance ids',
      helpValue: 'ID',
      multiple: true,
    }),
    profile: Flags.string({description: 'AWS shared-config profile', helpValue: 'NAME'}),
    region: Flags.string({
      description: 'AWS region (CloudWatch, Athena; Cost Explorer answers from us-east-1)',
      helpValue: 'R',
    }),
    // Amazon Athena (src/athena): the same daily roll-up, run where the export's table lives.
    athena: Flags.string({
      description:
        'read the daily roll-up of a CUR 1.0 (Athena integration), CUR 2.0, FOCUS or VPC Flow Logs table through Amazon Athena',
      exclusive: ['cost-explorer', 'cloudwatch'],
      helpValue: '[DB.]TABLE',
    }),
    database: Flags.string({
      dependsOn: ['athena'],
      description: 'with --athena: the Glue database of the table',
      helpValue: 'DB',
    }),
    'max-scan-gb': Flags.string({
      dependsOn: ['athena'],
      description: `with --athena: refuse when the partitions to read hold more than this (Athena bills $5 per TB scanned) [default: ${DEFAULT_MAX_SCAN_GB}]`,
      helpValue: 'N',
    }),
    output: Flags.string({
      dependsOn: ['athena'],
      description: "with --athena: where Athena writes the query's result (default: the workgroup's result location)",
      helpValue: 's3://BUCKET/PREFIX/',
    }),
    since: Flags.string({
      dependsOn: ['athena'],
      description: 'with --athena: first day to hold (default: 90 days before --until)',
      helpValue: 'YYYY-MM-DD',
    }),
    until: Flags.string({
      dependsOn: ['athena'],
      description: 'with --athena: the day after the last to hold (default: today)',
      helpValue: 'YYYY-MM-DD',
    }),
    workgroup: Flags.string({
      dependsOn: ['athena'],
      description: 'with --athena: the Athena workgroup (default: primary)',
      helpValue: 'WG',
    }),
  }

  async run(): Promise<IngestCommandResult> {
    const files = this.positionals
    const f = this.flags
    if (f.athena !== undefined) {
      if (files.length > 0) this.usage('give export files or --athena TABLE, not both')
      const maxScanGb = f['max-scan-gb'] === undefined ? undefined : Number(f['max-scan-gb'])
      if (maxScanGb !== undefined && !(maxScanGb > 0))
        this.usage('--max-scan-gb: a number of GB above 0', '--max-scan-gb')
      // The AWS SDK clients load only for the flags that call AWS (about half a second of start-up otherwise).
      const {ingestAthena} = await import('../src/athena/index.js')
      // Ctrl-C stops the query in Athena (it would otherwise run on, and bill, to its end).
      const controller = new AbortController()
      const onInterrupt = () => controller.abort()
      process.once('SIGINT', onInterrupt)
      const bar = this.progress('waiting for the Athena query (polls)')
      let polls = 0
      try {
        const result = await this.withStore((store) =>
          ingestAthena(store, {
            table: f.athena!,
            ...(f.database === undefined ? {} : {database: f.database}),
            ...(f.workgroup === undefined ? {} : {workgroup: f.workgroup}),
            ...(f.output === undefined ? {} : {output: f.output}),
            ...(f.since === undefined ? {} : {since: f.since}),
            ...(f.until === undefined ? {} : {until: f.until}),
            ...(maxScanGb === undefined ? {} : {maxScanGb}),
            ...(f.host === undefined ? {} : {host: f.host}),
            ...(f.profile === undefined ? {} : {profile: f.profile}),
            ...(f.region === undefined ? {} : {region: f.region}),
            onPoll: () => bar.update(++polls),
            signal: controller.signal,
          }),
        )
        bar.done()
        this.print(() => renderAthenaIngest(result))
        return result
      } finally {
        process.removeListener('SIGINT', onInterrupt)
      }
    }
    if (f['cost-explorer'] || f.cloudwatch) {
      if (files.length > 0) this.usage('give export files or --cost-explorer/--cloudwatch, not both')
      const days = f.days === undefined ? {} : {days: f.days}
      const {ingestLive} = await import('../src/aws/index.js')
      const live = await this.withStore((store) =>
        ingestLive(store, {
          ...(f.profile === undefined ? {} : {profile: f.profile}),
          ...(f.region === undefined ? {} : {region: f.region}),
          ...(f['cost-explorer']
            ? {
                costExplorer: {
                  allUsage: f['all-usage'],
                  granularity: (f.granularity ?? 'DAILY') as 'DAILY' | 'HOURLY',
                  ...days,
                },
              }
            : {}),
          ...(f.cloudwatch
            ? {
                cloudWatch: {
                  allInstances: f['all-instances'],
                  instances: (f.instances ?? []).flatMap((s) => s.split(',')),
                  ...days,
                },
              }
            : {}),
          onProgress: this.progress('reading AWS (requests)').update,
        }),
      )
      this.print(() => renderLiveIngest(live))
      return live
    }
    if (files.length === 0) this.usage('no files given; name one or more exports, e.g. billwatch ingest samples/*')
    const flowFormat = f['flow-format'] === undefined ? undefined : parseFlowFormat(f['flow-format'])
    // Named files are checked before the store is opened: a pipe or a typo must not leave a new, empty store behind.
    for (const file of files) {
      if (file.trim() === '') this.usage('an empty file name', 'FILE')
      if (!statSync(file, {throwIfNoEntry: false})?.isDirectory())
        checkInputFile(resolve(file), {expected: 'an AWS usage or billing export saved to a file'})
    }
    // The first file's content hash begins while the store opens (on the core that leaves idle); ingest takes it.
    const first = files.find((file) => statSync(file, {throwIfNoEntry: false})?.isFile())
    const early = first === undefined ? undefined : hashEarly(first)
    const result = await this.withStore((store) =>
      ingestFiles(store, files, {
        flows: {
          ...(flowFormat === undefined ? {} : {format: flowFormat}),
          ...(f.host === undefined ? {} : {host: f.host}),
          ...(f.sampling === undefined ? {} : {sampling: f.sampling}),
        },
        ...(this.flags.format === undefined ? {} : {format: this.flags.format as FormatKind}),
        ...(this.flags.account === undefined ? {} : {account: this.flags.account}),
        onProgress: (file) => {
          const bar = this.progress(`reading ${file}`, formatBytes)
          return bar.update
        },
      }),
    ).finally(() => early?.stop())
    if (result.files.length > 0 || result.flows.length === 0)
      this.print(() =>
        renderTable(
          ['status', 'format', 'first day', 'last day', 'days', 'line items', 'file'],
          result.files.map((f) => [
            f.status,
            `${f.format} (${f.container})`,
            f.firstDay ?? '-',
            f.lastDay ?? '-',
            f.days,
            formatCount(f.lineItems),
            f.path,
          ]),
          ['left', 'left', 'left', 'left', 'right', 'right', 'left'],
        ),
      )
    for (const file of result.files) {
      if (file.replacedBy)
        this.note(
          `${file.path} restates the same usage as ${file.replacedBy}, which is newer: only the newer one counts`,
        )
    }
    if (result.flows.length > 0) {
      this.print(() =>
        renderTable(
          [
            'status',
            'flow format',
            'first day',
            'last day',
            'records',
            'NODATA',
            'SKIPDATA',
            'REJECT',
            'egress',
            'file',
          ],
          result.flows.map((r) => [
            r.status,
            `${r.format} (${r.container})`,
            r.firstDay ?? '-',
            r.lastDay ?? '-',
            formatCount(r.records),
            formatCount(r.nodataRecords),
            formatCount(r.skipdataRecords),
            formatCount(r.rejectedRecords),
            formatBytes(r.egressBytes),
            r.path,
          ]),
          ['left', 'left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'left'],
        ),
      )
      for (const r of result.flows) if (r.sampling) this.note(`${r.path}: ${r.sampling}`)
    }
    for (const skip of result.skipped) this.note(`skipped ${skip.path}: ${skip.reason}`)
    return result
  }
}
