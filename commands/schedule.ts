import {Flags} from '@oclif/core'

import {BaseCommand} from '../src/cli/base-command.js'
import {formatBytes} from '../src/cli/format.js'
import {DEFAULT_SCHEDULE} from '../src/lambda/cron.js'
import type {ScheduleResult} from '../src/lambda/template.js'

/** What `billwatch schedule --json` prints: its JSON Schema is schemas/schedule.json. */
export type ScheduleCommandResult = ScheduleResult

export default class Schedule extends BaseCommand<typeof Schedule> {
  static override summary = 'Write a deployable AWS Lambda that warns the day a new egress step appears.'
  static override description = `Writes a SAM template (template.json) and the bundled function (billwatch-watch.zip) into --out, and prints the one command that deploys them. The function runs daily (default ${DEFAULT_SCHEDULE}, UTC), reads the last 60 days from Cost Explorer (about $0.01-0.02 a run), runs the same step detection as "billwatch anomalies", and publishes one SNS alert per new step. No state is kept: a step is new when the previous day's window did not already show it.

The role grants only ce:GetCostAndUsage, sns:Publish on the one topic, writing its own log group, and with --instances/--all-instances cloudwatch:GetMetricData (plus cloudwatch:ListMetrics for --all-instances, to find the instances). Without --topic-arn the template creates a topic; pass AlertEmail=ADDRESS to sam deploy to subscribe to it.

With --athena the function reads an organisation's CUR 1.0 (Athena integration), CUR 2.0 or FOCUS table through Amazon Athena instead of Cost Explorer (the same daily roll-up as "billwatch ingest --athena"; a run refuses to scan more than --max-scan-gb). Its role then grants, and only on the named resources: athena:StartQueryExecution/GetQueryExecution/GetQueryResults/StopQueryExecution on the workgroup, glue:GetTable/GetPartitions on the table (and its database and catalogue), s3:GetObject and a prefix-bound s3:ListBucket under --table-location, and s3:GetObject/PutObject/AbortMultipartUpload under --output.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --out deploy/',
    '<%= config.bin %> <%= command.id %> --out deploy/ --topic-arn arn:aws:sns:us-east-1:123456789012:billing-alerts',
    "<%= config.bin %> <%= command.id %> --out deploy/ --cron '23 6 * * *' --instances i-0a1b2c3d",
    '<%= config.bin %> <%= command.id %> --out deploy/ --all-instances --json',
    '<%= config.bin %> <%= command.id %> --out deploy/ --instances i-0a1b2c3d --with-cloudtrail',
    '<%= config.bin %> <%= command.id %> --out deploy/ --athena cid_data_export.cur2 --workgroup billing --output s3://my-athena-results/billwatch/ --table-location s3://my-cur-bucket/cur2/data/',
  ]

  static override flags = {
    athena: Flags.string({
      description:
        'watch an organisation through Athena: the daily roll-up of this CUR 1.0/2.0 or FOCUS table instead of Cost Explorer',
      helpValue: '[DB.]TABLE',
    }),
    database: Flags.string({
      dependsOn: ['athena'],
      description: 'with --athena: the Glue database of the table',
      helpValue: 'DB',
    }),
    'max-scan-gb': Flags.string({
      dependsOn: ['athena'],
      description: 'with --athena: the run refuses a query whose partitions hold more than this [default: 10]',
      helpValue: 'N',
    }),
    output: Flags.string({
      dependsOn: ['athena'],
      description: 'with --athena: where Athena writes results; the role may write only under it',
      helpValue: 's3://BUCKET/PREFIX/',
    }),
    'table-location': Flags.string({
      dependsOn: ['athena'],
      description: "with --athena: the table's S3 LOCATION; the role may read only under it",
      helpValue: 's3://BUCKET/PREFIX/',
    }),
    workgroup: Flags.string({
      dependsOn: ['athena'],
      description: 'with --athena: the Athena workgroup the role may query in [default: primary]',
      helpValue: 'WG',
    }),
    'allow-frequent': Flags.boolean({
      description:
        'accept a schedule that runs more than once a day (each run costs $0.01-0.02 of Cost Explorer requests)',
    }),
    'all-instances': Flags.boolean({
      description: 'also watch NetworkOut of every EC2 instance in the region (adds cloudwatch:ListMetrics)',
      exclusive: ['instances'],
    }),
    cron: Flags.string({
      description: `when to run: EventBridge cron(...) or rate(...), or a 5-field Unix cron, UTC [default: ${DEFAULT_SCHEDULE}]`,
      helpValue: 'EXPR',
    }),
    instances: Flags.string({
      description: 'also watch NetworkOut of these EC2 instances (adds cloudwatch:GetMetricData)',
      helpValue: 'ID',
      multiple: true,
    }),
    out: Flags.string({
      description: 'directory to write template.json and billwatch-watch.zip into',
      helpValue: 'DIR',
      required: true,
    }),
    'stack-name': Flags.string({
      default: 'billwatch-watch',
      description: 'CloudFormation stack name in the deploy command (letters, digits, hyphens)',
    }),
    'topic-arn': Flags.string({
      description: 'publish to this existing SNS topic (default: the template creates one)',
      helpValue: 'ARN',
    }),
    'with-cloudtrail': Flags.boolean({
      description:
        "name the most likely account change (CloudTrail LookupEvents in the function's region, ranked as billwatch correlate ranks it) in each alert (adds cloudtrail:LookupEvents)",
    }),
  }

  async run(): Promise<ScheduleCommandResult> {
    const {flags} = this
    if (flags.athena !== undefined && (flags.output === undefined || flags['table-location'] === undefined)) {
      this.usage(
        "--athena needs --output (the result prefix) and --table-location (the table's S3 location): the role is granted exactly those",
        flags.output === undefined ? '--output' : '--table-location',
      )
    }
    const maxScanGb = flags['max-scan-gb'] === undefined ? undefined : Number(flags['max-scan-gb'])
    if (maxScanGb !== undefined && !(Number.isInteger(maxScanGb) && maxScanGb > 0))
      this.usage('--max-scan-gb: a whole number of GB above 0', '--max-scan-gb')
    const bar = this.progress('bundling the Lambda handler')
    // Loaded here, not at start-up: the template module brings esbuild and the AWS SDK clients.
    const {writeSchedule} = await import('../src/lambda/template.js')
    const result = await writeSchedule(flags.out, {
      allInstances: flags['all-instances'],
      withCloudtrail: flags['with-cloudtrail'],
      allowFrequent: flags['allow-frequent'],
      stackName: flags['stack-name'],
      ...(flags.cron === undefined ? {} : {cron: flags.cron}),
      ...(flags.instances === undefined ? {} : {instances: flags.instances.flatMap((s) => s.split(','))}),
      ...(flags['topic-arn'] === undefined ? {} : {topicArn: flags['topic-arn']}),
      ...(flags.athena === undefined
        ? {}
        : {
            athena: {
              output: flags.output!,
              table: flags.athena,
              tableLocation: flags['table-location']!,
              ...(flags.database === undefined ? {} : {database: flags.database}),
              ...(flags.workgroup === undefined ? {} : {workgroup: flags.workgroup}),
              ...(maxScanGb === undefined ? {} : {maxScanGb}),
            },
          }),
    })
    bar.done()
    for (const warning of result.warnings) this.note(`warning: ${warning}`)
    this.log(`wrote ${result.template}`)
    this.log(`wrote ${result.zip} (${formatBytes(result.zipBytes)}; handler ${formatBytes(result.handlerBytes)})`)
    this.log(`runs ${result.schedule}; alerts ${result.topicArn ?? 'a topic the template creates'}`)
    this.log(`role grants: ${result.permissions.join(', ')}`)
    this.log('')
    this.log('deploy:')
    this.log(`  ${result.deployCommand}`)
    return result
  }
}
