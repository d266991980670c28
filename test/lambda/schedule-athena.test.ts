import {spawnSync} from 'node:child_process'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {unzipSync} from 'fflate'
import {afterAll, describe, expect, it} from 'vitest'

import {configFromEnv} from '../../src/lambda/handler.js'
import {buildTemplate, writeSchedule} from '../../src/lambda/template.js'
import {readAthena} from '../../src/lambda/watch.js'
import {startAthenaEndpoint} from '../helpers/athena-endpoint.js'
import {tempDir} from '../helpers/cli.js'
import {GB} from '../ingest/billing-exports.js'
import {writeLayout} from '../athena/layouts.js'
import {ATHENA, SCHEDULE_VARIANTS} from './schedule-variants.js'

const temp = tempDir()
afterAll(() => temp.cleanup())

function statements(
  template: Record<string, any>,
): {Sid: string; Action: string | string[]; Resource: unknown; Condition?: unknown}[] {
  return template.Resources.WatchRole.Properties.Policies[0].PolicyDocument.Statement
}

const sub = (text: string) => ({'Fn::Sub': text})

describe('schedule --athena', () => {
  it('grants exactly the Athena, Glue and S3 actions on the named workgroup, table, location and result prefix', () => {
    const template = buildTemplate({athena: ATHENA, topicArn: 'arn:aws:sns:us-east-1:123456789012:alerts'})
    const granted = statements(template)
    expect(granted.filter((s) => !['PublishAlerts', 'WriteOwnLog'].includes(s.Sid))).toEqual([
      {
        Action: [
          'athena:StartQueryExecution',
          'athena:GetQueryExecution',
          'athena:GetQueryResults',
          'athena:StopQueryExecution',
        ],
        Effect: 'Allow',
        Resource: sub('arn:${AWS::Partition}:athena:${AWS::Region}:${AWS::AccountId}:workgroup/billing'),
        Sid: 'QueryWithAthena',
      },
      {
        Action: ['glue:GetTable', 'glue:GetPartitions'],
        Effect: 'Allow',
        Resource: [
          sub('arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog'),
          sub('arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/cid_data_export'),
          sub('arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/cid_data_export/cur2'),
        ],
        Sid: 'ReadExportCatalog',
      },
      {
        Action: ['s3:GetObject'],
        Effect: 'Allow',
        Resource: sub('arn:${AWS::Partition}:s3:::org-cur/cur2/data/*'),
        Sid: 'ReadExportDataObjects',
      },
      {
        Action: 's3:ListBucket',
        Condition: {StringLike: {'s3:prefix': ['cur2/data/*']}},
        Effect: 'Allow',
        Resource: sub('arn:${AWS::Partition}:s3:::org-cur'),
        Sid: 'ReadExportDataList',
      },
      {
        Action: 's3:GetBucketLocation',
        Effect: 'Allow',
        Resource: sub('arn:${AWS::Partition}:s3:::org-cur'),
        Sid: 'ReadExportDataBucket',
      },
      {
        Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
        Effect: 'Allow',
        Resource: sub('arn:${AWS::Partition}:s3:::org-athena-results/billwatch/*'),
        Sid: 'WriteQueryResultsObjects',
      },
      {
        Action: 's3:ListBucket',
        Condition: {StringLike: {'s3:prefix': ['billwatch/*']}},
        Effect: 'Allow',
        Resource: sub('arn:${AWS::Partition}:s3:::org-athena-results'),
        Sid: 'WriteQueryResultsList',
      },
      {
        Action: 's3:GetBucketLocation',
        Effect: 'Allow',
        Resource: sub('arn:${AWS::Partition}:s3:::org-athena-results'),
        Sid: 'WriteQueryResultsBucket',
      },
    ])
    // No wildcard resource on S3 or Glue, and no Cost Explorer: the export is read instead.
    for (const s of granted) {
      const actions = [s.Action].flat()
      if (actions.some((a) => a.startsWith('s3:') || a.startsWith('glue:')))
        expect(JSON.stringify(s.Resource)).not.toMatch(/"\*"|:::\*|:\*"/)
    }
    expect(granted.flatMap((s) => [s.Action].flat())).not.toContain('ce:GetCostAndUsage')
    expect(template.Resources.WatchFunction.Properties.Environment.Variables).toMatchObject({
      BILLWATCH_ATHENA_MAX_SCAN_GB: '10',
      BILLWATCH_ATHENA_OUTPUT: ATHENA.output,
      BILLWATCH_ATHENA_TABLE: 'cid_data_export.cur2',
      BILLWATCH_ATHENA_WORKGROUP: 'billing',
    })
  })

  it('refuses an S3 location that is not one, or a wildcard in it', () => {
    expect(() => buildTemplate({athena: {...ATHENA, tableLocation: 's3://org-cur/*'}})).toThrow(
      /--table-location: not an S3 location/,
    )
    expect(() => buildTemplate({athena: {...ATHENA, output: 'https://x/'}})).toThrow(/--output: not an S3 location/)
  })

  it('the Lambda reads the same daily egress through Athena as the export holds', async () => {
    const days = ['2024-03-28', '2024-03-29', '2024-03-30'].map((day, i) => ({bytes: {'us-east-1': (i + 1) * GB}, day}))
    const layout = await writeLayout(temp.dir, 'cur2', days)
    const endpoint = await startAthenaEndpoint({
      tables: [{database: 'cid_data_export', name: 'cur2', partitionKeys: layout.partitionKeys, root: layout.root}],
    })
    try {
      const config = configFromEnv({
        BILLWATCH_ATHENA_OUTPUT: ATHENA.output,
        BILLWATCH_ATHENA_TABLE: 'cid_data_export.cur2',
        BILLWATCH_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:alerts',
      })
      expect(config.athena).toEqual({maxScanGb: 10, output: ATHENA.output, table: 'cid_data_export.cur2'})
      const usage = await readAthena(
        config.athena!,
        {end: '2024-03-31', start: '2024-03-28'},
        {credentials: endpoint.credentials, endpoint: endpoint.url, region: 'us-east-1'},
      )
      const egress = usage.rows.filter((r) => r.usageType === 'DataTransfer-Out-Bytes')
      expect(egress.map((r) => [r.day, r.unit])).toEqual(days.map((d) => [d.day, 'bytes']))
      for (const [i, row] of egress.entries()) expect(row.amount).toBeCloseTo((i + 1) * GB, 0)
      expect(usage.athena?.scan.costUsd).toBeGreaterThan(0)
    } finally {
      await endpoint.close()
    }
  }, 120_000)
})

describe('every template schedule writes validates against the CloudFormation and SAM schemas (cfn-lint)', () => {
  it('with and without Athena; a broken template does not', async () => {
    const dirs: string[] = []
    for (const [name, options] of Object.entries(SCHEDULE_VARIANTS)) {
      const dir = join(temp.dir, name)
      const written = await writeSchedule(dir, options)
      dirs.push(written.template)
      // The bundle carries no native module: the Athena reader is store-free.
      const code = new TextDecoder().decode(Object.values(unzipSync(new Uint8Array(readFileSync(written.zip))))[0])
      expect(code).not.toContain('@duckdb')
    }
    const lint = (files: string[]) =>
      spawnSync('cfn-lint', ['--format', 'parseable', ...files], {encoding: 'utf8', timeout: 300_000})
    const good = lint(dirs)
    expect(good.error, 'cfn-lint must be installed (pip cfn-lint, in the machine image)').toBeUndefined()
    expect(good.stdout + good.stderr).toBe('')
    expect(good.status).toBe(0)
    const broken = JSON.parse(readFileSync(dirs[0]!, 'utf8'))
    broken.Resources.WatchLogGroup.Properties.RetentionInDays = 'ninety'
    broken.Resources.WatchFunction.Properties.Runtim = 'nodejs22.x'
    mkdirSync(join(temp.dir, 'broken'), {recursive: true})
    writeFileSync(join(temp.dir, 'broken', 'template.json'), JSON.stringify(broken))
    const bad = lint([join(temp.dir, 'broken', 'template.json')])
    expect(bad.status).not.toBe(0)
    expect(bad.stdout).toMatch(/RetentionInDays|Runtim/)
  }, 600_000)
})
