/**
 * The cloud readers against hostile JSON (properties): CloudTrail records, AWS Config items and IaC documents of
 * any shape — wrong types, arrays where objects belong, `__proto__` and `constructor` keys, deep nesting — never
 * throw anything but a BillwatchError, and facts come only from records of the shape they are read from.
 */
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {ConfigCollector, itemFromFile, readConfigFiles} from '../../src/correlate/aws-config.js'
import {factsOfRecord, readTrailFiles, TrailCollector, trailRecordOf} from '../../src/correlate/cloudtrail.js'
import {documentFacts} from '../../src/correlate/iac.js'
import type {CloudFact} from '../../src/correlate/types.js'
import {isRecord} from '../../src/core/json.js'
import {isBillwatchError} from '../../src/errors.js'

const WINDOW = {since: Date.parse('2014-03-23T00:00:00Z'), until: Date.parse('2014-03-31T00:00:00Z')}

/** The calls the CloudTrail reader turns into facts (its table), as `source name`. */
const EXTRACTED = [
  ...[
    'AuthorizeSecurityGroupIngress',
    'AuthorizeSecurityGroupEgress',
    'RevokeSecurityGroupIngress',
    'RevokeSecurityGroupEgress',
    'ModifySecurityGroupRules',
    'CreateNetworkAclEntry',
    'ReplaceNetworkAclEntry',
    'DeleteNetworkAclEntry',
    'RunInstances',
    'StartInstances',
    'StopInstances',
    'TerminateInstances',
    'ModifyInstanceAttribute',
    'CreateReplaceRootVolumeTask',
    'AssociateAddress',
    'DisassociateAddress',
    'AttachNetworkInterface',
    'CreateRoute',
    'ReplaceRoute',
    'DeleteRoute',
    'CreateNatGateway',
    'DeleteNatGateway',
    'AttachInternetGateway',
    'DetachInternetGateway',
    'CreateEgressOnlyInternetGateway',
    'DeleteVpcEndpoints',
  ].map((name) => `ec2.amazonaws.com ${name}`),
  ...['CreateListener', 'CreateLoadBalancerListeners', 'DeleteListener'].map(
    (name) => `elasticloadbalancing.amazonaws.com ${name}`,
  ),
  ...['PutBucketPolicy', 'DeleteBucketPublicAccessBlock', 'PutBucketPublicAccessBlock', 'PutBucketAcl'].map(
    (name) => `s3.amazonaws.com ${name}`,
  ),
  ...['CreateDistribution', 'UpdateDistribution'].map((name) => `cloudfront.amazonaws.com ${name}`),
]

/** Keys the readers look for, keys that reach Object.prototype if read carelessly, and any other. */
const KEYS = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'items',
  'item',
  'groupId',
  'groupName',
  'ipPermissions',
  'ipRanges',
  'cidrIp',
  'cidrIpv6',
  'ipProtocol',
  'fromPort',
  'toPort',
  'securityGroupRuleSet',
  'isEgress',
  'instancesSet',
  'instanceId',
  'groupSet',
  'imageId',
  'networkAclId',
  'egress',
  'portRange',
  'from',
  'to',
  'cidrBlock',
  'ruleAction',
  'protocol',
  'routeTableId',
  'gatewayId',
  'vpcId',
  'listeners',
  'loadBalancerName',
  'port',
  'bucketName',
  'bucketPolicy',
  'Statement',
  'Principal',
  'AWS',
  'Effect',
  'x-amz-acl',
  'PublicAccessBlockConfiguration',
  'BlockPublicPolicy',
  'SecurityGroupRule',
  'ModifySecurityGroupRulesRequest',
  'CidrIpv4',
  'natGateway',
  'natGatewayId',
  'distribution',
  'id',
  'configuration',
  'ipPermissionsEgress',
  'entries',
  'ruleNumber',
  'state',
  'name',
  'securityGroups',
  'routes',
  'destinationCidrBlock',
  'attachments',
  'publicIpAddress',
  'Resources',
  'Type',
  'Properties',
  'SecurityGroupIngress',
  'CidrIp',
  'IpProtocol',
  'FromPort',
  'resource',
  'data',
  'import',
  'aws_security_group',
  'ingress',
  'cidr_blocks',
  'from_port',
  'Ref',
  'Fn::GetAtt',
]

/** Values that mean something to a reader, beside arbitrary JSON. */
const MEANINGFUL = [
  'sg-0123456789abcdef0',
  'i-0a1b2c3d4e5f60718',
  'vpc-0123456789abcdef0',
  '0.0.0.0/0',
  '::/0',
  'udp',
  'tcp',
  '-1',
  '17',
  'true',
  'false',
  'Allow',
  '*',
  'deny',
  'AWS::EC2::SecurityGroup',
  'AWS::EC2::Instance',
  'running',
  'b.s3.amazonaws.com',
  'http://acs.amazonaws.com/groups/global/AllUsers',
  'public-read',
  '${aws_security_group.a.id}',
]

/**
 * JSON with the keys above at every level. Objects are built by JSON.parse, as a reader gets them: a
 * `__proto__` key is then an own property, not the prototype.
 */
const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{value: unknown; array: unknown[]; object: unknown}>((tie) => ({
  array: fc.array(tie('value'), {maxLength: 4}),
  object: fc
    .array(fc.tuple(fc.oneof(fc.constantFrom(...KEYS), fc.string({maxLength: 6})), tie('value')), {maxLength: 6})
    .map(
      (entries) =>
        JSON.parse(
          `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(',')}}`,
        ) as unknown,
    ),
  value: fc.oneof(
    {depthSize: 'small', maxDepth: 6},
    fc.constantFrom<unknown>(...MEANINGFUL, null, true, false, 0, 123, -1, 65_535, 70_000, 1.5),
    fc.jsonValue({maxDepth: 2}),
    tie('array'),
    tie('object'),
  ),
})).value

const SG_ID = 'sg-0123456789abcdef0'
const RULE = {fromPort: 123, ipProtocol: 'udp', ipRanges: {items: [{cidrIp: '0.0.0.0/0'}]}, toPort: 123}

/**
 * Well-formed calls as CloudTrail logs them (User Guide, "CloudTrail log file examples"; EC2/ELB/S3 API references).
 */
const WELL_FORMED: {name: string; source: string; request: unknown; response: unknown}[] = [
  {
    name: 'AuthorizeSecurityGroupIngress',
    request: {groupId: SG_ID, ipPermissions: {items: [RULE]}},
    response: {
      securityGroupRuleSet: {
        items: [
          {cidrIpv4: '0.0.0.0/0', fromPort: 123, groupId: SG_ID, ipProtocol: 'udp', isEgress: false, toPort: 123},
        ],
      },
    },
    source: 'ec2.amazonaws.com',
  },
  {
    name: 'RevokeSecurityGroupEgress',
    request: {
      groupName: 'default',
      ipPermissions: {items: {fromPort: -1, ipProtocol: '-1', ipRanges: {items: {cidrIp: '0.0.0.0/0'}}, toPort: -1}},
    },
    response: null,
    source: 'ec2.amazonaws.com',
  },
  {
    name: 'AuthorizeSecurityGroupIngress',
    request: {cidrIp: '0.0.0.0/0', fromPort: 53, groupId: SG_ID, ipPermissions: {}, ipProtocol: 'udp', toPort: 53},
    response: null,
    source: 'ec2.amazonaws.com',
  },
  {
    name: 'ModifySecurityGroupRules',
    request: {
      ModifySecurityGroupRulesRequest: {
        GroupId: SG_ID,
        SecurityGroupRule: {
          SecurityGroupRule: {CidrIpv4: '0.0.0.0/0', FromPort: 123, IpProtocol: 'udp', ToPort: 123},
          SecurityGroupRuleId: 'sgr-0123',
        },
      },
    },
    response: null,
    source: 'ec2.amazonaws.com',
  },
  {
    name: 'CreateNetworkAclEntry',
    request: {
      cidrBlock: '0.0.0.0/0',
      egress: false,
      networkAclId: 'acl-0123456789abcdef0',
      portRange: {from: 123, to: 123},
      protocol: '17',
      ruleAction: 'allow',
      ruleNumber: 100,
    },
    response: null,
    source: 'ec2.amazonaws.com',
  },
  {
    name: 'RunInstances',
    request: {instancesSet: {items: [{imageId: 'ami-0123456789abcdef0'}]}},
    response: {
      instancesSet: {
        items: [
          {
            groupSet: {items: [{groupId: SG_ID}]},
            instanceId: 'i-0a1b2c3d4e5f60718',
            networkInterfaceSet: {items: [{groupSet: {items: [{groupId: SG_ID}]}}]},
          },
        ],
      },
    },
    source: 'ec2.amazonaws.com',
  },
  {
    name: 'ModifyInstanceAttribute',
    request: {groupSet: {items: [{groupId: SG_ID}]}, instanceId: 'i-0a1b2c3d4e5f60718'},
    response: null,
    source: 'ec2.amazonaws.com',
  },
  {
    name: 'CreateRoute',
    request: {
      destinationCidrBlock: '0.0.0.0/0',
      gatewayId: 'igw-0123456789abcdef0',
      routeTableId: 'rtb-0123456789abcdef0',
    },
    response: null,
    source: 'ec2.amazonaws.com',
  },
  {
    name: 'CreateNatGateway',
    request: {subnetId: 'subnet-0123456789abcdef0'},
    response: {CreateNatGatewayResponse: {natGateway: {natGatewayId: 'nat-0123456789abcdef0'}}},
    source: 'ec2.amazonaws.com',
  },
  {
    name: 'CreateListener',
    request: {
      loadBalancerArn: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/a/1',
      port: 123,
      protocol: 'UDP',
    },
    response: {listeners: [{listenerArn: 'arn:l'}]},
    source: 'elasticloadbalancing.amazonaws.com',
  },
  {
    name: 'CreateLoadBalancerListeners',
    request: {listeners: [{loadBalancerPort: 123, protocol: 'UDP'}], loadBalancerName: 'lb'},
    response: null,
    source: 'elasticloadbalancing.amazonaws.com',
  },
  {
    name: 'PutBucketPolicy',
    request: {bucketName: 'b', bucketPolicy: {Statement: [{Effect: 'Allow', Principal: {AWS: ['*']}}]}},
    response: null,
    source: 's3.amazonaws.com',
  },
  {
    name: 'PutBucketPublicAccessBlock',
    request: {PublicAccessBlockConfiguration: {BlockPublicPolicy: false}, bucketName: 'b'},
    response: null,
    source: 's3.amazonaws.com',
  },
  {
    name: 'CreateDistribution',
    request: {DistributionConfig: {Origins: {Items: [{DomainName: 'b.s3.amazonaws.com'}]}}},
    response: {distribution: {id: 'E123'}},
    source: 'cloudfront.amazonaws.com',
  },
]

/** Every path to a value inside a JSON value (the value itself first). */
function pathsIn(value: unknown): string[][] {
  const out: string[][] = []
  const walk = (at: unknown, path: string[]) => {
    out.push(path)
    if (at !== null && typeof at === 'object')
      for (const [key, inner] of Object.entries(at)) walk(inner, [...path, key])
  }
  walk(value, [])
  return out
}

/** The value with what is at `path` replaced (a copy; arrays stay arrays). */
function replaceAt(value: unknown, path: string[], replacement: unknown): unknown {
  if (path.length === 0) return replacement
  const copy = (Array.isArray(value) ? [...value] : {...(value as Record<string, unknown>)}) as Record<string, unknown>
  const [key, ...rest] = path as [string, ...string[]]
  copy[key] = replaceAt(copy[key], rest, replacement)
  return copy
}

/** A well-formed call with one part of its parameters or response (any depth) replaced by hostile JSON. */
const nearlyWellFormed = fc
  .record({call: fc.constantFrom(...WELL_FORMED), pick: fc.nat(), replacement: hostileJson, side: fc.boolean()})
  .map(({call, pick, replacement, side}) => {
    const target = side ? call.request : call.response
    const paths = pathsIn(target)
    const changed = replaceAt(target, paths[pick % paths.length]!, replacement)
    const record: Record<string, unknown> = {
      eventName: call.name,
      eventSource: call.source,
      eventTime: '2014-03-29T18:40:12Z',
      requestParameters: side ? changed : call.request,
      responseElements: side ? call.response : changed,
    }
    return record
  })

/** A CloudTrail record: mostly of a call the reader knows, with hostile parameters; sometimes wrong types anywhere. */
const trailRecordJson = fc.record(
  {
    awsRegion: fc.oneof(fc.constant('us-east-1'), hostileJson),
    errorCode: fc.oneof(fc.constant(undefined), hostileJson),
    eventID: fc.oneof(fc.uuid(), hostileJson),
    eventName: fc.oneof(fc.constantFrom(...EXTRACTED.map((key) => key.split(' ')[1]!)), hostileJson),
    eventSource: fc.oneof(
      fc.constantFrom(
        'ec2.amazonaws.com',
        'elasticloadbalancing.amazonaws.com',
        's3.amazonaws.com',
        'cloudfront.amazonaws.com',
      ),
      hostileJson,
    ),
    eventTime: fc.oneof(
      fc.integer({max: WINDOW.until - 1, min: WINDOW.since}).map((ms) => new Date(ms).toISOString()),
      hostileJson,
    ),
    readOnly: fc.oneof(fc.constant(false), hostileJson),
    requestParameters: hostileJson,
    responseElements: hostileJson,
    userIdentity: hostileJson,
  },
  {requiredKeys: ['eventName', 'eventSource', 'eventTime']},
)

/** Names are strings a reader can know: never a value of another type printed ('undefined', '[object Object]'). */
function expectWellFormed(facts: CloudFact[]): void {
  for (const f of facts) {
    for (const text of [
      f.resource,
      f.operation,
      f.resourceType,
      ...f.related,
      ...f.instances,
      ...(f.rule?.peers ?? []),
    ]) {
      expect(typeof text).toBe('string')
      expect(text).not.toMatch(/\[object |^undefined$|^null$/)
    }
    for (const port of [f.rule?.fromPort ?? null, f.rule?.toPort ?? null])
      if (port !== null) expect(Number.isInteger(port) && port >= 0 && port <= 65_535).toBe(true)
  }
}

/**
 * Writes each document to a file and reads it: a refusal must be billwatch's own error (one line naming the
 * file), never a TypeError or RangeError. (A document that does not start with `{` is read by the CloudTrail
 * reader as a query-result CSV: also read or refused.)
 */
function readOrRefuseFiles(name: string, documents: fc.Arbitrary<unknown>, read: (file: string) => unknown): void {
  const file = join(mkdtempSync(join(tmpdir(), 'bw-hostile-')), name)
  fc.assert(
    fc.property(documents, (document) => {
      writeFileSync(file, JSON.stringify(document) ?? 'null')
      try {
        read(file)
      } catch (error) {
        expect(isBillwatchError(error), String(error)).toBe(true)
      }
    }),
    {numRuns: 300},
  )
}

describe('CloudTrail records of any shape', () => {
  it('facts only from a call the reader knows, named by strings, and no throw (property)', () => {
    fc.assert(
      fc.property(fc.oneof(trailRecordJson, nearlyWellFormed), (json) => {
        const record = trailRecordOf(JSON.parse(JSON.stringify(json)))!
        const facts = factsOfRecord(record)
        expectWellFormed(facts)
        if (facts.length > 0) {
          // Only a successful write call of the table, named by strings in the record itself.
          expect(EXTRACTED).toContain(`${json.eventSource as string} ${json.eventName as string}`)
          expect(json.errorCode === undefined || typeof json.errorCode !== 'string' || json.errorCode === '').toBe(true)
        }
      }),
      {numRuns: 2_000},
    )
  })

  it('a record that is not an object, or names its call with values of another type, gives nothing (property)', () => {
    fc.assert(
      fc.property(hostileJson, fc.constantFrom(...EXTRACTED), (value, call) => {
        const [source, name] = call.split(' ')
        if (!isRecord(value)) expect(trailRecordOf(value)).toBeUndefined()
        // The right names, but inside an array or an object: not this call.
        const wrapped = trailRecordOf({
          eventName: [name],
          eventSource: {source},
          eventTime: '2014-03-29T18:40:12Z',
          requestParameters: value,
        })!
        expect(factsOfRecord(wrapped)).toEqual([])
        const failed = trailRecordOf({
          errorCode: 'Client.UnauthorizedOperation',
          eventName: name,
          eventSource: source,
          eventTime: '2014-03-29T18:40:12Z',
          requestParameters: value,
        })!
        expect(factsOfRecord(failed)).toEqual([])
      }),
      {numRuns: 500},
    )
  })

  it('the collector takes any list of records without throwing, counting only objects in the window (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(trailRecordJson, hostileJson), {maxLength: 12}), (list) => {
        const collector = new TrailCollector(WINDOW)
        for (const value of JSON.parse(JSON.stringify(list)) as unknown[]) {
          const record = trailRecordOf(value)
          if (record) collector.add(record, 'test')
        }
        const result = collector.result()
        expect(result.eventsRead).toBeLessThanOrEqual(list.filter(isRecord).length)
        for (const change of result.changes) expectWellFormed(change.cloud ?? [])
      }),
      {numRuns: 500},
    )
  })

  it('log files of any JSON are read or refused with a BillwatchError (property)', () => {
    const documents = fc.oneof(
      hostileJson,
      fc.record({Records: fc.array(fc.oneof(trailRecordJson, hostileJson), {maxLength: 6})}),
      fc.record({
        Events: fc.array(
          fc.oneof(
            fc.record({
              CloudTrailEvent: fc.oneof(
                trailRecordJson.map((r) => JSON.stringify(r)),
                hostileJson.map((v) => JSON.stringify(v)),
                hostileJson,
              ),
            }),
            hostileJson,
          ),
          {maxLength: 6},
        ),
      }),
    )
    readOrRefuseFiles('trail.json', documents, (file) => readTrailFiles(file, WINDOW))
  })

  it('parameters nested 200,000 levels deep do not overflow the stack', () => {
    const depth = 200_000
    const deep = `${'{"a":['.repeat(depth)}"sg-0123456789abcdef0"${']}'.repeat(depth)}`
    for (const name of ['CreateNatGateway', 'PutBucketAcl', 'CreateDistribution', 'DeleteVpcEndpoints']) {
      const source =
        name === 'PutBucketAcl'
          ? 's3.amazonaws.com'
          : name === 'CreateDistribution'
            ? 'cloudfront.amazonaws.com'
            : 'ec2.amazonaws.com'
      const record = trailRecordOf(
        JSON.parse(`{"eventName":"${name}","eventSource":"${source}","requestParameters":${deep}}`),
      )!
      expect(() => factsOfRecord(record)).not.toThrow()
    }
    const natCreated = trailRecordOf(
      JSON.parse(`{"eventName":"CreateNatGateway","eventSource":"ec2.amazonaws.com","requestParameters":${deep}}`),
    )!
    expect(factsOfRecord(natCreated)[0]!.related).toEqual(['sg-0123456789abcdef0'])
  })
})

const CONFIG_TYPES = [
  'AWS::EC2::SecurityGroup',
  'AWS::EC2::Instance',
  'AWS::EC2::EIP',
  'AWS::EC2::RouteTable',
  'AWS::EC2::NetworkAcl',
  'AWS::EC2::NatGateway',
  'AWS::EC2::InternetGateway',
  'AWS::EC2::VPCEndpoint',
  'AWS::EC2::NetworkInterface',
]

const configItemJson = fc.record(
  {
    awsRegion: fc.oneof(fc.constant('us-east-1'), hostileJson),
    configuration: fc.oneof(
      hostileJson,
      hostileJson.map((v) => JSON.stringify(v)),
    ),
    configurationItemCaptureTime: fc.oneof(
      fc.integer({max: WINDOW.until - 1, min: WINDOW.since - 86_400_000}).map((ms) => new Date(ms).toISOString()),
      hostileJson,
    ),
    configurationItemStatus: fc.oneof(fc.constantFrom('OK', 'ResourceDiscovered', 'ResourceDeleted'), hostileJson),
    configurationStateId: fc.oneof(fc.nat(), hostileJson),
    relationships: hostileJson,
    resourceId: fc.oneof(fc.constantFrom('sg-0123456789abcdef0', 'i-0a1b2c3d4e5f60718'), hostileJson),
    resourceType: fc.oneof(fc.constantFrom(...CONFIG_TYPES, 'AWS::S3::Bucket'), hostileJson),
  },
  {requiredKeys: ['resourceId', 'resourceType']},
)

/** Configurations of the types read, as Config records them (Developer Guide, "Example configuration history"). */
const WELL_FORMED_CONFIGURATIONS: {resourceType: string; resourceId: string; configuration: unknown}[] = [
  {
    configuration: {
      groupId: SG_ID,
      ipPermissions: [
        {
          fromPort: 123,
          ipProtocol: 'udp',
          ipRanges: ['0.0.0.0/0'],
          ipv4Ranges: [{cidrIp: '0.0.0.0/0'}],
          toPort: 123,
          userIdGroupPairs: [{groupId: SG_ID}],
        },
      ],
      ipPermissionsEgress: [],
    },
    resourceId: SG_ID,
    resourceType: 'AWS::EC2::SecurityGroup',
  },
  {
    configuration: {
      imageId: 'ami-0123456789abcdef0',
      publicIpAddress: '203.0.113.7',
      securityGroups: [{groupId: SG_ID}],
      state: {name: 'running'},
    },
    resourceId: 'i-0a1b2c3d4e5f60718',
    resourceType: 'AWS::EC2::Instance',
  },
  {
    configuration: {
      entries: [
        {
          cidrBlock: '0.0.0.0/0',
          egress: false,
          portRange: {from: 123, to: 123},
          protocol: '17',
          ruleAction: 'allow',
          ruleNumber: 100,
        },
      ],
    },
    resourceId: 'acl-0123456789abcdef0',
    resourceType: 'AWS::EC2::NetworkAcl',
  },
  {
    configuration: {routes: [{destinationCidrBlock: '0.0.0.0/0', gatewayId: 'igw-0123456789abcdef0'}]},
    resourceId: 'rtb-0123456789abcdef0',
    resourceType: 'AWS::EC2::RouteTable',
  },
  {
    configuration: {instanceId: 'i-0a1b2c3d4e5f60718', publicIp: '203.0.113.7'},
    resourceId: 'eipalloc-0123456789abcdef0',
    resourceType: 'AWS::EC2::EIP',
  },
  {
    configuration: {attachments: [{vpcId: 'vpc-0123456789abcdef0'}]},
    resourceId: 'igw-0123456789abcdef0',
    resourceType: 'AWS::EC2::InternetGateway',
  },
]

/** The item before (empty) and after a change, the after's configuration with one part replaced by hostile JSON. */
const nearlyWellFormedItems = fc
  .record({item: fc.constantFrom(...WELL_FORMED_CONFIGURATIONS), pick: fc.nat(), replacement: hostileJson})
  .map(({item, pick, replacement}) => {
    const paths = pathsIn(item.configuration)
    const base = {
      awsRegion: 'us-east-1',
      configurationItemStatus: 'OK',
      relationships: [
        {relationshipName: 'Is associated with', resourceId: 'i-0a1b2c3d4e5f60718', resourceType: 'AWS::EC2::Instance'},
      ],
      resourceId: item.resourceId,
      resourceType: item.resourceType,
    }
    return [
      {...base, configuration: {}, configurationItemCaptureTime: '2014-03-24T00:00:00Z', configurationStateId: 1},
      {
        ...base,
        configuration: replaceAt(item.configuration, paths[pick % paths.length]!, replacement),
        configurationItemCaptureTime: '2014-03-29T18:40:51Z',
        configurationStateId: 2,
      },
    ] as unknown[]
  })

describe('AWS Config items of any shape', () => {
  it('an item is read only with a string type and id; facts only for the types whose history can say why egress moved (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.array(fc.oneof(configItemJson, hostileJson), {maxLength: 8}), nearlyWellFormedItems),
        (list) => {
          const collector = new ConfigCollector(WINDOW)
          for (const value of JSON.parse(JSON.stringify(list)) as unknown[]) {
            const item = itemFromFile(value)
            if (!isRecord(value) || typeof value.resourceType !== 'string' || typeof value.resourceId !== 'string')
              expect(item).toBeUndefined()
            if (item) collector.add(item, 'test')
          }
          const result = collector.result()
          for (const change of result.changes) {
            expectWellFormed(change.cloud ?? [])
            for (const f of change.cloud ?? []) expect(CONFIG_TYPES).toContain(f.operation.replace('AWS Config ', ''))
          }
        },
      ),
      {numRuns: 1_000},
    )
  })

  it('history files of any JSON are read or refused with a BillwatchError (property)', () => {
    const documents = fc.oneof(
      hostileJson,
      fc.record({configurationItems: fc.array(fc.oneof(configItemJson, hostileJson), {maxLength: 6})}),
    )
    readOrRefuseFiles('history.json', documents, (file) => readConfigFiles(file, WINDOW))
  })
})

describe('Terraform and CloudFormation documents of any shape', () => {
  const terraform = fc.oneof(
    hostileJson,
    fc.record({
      import: hostileJson,
      resource: fc.dictionary(
        fc.constantFrom('aws_security_group', 'aws_instance', 'aws_route', 'aws_lb_listener', 'aws_eip', '__proto__'),
        fc.dictionary(fc.string({maxLength: 4}), fc.oneof(fc.array(hostileJson, {maxLength: 2}), hostileJson)),
      ),
    }),
  )
  const template = fc.oneof(
    hostileJson,
    fc.record({
      Resources: fc.dictionary(
        fc.string({maxLength: 4}),
        fc.oneof(
          fc.record({
            Properties: hostileJson,
            Type: fc.constantFrom(
              'AWS::EC2::SecurityGroup',
              'AWS::EC2::Instance',
              'AWS::EC2::Route',
              'AWS::S3::Bucket',
              'AWS::EC2::NetworkAclEntry',
            ),
          }),
          hostileJson,
        ),
      ),
    }),
  )

  it('no throw, names as strings, and nothing from a document without resources (property)', () => {
    // Terraform as hcl2json gives it declares under `resource`, a template under `Resources`.
    for (const [kind, documents, key] of [
      ['terraform', terraform, 'resource'],
      ['cloudformation', template, 'Resources'],
    ] as const) {
      fc.assert(
        fc.property(documents, documents, (before, after) => {
          const [b, a] = JSON.parse(JSON.stringify([before, after])) as unknown[]
          expectWellFormed(documentFacts(kind, b, a))
          if (!isRecord(a) || !isRecord(a[key])) expect(documentFacts(kind, {}, a)).toEqual([])
        }),
        {numRuns: 500},
      )
    }
  })
})
