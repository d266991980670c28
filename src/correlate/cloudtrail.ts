/**
 * CloudTrail management events as changes to the account: from log files as delivered to S3, from a
 * CloudTrail Lake or Athena query result CSV, or from the LookupEvents API.
 *
 * Record fields and shapes: AWS CloudTrail User Guide, "CloudTrail record contents"
 * (docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html),
 * "CloudTrail log file examples", and the EC2 / ELB / S3 API references for requestParameters; see
 * /work/shared/research/flows-and-trails.md §3 for the shapes this reads.
 */
import {readdirSync} from 'node:fs'
import {basename, join} from 'node:path'

import {CloudTrailClient, LookupEventsCommand} from '@aws-sdk/client-cloudtrail'
import Papa from 'papaparse'

import {allPages, type AwsConnection, callAws, clientConfig, paceAttempts} from '../aws/clients.js'
import {
  arrayAt,
  field,
  firstString,
  isRecord,
  type JsonRecord,
  namesOf,
  recordAt,
  stringAt,
  stringsIn,
  stringsOf,
} from '../core/json.js'
import {BillwatchError} from '../errors.js'
import {accountChange, fact, factSubject, statSource, isResourceId, resourceIds, rule} from './cloud.js'
import {readLogText} from './package-logs.js'
import {isoSeconds} from './time.js'
import type {Change, CloudAction, CloudFact, NetworkRule} from './types.js'

/** A CloudTrail record as the log files hold it (only the fields read here). */
export interface TrailRecord {
  eventID?: string | undefined
  eventTime?: string | undefined
  eventSource?: string | undefined
  eventName?: string | undefined
  eventType?: string | undefined
  awsRegion?: string | undefined
  readOnly?: boolean | string | undefined
  errorCode?: string | undefined
  userIdentity?: TrailIdentity | undefined
  /**
   * The call's parameters and response as logged: JSON of whatever shape the service chose, read with src/core/json.
   */
  requestParameters?: unknown
  responseElements?: unknown
}

interface TrailIdentity {
  type?: string | undefined
  arn?: string | undefined
  userName?: string | undefined
  invokedBy?: string | undefined
  sessionIssuerArn?: string | undefined
}

/**
 * A record parsed from JSON: the fields read here, each kept only when it has its documented type; undefined for a
 * non-object.
 */
export function trailRecordOf(value: unknown): TrailRecord | undefined {
  if (!isRecord(value)) return undefined
  const readOnly = field(value, 'readOnly')
  return {
    awsRegion: stringAt(value, 'awsRegion'),
    errorCode: stringAt(value, 'errorCode'),
    eventID: stringAt(value, 'eventID'),
    eventName: stringAt(value, 'eventName'),
    eventSource: stringAt(value, 'eventSource'),
    eventTime: stringAt(value, 'eventTime'),
    eventType: stringAt(value, 'eventType'),
    readOnly: typeof readOnly === 'boolean' || typeof readOnly === 'string' ? readOnly : undefined,
    requestParameters: field(value, 'requestParameters'),
    responseElements: field(value, 'responseElements'),
    userIdentity: {
      arn: stringAt(value, 'userIdentity', 'arn'),
      invokedBy: stringAt(value, 'userIdentity', 'invokedBy'),
      sessionIssuerArn: stringAt(value, 'userIdentity', 'sessionContext', 'sessionIssuer', 'arn'),
      type: stringAt(value, 'userIdentity', 'type'),
      userName: stringAt(value, 'userIdentity', 'userName'),
    },
  }
}

export interface TrailChanges {
  changes: Change[]
  /** Every record read in the window, read-only and failed calls included. */
  eventsRead: number
  regions: string[]
  /** What the reading could not cover, e.g. days older than LookupEvents keeps. */
  notes: string[]
}

const READ_ONLY_NAME =
  /^(?:Describe|Get|List|Lookup|Head|Search|Select|Scan|Query|BatchGet|Check|Validate|Preview|Simulate|Estimate)/

/** Read-only calls (Describe*, Get*, List*, …), console sign-ins and failed calls never change anything. */
export function isReadOnly(record: TrailRecord): boolean {
  if (record.readOnly === true || record.readOnly === 'true') return true
  if (record.eventType === 'AwsConsoleSignIn') return true
  return READ_ONLY_NAME.test(record.eventName ?? '')
}

/** The facts of one call from its request parameters and response elements (both JSON of any shape). */
type Extractor = (p: unknown, r: unknown) => CloudFact[]

const SG = 'AWS::EC2::SecurityGroup'
const INSTANCE = 'AWS::EC2::Instance'

/** The changes that can drive egress, by (eventSource, eventName): names collide across services. */
const EXTRACTORS = new Map<string, Extractor>(
  Object.entries({
    'ec2.amazonaws.com AuthorizeSecurityGroupIngress': (p, r) => securityGroupRules('ingress', 'rule-added', p, r),
    'ec2.amazonaws.com AuthorizeSecurityGroupEgress': (p, r) => securityGroupRules('egress', 'rule-added', p, r),
    'ec2.amazonaws.com RevokeSecurityGroupIngress': (p) => securityGroupRules('ingress', 'rule-removed', p, null),
    'ec2.amazonaws.com RevokeSecurityGroupEgress': (p) => securityGroupRules('egress', 'rule-removed', p, null),
    'ec2.amazonaws.com ModifySecurityGroupRules': modifySecurityGroupRules,
    'ec2.amazonaws.com CreateNetworkAclEntry': (p) => networkAclEntry('rule-added', p),
    'ec2.amazonaws.com ReplaceNetworkAclEntry': (p) => networkAclEntry('rule-added', p),
    'ec2.amazonaws.com DeleteNetworkAclEntry': (p) => networkAclEntry('rule-removed', p),
    'ec2.amazonaws.com RunInstances': runInstances,
    'ec2.amazonaws.com StartInstances': (p) =>
      instancesOf(p).map((id) => fact('instance-started', 'StartInstances', id, INSTANCE)),
    'ec2.amazonaws.com StopInstances': (p) =>
      instancesOf(p).map((id) => fact('instance-stopped', 'StopInstances', id, INSTANCE)),
    'ec2.amazonaws.com TerminateInstances': (p) =>
      instancesOf(p).map((id) => fact('instance-stopped', 'TerminateInstances', id, INSTANCE)),
    'ec2.amazonaws.com ModifyInstanceAttribute': modifyInstanceAttribute,
    'ec2.amazonaws.com CreateReplaceRootVolumeTask': (p) => {
      const q = field(p, 'CreateReplaceRootVolumeTaskRequest') ?? p
      const id = firstString(field(q, 'InstanceId'), field(q, 'instanceId'))
      return id === undefined
        ? []
        : [
            fact('image-changed', 'CreateReplaceRootVolumeTask', id, INSTANCE, {
              related: namesOf([firstString(field(q, 'ImageId'), field(q, 'imageId'))]),
            }),
          ]
    },
    'ec2.amazonaws.com AssociateAddress': (p, r) => {
      const target = firstString(field(p, 'instanceId'), field(p, 'networkInterfaceId'))
      if (target === undefined) return []
      const address = firstString(field(p, 'allocationId'), field(p, 'publicIp'))
      return [
        fact(
          'address-associated',
          'AssociateAddress',
          target,
          target.startsWith('i-') ? INSTANCE : 'AWS::EC2::NetworkInterface',
          {
            related: namesOf([address, field(r, 'associationId')]),
          },
        ),
      ]
    },
    'ec2.amazonaws.com DisassociateAddress': (p) => [
      fact(
        'address-disassociated',
        'DisassociateAddress',
        firstString(field(p, 'associationId'), field(p, 'publicIp')) ?? 'an address',
        'AWS::EC2::EIP',
      ),
    ],
    'ec2.amazonaws.com AttachNetworkInterface': (p) => {
      const id = stringAt(p, 'instanceId')
      return id === undefined
        ? []
        : [
            fact('interface-attached', 'AttachNetworkInterface', id, INSTANCE, {
              related: namesOf([field(p, 'networkInterfaceId')]),
            }),
          ]
    },
    'ec2.amazonaws.com CreateRoute': (p) => route('route-changed', 'CreateRoute', p),
    'ec2.amazonaws.com ReplaceRoute': (p) => route('route-changed', 'ReplaceRoute', p),
    'ec2.amazonaws.com DeleteRoute': (p) => route('route-removed', 'DeleteRoute', p),
    'ec2.amazonaws.com CreateNatGateway': (p, r) => {
      const id =
        firstString(
          field(r, 'CreateNatGatewayResponse', 'natGateway', 'natGatewayId'),
          field(r, 'natGateway', 'natGatewayId'),
        ) ?? 'a NAT gateway'
      return [fact('nat-created', 'CreateNatGateway', id, 'AWS::EC2::NatGateway', {related: resourceIds(p)})]
    },
    'ec2.amazonaws.com DeleteNatGateway': (p) => [
      fact('nat-deleted', 'DeleteNatGateway', resourceIds(p)[0] ?? 'a NAT gateway', 'AWS::EC2::NatGateway'),
    ],
    'ec2.amazonaws.com AttachInternetGateway': (p) => [
      fact('gateway-attached', 'AttachInternetGateway', stringAt(p, 'vpcId') ?? 'a VPC', 'AWS::EC2::VPC', {
        related: namesOf([field(p, 'internetGatewayId')]),
      }),
    ],
    'ec2.amazonaws.com DetachInternetGateway': (p) => [
      fact('gateway-detached', 'DetachInternetGateway', stringAt(p, 'vpcId') ?? 'a VPC', 'AWS::EC2::VPC', {
        related: namesOf([field(p, 'internetGatewayId')]),
      }),
    ],
    'ec2.amazonaws.com CreateEgressOnlyInternetGateway': (p) => [
      fact(
        'gateway-attached',
        'CreateEgressOnlyInternetGateway',
        resourceIds(p).find((id) => id.startsWith('vpc-')) ?? 'a VPC',
        'AWS::EC2::VPC',
      ),
    ],
    'ec2.amazonaws.com DeleteVpcEndpoints': (p) =>
      resourceIds(p)
        .filter((id) => id.startsWith('vpce-'))
        .map((id) => fact('endpoint-removed', 'DeleteVpcEndpoints', id, 'AWS::EC2::VPCEndpoint')),
    'elasticloadbalancing.amazonaws.com CreateListener': (p, r) => {
      const lb = stringAt(p, 'loadBalancerArn') ?? 'a load balancer'
      const arn = stringAt(arrayAt(r, 'listeners')[0], 'listenerArn')
      return [
        fact('listener-added', 'CreateListener', lb, 'AWS::ElasticLoadBalancingV2::LoadBalancer', {
          listener: listenerOf(field(p, 'port'), field(p, 'protocol')),
          related: namesOf([arn]),
        }),
      ]
    },
    'elasticloadbalancing.amazonaws.com CreateLoadBalancerListeners': (p) => {
      const lb = stringAt(p, 'loadBalancerName') ?? 'a load balancer'
      return arrayAt(p, 'listeners')
        .filter(isRecord)
        .map((l) =>
          fact('listener-added', 'CreateLoadBalancerListeners', lb, 'AWS::ElasticLoadBalancing::LoadBalancer', {
            listener: listenerOf(l.loadBalancerPort, l.protocol),
          }),
        )
    },
    'elasticloadbalancing.amazonaws.com DeleteListener': (p) => [
      fact(
        'listener-removed',
        'DeleteListener',
        stringAt(p, 'listenerArn') ?? 'a listener',
        'AWS::ElasticLoadBalancingV2::Listener',
      ),
    ],
    's3.amazonaws.com PutBucketPolicy': (p) =>
      policyIsPublic(field(p, 'bucketPolicy')) ? [bucketOpened('PutBucketPolicy', p)] : [],
    's3.amazonaws.com DeleteBucketPolicy': () => [],
    's3.amazonaws.com DeleteBucketPublicAccessBlock': (p) => [bucketOpened('DeleteBucketPublicAccessBlock', p)],
    's3.amazonaws.com PutBucketPublicAccessBlock': (p) => {
      const c = field(p, 'PublicAccessBlockConfiguration')
      return ['BlockPublicPolicy', 'RestrictPublicBuckets', 'BlockPublicAcls', 'IgnorePublicAcls'].some((key) =>
        isFalse(field(c, key)),
      )
        ? [bucketOpened('PutBucketPublicAccessBlock', p)]
        : []
    },
    's3.amazonaws.com PutBucketAcl': (p) =>
      stringsIn(p).some((s) => s.includes('acs.amazonaws.com/groups/global/AllUsers')) ||
      stringsIn(field(p, 'x-amz-acl')).some((s) => s.includes('public-read'))
        ? [bucketOpened('PutBucketAcl', p)]
        : [],
    'cloudfront.amazonaws.com CreateDistribution': (p, r) => [
      fact(
        'public-access-opened',
        'CreateDistribution',
        stringAt(r, 'distribution', 'id') ?? 'a distribution',
        'AWS::CloudFront::Distribution',
        {
          related: originsOf(p),
        },
      ),
    ],
    'cloudfront.amazonaws.com UpdateDistribution': (p) => [
      fact(
        'public-access-opened',
        'UpdateDistribution',
        stringAt(p, 'id') ?? 'a distribution',
        'AWS::CloudFront::Distribution',
        {related: originsOf(p)},
      ),
    ],
  } satisfies Record<string, Extractor>),
)

/** The egress-relevant facts of one record; [] for anything else (reads, failures, tags, IAM). */
export function factsOfRecord(record: TrailRecord): CloudFact[] {
  if (isReadOnly(record) || record.errorCode) return []
  const extract = EXTRACTORS.get(`${record.eventSource} ${record.eventName}`)
  if (!extract) return []
  const facts = extract(record.requestParameters ?? {}, record.responseElements ?? null)
  for (const f of facts) f.region = record.awsRegion ?? null
  return facts
}

/** Who made the call: the IAM user or role ARN, else the service that did it for them. */
export function principalOf(record: TrailRecord): null | string {
  const u = record.userIdentity ?? {}
  return u.arn ?? u.sessionIssuerArn ?? u.invokedBy ?? u.userName ?? u.type ?? null
}

/** `true`/`false` as JSON or as the text some tools log. */
function isTrue(value: unknown): boolean {
  return value === true || value === 'true'
}

function isFalse(value: unknown): boolean {
  return value === false || value === 'false'
}

/** A listener's port and protocol (the port as logged, a number or its text). */
function listenerOf(port: unknown, protocol: unknown): {port: number; protocol: string} {
  return {
    port: Number(typeof port === 'number' || typeof port === 'string' ? port : undefined),
    protocol: (typeof protocol === 'string' ? protocol : 'tcp').toLowerCase(),
  }
}

/**
 * `{items:[…]}`, a bare array, a one-item object some tools flatten to, or `{}` for an empty list: the
 * objects of the list (an entry of another type names nothing to read).
 */
function items(list: unknown): JsonRecord[] {
  if (Array.isArray(list)) return list.filter(isRecord)
  if (!isRecord(list)) return []
  for (const key of ['items', 'item']) {
    const nested = field(list, key)
    if (Array.isArray(nested)) return nested.filter(isRecord)
    if (isRecord(nested)) return [nested]
  }
  return Object.keys(list).length === 0 ? [] : [list]
}

function peersOf(permission: JsonRecord): string[] {
  return stringsOf([
    ...items(permission.ipRanges).map((x) => x.cidrIp),
    ...items(permission.ipv6Ranges).map((x) => x.cidrIpv6),
    ...items(permission.prefixListIds).map((x) => x.prefixListId),
    ...items(permission.groups).map((x) => firstString(x.groupId, x.groupName)),
  ])
}

function securityGroupRules(
  direction: NetworkRule['direction'],
  action: CloudAction,
  p: unknown,
  r: unknown,
): CloudFact[] {
  const operation = `${action === 'rule-added' ? 'Authorize' : 'Revoke'}SecurityGroup${direction === 'ingress' ? 'Ingress' : 'Egress'}`
  const group = firstString(field(p, 'groupId'), field(p, 'groupName')) ?? 'a security group'
  // The response's rule set is the most reliable (it also names the group when the request used groupName).
  const ruleSet = items(field(r, 'securityGroupRuleSet'))
  if (ruleSet.length > 0) {
    return ruleSet.map((x) => {
      const peer = firstString(x.cidrIpv4, x.cidrIpv6, x.prefixListId, field(x, 'referencedGroupInfo', 'groupId'))
      return fact(action, operation, stringAt(x, 'groupId') ?? group, SG, {
        rule: rule(isTrue(x.isEgress) ? 'egress' : direction, x.ipProtocol, x.fromPort, x.toPort, namesOf([peer])),
      })
    })
  }
  const permissions = items(field(p, 'ipPermissions'))
  // Legacy flat form: {groupId, ipProtocol, fromPort, toPort, cidrIp, ipPermissions:{}}.
  if (permissions.length === 0 && (field(p, 'ipProtocol') !== undefined || field(p, 'cidrIp') !== undefined)) {
    const peer = firstString(field(p, 'cidrIp'), field(p, 'sourceSecurityGroupName'))
    return [
      fact(action, operation, group, SG, {
        rule: rule(direction, field(p, 'ipProtocol'), field(p, 'fromPort'), field(p, 'toPort'), namesOf([peer])),
      }),
    ]
  }
  const facts = permissions.map((perm) =>
    fact(action, operation, group, SG, {
      rule: rule(direction, perm.ipProtocol, perm.fromPort, perm.toPort, peersOf(perm)),
    }),
  )
  // Revoking by rule id (SecurityGroupRuleIds) names no rule: say the group lost rules.
  if (facts.length === 0 && action === 'rule-removed') facts.push(fact(action, operation, group, SG))
  return facts
}

function modifySecurityGroupRules(p: unknown): CloudFact[] {
  const q = field(p, 'ModifySecurityGroupRulesRequest') ?? p
  const group = firstString(field(q, 'GroupId'), field(q, 'groupId')) ?? 'a security group'
  return items(field(q, 'SecurityGroupRule')).map((x) => {
    const r = recordAt(x, 'SecurityGroupRule') ?? x
    const peer = firstString(r.CidrIpv4, r.CidrIpv6, r.PrefixListId, r.ReferencedGroupId)
    // The request does not say whether the rule is egress; a modified rule is read as ingress.
    return fact('rule-added', 'ModifySecurityGroupRules', group, SG, {
      related: namesOf([x.SecurityGroupRuleId]),
      rule: rule('ingress', r.IpProtocol, r.FromPort, r.ToPort, namesOf([peer])),
    })
  })
}

function networkAclEntry(action: CloudAction, p: unknown): CloudFact[] {
  const acl = stringAt(p, 'networkAclId') ?? 'a network ACL'
  const direction = isTrue(field(p, 'egress')) ? 'egress' : 'ingress'
  const peers = stringsOf([field(p, 'cidrBlock'), field(p, 'ipv6CidrBlock')])
  const allow = (stringAt(p, 'ruleAction') ?? 'allow').toLowerCase() !== 'deny'
  const operation = action === 'rule-added' ? 'CreateNetworkAclEntry' : 'DeleteNetworkAclEntry'
  return [
    fact(action, operation, acl, 'AWS::EC2::NetworkAcl', {
      rule: rule(
        direction,
        field(p, 'protocol'),
        field(p, 'portRange', 'from'),
        field(p, 'portRange', 'to'),
        peers,
        allow,
      ),
    }),
  ]
}

function instancesOf(p: unknown): string[] {
  return stringsOf(items(field(p, 'instancesSet')).map((x) => x.instanceId))
}

function runInstances(p: unknown, r: unknown): CloudFact[] {
  const image = firstString(items(field(p, 'instancesSet'))[0]?.imageId, field(p, 'imageId'))
  return items(field(r, 'instancesSet')).flatMap((x) => {
    const id = stringAt(x, 'instanceId')
    if (id === undefined) return []
    return [
      fact('instance-launched', 'RunInstances', id, INSTANCE, {
        related: namesOf([firstString(x.imageId) ?? image, ...items(x.groupSet).map((g) => g.groupId)]),
      }),
    ]
  })
}

function modifyInstanceAttribute(p: unknown): CloudFact[] {
  const id = stringAt(p, 'instanceId')
  if (id === undefined) return []
  const groups = namesOf(items(field(p, 'groupSet')).map((g) => g.groupId))
  return [fact('instance-changed', 'ModifyInstanceAttribute', id, INSTANCE, {related: groups})]
}

function route(action: CloudAction, operation: string, p: unknown): CloudFact[] {
  const table = stringAt(p, 'routeTableId') ?? 'a route table'
  const destination = firstString(
    field(p, 'destinationCidrBlock'),
    field(p, 'destinationIpv6CidrBlock'),
    field(p, 'destinationPrefixListId'),
  )
  const targets = resourceIds(p).filter((id) => id !== table)
  const gateway = stringAt(p, 'gatewayId')
  // A gateway that is not an id (`local`, a VPN gateway name) is named beside the ids.
  return [
    fact(action, operation, table, 'AWS::EC2::RouteTable', {
      related: [...targets, ...namesOf([destination]), ...(gateway && !isResourceId(gateway) ? [gateway] : [])],
    }),
  ]
}

function bucketOpened(operation: string, p: unknown): CloudFact {
  return fact('public-access-opened', operation, stringAt(p, 'bucketName') ?? 'a bucket', 'AWS::S3::Bucket')
}

function policyIsPublic(policy: unknown): boolean {
  const statement = field(policy, 'Statement')
  const statements = Array.isArray(statement) ? statement : statement ? [statement] : []
  return statements.some((s) => {
    const principal = field(s, 'Principal')
    const aws = field(principal, 'AWS')
    return (
      field(s, 'Effect') === 'Allow' && (principal === '*' || aws === '*' || (Array.isArray(aws) && aws.includes('*')))
    )
  })
}

function originsOf(p: unknown): string[] {
  return [...new Set(stringsIn(p).flatMap((s) => s.match(/[a-z0-9.-]+\.s3[.-][a-z0-9.-]*amazonaws\.com/g) ?? []))]
}

/** Security groups each instance got at launch or by ModifyInstanceAttribute, as `sg → instances`. */
function linksOf(record: TrailRecord, links: Map<string, Set<string>>): void {
  const add = (group: unknown, instance: unknown) => {
    if (typeof group !== 'string' || typeof instance !== 'string') return
    const set = links.get(group) ?? new Set<string>()
    set.add(instance)
    links.set(group, set)
  }
  if (record.errorCode) return
  if (record.eventName === 'RunInstances') {
    for (const x of items(field(record.responseElements, 'instancesSet'))) {
      for (const g of items(x.groupSet)) add(g.groupId, x.instanceId)
      for (const eni of items(x.networkInterfaceSet)) for (const g of items(eni.groupSet)) add(g.groupId, x.instanceId)
    }
  } else if (record.eventName === 'ModifyInstanceAttribute') {
    for (const g of items(field(record.requestParameters, 'groupSet')))
      add(g.groupId, field(record.requestParameters, 'instanceId'))
  }
}

export interface TrailWindow {
  since: number
  until: number
}

/** Turns records into changes: window, dedupe by eventID, classify, and link groups to the instances they protect. */
export class TrailCollector {
  readonly changes: Change[] = []
  readonly regions = new Set<string>()
  eventsRead = 0
  private readonly seen = new Set<string>()
  private readonly links = new Map<string, Set<string>>()

  constructor(private readonly window: TrailWindow) {}

  add(record: TrailRecord, origin: string): void {
    const ms = Date.parse(record.eventTime ?? '')
    if (Number.isNaN(ms) || ms < this.window.since || ms >= this.window.until) return
    // CloudTrail may deliver an event twice; eventID is the key.
    if (record.eventID) {
      if (this.seen.has(record.eventID)) return
      this.seen.add(record.eventID)
    }
    this.eventsRead++
    if (record.awsRegion) this.regions.add(record.awsRegion)
    linksOf(record, this.links)
    const facts = factsOfRecord(record)
    if (facts.length === 0) return
    this.changes.push(
      accountChange({
        author: principalOf(record),
        facts,
        origin: record.eventID ? `${origin}#${record.eventID}` : origin,
        recordedTime: record.eventTime ?? '',
        source: 'cloudtrail',
        // What changed first (tables cut long subjects), the call last.
        subject: `${facts.map(factSubject).join('; ')} (${record.eventName})`,
        time: isoSeconds(ms),
      }),
    )
  }

  result(): TrailChanges {
    for (const change of this.changes) {
      for (const f of change.cloud ?? []) {
        const protectedBy = this.links.get(f.resource)
        if (protectedBy) f.instances = [...new Set([...f.instances, ...protectedBy])]
      }
    }
    return {changes: this.changes, eventsRead: this.eventsRead, notes: [], regions: [...this.regions].sort()}
  }
}

const DAY_MS = 86_400_000
/** Delivery time in a log file's name: `…_CloudTrail_us-east-1_20140329T1845Z_abc.json.gz`. */
const DELIVERED = /_CloudTrail_[a-z0-9-]+_(\d{8})T(\d{4})Z_/

/**
 * Reads CloudTrail log files: one file, or a folder as delivered to S3 (…/AWSLogs/ACCOUNT/CloudTrail/REGION/Y/M/D/).
 * Files whose name dates them more than a day outside the window are skipped (a file holds events up to
 * about 15 minutes older than its delivery); digest and Insights files are skipped.
 */
export function readTrailFiles(path: string, window: TrailWindow): TrailChanges {
  const collector = new TrailCollector(window)
  const info = statSource(path, 'CloudTrail log files (.json.gz) or a CloudTrail Lake/Athena CSV')
  const files = info.isDirectory() ? trailFilesUnder(path, window) : [path]
  if (info.isDirectory() && files.length === 0 && !hasTrailFiles(path)) {
    throw new BillwatchError('E_EMPTY', 'no CloudTrail log files (.json or .json.gz) in this folder', {file: path})
  }
  for (const file of files) readTrailFile(file, collector)
  return collector.result()
}

function trailFilesUnder(dir: string, window: TrailWindow): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    for (const entry of readdirSync(d, {withFileTypes: true}).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(d, entry.name)
      if (entry.isDirectory()) {
        if (entry.name === 'CloudTrail-Digest' || entry.name === 'CloudTrail-Insight') continue
        walk(full)
      } else if (entry.isFile() && /\.json(?:\.gz)?$/.test(entry.name) && !entry.name.includes('_CloudTrail-Digest_')) {
        const delivered = DELIVERED.exec(entry.name)
        if (delivered) {
          const d8 = delivered[1]!
          const day = Date.parse(`${d8.slice(0, 4)}-${d8.slice(4, 6)}-${d8.slice(6, 8)}T00:00:00Z`)
          if (day < window.since - 2 * DAY_MS || day > window.until + DAY_MS) continue
        }
        out.push(full)
      }
    }
  }
  walk(dir)
  return out
}

function hasTrailFiles(dir: string): boolean {
  for (const entry of readdirSync(dir, {recursive: true, withFileTypes: true}))
    if (entry.isFile() && /\.json(?:\.gz)?$/.test(entry.name)) return true
  return false
}

/** One log file (`{"Records":[…]}`, plain or gzip), or a CloudTrail Lake/Athena result CSV. */
function readTrailFile(file: string, collector: TrailCollector): void {
  const text = readLogText(file)
  const head = text.trimStart().slice(0, 1)
  if (head !== '{') {
    readTrailCsv(text, file, collector)
    return
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new BillwatchError('E_FORMAT', `not JSON: ${(error as Error).message}`, {
      expected: 'a CloudTrail log file {"Records":[…]}',
      file,
    })
  }
  if (field(parsed, 'digestStartTime') !== undefined || field(parsed, 'logFiles') !== undefined) return
  const records = field(parsed, 'Records')
  if (!Array.isArray(records)) {
    // A LookupEvents response saved as JSON: the record is a JSON string in CloudTrailEvent.
    const events = field(parsed, 'Events')
    if (Array.isArray(events)) {
      for (const [i, event] of events.entries())
        addRecord(
          collector,
          parseEmbedded(field(event, 'CloudTrailEvent'), file, `Events[${i}].CloudTrailEvent`),
          basename(file),
        )
      return
    }
    throw new BillwatchError('E_FORMAT', 'no "Records" array', {
      expected: 'a CloudTrail log file {"Records":[…]}',
      field: 'Records',
      file,
    })
  }
  for (const record of records) addRecord(collector, record, basename(file))
}

/** A record that is not a JSON object names no event: it is skipped, as CloudTrail never writes one. */
function addRecord(collector: TrailCollector, value: unknown, origin: string): void {
  const record = trailRecordOf(value)
  if (record) collector.add(record, origin)
}

function parseEmbedded(text: unknown, file: string, field: string): unknown {
  if (typeof text !== 'string')
    throw new BillwatchError('E_FORMAT', 'missing event JSON', {
      expected: 'a CloudTrail record as a JSON string',
      field,
      file,
    })
  try {
    return JSON.parse(text)
  } catch {
    throw new BillwatchError('E_FORMAT', 'event is not JSON', {
      expected: 'a CloudTrail record as a JSON string',
      field,
      file,
    })
  }
}

/**
 * A CloudTrail Lake or Athena query result: one row per event, header names as the record's fields in
 * any case (eventTime, eventName, eventSource, awsRegion, readOnly, errorCode, requestParameters,
 * responseElements, userIdentity or userIdentity.arn), JSON columns as text. Athena prints structs as
 * `{type=IAMUser, arn=arn:aws:iam::…}`: the ARN is read from that.
 */
function readTrailCsv(text: string, file: string, collector: TrailCollector): void {
  const parsed = Papa.parse<Record<string, string>>(text.replace(/^\uFEFF/, ''), {
    header: true,
    skipEmptyLines: true,
    transformHeader: (h) => h.trim().toLowerCase().replace(/^"|"$/g, ''),
  })
  const fields = parsed.meta.fields ?? []
  const column = (...names: string[]) => names.find((n) => fields.includes(n))
  const whole = column('cloudtrailevent', 'eventjson', 'record')
  const time = column('eventtime')
  const name = column('eventname')
  if (!whole && (!time || !name)) {
    throw new BillwatchError('E_HEADER', 'not a CloudTrail query result', {
      expected: 'columns eventTime and eventName (or the whole record in CloudTrailEvent)',
      file,
      got: fields.slice(0, 6).join(','),
    })
  }
  const json = (value: string | undefined, line: number, field: string): unknown => {
    if (value === undefined || value === '' || value === 'null') return null
    try {
      return JSON.parse(value)
    } catch {
      throw new BillwatchError('E_VALUE', 'not JSON', {expected: 'the field as JSON text', field, file, line})
    }
  }
  for (const [i, row] of parsed.data.entries()) {
    const line = i + 2
    if (whole) {
      addRecord(collector, json(row[whole], line, whole) ?? {}, `${basename(file)}:${line}`)
      continue
    }
    const get = (...names: string[]) => {
      const key = column(...names)
      return key === undefined ? undefined : row[key]
    }
    const identity =
      get('useridentity.arn', 'useridentity_arn', 'arn') ??
      /\barn=([^,}\s]+)/.exec(get('useridentity') ?? '')?.[1] ??
      (() => {
        try {
          return stringAt(JSON.parse(get('useridentity') ?? ''), 'arn')
        } catch {
          return undefined
        }
      })()
    // An empty errorCode cell is a call that succeeded.
    const errorCode = get('errorcode')
    const record: TrailRecord = {
      awsRegion: get('awsregion'),
      errorCode: errorCode === '' ? undefined : errorCode,
      eventID: get('eventid'),
      eventName: get('eventname'),
      eventSource: get('eventsource'),
      eventTime: normaliseCsvTime(get('eventtime') ?? ''),
      eventType: get('eventtype'),
      readOnly: get('readonly'),
      requestParameters: json(get('requestparameters'), line, 'requestParameters'),
      responseElements: json(get('responseelements'), line, 'responseElements'),
      userIdentity: identity ? {arn: identity} : {},
    }
    if (Number.isNaN(Date.parse(record.eventTime ?? ''))) {
      throw new BillwatchError('E_VALUE', 'bad event time', {
        expected: 'an ISO 8601 time such as 2014-03-29T18:40:12Z',
        field: 'eventTime',
        file,
        line,
      })
    }
    collector.add(record, `${basename(file)}:${line}`)
  }
}

/** Lake prints `2014-03-29 18:40:12.000`, Athena the record's ISO text: both UTC. */
function normaliseCsvTime(text: string): string {
  const t = text.trim()
  return /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}/.test(t) ? `${t.replace(' ', 'T').replace(/\.\d+$/, '')}Z` : t
}

export interface LookupOptions {
  connection: AwsConnection
  /** Regions to ask (CloudTrail event history is per region); IAM and other global calls land in us-east-1. */
  regions: string[]
  onPage?: (pages: number) => void
  /** Today, for the 90 days event history keeps (default: now). */
  now?: number
}

const HISTORY_DAYS = 90

/**
 * The write events of the window from the LookupEvents API, region by region: `ReadOnly=false` (one
 * lookup attribute per call), 50 a page, paced at the documented 2 requests per second per region.
 * API: docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html.
 */
export async function lookupTrailEvents(window: TrailWindow, options: LookupOptions): Promise<TrailChanges> {
  const collector = new TrailCollector(window)
  let pages = 0
  for (const region of options.regions) {
    // Every attempt (the SDK's retries too) paced under the documented 2 requests per second per region.
    const client = new CloudTrailClient(clientConfig(options.connection, region))
    paceAttempts(client, 2)
    try {
      const {pages: responses} = await allPages(
        (token) =>
          callAws('LookupEvents', options.connection, () =>
            client.send(
              new LookupEventsCommand({
                EndTime: new Date(window.until),
                LookupAttributes: [{AttributeKey: 'ReadOnly', AttributeValue: 'false'}],
                MaxResults: 50,
                NextToken: token,
                StartTime: new Date(window.since),
              }),
            ),
          ),
        (page) => page.NextToken,
        () => options.onPage?.(++pages),
      )
      for (const page of responses) {
        for (const event of page.Events ?? []) {
          const record = trailRecordOf(
            parseEmbedded(event.CloudTrailEvent, `LookupEvents ${region}`, 'CloudTrailEvent'),
          )
          if (!record) continue
          record.awsRegion ??= region
          collector.add(record, `LookupEvents ${region}`)
        }
      }
    } finally {
      client.destroy()
    }
  }
  const result = collector.result()
  // Event history keeps 90 days; older days are only in the trail's log files.
  const kept = (options.now ?? Date.now()) - HISTORY_DAYS * DAY_MS
  const notes =
    window.since < kept
      ? [
          `LookupEvents keeps ${HISTORY_DAYS} days: before ${isoSeconds(kept).slice(0, 10)} read the trail's log files (--cloudtrail DIR)`,
        ]
      : []
  return {...result, notes, regions: [...new Set([...options.regions, ...result.regions])].sort()}
}
