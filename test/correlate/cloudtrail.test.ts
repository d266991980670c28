/**
 * CloudTrail as a source of changes: log files as delivered to S3, Lake/Athena CSVs, the shapes EC2,
 * ELB and S3 log their requests in, and the ranking among hundreds of events that change nothing.
 */
import {mkdtempSync, mkdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {gzipSync} from 'node:zlib'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {factsOfRecord, readTrailFiles} from '../../src/correlate/cloudtrail.js'
import {correlate} from '../../src/correlate/index.js'
import {loadKnowledge} from '../../src/correlate/knowledge.js'
import type {StepInput} from '../../src/correlate/types.js'
import {isBillwatchError} from '../../src/errors.js'
import {
  authorize,
  deliver,
  noiseEvents,
  NTP_GROUP,
  NTP_INSTANCE,
  runInstances,
  setInstanceGroups,
  trailRecord,
} from '../../samples/scripts/cloud-records.js'
import {storyEvents} from '../../samples/scripts/make-cloud-samples.js'
import {SAMPLES} from '../helpers/cli.js'

const SAMPLE_TRAIL = join(SAMPLES, 'cloudtrail')
const STEP: StepInput = {
  date: '2014-03-30',
  direction: 'up',
  drivers: [NTP_INSTANCE],
  ratio: 2274,
  regions: ['us-east-1'],
  resourceId: NTP_INSTANCE,
  usageType: 'DataTransfer-Out',
}
const WINDOW = {since: Date.parse('2014-03-23T00:00:00Z'), until: Date.parse('2014-03-31T00:00:00Z')}
const knowledge = loadKnowledge()

function rank(path: string, step: StepInput = STEP) {
  return correlate({
    aptLogs: [],
    cloudtrail: {path},
    daysAfter: 1,
    daysBefore: 7,
    dpkgLogs: [],
    knowledge,
    limit: 50,
    logZone: 'UTC',
    repo: null,
    steps: [step],
  })
}

/** Writes records as CloudTrail delivers them (S3 layout, gzip) into a new folder. */
function writeTrail(records: Record<string, unknown>[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'bw-trail-'))
  for (const [path, list] of deliver(records)) {
    mkdirSync(dirname(join(dir, path)), {recursive: true})
    writeFileSync(join(dir, path), gzipSync(JSON.stringify({Records: list})))
  }
  return dir
}

describe('CloudTrail log files', () => {
  it('ranks the UDP 123 ingress change first in the sample folder, with who, when, what and why', async () => {
    const result = await rank(SAMPLE_TRAIL)
    const [top, second] = result.steps[0]!.candidates
    expect(top).toMatchObject({
      author: 'arn:aws:iam::123456789012:user/ops',
      source: 'cloudtrail',
      time: '2014-03-29T18:40:12Z',
    })
    expect(top!.cloud).toEqual([
      expect.objectContaining({
        action: 'rule-added',
        instances: [NTP_INSTANCE],
        region: 'us-east-1',
        resource: NTP_GROUP,
        rule: {allow: true, direction: 'ingress', fromPort: 123, peers: ['0.0.0.0/0'], protocol: 'udp', toPort: 123},
      }),
    ])
    expect(top!.reason).toBe(
      'sg-0f1e2d3c4b5a69788 was opened to the world on UDP 123 by arn:aws:iam::123456789012:user/ops at 2014-03-29 18:40 UTC, 0.2 days before egress rose 2274x on i-0a1b2c3d, which this security group protects; UDP 123 is NTP: an NTP server open to the world is found by the NTP pool and by scanners, and every answer is egress',
    )
    expect(top!.services).toContain('ntp')
    expect(second!.score).toBeLessThan(top!.score)
    // The event delivered twice is one candidate; the digest file is not read as events.
    expect(
      result.steps[0]!.candidates.filter((c) => c.time === '2014-03-29T18:40:12Z' && c.cloud?.[0]?.rule),
    ).toHaveLength(1)
    expect(result.cloudtrail).toMatchObject({eventsRead: 358, regions: ['us-east-1']})
  })

  it('never makes a candidate of a read, a sign-in, a tag change or a failed call', async () => {
    const noise = noiseEvents(500, WINDOW.since, WINDOW.until, 11).map(trailRecord)
    const result = readTrailFiles(writeTrail(noise), WINDOW)
    expect(result.eventsRead).toBe(500)
    expect(result.changes).toEqual([])
  })

  it('puts the egress-relevant change first among hundreds of unrelated events, whatever they are (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({max: 600, min: 100}),
        fc.integer({max: 1e6, min: 1}),
        fc.integer({max: 3 * 86_400, min: 3600}),
        async (count, seed, secondsBefore) => {
          // Anywhere in the lag NTP implies (up to 3 days before the step day), the decoy nearer the step.
          const time = new Date(Date.parse('2014-03-30T00:00:00Z') - secondsBefore * 1000)
            .toISOString()
            .replace(/\.\d{3}Z$/, 'Z')
          const records = [
            ...noiseEvents(count, WINDOW.since, WINDOW.until, seed),
            authorize({cidr: '0.0.0.0/0', from: 123, group: NTP_GROUP, protocol: 'udp', time, to: 123}),
            setInstanceGroups(time, NTP_INSTANCE, [NTP_GROUP]),
            // A decoy on another instance: an SSH rule from an office range.
            authorize({
              cidr: '203.0.113.0/24',
              from: 22,
              group: 'sg-0ddddddd44445555',
              protocol: 'tcp',
              time: '2014-03-29T09:00:00Z',
              to: 22,
            }),
          ].map(trailRecord)
          const result = await rank(writeTrail(records))
          const candidates = result.steps[0]!.candidates
          expect(candidates[0]!.cloud?.[0]?.rule?.fromPort).toBe(123)
          // Only the three changes are candidates: no read, sign-in, tag or failed call.
          expect(candidates.map((c) => c.cloud?.[0]?.operation).sort()).toEqual([
            'AuthorizeSecurityGroupIngress',
            'AuthorizeSecurityGroupIngress',
            'ModifyInstanceAttribute',
          ])
        },
      ),
      {numRuns: 8},
    )
  }, 120_000)

  it('reads a CloudTrail Lake / Athena result CSV to the same top change', async () => {
    const records = storyEvents().map(trailRecord)
    const athena = [
      'eventversion,useridentity,eventtime,eventsource,eventname,awsregion,errorcode,requestparameters,responseelements,eventid,readonly',
      ...records.map((r) =>
        [
          r.eventVersion,
          `{type=IAMUser, principalid=AIDAEXAMPLEOPS000001, arn=${(r.userIdentity as any).arn}, accountid=123456789012}`,
          r.eventTime,
          r.eventSource,
          r.eventName,
          r.awsRegion,
          '',
          JSON.stringify(r.requestParameters),
          JSON.stringify(r.responseElements),
          r.eventID,
          r.readOnly,
        ]
          .map((v) => `"${String(v).replaceAll('"', '""')}"`)
          .join(','),
      ),
    ].join('\n')
    const dir = mkdtempSync(join(tmpdir(), 'bw-athena-'))
    writeFileSync(join(dir, 'result.csv'), athena)
    const top = (await rank(join(dir, 'result.csv'))).steps[0]!.candidates[0]!
    expect(top.cloud?.[0]).toMatchObject({
      instances: [NTP_INSTANCE],
      resource: NTP_GROUP,
      rule: {fromPort: 123, protocol: 'udp'},
    })
    expect(top.author).toBe('arn:aws:iam::123456789012:user/ops')
    // Lake: the whole record in one column, times as "2014-03-29 18:40:12.000".
    writeFileSync(
      join(dir, 'lake.csv'),
      [
        'eventTime,CloudTrailEvent',
        ...records.map(
          (r) =>
            `"${String(r.eventTime).replace('T', ' ').replace('Z', '.000')}","${JSON.stringify(r).replaceAll('"', '""')}"`,
        ),
      ].join('\n'),
    )
    expect((await rank(join(dir, 'lake.csv'))).steps[0]!.candidates[0]!.cloud?.[0]?.rule?.fromPort).toBe(123)
  })

  it('names the file and what was expected for input that is not CloudTrail', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bw-bad-'))
    writeFileSync(join(dir, 'x.json'), '{"Items": []}')
    let error: unknown
    try {
      readTrailFiles(join(dir, 'x.json'), WINDOW)
    } catch (e) {
      error = e
    }
    expect(isBillwatchError(error)).toBe(true)
    expect((error as Error).message).toMatch(/x\.json.*Records/)
    writeFileSync(join(dir, 'y.csv'), 'a,b\n1,2\n')
    expect(() => readTrailFiles(join(dir, 'y.csv'), WINDOW)).toThrow(/y\.csv.*eventTime/)
    writeFileSync(join(dir, 'z.json.gz'), gzipSync('{"Records": [').subarray(0, 20))
    expect(() => readTrailFiles(join(dir, 'z.json.gz'), WINDOW)).toThrow(/z\.json\.gz/)
    const empty = mkdtempSync(join(tmpdir(), 'bw-empty-'))
    expect(() => readTrailFiles(empty, WINDOW)).toThrow(/no CloudTrail log files/)
  })
})

describe('request shapes', () => {
  const facts = (name: string, request: unknown, response: unknown = null, source = 'ec2.amazonaws.com') =>
    factsOfRecord(trailRecord({name, request, response, source, time: '2014-03-29T18:40:12Z'}))

  it('security-group rules: item lists, the legacy flat form, a flattened item, groupName, ModifySecurityGroupRules', () => {
    const items = facts('AuthorizeSecurityGroupIngress', {
      groupId: 'sg-0123456789abcdef0',
      ipPermissions: {
        items: [
          {
            fromPort: 8000,
            ipProtocol: 'tcp',
            ipRanges: {items: [{cidrIp: '0.0.0.0/0'}]},
            ipv6Ranges: {items: [{cidrIpv6: '::/0'}]},
            prefixListIds: {},
            toPort: 8100,
          },
        ],
      },
    })
    expect(items[0]!.rule).toEqual({
      allow: true,
      direction: 'ingress',
      fromPort: 8000,
      peers: ['0.0.0.0/0', '::/0'],
      protocol: 'tcp',
      toPort: 8100,
    })
    const flat = facts('AuthorizeSecurityGroupIngress', {
      cidrIp: '0.0.0.0/0',
      fromPort: 53,
      groupId: 'sg-0123456789abcdef0',
      ipPermissions: {},
      ipProtocol: 'udp',
      toPort: 53,
    })
    expect(flat[0]!.rule).toMatchObject({fromPort: 53, peers: ['0.0.0.0/0'], protocol: 'udp'})
    const flattened = facts('RevokeSecurityGroupEgress', {
      groupName: 'default',
      ipPermissions: {items: {fromPort: -1, ipProtocol: '-1', ipRanges: {items: {cidrIp: '0.0.0.0/0'}}, toPort: -1}},
    })
    expect(flattened[0]).toMatchObject({
      action: 'rule-removed',
      resource: 'default',
      rule: {direction: 'egress', fromPort: null, protocol: 'all'},
    })
    const modified = facts('ModifySecurityGroupRules', {
      ModifySecurityGroupRulesRequest: {
        GroupId: 'sg-0123456789abcdef0',
        SecurityGroupRule: {
          SecurityGroupRule: {CidrIpv4: '0.0.0.0/0', FromPort: 123, IpProtocol: 'udp', ToPort: 123},
          SecurityGroupRuleId: 'sgr-0123',
          tag: 1,
        },
      },
    })
    expect(modified[0]!.rule).toMatchObject({fromPort: 123, peers: ['0.0.0.0/0'], protocol: 'udp'})
    const acl = facts('CreateNetworkAclEntry', {
      cidrBlock: '0.0.0.0/0',
      egress: false,
      networkAclId: 'acl-0123456789abcdef0',
      portRange: {from: 123, to: 123},
      protocol: '17',
      ruleAction: 'allow',
      ruleNumber: 100,
    })
    expect(acl[0]).toMatchObject({resource: 'acl-0123456789abcdef0', rule: {fromPort: 123, protocol: 'udp'}})
  })

  it('instances, addresses, routes, NAT, listeners, buckets and endpoints', () => {
    expect(
      facts(
        'RunInstances',
        runInstances('2014-03-29T18:40:12Z', 'i-0123456789abcdef0', 'ami-0abcdef1', [NTP_GROUP]).request,
        runInstances('2014-03-29T18:40:12Z', 'i-0123456789abcdef0', 'ami-0abcdef1', [NTP_GROUP]).response,
      )[0],
    ).toMatchObject({
      action: 'instance-launched',
      related: ['ami-0abcdef1', NTP_GROUP],
      resource: 'i-0123456789abcdef0',
    })
    expect(
      facts(
        'AssociateAddress',
        {allocationId: 'eipalloc-0123456789abcdef0', allowReassociation: false, instanceId: NTP_INSTANCE},
        {associationId: 'eipassoc-0123456789abcdef0'},
      )[0],
    ).toMatchObject({action: 'address-associated', resource: NTP_INSTANCE})
    expect(
      facts('CreateRoute', {
        destinationCidrBlock: '0.0.0.0/0',
        natGatewayId: 'nat-0123456789abcdef0',
        routeTableId: 'rtb-0123456789abcdef0',
      })[0],
    ).toMatchObject({
      action: 'route-changed',
      related: ['nat-0123456789abcdef0', '0.0.0.0/0'],
      resource: 'rtb-0123456789abcdef0',
    })
    expect(
      facts(
        'CreateNatGateway',
        {CreateNatGatewayRequest: {AllocationId: 'eipalloc-0123456789abcdef0', SubnetId: 'subnet-0123456789abcdef0'}},
        {CreateNatGatewayResponse: {natGateway: {natGatewayId: 'nat-0123456789abcdef0'}}},
      )[0],
    ).toMatchObject({action: 'nat-created', resource: 'nat-0123456789abcdef0'})
    expect(
      facts(
        'CreateListener',
        {
          defaultActions: [{targetGroupArn: 'arn:tg', type: 'forward'}],
          loadBalancerArn: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/1',
          port: 443,
          protocol: 'HTTPS',
        },
        null,
        'elasticloadbalancing.amazonaws.com',
      )[0],
    ).toMatchObject({action: 'listener-added', listener: {port: 443, protocol: 'https'}})
    expect(
      facts(
        'PutBucketPublicAccessBlock',
        {
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: false,
            BlockPublicPolicy: false,
            IgnorePublicAcls: false,
            RestrictPublicBuckets: false,
          },
          bucketName: 'media',
        },
        null,
        's3.amazonaws.com',
      )[0],
    ).toMatchObject({action: 'public-access-opened', resource: 'media'})
    expect(
      facts(
        'PutBucketPublicAccessBlock',
        {
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          bucketName: 'media',
        },
        null,
        's3.amazonaws.com',
      ),
    ).toEqual([])
    expect(
      facts('DeleteVpcEndpoints', {
        DeleteVpcEndpointsRequest: {VpcEndpointId: {content: 'vpce-0123456789abcdef0', tag: 1}},
      })[0],
    ).toMatchObject({
      action: 'endpoint-removed',
      resource: 'vpce-0123456789abcdef0',
    })
    // Same name, other service: API Gateway's CreateRoute is not a VPC route.
    expect(facts('CreateRoute', {apiId: 'a1', routeKey: 'GET /'}, null, 'apigateway.amazonaws.com')).toEqual([])
  })
})
