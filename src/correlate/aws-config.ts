/**
 * AWS Config configuration history as changes to the account: each resource's configuration items in
 * order, and what changed between one and the next (rules of a security group, an instance's image,
 * state and public address, an Elastic IP's instance, a route table's routes), with the relationships
 * Config records (which instances a security group is associated with).
 *
 * Item fields: AWS Config Developer Guide, "Components of a configuration item" and "Example configuration
 * history" (docs.aws.amazon.com/config/latest/developerguide/example-s3-config-history.html) for files as
 * delivered to S3; AWS Config API Reference, GetResourceConfigHistory and ConfigurationItem for the API
 * (its `configuration` is a JSON string, several keys are named differently). See
 * /work/shared/research/flows-and-trails.md §4.
 */
import {readdirSync} from 'node:fs'
import {basename, join} from 'node:path'

import {
  ConfigServiceClient,
  GetResourceConfigHistoryCommand,
  type ConfigurationItem,
  type ResourceType,
} from '@aws-sdk/client-config-service'

import {allPages, type AwsConnection, callAws, clientConfig} from '../aws/clients.js'
import {arrayAt, field, firstString, isRecord, namesOf, scalarAt, stringAt, stringsOf} from '../core/json.js'
import {BillwatchError} from '../errors.js'
import {accountChange, factSubject, rule, statSource} from './cloud.js'
import {readLogText} from './package-logs.js'
import {isoSeconds} from './time.js'
import type {Change, CloudFact, NetworkRule} from './types.js'

/** One configuration item, in the file shape (the API's are converted to it). */
export interface ConfigItem {
  resourceType: string
  resourceId: string
  awsRegion: null | string
  captureTime: string
  status: string
  stateId: number
  /** The resource's configuration as Config recorded it: JSON of the resource type's shape, read with src/core/json. */
  configuration: unknown
  relationships: {resourceType: string; resourceId: string; name: string}[]
}

export interface ConfigChanges {
  changes: Change[]
  itemsRead: number
  resources: string[]
}

/** The types whose history can say why egress moved. */
const TYPES = new Set([
  'AWS::EC2::SecurityGroup',
  'AWS::EC2::Instance',
  'AWS::EC2::EIP',
  'AWS::EC2::RouteTable',
  'AWS::EC2::NetworkAcl',
  'AWS::EC2::NatGateway',
  'AWS::EC2::InternetGateway',
  'AWS::EC2::VPCEndpoint',
  'AWS::EC2::NetworkInterface',
])

interface Window {
  since: number
  until: number
}

/** File items: `configurationItemCaptureTime`, `configurationStateId`, relationships' `name`. */
export function itemFromFile(ci: unknown): ConfigItem | undefined {
  const resourceType = stringAt(ci, 'resourceType')
  const resourceId = stringAt(ci, 'resourceId')
  if (resourceType === undefined || resourceId === undefined) return undefined
  const configuration = field(ci, 'configuration')
  return {
    awsRegion: stringAt(ci, 'awsRegion') ?? null,
    captureTime: stringAt(ci, 'configurationItemCaptureTime') ?? '',
    configuration: typeof configuration === 'string' ? safeJson(configuration) : (configuration ?? null),
    // A relationship that is not an object names nothing.
    relationships: arrayAt(ci, 'relationships')
      .filter(isRecord)
      .map((r) => ({
        name: firstString(r.name, r.relationshipName) ?? '',
        resourceId: stringAt(r, 'resourceId') ?? '',
        resourceType: stringAt(r, 'resourceType') ?? '',
      })),
    resourceId,
    resourceType,
    stateId: Number(scalarAt(ci, 'configurationStateId') ?? scalarAt(ci, 'configurationStateID') ?? 0),
    status: stringAt(ci, 'configurationItemStatus') ?? 'OK',
  }
}

/** API items: `configuration` is a JSON string, capture time a Date, relationships' `relationshipName`. */
export function itemFromApi(ci: ConfigurationItem): ConfigItem | undefined {
  return itemFromFile({
    ...ci,
    configurationItemCaptureTime: ci.configurationItemCaptureTime?.toISOString(),
    configurationStateId: ci.configurationStateId,
  })
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}

/** Builds changes from items: consecutive items of a resource compared, facts kept for captures in the window. */
type Read = ConfigItem & {
  /** The file or call the item came from. */
  origin: string
}

export class ConfigCollector {
  private readonly byResource = new Map<string, Read[]>()
  itemsRead = 0

  constructor(private readonly window: Window) {}

  add(item: ConfigItem, origin: string): void {
    if (!TYPES.has(item.resourceType) || Number.isNaN(Date.parse(item.captureTime))) return
    this.itemsRead++
    const key = `${item.resourceType}|${item.resourceId}`
    const list = this.byResource.get(key) ?? []
    // Snapshots and history files repeat items: one per state of a resource.
    if (!list.some((x) => x.stateId === item.stateId && x.captureTime === item.captureTime))
      list.push({...item, origin})
    this.byResource.set(key, list)
  }

  result(): ConfigChanges {
    // Which instances each security group protects: Config records the relation on both sides.
    const protects = new Map<string, Set<string>>()
    const link = (group: string, instance: string) =>
      protects.set(group, (protects.get(group) ?? new Set()).add(instance))
    for (const list of this.byResource.values()) {
      const latest = list.at(-1)
      for (const r of latest?.relationships ?? []) {
        if (latest!.resourceType === 'AWS::EC2::SecurityGroup' && r.resourceType === 'AWS::EC2::Instance')
          link(latest!.resourceId, r.resourceId)
        if (latest!.resourceType === 'AWS::EC2::Instance' && r.resourceType === 'AWS::EC2::SecurityGroup')
          link(r.resourceId, latest!.resourceId)
      }
    }
    const changes: Change[] = []
    for (const list of this.byResource.values()) {
      list.sort((a, b) => Date.parse(a.captureTime) - Date.parse(b.captureTime) || a.stateId - b.stateId)
      for (const [i, item] of list.entries()) {
        const ms = Date.parse(item.captureTime)
        if (ms < this.window.since || ms >= this.window.until) continue
        const facts = diffItems(list[i - 1], item)
        if (facts.length === 0) continue
        for (const f of facts) {
          f.region = item.awsRegion
          f.instances = [...new Set([...f.instances, ...(protects.get(f.resource) ?? [])])]
        }
        changes.push(
          accountChange({
            author: null,
            facts,
            origin: `${item.origin}#${item.resourceId}@${isoSeconds(ms)}`,
            recordedTime: item.captureTime,
            source: 'aws-config',
            subject: `${facts.map(factSubject).join('; ')} (AWS Config)`,
            time: isoSeconds(ms),
          }),
        )
      }
    }
    const resources = [...this.byResource.values()].map((l) => l[0]!.resourceId).sort()
    return {changes, itemsRead: this.itemsRead, resources}
  }
}

function fact(item: ConfigItem, action: CloudFact['action'], extra: Partial<CloudFact> = {}): CloudFact {
  return {
    action,
    instances: [],
    operation: `AWS Config ${item.resourceType}`,
    region: item.awsRegion,
    related: [],
    resource: item.resourceId,
    resourceType: item.resourceType,
    ...extra,
  }
}

/** What changed from one item to the next (the first item of a resource is its creation or discovery). */
function diffItems(before: ConfigItem | undefined, after: ConfigItem): CloudFact[] {
  const a = after.configuration
  const b = before?.configuration
  const deleted = after.status.includes('Deleted')
  switch (after.resourceType) {
    case 'AWS::EC2::SecurityGroup':
    case 'AWS::EC2::NetworkAcl': {
      const now = deleted ? new Map<string, NetworkRule>() : rulesOf(after.resourceType, a)
      const then = before ? rulesOf(after.resourceType, b) : new Map<string, NetworkRule>()
      // A new group comes with the default allow-all egress rule; CreateSecurityGroup adds nothing else.
      if (!before)
        for (const [k, r] of now)
          if (
            r.direction === 'egress' &&
            r.protocol === 'all' &&
            r.peers.every((p) => p === '0.0.0.0/0' || p === '::/0')
          )
            now.delete(k)
      return [
        ...[...now].filter(([k]) => !then.has(k)).map(([, r]) => fact(after, 'rule-added', {rule: r})),
        ...[...then].filter(([k]) => !now.has(k)).map(([, r]) => fact(after, 'rule-removed', {rule: r})),
      ]
    }
    case 'AWS::EC2::Instance': {
      if (deleted) return [fact(after, 'instance-stopped')]
      const image = stringAt(a, 'imageId')
      if (!before)
        return after.status === 'ResourceDiscovered'
          ? [fact(after, 'instance-launched', {related: namesOf([image])})]
          : []
      const facts: CloudFact[] = []
      const imageBefore = stringAt(b, 'imageId')
      if (image && imageBefore && image !== imageBefore) facts.push(fact(after, 'image-changed', {related: [image]}))
      const state = stringAt(a, 'state', 'name')
      if (state !== stringAt(b, 'state', 'name')) {
        if (state === 'running') facts.push(fact(after, 'instance-started'))
        if (state === 'stopped' || state === 'terminated') facts.push(fact(after, 'instance-stopped'))
      }
      const address = stringAt(a, 'publicIpAddress')
      if (address && address !== stringAt(b, 'publicIpAddress'))
        facts.push(fact(after, 'address-associated', {related: [address]}))
      const groupIds = (x: unknown) => arrayAt(x, 'securityGroups').map((g) => stringAt(g, 'groupId'))
      const groups = (x: unknown) =>
        groupIds(x)
          .map((id) => id ?? '')
          .sort()
          .join(',')
      if (groups(a) !== groups(b)) facts.push(fact(after, 'instance-changed', {related: stringsOf(groupIds(a))}))
      return facts
    }
    case 'AWS::EC2::EIP': {
      const target = firstString(field(a, 'instanceId'), field(a, 'networkInterfaceId'))
      const old = firstString(field(b, 'instanceId'), field(b, 'networkInterfaceId'))
      if (target && target !== old)
        return [
          {
            ...fact(after, 'address-associated', {related: namesOf([after.resourceId, field(a, 'publicIp')])}),
            resource: target,
            resourceType: 'AWS::EC2::Instance',
          },
        ]
      if (!target && old)
        return [
          {
            ...fact(after, 'address-disassociated', {related: [after.resourceId]}),
            resource: old,
            resourceType: 'AWS::EC2::Instance',
          },
        ]
      return []
    }
    case 'AWS::EC2::RouteTable': {
      // Destination → where traffic to it leaves (a route that is not an object routes nothing).
      const routes = (x: unknown) =>
        new Map<string, string>(
          arrayAt(x, 'routes')
            .filter(isRecord)
            .map((r) => [
              firstString(r.destinationCidrBlock, r.destinationIpv6CidrBlock, r.destinationPrefixListId) ?? '',
              firstString(
                r.gatewayId,
                r.natGatewayId,
                r.instanceId,
                r.networkInterfaceId,
                r.transitGatewayId,
                r.vpcPeeringConnectionId,
              ) ?? '',
            ]),
        )
      const now = routes(a)
      const then = routes(b)
      const facts: CloudFact[] = []
      for (const [dest, target] of now)
        if (then.get(dest) !== target)
          facts.push(fact(after, 'route-changed', {related: [target, dest].filter(Boolean)}))
      for (const [dest, target] of then)
        if (!now.has(dest)) facts.push(fact(after, 'route-removed', {related: [target, dest].filter(Boolean)}))
      return facts
    }
    case 'AWS::EC2::NatGateway':
      return deleted ? [fact(after, 'nat-deleted')] : before ? [] : [fact(after, 'nat-created')]
    case 'AWS::EC2::InternetGateway': {
      const attached = (x: unknown) =>
        arrayAt(x, 'attachments')
          .map((t) => stringAt(t, 'vpcId') ?? '')
          .join(',')
      if (attached(a) && attached(a) !== attached(b)) return [fact(after, 'gateway-attached', {related: [attached(a)]})]
      if (!attached(a) && attached(b)) return [fact(after, 'gateway-detached', {related: [attached(b)]})]
      return []
    }
    case 'AWS::EC2::VPCEndpoint':
      return deleted ? [fact(after, 'endpoint-removed')] : []
    default:
      return []
  }
}

/** A group's (or ACL's) rules, one per peer, keyed so that two items compare. */
function rulesOf(type: string, c: unknown): Map<string, NetworkRule> {
  const out = new Map<string, NetworkRule>()
  const put = (r: NetworkRule) => {
    for (const peer of r.peers.length > 0 ? r.peers : ['']) {
      const one = {...r, peers: peer ? [peer] : []}
      out.set(`${one.direction}|${one.protocol}|${one.fromPort}|${one.toPort}|${one.allow}|${peer}`, one)
    }
  }
  if (type === 'AWS::EC2::NetworkAcl') {
    for (const e of arrayAt(c, 'entries').filter(isRecord)) {
      if (Number(scalarAt(e, 'ruleNumber')) === 32_767) continue // the default deny-all entry
      put(
        rule(
          e.egress ? 'egress' : 'ingress',
          e.protocol,
          field(e, 'portRange', 'from'),
          field(e, 'portRange', 'to'),
          namesOf([e.cidrBlock, e.ipv6CidrBlock]),
          stringAt(e, 'ruleAction') !== 'deny',
        ),
      )
    }
    return out
  }
  for (const [key, direction] of [
    ['ipPermissions', 'ingress'],
    ['ipPermissionsEgress', 'egress'],
  ] as const) {
    for (const p of arrayAt(c, key).filter(isRecord)) {
      // ipv4Ranges (objects) is newer and parallel to ipRanges (strings): read both, once.
      const peers = stringsOf([
        ...arrayAt(p, 'ipv4Ranges').map((x) => field(x, 'cidrIp')),
        ...arrayAt(p, 'ipRanges').map((x) => (typeof x === 'string' ? x : field(x, 'cidrIp'))),
        ...arrayAt(p, 'ipv6Ranges').map((x) => field(x, 'cidrIpv6')),
        ...arrayAt(p, 'prefixListIds').map((x) => field(x, 'prefixListId')),
        ...arrayAt(p, 'userIdGroupPairs').map((x) => field(x, 'groupId')),
      ])
      put(rule(direction, p.ipProtocol, p.fromPort, p.toPort, peers))
    }
  }
  return out
}

const DAY_MS = 86_400_000
/** `…/Config/us-east-1/2014/3/29/ConfigHistory/…`: month and day are not zero-padded. */
const PATH_DAY = /\/(\d{4})\/(\d{1,2})\/(\d{1,2})\/Config(?:History|Snapshot)\//

/**
 * Config history and snapshot files (`{"fileVersion":…,"configurationItems":[…]}`, plain or gzip): one
 * file, or a folder as delivered to S3. Files dated after the window are skipped; earlier ones are read
 * for each resource's state before it.
 */
export function readConfigFiles(path: string, window: Window): ConfigChanges {
  const collector = new ConfigCollector(window)
  const info = statSource(path, 'AWS Config history files (.json.gz)')
  const files: string[] = []
  if (info.isDirectory()) {
    for (const entry of readdirSync(path, {recursive: true, withFileTypes: true})) {
      if (!entry.isFile() || !/\.json(?:\.gz)?$/.test(entry.name)) continue
      const full = join(entry.parentPath, entry.name)
      const day = PATH_DAY.exec(full)
      if (day && Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3])) > window.until + DAY_MS) continue
      files.push(full)
    }
    if (files.length === 0)
      throw new BillwatchError('E_EMPTY', 'no AWS Config history files (.json or .json.gz) in this folder', {
        file: path,
      })
  } else {
    files.push(path)
  }
  for (const file of files.sort()) {
    let parsed: unknown
    try {
      parsed = JSON.parse(readLogText(file))
    } catch (error) {
      if (error instanceof BillwatchError) throw error
      throw new BillwatchError('E_FORMAT', 'not JSON', {
        expected: 'an AWS Config history file {"configurationItems":[…]}',
        file,
      })
    }
    const items = field(parsed, 'configurationItems')
    if (!Array.isArray(items))
      throw new BillwatchError('E_FORMAT', 'no "configurationItems" array', {
        expected: 'an AWS Config history or snapshot file',
        field: 'configurationItems',
        file,
      })
    for (const ci of items) {
      const item = itemFromFile(ci)
      if (item) collector.add(item, basename(file))
    }
  }
  return collector.result()
}

export interface ConfigApiOptions {
  connection: AwsConnection
  /** Instances (or other resources) the step names; their security groups are followed through relationships. */
  resources: string[]
  onPage?: (pages: number) => void
}

const MAX_SPAN_MS = 7 * DAY_MS
/** How far back to look for a resource's state before the window (a resource unchanged longer reads as new). */
const BASELINE_WEEKS = 13

const TYPE_OF_PREFIX: Record<string, ResourceType> = {
  eipalloc: 'AWS::EC2::EIP',
  eni: 'AWS::EC2::NetworkInterface',
  i: 'AWS::EC2::Instance',
  rtb: 'AWS::EC2::RouteTable',
  sg: 'AWS::EC2::SecurityGroup',
}

/**
 * GetResourceConfigHistory for each resource the step names and the security groups Config relates to
 * them: the items of the window (oldest first) plus the one before it, to compare against.
 */
export async function configHistoryFromApi(window: Window, options: ConfigApiOptions): Promise<ConfigChanges> {
  const collector = new ConfigCollector(window)
  const client = new ConfigServiceClient(clientConfig(options.connection, options.connection.region))
  const queue = [...new Set(options.resources)]
  const done = new Set<string>()
  let pages = 0
  try {
    while (queue.length > 0) {
      const id = queue.shift()!
      const resourceType = TYPE_OF_PREFIX[id.split('-')[0] ?? '']
      if (!resourceType || done.has(id)) continue
      done.add(id)
      const ask = (
        input: {earlierTime?: Date; laterTime: Date; chronologicalOrder: 'Forward' | 'Reverse'; limit: number},
        token?: string,
      ) =>
        callAws('GetResourceConfigHistory', options.connection, () =>
          client.send(new GetResourceConfigHistoryCommand({...input, nextToken: token, resourceId: id, resourceType})),
        )
      // The state before the window, to compare the first change with: the newest item of the weeks before.
      let before: {configurationItems?: ConfigurationItem[] | undefined} = {configurationItems: []}
      let known = true
      for (let weeks = 1; known && weeks <= BASELINE_WEEKS && (before.configurationItems ?? []).length === 0; weeks++) {
        const to = window.since - (weeks - 1) * MAX_SPAN_MS
        before = await ask({
          chronologicalOrder: 'Reverse',
          earlierTime: new Date(to - MAX_SPAN_MS),
          laterTime: new Date(to),
          limit: 1,
        }).catch((error: unknown) => {
          // Config never recorded it: nothing to compare with, and nothing in the window either.
          if (error instanceof BillwatchError && error.message.includes('ResourceNotDiscovered')) {
            known = false
            return {configurationItems: []}
          }
          throw error
        })
        options.onPage?.(++pages)
      }
      if (!known) continue
      // The API reference says one call spans at most seven days: ask the window a week at a time.
      const responses: {configurationItems?: ConfigurationItem[] | undefined}[] = []
      for (let from = window.since; from < window.until; from += MAX_SPAN_MS) {
        const to = Math.min(window.until, from + MAX_SPAN_MS)
        const part = await allPages(
          (token) =>
            ask(
              {chronologicalOrder: 'Forward', earlierTime: new Date(from), laterTime: new Date(to), limit: 100},
              token,
            ),
          (page) => page.nextToken,
          () => options.onPage?.(++pages),
        )
        responses.push(...part.pages)
      }
      for (const ci of [
        ...(before.configurationItems ?? []),
        ...responses.flatMap((p) => p.configurationItems ?? []),
      ]) {
        const item = itemFromApi(ci)
        if (!item) continue
        collector.add(item, `GetResourceConfigHistory ${id}`)
        if (item.resourceType === 'AWS::EC2::Instance')
          for (const r of item.relationships) if (r.resourceType === 'AWS::EC2::SecurityGroup') queue.push(r.resourceId)
      }
    }
  } finally {
    client.destroy()
  }
  return collector.result()
}
