/**
 * Infrastructure-as-code repositories (real git repositories of Terraform and CloudFormation files), and
 * the sample story from every source at once: one merged candidate citing each, named by explain.
 */
import {spawnSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {correlate} from '../../src/correlate/index.js'
import {loadKnowledge} from '../../src/correlate/knowledge.js'
import type {StepInput} from '../../src/correlate/types.js'
import {NTP_GROUP, NTP_INSTANCE} from '../../samples/scripts/cloud-records.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'
import {commitAt, git, initRepo} from './repo.js'

const MAKE_TERRAFORM_REPO = join(SAMPLES, 'scripts/make-terraform-repo.sh')
const STEP: StepInput = {
  date: '2014-03-30',
  direction: 'up',
  drivers: [NTP_INSTANCE],
  ratio: 2274,
  resourceId: NTP_INSTANCE,
  usageType: 'DataTransfer-Out',
}
const knowledge = loadKnowledge()

function rank(repo: string, step: StepInput = STEP) {
  return correlate({
    aptLogs: [],
    daysAfter: 1,
    daysBefore: 7,
    dpkgLogs: [],
    knowledge,
    limit: 10,
    logZone: 'UTC',
    repo,
    steps: [step],
  })
}

const tmp = tempDir('bw-iac-')
const terraform = join(tmp.dir, 'infra')
beforeAll(() => {
  const made = spawnSync(MAKE_TERRAFORM_REPO, [terraform], {encoding: 'utf8'})
  if (made.status !== 0) throw new Error(made.stderr)
})
afterAll(() => tmp.cleanup())

describe('Terraform repository', () => {
  it('reads the rule from the commit diff and ranks it first; the tag-only commit changes nothing', async () => {
    const result = await rank(terraform)
    const [top, ...rest] = result.steps[0]!.candidates
    expect(top).toMatchObject({source: 'git', subject: 'serve time to the NTP pool', time: '2014-03-29T18:31:09Z'})
    expect(top!.cloud).toContainEqual(
      expect.objectContaining({
        action: 'rule-added',
        instances: [NTP_INSTANCE],
        operation: 'aws_vpc_security_group_ingress_rule.ntp',
        resource: 'aws_security_group.ntp',
        rule: {allow: true, direction: 'ingress', fromPort: 123, peers: ['0.0.0.0/0'], protocol: 'udp', toPort: 123},
      }),
    )
    // The instance (imported as i-0a1b2c3d) got the new group.
    expect(top!.cloud).toContainEqual(
      expect.objectContaining({
        action: 'instance-changed',
        related: expect.arrayContaining([NTP_INSTANCE]),
        resource: NTP_INSTANCE,
      }),
    )
    expect(top!.reason).toMatch(
      /^aws_security_group\.ntp was opened to the world on UDP 123 by ops <ops@example\.com> at 2014-03-29 18:31 UTC, 0\.2 days before egress rose 2274x on i-0a1b2c3d, which this security group protects; UDP 123 is NTP/,
    )
    const ssh = rest.find((c) => c.subject === 'ssh from the office')!
    expect(ssh.cloud).toEqual([
      expect.objectContaining({
        resource: 'sg-0a0a0a0a11112222',
        rule: expect.objectContaining({fromPort: 22, peers: ['203.0.113.0/24']}),
      }),
    ])
    const tags = rest.find((c) => c.subject === 'tag the NTP host')!
    expect(tags.cloud).toBeUndefined()
    expect(tags.score).toBeLessThan(0.15)
  })
})

describe('CloudFormation repository', () => {
  const dir = join(tmp.dir, 'cfn')
  const template = (ingress: string, image: string) => `AWSTemplateFormatVersion: "2010-09-09"
Resources:
  NtpGroup:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: ntp-server
      VpcId: !Ref Vpc
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 22
          ToPort: 22
          CidrIp: 198.51.100.0/24
${ingress}
  NtpHost:
    Type: AWS::EC2::Instance
    Properties:
      ImageId: ${image}
      InstanceType: m1.small
      SecurityGroupIds:
        - !GetAtt NtpGroup.GroupId
      Tags:
        - Key: Name
          Value: !Sub "\${AWS::StackName}-ntp"
`
  const ntp = `        - IpProtocol: udp
          FromPort: 123
          ToPort: 123
          CidrIp: 0.0.0.0/0`
  beforeAll(() => {
    initRepo(dir)
    commitAt(dir, '2014-03-20T10:00:00+00:00', 'ntp stack', {'stacks/ntp.yaml': template('', 'ami-5c3b2a19')})
    commitAt(dir, '2014-03-29T18:30:00+01:00', 'open ntp', {'stacks/ntp.yaml': template(ntp, 'ami-5c3b2a19')})
    commitAt(dir, '2014-04-10T09:00:00+00:00', 'new image', {'stacks/ntp.yaml': template(ntp, 'ami-77aa88bb')})
    commitAt(dir, '2014-04-20T09:00:00+00:00', 'close ntp', {'stacks/ntp.yaml': template('', 'ami-77aa88bb')})
    // The same stack as JSON, to check the JSON reading.
    commitAt(dir, '2014-04-25T09:00:00+00:00', 'json stack', {
      'stacks/web.json': JSON.stringify({
        Resources: {
          Web: {
            Properties: {SecurityGroupIngress: [{CidrIp: '0.0.0.0/0', FromPort: 443, IpProtocol: 'tcp', ToPort: 443}]},
            Type: 'AWS::EC2::SecurityGroup',
          },
        },
      }),
    })
  })

  it('reads YAML with short intrinsic tags: the rule opened, the instance it protects', async () => {
    const top = (await rank(dir, {...STEP, drivers: [], resourceId: null})).steps[0]!.candidates[0]!
    expect(top.subject).toBe('open ntp')
    expect(top.time).toBe('2014-03-29T17:30:00Z')
    expect(top.cloud).toEqual([
      expect.objectContaining({
        action: 'rule-added',
        instances: ['NtpHost'],
        resource: 'NtpGroup',
        rule: expect.objectContaining({fromPort: 123, peers: ['0.0.0.0/0'], protocol: 'udp'}),
      }),
    ])
  })

  it('an image change, a removed rule (first for a fall) and a JSON template', async () => {
    const image = (await rank(dir, {...STEP, date: '2014-04-11'})).steps[0]!.candidates.find(
      (c) => c.subject === 'new image',
    )!
    expect(image.cloud).toEqual([
      expect.objectContaining({action: 'image-changed', related: ['ami-77aa88bb'], resource: 'NtpHost'}),
    ])
    const fall = (await rank(dir, {...STEP, date: '2014-04-21', direction: 'down', drivers: [], resourceId: null}))
      .steps[0]!.candidates[0]!
    expect(fall.subject).toBe('close ntp')
    expect(fall.cloud).toEqual([
      expect.objectContaining({action: 'rule-removed', rule: expect.objectContaining({fromPort: 123})}),
    ])
    expect(fall.reason).toContain('stopped allowing ingress UDP 123 from the world')
    const json = (await rank(dir, {...STEP, date: '2014-04-26', drivers: [], resourceId: null})).steps[0]!
      .candidates[0]!
    expect(json.cloud).toEqual([
      expect.objectContaining({resource: 'Web', rule: expect.objectContaining({fromPort: 443, protocol: 'tcp'})}),
    ])
    expect(git(dir, ['rev-list', '--count', 'HEAD'])).toBe('5')
  })
})

describe('an IaC history read as every other history is (every branch, author time, one change once)', () => {
  const dir = join(tmp.dir, 'cfn-branches')
  const stack = (ingress: string[]) => `Resources:
  NtpGroup:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: ntp-server
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 22
          ToPort: 22
          CidrIp: 198.51.100.0/24
${ingress.join('\n')}
`
  const open = (protocol: string, port: number) => `        - IpProtocol: ${protocol}
          FromPort: ${port}
          ToPort: ${port}
          CidrIp: 0.0.0.0/0`
  let branchCommit = ''
  let merge = ''
  beforeAll(() => {
    initRepo(dir)
    commitAt(dir, '2014-03-20T10:00:00+00:00', 'ntp stack', {'stacks/ntp.yaml': stack([])})
    git(dir, ['branch', 'open-ntp'])
    git(dir, ['branch', 'lab'])
    commitAt(dir, '2014-03-28T10:00:00+00:00', 'readme', {'README.md': 'stacks\n'})
    git(dir, ['checkout', '-q', 'open-ntp'])
    // Rebased: made at 18:30, committed again at 18:45.
    branchCommit = commitAt(
      dir,
      '2014-03-29T18:30:00+00:00',
      'open ntp',
      {'stacks/ntp.yaml': stack([open('udp', 123)])},
      '2014-03-29T18:45:00+00:00',
    )
    git(dir, ['checkout', '-q', 'lab'])
    commitAt(dir, '2014-03-27T09:00:00+00:00', 'lab stack, never merged', {
      'stacks/lab.yaml': stack([open('tcp', 8080)]),
    })
    git(dir, ['checkout', '-q', 'master'])
    // The merge adds an edit of its own (HTTPS) beside the branch's NTP rule.
    const at = {GIT_AUTHOR_DATE: '2014-03-29T19:00:00+00:00', GIT_COMMITTER_DATE: '2014-03-29T19:00:00+00:00'}
    git(dir, ['merge', '-q', '--no-ff', '--no-commit', 'open-ntp'], at)
    writeFileSync(join(dir, 'stacks/ntp.yaml'), stack([open('udp', 123), open('tcp', 443)]))
    git(dir, ['add', '-A'])
    git(dir, ['commit', '-q', '-m', 'merge open-ntp, and https'], at)
    merge = git(dir, ['rev-parse', 'HEAD'])
  })

  it('the branch commit made the NTP rule, dated by its author time and citing the merge; the merge made only its own rule', async () => {
    const candidates = (await rank(dir, {...STEP, drivers: [], resourceId: null})).steps[0]!.candidates
    const ntp = candidates.filter((c) => c.cloud?.some((f) => f.rule?.fromPort === 123))
    expect(ntp).toHaveLength(1)
    expect(ntp[0]).toMatchObject({commit: branchCommit, subject: 'open ntp', time: '2014-03-29T18:30:00Z'})
    expect(ntp[0]!.committerTime).toMatch(/^2014-03-29T18:45:00/)
    expect(ntp[0]!.sameChangeIn).toEqual([expect.objectContaining({commit: merge, relation: 'merge'})])
    expect(candidates[0]!.commit).toBe(branchCommit)
    expect(ntp[0]!.reason).toContain('at 2014-03-29 18:30 UTC (committed 2014-03-29 18:45 UTC)')
    expect(ntp[0]!.reason).toContain(`the same change as merge ${merge.slice(0, 7)}`)
    const merged = candidates.find((c) => c.commit === merge)!
    expect(merged.cloud).toEqual([
      expect.objectContaining({
        action: 'rule-added',
        resource: 'NtpGroup',
        rule: expect.objectContaining({fromPort: 443, protocol: 'tcp'}),
      }),
    ])
    // A branch never merged is read too.
    const lab = candidates.find((c) => c.subject === 'lab stack, never merged')!
    expect(lab.cloud).toContainEqual(expect.objectContaining({rule: expect.objectContaining({fromPort: 8080})}))
  })
})

describe('every source at once', () => {
  it('merges the Terraform commit, the CloudTrail event and the Config item into one candidate citing each, and explain names it', async () => {
    const store = join(tmp.dir, 'store.duckdb')
    const env = {BILLWATCH_DB: store}
    expect((await runCli(['ingest', join(SAMPLES, 'billing/cur1-hourly-2014-03.csv.gz')], {env})).code).toBe(0)
    const run = await runCli(
      [
        'correlate',
        '--repo',
        terraform,
        '--cloudtrail',
        join(SAMPLES, 'cloudtrail'),
        '--aws-config',
        join(SAMPLES, 'aws-config'),
        '--date',
        '2014-03-30',
        '--json',
      ],
      {env},
    )
    expect(run.code).toBe(0)
    const out = run.json()
    const [top] = out.steps[0].candidates
    expect(top).toMatchObject({
      author: 'arn:aws:iam::123456789012:user/ops',
      source: 'cloudtrail',
      time: '2014-03-29T18:40:12Z',
    })
    expect(top.alsoIn).toHaveLength(2)
    expect(top.alsoIn[0]).toMatch(/^aws-config .*SecurityGroup.*#sg-0f1e2d3c4b5a69788@2014-03-29T18:40:51Z$/)
    expect(top.alsoIn[1]).toMatch(/^git [0-9a-f]{7} /)
    expect(top.cloud[0]).toMatchObject({instances: [NTP_INSTANCE], resource: NTP_GROUP, rule: {fromPort: 123}})
    expect(top.reason).toMatch(/recorded by CloudTrail, AWS Config and commit [0-9a-f]{7}/)
    // The rule is one candidate, not three.
    expect(
      out.steps[0].candidates.filter((c: any) => c.cloud?.some((f: any) => f.rule?.fromPort === 123)),
    ).toHaveLength(1)
    expect(out.steps[0].drivers).toEqual([NTP_INSTANCE])

    const human = await runCli(
      [
        'correlate',
        '--cloudtrail',
        join(SAMPLES, 'cloudtrail'),
        '--aws-config',
        join(SAMPLES, 'aws-config'),
        '--date',
        '2014-03-30',
      ],
      {env},
    )
    expect(human.stdout).toContain('cloudtrail + aws-config')
    expect(human.stdout).toContain('CloudTrail')

    const explained = await runCli(['explain'], {env})
    expect(explained.code).toBe(0)
    expect(explained.stdout).toContain(
      'sg-0f1e2d3c4b5a69788 was opened to the world on UDP 123 by arn:aws:iam::123456789012:user/ops at 2014-03-29 18:40 UTC',
    )

    const html = join(tmp.dir, 'report.html')
    expect((await runCli(['report', '--out', html], {env})).code).toBe(0)
    const page = readFileSync(html, 'utf8')
    expect(page).toContain('sg-0f1e2d3c4b5a69788 was opened to the world on UDP 123')
    // The store's correlation is the last run's: CloudTrail and Config, without the repository.
    expect(page).toContain('cloudtrail + aws-config</td>')
  }, 360_000)
})
