/**
 * `billwatch schedule`: a SAM template (JSON, so no YAML dependency) for the daily watch and the
 * bundled function beside it, deployable with one `sam deploy`.
 */
import {mkdirSync, statSync} from 'node:fs'
import {join, resolve} from 'node:path'

import {DEFAULT_MAX_SCAN_GB, parseTableName} from '../athena/plan.js'
import {checkInstanceIds} from '../aws/cloudwatch.js'
import {BillwatchError} from '../errors.js'
import {checkOutputFile, errnoReason, writeOutputFile} from '../util/files.js'
import {DEFAULT_SCHEDULE, scheduleFrequency} from './cron.js'
import {ENV} from './handler.js'
import {BUNDLE_FILE, bundleHandler, zipBundle} from './package.js'
import {DEFAULT_WINDOW_DAYS} from './watch.js'

/**
 * Daily at 13:47 UTC: late enough that Cost Explorer has refreshed yesterday (it lags up to 24 h),
 * and off the hour, so billwatch users do not all call AWS at :00.
 */
export {DEFAULT_SCHEDULE} from './cron.js'
export const ZIP_FILE = 'billwatch-watch.zip'
export const TEMPLATE_FILE = 'template.json'
/** Lambda's Node.js runtime; the bundle targets Node 20 syntax, so any newer runtime runs it. */
export const RUNTIME = 'nodejs22.x'

export interface ScheduleOptions {
  /** EventBridge `cron(…)`/`rate(…)`, a 6-field EventBridge cron, or a 5-field Unix cron. */
  cron?: string
  /** An existing topic; without it the template creates one (and an optional e-mail subscription). */
  topicArn?: string
  instances?: string[]
  allInstances?: boolean
  windowDays?: number
  stackName?: string
  /** Name the top CloudTrail change in each alert: the role gains cloudtrail:LookupEvents, nothing else. */
  withCloudtrail?: boolean
  /** Accept a schedule that runs more than once a day (each run costs Cost Explorer requests). */
  allowFrequent?: boolean
  /**
   * Watch through Athena instead of Cost Explorer: the role may read exactly this table and write exactly this result
   * prefix.
   */
  athena?: AthenaSchedule
}

export interface AthenaSchedule {
  /** DATABASE.TABLE (or TABLE with `database`). */
  table: string
  database?: string
  /** Default primary. */
  workgroup?: string
  /** s3://bucket/prefix/ where Athena writes results (required: the role is granted only this prefix). */
  output: string
  /** s3://bucket/prefix/ the table's LOCATION (aws glue get-table … --query Table.StorageDescriptor.Location). */
  tableLocation: string
  maxScanGb?: number
}

const S3_URI = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/?(.*)$/
const WORKGROUP = /^[A-Za-z0-9._-]{1,128}$/

function s3Location(uri: string, flag: string): {bucket: string; prefix: string} {
  const match = S3_URI.exec(uri)
  if (!match || /[*?]/.test(uri))
    throw new BillwatchError('E_USAGE', `${flag}: not an S3 location`, {
      expected: 's3://bucket/prefix/',
      field: flag,
      got: uri,
    })
  const prefix = match[2] ?? ''
  return {bucket: match[1]!, prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`}
}

/**
 * The role statements for watching through Athena, each on the named resource only: the workgroup's
 * query actions, the catalogue's table (and its database and catalogue, which Glue also checks), the
 * table's objects, and the result prefix (Athena writes and reads the result files as the caller).
 */
export function athenaStatements(athena: AthenaSchedule): Record<string, unknown>[] {
  const {database, name} = parseTableName(athena.table, athena.database)
  const workgroup = athena.workgroup ?? 'primary'
  if (!WORKGROUP.test(workgroup))
    throw new BillwatchError('E_USAGE', '--workgroup: not a workgroup name', {field: '--workgroup', got: workgroup})
  const data = s3Location(athena.tableLocation, '--table-location')
  const results = s3Location(athena.output, '--output')
  const arn = (text: string) => ({'Fn::Sub': `arn:\${AWS::Partition}:${text}`})
  const account = '${AWS::Region}:${AWS::AccountId}'
  const bucketStatements = (sid: string, location: {bucket: string; prefix: string}, objectActions: string[]) => [
    {
      Action: objectActions,
      Effect: 'Allow',
      Resource: arn(`s3:::${location.bucket}/${location.prefix}*`),
      Sid: `${sid}Objects`,
    },
    {
      Action: 's3:ListBucket',
      Condition: {StringLike: {'s3:prefix': [`${location.prefix}*`]}},
      Effect: 'Allow',
      Resource: arn(`s3:::${location.bucket}`),
      Sid: `${sid}List`,
    },
    {Action: 's3:GetBucketLocation', Effect: 'Allow', Resource: arn(`s3:::${location.bucket}`), Sid: `${sid}Bucket`},
  ]
  return [
    {
      Action: [
        'athena:StartQueryExecution',
        'athena:GetQueryExecution',
        'athena:GetQueryResults',
        'athena:StopQueryExecution',
      ],
      Effect: 'Allow',
      Resource: arn(`athena:${account}:workgroup/${workgroup}`),
      Sid: 'QueryWithAthena',
    },
    {
      Action: ['glue:GetTable', 'glue:GetPartitions'],
      Effect: 'Allow',
      Resource: [
        arn(`glue:${account}:catalog`),
        arn(`glue:${account}:database/${database}`),
        arn(`glue:${account}:table/${database}/${name}`),
      ],
      Sid: 'ReadExportCatalog',
    },
    ...bucketStatements('ReadExportData', data, ['s3:GetObject']),
    ...bucketStatements('WriteQueryResults', results, ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload']),
  ]
}

/** Cost Explorer API requests cost $0.01 each; a run makes one or two (usage and, with instances, none more). */
const RUN_COST_USD: [number, number] = [0.01, 0.02]

/**
 * Refuses a schedule that never fires, and one that fires more than once a day unless allowed (then
 * it is a warning): Cost Explorer refreshes about daily, so more runs cost money and find nothing new.
 */
export function checkScheduleFrequency(expression: string, allowFrequent = false, now = new Date()): string[] {
  const frequency = scheduleFrequency(expression, now)
  if (frequency.firstDay === null) {
    throw new BillwatchError('E_USAGE', '--cron: this schedule never fires (no such day in the coming 8 years)', {
      got: expression,
    })
  }
  if (frequency.runsPerDay <= 1) return []
  const [low, high] = RUN_COST_USD.map((usd) => usd * frequency.runsPerDay)
  const money = (usd: number) => `$${usd >= 10 ? usd.toFixed(0) : usd.toFixed(2)}`
  const cost = `runs ${frequency.runsPerDay} times a day: about ${money(low!)}-${money(high!)} a day of Cost Explorer requests ($0.01 each), for data that changes about once a day`
  if (!allowFrequent) {
    throw new BillwatchError('E_USAGE', `--cron: ${cost}`, {
      got: expression,
      suggestions: ['a daily schedule such as --cron "47 13 * * *", or add --allow-frequent'],
    })
  }
  return [`the schedule ${cost}`]
}

/** CloudFormation's rule for stack names; anything else would also be unsafe in the printed shell command. */
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/

export function checkStackName(name: string): string {
  if (!STACK_NAME.test(name)) {
    throw new BillwatchError('E_USAGE', '--stack-name: not a CloudFormation stack name', {
      expected: 'a letter, then letters, digits and hyphens (at most 128)',
      got: name,
    })
  }
  return name
}

/**
 * Normalises a schedule to EventBridge syntax. Unix `m h dom mon dow` gains a year field and the `?`
 * EventBridge requires in day-of-month or day-of-week.
 */
export function scheduleExpression(given: string | undefined): string {
  if (given === undefined) return DEFAULT_SCHEDULE
  const text = given.trim()
  if (/^rate\(\d+ (minute|minutes|hour|hours|day|days)\)$/.test(text)) return text
  const inner = /^cron\((.*)\)$/.exec(text)?.[1] ?? text
  const fields = inner.trim().split(/\s+/)
  if (fields.length === 5) {
    const [minute, hour, dom, month, dow] = fields as [string, string, string, string, string]
    if (dom !== '*' && dow !== '*') throw badCron(given, 'EventBridge cannot combine a day of month with a day of week')
    return `cron(${minute} ${hour} ${dow === '*' ? dom : '?'} ${month} ${dow === '*' ? '?' : dow} *)`
  }
  if (fields.length === 6 && (fields[2] === '?') !== (fields[4] === '?')) return `cron(${fields.join(' ')})`
  throw badCron(
    given,
    fields.length === 6 ? 'exactly one of day-of-month and day-of-week must be ?' : 'wrong number of fields',
  )
}

function badCron(got: string, why: string): BillwatchError {
  return new BillwatchError('E_USAGE', `--cron: ${why}`, {
    expected: 'cron(min hour day-of-month month day-of-week year), a 5-field Unix cron, or rate(N days)',
    got,
  })
}

const TOPIC_ARN = /^arn:aws[\w-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$/

/**
 * The CloudFormation template, as a plain object. Its shape is CloudFormation's, checked in test/lambda against the
 * published SAM/CloudFormation schema and by cfn-lint, so it is not restated as a TypeScript type here.
 */
export type CloudFormationTemplate = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

export function buildTemplate(options: ScheduleOptions = {}): CloudFormationTemplate {
  if (options.topicArn !== undefined && !TOPIC_ARN.test(options.topicArn)) {
    throw new BillwatchError('E_USAGE', '--topic-arn: not an SNS topic ARN', {
      expected: 'arn:aws:sns:REGION:ACCOUNT:NAME',
      got: options.topicArn,
    })
  }
  const instances = checkInstanceIds(options.instances ?? [])
  const watchesInstances = options.allInstances === true || instances.length > 0
  const topic = options.topicArn ?? {Ref: 'AlertTopic'}

  // Through Athena the organisation's export is read instead of Cost Explorer.
  const statements: Record<string, unknown>[] = options.athena
    ? athenaStatements(options.athena)
    : [{Action: 'ce:GetCostAndUsage', Effect: 'Allow', Resource: '*', Sid: 'ReadCostExplorer'}]
  const athenaTable = options.athena ? parseTableName(options.athena.table, options.athena.database) : undefined
  // CloudWatch has no resource-level permissions for these two; grant them only when instances are watched.
  if (watchesInstances)
    statements.push({Action: 'cloudwatch:GetMetricData', Effect: 'Allow', Resource: '*', Sid: 'ReadNetworkMetrics'})
  // Only --all-instances must discover instances; ListMetrics shows metric names, not instance details.
  if (options.allInstances)
    statements.push({Action: 'cloudwatch:ListMetrics', Effect: 'Allow', Resource: '*', Sid: 'FindInstances'})
  // LookupEvents has no resource-level permissions; it reads management events only.
  if (options.withCloudtrail)
    statements.push({Action: 'cloudtrail:LookupEvents', Effect: 'Allow', Resource: '*', Sid: 'ReadCloudTrailEvents'})
  statements.push(
    {Action: 'sns:Publish', Effect: 'Allow', Resource: topic, Sid: 'PublishAlerts'},
    // The one JSON line per run goes to the function's own log group, created here with a retention.
    {
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Effect: 'Allow',
      Resource: {'Fn::GetAtt': ['WatchLogGroup', 'Arn']},
      Sid: 'WriteOwnLog',
    },
  )

  const resources: Record<string, unknown> = {
    WatchFunction: {
      Properties: {
        Architectures: ['arm64'],
        CodeUri: ZIP_FILE,
        Description: `billwatch: warns the day a new egress step appears in ${athenaTable ? `${athenaTable.database}.${athenaTable.name} (Athena)` : 'Cost Explorer'}`,
        Environment: {
          Variables: {
            [ENV.instances]: options.allInstances ? 'all' : instances.join(','),
            ...(options.withCloudtrail ? {[ENV.cloudtrail]: '1'} : {}),
            ...(options.athena && athenaTable
              ? {
                  [ENV.athenaTable]: `${athenaTable.database}.${athenaTable.name}`,
                  [ENV.athenaWorkgroup]: options.athena.workgroup ?? 'primary',
                  [ENV.athenaOutput]: options.athena.output,
                  [ENV.athenaMaxScanGb]: String(options.athena.maxScanGb ?? DEFAULT_MAX_SCAN_GB),
                }
              : {}),
            [ENV.topicArn]: topic,
            [ENV.windowDays]: String(options.windowDays ?? DEFAULT_WINDOW_DAYS),
          },
        },
        Events: {
          Daily: {
            Properties: {Description: 'billwatch daily watch', Schedule: scheduleExpression(options.cron)},
            Type: 'Schedule',
          },
        },
        Handler: `${BUNDLE_FILE.replace(/\.mjs$/, '')}.handler`,
        LoggingConfig: {LogFormat: 'Text', LogGroup: {Ref: 'WatchLogGroup'}},
        MemorySize: 256,
        Role: {'Fn::GetAtt': ['WatchRole', 'Arn']},
        Runtime: RUNTIME,
        Timeout: 120,
      },
      Type: 'AWS::Serverless::Function',
    },
    WatchLogGroup: {
      Properties: {LogGroupName: {'Fn::Sub': '/billwatch/${AWS::StackName}'}, RetentionInDays: 90},
      Type: 'AWS::Logs::LogGroup',
    },
    WatchRole: {
      Properties: {
        AssumeRolePolicyDocument: {
          Statement: [{Action: 'sts:AssumeRole', Effect: 'Allow', Principal: {Service: 'lambda.amazonaws.com'}}],
          Version: '2012-10-17',
        },
        Policies: [{PolicyDocument: {Statement: statements, Version: '2012-10-17'}, PolicyName: 'billwatch-watch'}],
      },
      Type: 'AWS::IAM::Role',
    },
  }
  const outputs: Record<string, unknown> = {
    FunctionName: {
      Description: 'Invoke it once by hand: aws lambda invoke --function-name NAME out.json',
      Value: {Ref: 'WatchFunction'},
    },
    TopicArn: {Description: 'Where alerts go', Value: topic},
  }
  const template: CloudFormationTemplate = {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: 'billwatch daily watch: Cost Explorer (and CloudWatch) to SNS when a new egress step appears',
    Outputs: outputs,
    Resources: resources,
    Transform: 'AWS::Serverless-2016-10-31',
  }
  if (options.topicArn === undefined) {
    template.Parameters = {
      AlertEmail: {Default: '', Description: 'E-mail address to subscribe to the alerts (optional)', Type: 'String'},
    }
    template.Conditions = {HasAlertEmail: {'Fn::Not': [{'Fn::Equals': [{Ref: 'AlertEmail'}, '']}]}}
    resources.AlertTopic = {Properties: {DisplayName: 'billwatch alerts'}, Type: 'AWS::SNS::Topic'}
    resources.AlertEmailSubscription = {
      Condition: 'HasAlertEmail',
      Properties: {Endpoint: {Ref: 'AlertEmail'}, Protocol: 'email', TopicArn: {Ref: 'AlertTopic'}},
      Type: 'AWS::SNS::Subscription',
    }
  }
  return template
}

export interface ScheduleResult {
  outDir: string
  template: string
  zip: string
  zipBytes: number
  handlerBytes: number
  schedule: string
  /** The existing topic, or null when the template creates one. */
  topicArn: null | string
  /** IAM actions the function's role is granted. */
  permissions: string[]
  deployCommand: string
  /** E.g. a schedule that runs more than daily (with --allow-frequent), and what that costs. */
  warnings: string[]
}

/** --out as a folder: created when missing; anything else at that path is refused in one line. */
function makeOutDir(dir: string): void {
  const stat = statSync(dir, {throwIfNoEntry: false})
  if (stat?.isDirectory()) return
  if (stat)
    throw new BillwatchError('E_USAGE', 'not a directory', {
      expected: 'a folder for template.json and the zip',
      field: '--out',
      file: dir,
    })
  try {
    mkdirSync(dir, {recursive: true})
  } catch (error) {
    throw new BillwatchError('E_NOT_FOUND', `cannot create the folder: ${errnoReason(error)}`, {
      cause: error,
      field: '--out',
      file: dir,
    })
  }
}

/** Writes template.json and the function zip into `outDir`; returns what to run next. */
export async function writeSchedule(outDir: string, options: ScheduleOptions = {}): Promise<ScheduleResult> {
  const stack = checkStackName(options.stackName ?? 'billwatch-watch')
  const template = buildTemplate(options)
  const warnings = checkScheduleFrequency(scheduleExpression(options.cron), options.allowFrequent)
  const dir = resolve(outDir)
  const templatePath = join(dir, TEMPLATE_FILE)
  const zipPath = join(dir, ZIP_FILE)
  makeOutDir(dir)
  // Both targets checked before either is written: a refused one leaves the folder as it was.
  checkOutputFile(templatePath, '--out')
  checkOutputFile(zipPath, '--out')
  const bundle = await bundleHandler()
  const zip = zipBundle(bundle.code)
  await writeOutputFile(zipPath, zip, '--out')
  await writeOutputFile(templatePath, `${JSON.stringify(template, null, 2)}\n`, '--out')
  const email = options.topicArn === undefined ? ' --parameter-overrides AlertEmail=you@example.com' : ''
  // The role this module just built (buildTemplate):
  // eslint-disable-next-line @typescript-eslint/no-unsafe-member-access
  const statements = template.Resources.WatchRole.Properties.Policies[0].PolicyDocument.Statement as {
    Action: string | string[]
  }[]
  return {
    deployCommand: `sam deploy --template-file ${shellQuote(templatePath)} --stack-name ${shellQuote(stack)} --capabilities CAPABILITY_IAM --resolve-s3${email}`,
    handlerBytes: bundle.code.length,
    outDir: dir,
    permissions: statements.flatMap((s) => s.Action),
    schedule: scheduleExpression(options.cron),
    template: templatePath,
    topicArn: options.topicArn ?? null,
    warnings,
    zip: zipPath,
    zipBytes: zip.length,
  }
}

function shellQuote(text: string): string {
  return /^[\w./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`
}
