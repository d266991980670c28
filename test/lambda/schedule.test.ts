import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {unzipSync} from 'fflate'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {buildTemplate, scheduleExpression} from '../../src/lambda/template.js'
import {costsFromUsageReport} from '../aws/fixtures.js'
import {type AwsEndpoint, startAwsEndpoint} from '../helpers/aws-endpoint.js'
import {runCli, tempDir} from '../helpers/cli.js'

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:billing-alerts'

/** Every (action, resource) the role's inline policy allows, and the statements' effects. */
function grants(template: Record<string, any>): {actions: [string, unknown][]; effects: string[]} {
  const role = template.Resources.WatchRole
  expect(role.Type).toBe('AWS::IAM::Role')
  expect(Object.keys(role.Properties).sort()).toEqual(['AssumeRolePolicyDocument', 'Policies'])
  expect(role.Properties.Policies).toHaveLength(1)
  const statements = role.Properties.Policies[0].PolicyDocument.Statement as {
    Action: string | string[]
    Effect: string
    Resource: unknown
  }[]
  return {
    actions: statements.flatMap((s) => [s.Action].flat().map((a): [string, unknown] => [a, s.Resource])),
    effects: statements.map((s) => s.Effect),
  }
}

const LOGS = {'Fn::GetAtt': ['WatchLogGroup', 'Arn']}

describe('buildTemplate', () => {
  it('has the function, its role, log group, daily schedule off the hour, and a topic when none is given', () => {
    const template = buildTemplate()
    expect(template.Transform).toBe('AWS::Serverless-2016-10-31')
    const types = Object.fromEntries(
      Object.entries(template.Resources).map(([name, r]: [string, any]) => [name, r.Type]),
    )
    expect(types).toEqual({
      AlertEmailSubscription: 'AWS::SNS::Subscription',
      AlertTopic: 'AWS::SNS::Topic',
      WatchFunction: 'AWS::Serverless::Function',
      WatchLogGroup: 'AWS::Logs::LogGroup',
      WatchRole: 'AWS::IAM::Role',
    })
    const fn = template.Resources.WatchFunction.Properties
    expect(fn).toMatchObject({
      CodeUri: 'billwatch-watch.zip',
      Handler: 'index.handler',
      Role: {'Fn::GetAtt': ['WatchRole', 'Arn']},
    })
    expect(fn.Runtime).toMatch(/^nodejs(2[0-9])\.x$/)
    // With an explicit Role, SAM adds no policies of its own.
    expect(fn.Policies).toBeUndefined()
    const schedule = fn.Events.Daily
    expect(schedule.Type).toBe('Schedule')
    const [minute, hour, dom, , dow] = /^cron\((.*)\)$/.exec(schedule.Properties.Schedule)![1]!.split(' ')
    expect(Number(minute)).not.toBe(0)
    expect([hour, dom, dow]).toEqual([expect.stringMatching(/^\d+$/), '*', '?'])
  })

  it('grants Cost Explorer, Publish on the created topic and its own log, nothing else, when no instance is watched', () => {
    const {actions, effects} = grants(buildTemplate())
    expect(effects.every((e) => e === 'Allow')).toBe(true)
    expect(actions).toEqual([
      ['ce:GetCostAndUsage', '*'],
      ['sns:Publish', {Ref: 'AlertTopic'}],
      ['logs:CreateLogStream', LOGS],
      ['logs:PutLogEvents', LOGS],
    ])
  })

  it('adds cloudwatch:GetMetricData for --instances, and ListMetrics only for --all-instances; Publish on the given topic only', () => {
    const some = grants(buildTemplate({instances: ['i-0a1b2c3d'], topicArn: TOPIC})).actions
    expect(some.map(([a]) => a)).toEqual([
      'ce:GetCostAndUsage',
      'cloudwatch:GetMetricData',
      'sns:Publish',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ])
    expect(some.find(([a]) => a === 'sns:Publish')![1]).toBe(TOPIC)
    const all = grants(buildTemplate({allInstances: true, topicArn: TOPIC})).actions.map(([a]) => a)
    expect(all).toEqual([
      'ce:GetCostAndUsage',
      'cloudwatch:GetMetricData',
      'cloudwatch:ListMetrics',
      'sns:Publish',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ])
    expect(all.some((a) => a.includes('*'))).toBe(false)
    expect(Object.keys(buildTemplate({topicArn: TOPIC}).Resources)).not.toContain('AlertTopic')
  })

  it('--with-cloudtrail adds only cloudtrail:LookupEvents to the role, and tells the function to use it', () => {
    const without = grants(buildTemplate({instances: ['i-0a1b2c3d'], topicArn: TOPIC})).actions
    const template = buildTemplate({instances: ['i-0a1b2c3d'], topicArn: TOPIC, withCloudtrail: true})
    const added = grants(template).actions.filter((a) => !without.some(([b]) => b === a[0]))
    expect(added).toEqual([['cloudtrail:LookupEvents', '*']])
    expect(template.Resources.WatchFunction.Properties.Environment.Variables.BILLWATCH_CLOUDTRAIL).toBe('1')
    expect(
      buildTemplate({topicArn: TOPIC}).Resources.WatchFunction.Properties.Environment.Variables.BILLWATCH_CLOUDTRAIL,
    ).toBeUndefined()
  })

  it('turns Unix cron into EventBridge cron and refuses what EventBridge would refuse', () => {
    expect(scheduleExpression('23 6 * * *')).toBe('cron(23 6 * * ? *)')
    expect(scheduleExpression('5 12 * * 1')).toBe('cron(5 12 ? * 1 *)')
    expect(scheduleExpression('cron(5 12 ? * MON-FRI *)')).toBe('cron(5 12 ? * MON-FRI *)')
    expect(scheduleExpression('rate(1 day)')).toBe('rate(1 day)')
    expect(() => scheduleExpression('cron(5 12 * * 1 *)')).toThrow(
      'exactly one of day-of-month and day-of-week must be ?',
    )
    expect(() => scheduleExpression('5 12 1 * 1')).toThrow('cannot combine')
  })
})

describe('billwatch schedule', () => {
  let endpoint: AwsEndpoint
  let temp: {dir: string; cleanup: () => void}
  let result: any

  beforeAll(async () => {
    temp = tempDir()
    endpoint = await startAwsEndpoint({costs: await costsFromUsageReport(), topics: [TOPIC]})
    const cli = await runCli(['schedule', '--out', join(temp.dir, 'deploy'), '--topic-arn', TOPIC, '--json'])
    expect(cli.stderr).toBe('')
    expect(cli.code).toBe(0)
    result = cli.json()
  })

  afterAll(async () => {
    await endpoint.close()
    temp.cleanup()
  })

  it('writes a JSON template and a zip, and prints the one deploy command', () => {
    expect(result).toMatchObject({schedule: 'cron(47 13 * * ? *)', topicArn: TOPIC})
    expect(result.deployCommand).toBe(
      `sam deploy --template-file ${result.template} --stack-name billwatch-watch --capabilities CAPABILITY_IAM --resolve-s3`,
    )
    const template = JSON.parse(readFileSync(result.template, 'utf8'))
    expect(template.Resources.WatchFunction.Properties.Environment.Variables).toEqual({
      BILLWATCH_INSTANCES: '',
      BILLWATCH_TOPIC_ARN: TOPIC,
      BILLWATCH_WINDOW_DAYS: '60',
    })
    expect(result.permissions).toEqual([
      'ce:GetCostAndUsage',
      'sns:Publish',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ])
  })

  it('zips a self-contained handler without native modules that alerts once when run by plain Node', async () => {
    const files = unzipSync(readFileSync(result.zip))
    expect(Object.keys(files)).toEqual(['index.mjs'])
    const code = Buffer.from(files['index.mjs']!).toString('utf8')
    expect(code).not.toMatch(/@duckdb|duckdb\.node|\.node["']/)
    // Outside the project, so no node_modules can fill in for a missing piece of the bundle.
    const bundle = join(temp.dir, 'lambda', 'index.mjs')
    mkdirSync(join(temp.dir, 'lambda'))
    writeFileSync(bundle, files['index.mjs']!)
    const first = await invokeBundle(bundle, '2014-03-31')
    const second = await invokeBundle(bundle, '2014-04-01')
    expect(first.report.alerts.map((a: any) => a.date)).toEqual(['2014-03-30'])
    expect(second.report.alerts).toEqual([])
    expect(endpoint.published).toHaveLength(1)
    expect(endpoint.published[0]!.subject).toMatch(/^billwatch: DataTransfer-Out up \d+x from 2014-03-30$/)
    expect(endpoint.published[0]!.message).toMatch(/costs about \$\d+\.\d\d\/month/)
    expect(first.logLines).toHaveLength(1)
    expect(JSON.parse(first.logLines[0]!)).toMatchObject({level: 'info', msg: 'billwatch watch'})
  })

  it('rejects a bad --cron and a bad --topic-arn with one line and exit 2', async () => {
    const cron = await runCli(['schedule', '--out', join(temp.dir, 'bad'), '--cron', 'every day'])
    expect(cron.code).toBe(2)
    expect(cron.stderr.trim().split('\n')).toHaveLength(1)
    expect(cron.stderr).toContain('--cron: wrong number of fields')
    const topic = await runCli(['schedule', '--out', join(temp.dir, 'bad'), '--topic-arn', 'billing-alerts', '--json'])
    expect(topic.code).toBe(2)
    expect(topic.json().error).toMatchObject({
      code: 'E_USAGE',
      message: '--topic-arn: not an SNS topic ARN, expected arn:aws:sns:REGION:ACCOUNT:NAME, got "billing-alerts"',
    })
    expect(existsSync(join(temp.dir, 'bad'))).toBe(false)
  })

  /** Runs the bundled handler in a fresh Node process, configured the way Lambda configures it: by environment. */
  function invokeBundle(path: string, day: string): Promise<{report: any; logLines: string[]}> {
    const script = `import {handler} from ${JSON.stringify(pathToFileURL(path).href)}
const report = await handler({'detail-type': 'Scheduled Event', time: '${day}T13:47:00Z'})
process.stdout.write('REPORT ' + JSON.stringify(report) + '\\n')`
    const env = {
      AWS_ACCESS_KEY_ID: endpoint.credentials.accessKeyId,
      AWS_ENDPOINT_URL: endpoint.url,
      AWS_REGION: 'us-east-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_SECRET_ACCESS_KEY: endpoint.credentials.secretAccessKey,
      BILLWATCH_TOPIC_ARN: TOPIC,
      HOME: temp.dir,
      PATH: process.env.PATH ?? '',
    }
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {cwd: join(temp.dir, 'lambda'), env})
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d) => (stdout += d))
      child.stderr.on('data', (d) => (stderr += d))
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
      child.on('error', reject)
      child.on('close', (code) => {
        clearTimeout(timer)
        if (code !== 0) return reject(new Error(`bundled handler exited ${code}: ${stderr}`))
        const lines = stdout.trim().split('\n')
        const report = lines.find((l) => l.startsWith('REPORT '))
        resolve({logLines: lines.filter((l) => !l.startsWith('REPORT ')), report: JSON.parse(report!.slice(7))})
      })
    })
  }
})
