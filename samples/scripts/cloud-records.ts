/**
 * Builders for CloudTrail records and AWS Config configuration items, written to the documented formats;
 * used by make-cloud-samples.ts and by the tests (labelled: every builder says what it is).
 *
 * CloudTrail: "CloudTrail record contents" (docs.aws.amazon.com/awscloudtrail/latest/userguide/
 * cloudtrail-event-reference-record-contents.html), "CloudTrail log file examples" (log file
 * `{"Records":[…]}`, file name `{account}_CloudTrail_{region}_{YYYYMMDDTHHmmZ}_{16 chars}.json.gz` under
 * `AWSLogs/{account}/CloudTrail/{region}/{YYYY}/{MM}/{DD}/`), the EC2 API reference for
 * requestParameters (lowerCamelCase, lists as `{"items":[…]}`) and securityGroupRuleSet in responses.
 * AWS Config: "Example configuration history" (docs.aws.amazon.com/config/latest/developerguide/
 * example-s3-config-history.html): `{"fileVersion":"1.0","configurationItems":[…]}` with
 * `configurationItemVersion`, `configurationItemCaptureTime`, `configurationStateId`, `awsAccountId`,
 * `ARN`, relationships `{resourceId, resourceType, name}`, `configuration` as an object; the API's
 * ConfigurationItem (GetResourceConfigHistory) for the `api` shape.
 */
import {createHash} from 'node:crypto'

import {seededRandom} from '../../src/ratelimit/index.js'

export const ACCOUNT = '123456789012'
export const REGION = 'us-east-1'
export const NTP_INSTANCE = 'i-0a1b2c3d'
export const NTP_GROUP = 'sg-0f1e2d3c4b5a69788'
export const BASE_GROUP = 'sg-0a0a0a0a11112222'
export const OPS_USER = `arn:aws:iam::${ACCOUNT}:user/ops`

/** A stable GUID-looking id from a seed text (event ids must be unique and repeatable). */
export function guid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}

export interface EventSpec {
  time: string
  name: string
  source?: string
  /** IAM user ARN; an AssumedRole or a service is given by `identity`. */
  user?: string
  identity?: Record<string, unknown>
  region?: string
  readOnly?: boolean
  request?: unknown
  response?: unknown
  errorCode?: string
  errorMessage?: string
  eventType?: string
  id?: string
  userAgent?: string
}

/** One CloudTrail record (eventVersion 1.08 fields, in the order AWS prints them). */
export function trailRecord(e: EventSpec): Record<string, unknown> {
  const user = e.user ?? OPS_USER
  const userName = user.split('/').at(-1)
  const record: Record<string, unknown> = {
    eventVersion: '1.08',
    userIdentity: e.identity ?? {type: 'IAMUser', principalId: 'AIDAEXAMPLEOPS000001', arn: user, accountId: ACCOUNT, accessKeyId: 'AKIAEXAMPLEOPS00001', userName},
    eventTime: e.time,
    eventSource: e.source ?? 'ec2.amazonaws.com',
    eventName: e.name,
    awsRegion: e.region ?? REGION,
    sourceIPAddress: '198.51.100.24',
    userAgent: e.userAgent ?? 'aws-cli/1.3.4 Python/2.7.5 Linux/3.13.0',
  }
  if (e.errorCode) {
    record.errorCode = e.errorCode
    record.errorMessage = e.errorMessage ?? 'You are not authorized to perform this operation.'
  }
  record.requestParameters = e.request ?? null
  record.responseElements = e.errorCode ? null : (e.response ?? null)
  record.requestID = guid(`request ${e.id ?? e.time + e.name}`)
  record.eventID = e.id ?? guid(`event ${e.time} ${e.name} ${JSON.stringify(e.request ?? {})}`)
  record.readOnly = e.readOnly ?? /^(?:Describe|Get|List|Lookup)/.test(e.name)
  record.eventType = e.eventType ?? 'AwsApiCall'
  record.managementEvent = true
  record.recipientAccountId = ACCOUNT
  record.eventCategory = 'Management'
  return record
}

/** AuthorizeSecurityGroupIngress/Egress as the EC2 console and CLI log it since 2021 (with securityGroupRuleSet). */
export function authorize(spec: {time: string; group: string; protocol: string; from: number; to: number; cidr: string; egress?: boolean; user?: string; ruleId?: string}): EventSpec {
  const ruleId = spec.ruleId ?? `sgr-${createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 17)}`
  return {
    name: spec.egress ? 'AuthorizeSecurityGroupEgress' : 'AuthorizeSecurityGroupIngress',
    request: {
      groupId: spec.group,
      ipPermissions: {items: [{fromPort: spec.from, groups: {}, ipProtocol: spec.protocol, ipRanges: {items: [{cidrIp: spec.cidr}]}, ipv6Ranges: {}, prefixListIds: {}, toPort: spec.to}]},
    },
    response: {
      _return: true,
      requestId: guid(`authorize ${spec.time}`),
      securityGroupRuleSet: {items: [{cidrIpv4: spec.cidr, fromPort: spec.from, groupId: spec.group, groupOwnerId: ACCOUNT, ipProtocol: spec.protocol, isEgress: spec.egress ?? false, securityGroupRuleId: ruleId, toPort: spec.to}]},
    },
    time: spec.time,
    ...(spec.user ? {user: spec.user} : {}),
  }
}

export function createSecurityGroup(time: string, group: string, name: string): EventSpec {
  return {name: 'CreateSecurityGroup', request: {groupDescription: name, groupName: name, vpcId: 'vpc-0b1c2d3e'}, response: {_return: true, groupId: group, requestId: guid(`create ${group}`)}, time}
}

/** ModifyInstanceAttribute with a new list of security groups. */
export function setInstanceGroups(time: string, instance: string, groups: string[]): EventSpec {
  return {name: 'ModifyInstanceAttribute', request: {groupSet: {items: groups.map((groupId) => ({groupId}))}, instanceId: instance}, response: {_return: true, requestId: guid(`modify ${time}`)}, time}
}

export function stopInstances(time: string, instance: string): EventSpec {
  return {
    name: 'StopInstances',
    request: {force: false, instancesSet: {items: [{instanceId: instance}]}},
    response: {instancesSet: {items: [{currentState: {code: 64, name: 'stopping'}, instanceId: instance, previousState: {code: 16, name: 'running'}}]}, requestId: guid(`stop ${time}`)},
    time,
  }
}

export function runInstances(time: string, instance: string, image: string, groups: string[]): EventSpec {
  return {
    name: 'RunInstances',
    request: {instanceType: 't2.micro', instancesSet: {items: [{imageId: image, maxCount: 1, minCount: 1}]}, userData: '<sensitiveDataRemoved>'},
    response: {
      instancesSet: {items: [{groupSet: {items: groups.map((groupId) => ({groupId}))}, imageId: image, instanceId: instance, instanceState: {code: 0, name: 'pending'}, instanceType: 't2.micro', launchTime: Date.parse(time), privateIpAddress: '10.0.1.23', subnetId: 'subnet-0c1d2e3f', vpcId: 'vpc-0b1c2d3e'}]},
      ownerId: ACCOUNT,
      requestId: guid(`run ${time}`),
      reservationId: 'r-0123456789abcdef0',
    },
    time,
  }
}

export type NoiseKind = 'assume-role' | 'console-login' | 'create-tags' | 'delete-tags' | 'describe' | 'failed-authorize' | 'get-bucket' | 'list-buckets' | 'put-alarm'

/**
 * Events that change nothing egress depends on (labelled by kind): reads, sign-ins, tags, alarms, role
 * assumptions, and failed calls (a denied AuthorizeSecurityGroupIngress did not happen). They come in
 * sessions of about `perSession` calls within a few minutes, as a person at the console or a script makes them.
 */
export function noiseEvents(count: number, since: number, until: number, seed: number, perSession = 12): Array<EventSpec & {kind: NoiseKind}> {
  const random = seededRandom(seed)
  let sessionStart = since
  let sessionLeft = 0
  const kinds: NoiseKind[] = ['describe', 'describe', 'describe', 'console-login', 'create-tags', 'delete-tags', 'get-bucket', 'list-buckets', 'assume-role', 'put-alarm', 'failed-authorize']
  const out: Array<EventSpec & {kind: NoiseKind}> = []
  for (let i = 0; i < count; i++) {
    const kind = kinds[Math.floor(random() * kinds.length)]!
    if (sessionLeft-- <= 0) {
      sessionStart = since + Math.floor(random() * (until - since - 600_000))
      sessionLeft = perSession - 1
    }
    const time = new Date(sessionStart + Math.floor(random() * 240) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
    const instance = `i-${Math.floor(random() * 0xffffffff).toString(16).padStart(8, '0')}`
    const id = guid(`noise ${seed} ${i}`)
    switch (kind) {
      case 'describe':
        out.push({id, kind, name: ['DescribeInstances', 'DescribeSecurityGroups', 'DescribeAddresses', 'DescribeRouteTables'][i % 4]!, readOnly: true, request: {filterSet: {}, instancesSet: {}}, time})
        break
      case 'console-login':
        out.push({eventType: 'AwsConsoleSignIn', id, kind, name: 'ConsoleLogin', readOnly: false, request: null, response: {ConsoleLogin: 'Success'}, source: 'signin.amazonaws.com', time, userAgent: 'Mozilla/5.0'})
        break
      case 'create-tags':
        out.push({id, kind, name: 'CreateTags', request: {resourcesSet: {items: [{resourceId: instance}]}, tagSet: {items: [{key: 'team', value: `t${i % 7}`}]}}, response: {_return: true}, time})
        break
      case 'delete-tags':
        out.push({id, kind, name: 'DeleteTags', request: {resourcesSet: {items: [{resourceId: NTP_GROUP}]}, tagSet: {items: [{key: 'old'}]}}, response: {_return: true}, time})
        break
      case 'get-bucket':
        out.push({id, kind, name: 'GetBucketAcl', readOnly: true, request: {acl: [''], bucketName: 'example-logs', host: ['example-logs.s3.amazonaws.com']}, source: 's3.amazonaws.com', time})
        break
      case 'list-buckets':
        out.push({id, kind, name: 'ListBuckets', readOnly: true, request: {host: ['s3.amazonaws.com']}, source: 's3.amazonaws.com', time})
        break
      case 'assume-role':
        out.push({id, kind, name: 'AssumeRole', readOnly: true, request: {roleArn: `arn:aws:iam::${ACCOUNT}:role/deploy`, roleSessionName: `s${i}`}, response: {assumedRoleUser: {arn: `arn:aws:sts::${ACCOUNT}:assumed-role/deploy/s${i}`}}, source: 'sts.amazonaws.com', time})
        break
      case 'put-alarm':
        out.push({id, kind, name: 'PutMetricAlarm', request: {alarmName: `cpu-${i}`, metricName: 'CPUUtilization', namespace: 'AWS/EC2', threshold: 90}, source: 'monitoring.amazonaws.com', time})
        break
      case 'failed-authorize':
        out.push({...authorize({cidr: '0.0.0.0/0', from: 0, group: NTP_GROUP, protocol: 'tcp', time, to: 65_535, user: `arn:aws:iam::${ACCOUNT}:user/intern`}), errorCode: 'Client.UnauthorizedOperation', id, kind})
        break
    }
  }
  return out
}

/** `{account}_CloudTrail_{region}_{YYYYMMDDTHHmmZ}_{16 chars}.json.gz` under the S3 folder layout. */
export function trailPath(deliveredMs: number, region = REGION): string {
  const iso = new Date(deliveredMs).toISOString()
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z`
  const random = createHash('sha256').update(`${region}${deliveredMs}`).digest('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 16)
  return `AWSLogs/${ACCOUNT}/CloudTrail/${region}/${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/${ACCOUNT}_CloudTrail_${region}_${stamp}_${random}.json.gz`
}

/**
 * Groups records into log files the way CloudTrail delivers them: about every 5 minutes, each file
 * holding the events of the 5 minutes before, delivered ~5 minutes after the call.
 */
export function deliver(records: Array<Record<string, unknown>>): Map<string, Array<Record<string, unknown>>> {
  const files = new Map<string, Array<Record<string, unknown>>>()
  for (const record of records) {
    const t = Date.parse(String(record.eventTime))
    const delivered = Math.ceil((t + 5 * 60_000) / 300_000) * 300_000
    const path = trailPath(delivered, String(record.awsRegion))
    files.set(path, [...(files.get(path) ?? []), record])
  }
  return files
}

// ---- AWS Config -----------------------------------------------------------------------------------------

export interface ItemSpec {
  time: string
  type: string
  id: string
  stateId: number
  status?: string
  configuration: Record<string, unknown>
  relationships?: Array<{resourceType: string; resourceId: string; name: string}>
  tags?: Record<string, string>
}

/** A configuration item as history files hold it (configurationItemVersion 1.3). */
export function configItem(spec: ItemSpec): Record<string, unknown> {
  const arnType = spec.type === 'AWS::EC2::Instance' ? 'instance' : spec.type === 'AWS::EC2::SecurityGroup' ? 'security-group' : 'resource'
  return {
    relatedEvents: [],
    relationships: spec.relationships ?? [],
    configuration: spec.configuration,
    supplementaryConfiguration: {},
    tags: spec.tags ?? {},
    configurationItemVersion: '1.3',
    configurationItemCaptureTime: spec.time.replace(/Z$/, '.000Z'),
    configurationStateId: spec.stateId,
    awsAccountId: ACCOUNT,
    configurationItemStatus: spec.status ?? 'OK',
    resourceType: spec.type,
    resourceId: spec.id,
    resourceName: spec.id,
    ARN: `arn:aws:ec2:${REGION}:${ACCOUNT}:${arnType}/${spec.id}`,
    awsRegion: REGION,
    availabilityZone: spec.type === 'AWS::EC2::Instance' ? `${REGION}a` : 'Not Applicable',
    configurationStateMd5Hash: '',
    resourceCreationTime: null,
  }
}

/** A security group's `configuration` (Describe output, camelCase; ipRanges strings and ipv4Ranges objects). */
export function groupConfiguration(group: string, name: string, ingress: Array<{protocol: string; from: number; to: number; cidr: string}>): Record<string, unknown> {
  return {
    description: name,
    groupId: group,
    groupName: name,
    ipPermissions: ingress.map((r) => ({fromPort: r.from, ipProtocol: r.protocol, ipRanges: [r.cidr], ipv4Ranges: [{cidrIp: r.cidr}], ipv6Ranges: [], prefixListIds: [], toPort: r.to, userIdGroupPairs: []})),
    ipPermissionsEgress: [{fromPort: null, ipProtocol: '-1', ipRanges: ['0.0.0.0/0'], ipv4Ranges: [{cidrIp: '0.0.0.0/0'}], ipv6Ranges: [], prefixListIds: [], toPort: null, userIdGroupPairs: []}],
    ownerId: ACCOUNT,
    tags: [],
    vpcId: 'vpc-0b1c2d3e',
  }
}

export function instanceConfiguration(instance: string, image: string, groups: Array<{groupId: string; groupName: string}>): Record<string, unknown> {
  return {
    imageId: image,
    instanceId: instance,
    instanceType: 'm1.small',
    launchTime: '2013-05-02T05:20:11.000Z',
    placement: {availabilityZone: `${REGION}a`, tenancy: 'default'},
    privateIpAddress: '10.206.10.174',
    publicIpAddress: '54.204.11.87',
    securityGroups: groups,
    sourceDestCheck: true,
    state: {code: 16, name: 'running'},
    subnetId: 'subnet-0c1d2e3f',
    tags: [{key: 'Name', value: 'ntp'}],
    vpcId: 'vpc-0b1c2d3e',
  }
}

/**
 * `…/Config/{region}/{YYYY}/{M}/{D}/ConfigHistory/{account}_Config_{region}_ConfigHistory_{type}_{start}_{end}_{n}.json.gz`
 * (month and day not zero-padded).
 */
export function configHistoryPath(type: string, startMs: number, endMs: number, n = 1): string {
  const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
  const d = new Date(endMs)
  return `AWSLogs/${ACCOUNT}/Config/${REGION}/${d.getUTCFullYear()}/${d.getUTCMonth() + 1}/${d.getUTCDate()}/ConfigHistory/${ACCOUNT}_Config_${REGION}_ConfigHistory_${type}_${stamp(startMs)}_${stamp(endMs)}_${n}.json.gz`
}
