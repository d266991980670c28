/**
 * Changes to the account itself (CloudTrail events, AWS Config history, Terraform/CloudFormation diffs):
 * the shared vocabulary of their facts, how a fact reads in a sentence, and how facts about one change
 * from several sources become one change citing all of them.
 */
import {type Stats, statSync} from 'node:fs'

import {stringsIn} from '../core/json.js'
import {BillwatchError} from '../errors.js'
import {unopenableFile} from '../util/files.js'
import type {Change, CloudAction, CloudFact, NetworkRule} from './types.js'

/** A source given by path (a file or a folder of files): its stat, or the one-line error naming it. */
export function statSource(path: string, expected: string): Stats {
  let stats: Stats
  try {
    stats = statSync(path)
  } catch (error) {
    throw unopenableFile(path, error, expected)
  }
  // A FIFO or device would hang the read or never end: only regular files and folders are sources.
  if (!stats.isFile() && !stats.isDirectory())
    throw new BillwatchError('E_FORMAT', 'not a regular file or folder', {expected, file: path})
  return stats
}

const TERRAFORM = /\.tf(?:\.json)?$/
const TEMPLATE = /\.(?:ya?ml|json|template)$/i

export function isTerraformPath(path: string): boolean {
  return TERRAFORM.test(path)
}

/** Is this path a file an IaC reading looks at (Terraform, or a template that may be CloudFormation)? */
export function isIacPath(path: string): boolean {
  return TERRAFORM.test(path) || TEMPLATE.test(path)
}

/** Resource ids as EC2 and ELB print them. */
const ID = /^(?:acl|ami|eigw|eipalloc|eipassoc|eni|i|igw|nat|pl|rtb|sg|subnet|vpc|vpce)-[0-9a-f]{8,17}$/

export function isResourceId(text: string): boolean {
  return ID.test(text)
}

/** Every resource id in a JSON value (request parameters, response elements), in order, once each. */
export function resourceIds(value: unknown): string[] {
  return [...new Set(stringsIn(value).filter((text) => ID.test(text)))]
}

/** 0.0.0.0/0, ::/0 and any other range wider than a /8: "the internet". */
export function isInternet(peer: string): boolean {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(peer)
  if (v4) return Number(v4[5]) <= 8 && !isPrivateV4(peer)
  const v6 = /^([0-9a-f:]+)\/(\d+)$/i.exec(peer)
  if (v6) return Number(v6[2]) <= 16
  return false
}

function isPrivateV4(cidr: string): boolean {
  return /^(?:10\.|127\.|169\.254\.|172\.(?:1[6-9]|2\d|3[01])\.|192\.168\.)/.test(cidr)
}

const PROTOCOL_NAMES: Record<string, string> = {
  '-1': 'all',
  '1': 'icmp',
  '17': 'udp',
  '58': 'icmpv6',
  '6': 'tcp',
  icmpv6: 'icmpv6',
}

/**
 * 'UDP', '17', '-1', 'all' → 'udp', 'udp', 'all', 'all'; a value that is no name or number (an object from hostile
 * JSON) → 'unknown'.
 */
export function normaliseProtocol(value: unknown): string {
  if (value !== null && value !== undefined && typeof value !== 'string' && typeof value !== 'number') return 'unknown'
  const text = String(value ?? '-1')
    .toLowerCase()
    .trim()
  if (text === '' || text === 'all' || text === '*' || text === '-1') return 'all'
  return PROTOCOL_NAMES[text] ?? text
}

/** Ports as APIs give them: -1 or null for "all" (ICMP type/code are not ports). */
export function normalisePort(value: unknown): null | number {
  // Only numbers and their text: Number() of an object from hostile JSON can throw ({"toString": {}}).
  if ((typeof value !== 'number' && typeof value !== 'string') || value === '') return null
  const n = Number(value)
  return Number.isInteger(n) && n >= 0 && n <= 65_535 ? n : null
}

/** A cloud change's fact: no instances, region or related resources unless `extra` names them. */
export function fact(
  action: CloudAction,
  operation: string,
  resource: string,
  resourceType: string,
  extra: Partial<CloudFact> = {},
): CloudFact {
  return {action, instances: [], operation, region: null, related: [], resource, resourceType, ...extra}
}

export function rule(
  direction: NetworkRule['direction'],
  protocol: unknown,
  from: unknown,
  to: unknown,
  peers: string[],
  allow = true,
): NetworkRule {
  const proto = normaliseProtocol(protocol)
  const ported = proto === 'tcp' || proto === 'udp'
  const fromPort = ported ? normalisePort(from) : null
  const toPort = ported ? (normalisePort(to) ?? fromPort) : null
  // 0-65535 is every port: say so once, so that rules from different sources compare equal.
  const all = fromPort === 0 && toPort === 65_535
  return {
    allow,
    direction,
    fromPort: all ? null : fromPort,
    peers: [...new Set(peers)].sort(),
    protocol: proto,
    toPort: all ? null : toPort,
  }
}

/** 'udp/123', 'tcp/8000-8100', 'udp' (all ports), 'all'. */
export function portText(r: Pick<NetworkRule, 'fromPort' | 'protocol' | 'toPort'>): string {
  if (r.protocol === 'all') return 'all'
  if (r.fromPort === null) return r.protocol
  return r.toPort === null || r.toPort === r.fromPort
    ? `${r.protocol}/${r.fromPort}`
    : `${r.protocol}/${r.fromPort}-${r.toPort}`
}

/**
 * Does the fact open UDP 123 (NTP) to someone: an allowed inbound rule naming UDP ports that include 123, or
 * a UDP listener on 123? Rules for every port or protocol say nothing about NTP in particular.
 */
export function opensNtpPort(fact: CloudFact): boolean {
  if (fact.action === 'listener-added')
    return fact.listener !== undefined && /udp/i.test(fact.listener.protocol) && fact.listener.port === 123
  const r = fact.rule
  return (
    fact.action === 'rule-added' &&
    r !== undefined &&
    r.allow &&
    r.direction === 'ingress' &&
    r.protocol === 'udp' &&
    r.fromPort !== null &&
    ruleCovers(r, 'udp/123')
  )
}

/** Does the rule let traffic to `port` ('udp/123') through? */
export function ruleCovers(r: NetworkRule, port: string): boolean {
  const [protocol = '', number = ''] = port.split('/')
  if (r.protocol !== 'all' && r.protocol !== protocol) return false
  if (r.fromPort === null) return true
  const n = Number(number)
  return n >= r.fromPort && n <= (r.toPort ?? r.fromPort)
}

/** "UDP 123", "TCP 8000-8100", "every UDP port", "all traffic". */
export function portWords(r: NetworkRule): string {
  if (r.protocol === 'all') return 'all traffic'
  const name = r.protocol.toUpperCase()
  if (r.fromPort === null) return `every ${name} port`
  return r.toPort === null || r.toPort === r.fromPort ? `${name} ${r.fromPort}` : `${name} ${r.fromPort}-${r.toPort}`
}

export function opensToInternet(r: NetworkRule): boolean {
  return r.allow && r.peers.some(isInternet)
}

const ACTION_WORDS: Record<CloudAction, string> = {
  'address-associated': 'Elastic IP associated with',
  'address-disassociated': 'Elastic IP disassociated from',
  'endpoint-removed': 'VPC endpoint removed:',
  'gateway-attached': 'internet gateway attached to',
  'gateway-detached': 'internet gateway detached from',
  'image-changed': 'image replaced on',
  'instance-changed': 'instance changed:',
  'instance-launched': 'instance launched:',
  'instance-started': 'instance started:',
  'instance-stopped': 'instance stopped:',
  'interface-attached': 'network interface attached to',
  'listener-added': 'listener added on',
  'listener-removed': 'listener removed from',
  'nat-created': 'NAT gateway created:',
  'nat-deleted': 'NAT gateway deleted:',
  'public-access-opened': 'public access opened on',
  'route-changed': 'route changed in',
  'route-removed': 'route removed from',
  'rule-added': 'rule added to',
  'rule-removed': 'rule removed from',
}

/** A short line for tables: "sg-0a1b… ingress udp/123 from 0.0.0.0/0 added". */
export function factSubject(fact: CloudFact): string {
  if (fact.rule) {
    const r = fact.rule
    const peers =
      r.peers.length > 0
        ? ` ${r.direction === 'ingress' ? 'from' : 'to'} ${r.peers.slice(0, 2).join(', ')}${r.peers.length > 2 ? ` +${r.peers.length - 2}` : ''}`
        : ''
    const verb = fact.action === 'rule-added' ? (r.allow ? 'allowed' : 'denied') : 'revoked'
    return `${fact.resource} ${r.direction} ${portText(r)}${peers} ${verb}`
  }
  if (fact.listener)
    return `${ACTION_WORDS[fact.action]} ${fact.resource} ${fact.listener.protocol.toUpperCase()} ${fact.listener.port}`
  const related = fact.related.length > 0 ? ` (${fact.related.slice(0, 2).join(', ')})` : ''
  return `${ACTION_WORDS[fact.action]} ${fact.resource}${related}`
}

/**
 * The sentence's head for a fact: "sg-… was opened to the world on UDP 123", "i-… was launched from ami-…".
 */
export function factStory(fact: CloudFact): string {
  if (fact.rule) {
    const r = fact.rule
    const world = opensToInternet(r)
    const peers = world ? 'the world' : r.peers.join(', ') || 'its peers'
    if (fact.action === 'rule-removed')
      return `${fact.resource} stopped allowing ${r.direction} ${portWords(r)} ${r.direction === 'ingress' ? 'from' : 'to'} ${peers}`
    if (!r.allow)
      return `${fact.resource} was set to deny ${r.direction} ${portWords(r)} ${r.direction === 'ingress' ? 'from' : 'to'} ${peers}`
    return r.direction === 'ingress'
      ? `${fact.resource} was opened to ${peers} on ${portWords(r)}`
      : `${fact.resource} was allowed to send ${portWords(r)} to ${peers}`
  }
  switch (fact.action) {
    case 'instance-launched':
      return `${fact.resource} was launched${fact.related[0]?.startsWith('ami-') ? ` from ${fact.related[0]}` : ''}`
    case 'instance-started':
      return `${fact.resource} was started`
    case 'instance-stopped':
      return `${fact.resource} was stopped`
    case 'image-changed':
      return `${fact.resource} got a new image${fact.related[0] ? ` (${fact.related[0]})` : ''}`
    case 'instance-changed':
      return `${fact.resource} was changed`
    case 'address-associated':
      return `an Elastic IP${fact.related[0] ? ` (${fact.related[0]})` : ''} was associated with ${fact.resource}`
    case 'address-disassociated':
      return `an Elastic IP was taken off ${fact.resource}`
    case 'listener-added':
      return `${fact.resource} started listening on ${fact.listener ? `${fact.listener.protocol.toUpperCase()} ${fact.listener.port}` : 'a new port'}`
    case 'public-access-opened':
      return `${fact.resource} was opened to public reads`
    default:
      return factSubject(fact)
  }
}

/** The instances a change concerns: the instance itself, or those its security group protects. */
export function factInstances(fact: CloudFact): string[] {
  return [...new Set([...(fact.resource.startsWith('i-') ? [fact.resource] : []), ...fact.instances])]
}

/**
 * Two facts are about the same change when they do the same thing to the same rule (or resource). A
 * resource id is compared only when both sources know it: an IaC diff names `aws_security_group.ntp`,
 * CloudTrail `sg-0a1b…`.
 */
export function sameFact(a: CloudFact, b: CloudFact): boolean {
  if (a.action !== b.action) return false
  const bothIds = isResourceId(a.resource) && isResourceId(b.resource)
  if (bothIds && a.resource !== b.resource) return false
  if (a.rule || b.rule) {
    if (!a.rule || !b.rule) return false
    return (
      a.rule.direction === b.rule.direction &&
      a.rule.protocol === b.rule.protocol &&
      a.rule.fromPort === b.rule.fromPort &&
      a.rule.toPort === b.rule.toPort &&
      a.rule.allow === b.rule.allow &&
      a.rule.peers.some((p) => b.rule!.peers.includes(p))
    )
  }
  if (a.listener || b.listener)
    return a.listener?.port === b.listener?.port && a.listener?.protocol === b.listener?.protocol
  return bothIds || a.related.some((r) => b.related.includes(r))
}

/**
 * A change to the account as correlate ranks it: no commit, packages or files; `author` is the principal when known.
 */
export function accountChange(c: {
  source: 'aws-config' | 'cloudtrail'
  time: string
  recordedTime: string
  author: null | string
  origin: string
  subject: string
  facts: CloudFact[]
}): Change {
  return {
    alsoIn: [],
    author: c.author,
    authorTime: null,
    cloud: c.facts,
    command: null,
    commit: null,
    committerTime: null,
    files: [],
    kind: 'manual',
    manager: null,
    origin: c.origin,
    packages: [],
    parents: [],
    recordedTime: c.recordedTime,
    sameChangeIn: [],
    source: c.source,
    subject: c.subject,
    time: c.time,
  }
}

/**
 * How far apart two sources may date the same change: Config captures within minutes, IaC is applied after its commit.
 */
const SAME_CHANGE_MS: Record<string, number> = {'aws-config': 6 * 3_600_000, git: 2 * 86_400_000}
const SOURCE_ORDER = ['cloudtrail', 'aws-config', 'git']

/**
 * Folds changes that record the same account change into one: CloudTrail first (it knows who and the
 * second), then AWS Config, then the IaC commit. The kept change cites the others in `alsoIn` and takes
 * the instances and ids they know.
 */
export function mergeCloudChanges(changes: Change[]): Change[] {
  const ordered = [...changes].sort((a, b) => SOURCE_ORDER.indexOf(a.source) - SOURCE_ORDER.indexOf(b.source))
  const out: Change[] = []
  for (const change of ordered) {
    const facts = change.cloud ?? []
    const target =
      facts.length === 0
        ? undefined
        : out.find((kept) => {
            if (kept.source === change.source && kept.commit === change.commit) return false
            const tolerance = SAME_CHANGE_MS[change.source] ?? SAME_CHANGE_MS['aws-config']!
            // An IaC commit comes before the change it makes; Config captures after it.
            const gap = Date.parse(kept.time) - Date.parse(change.time)
            if (change.source === 'git' ? gap < -3_600_000 || gap > tolerance : Math.abs(gap) > tolerance) return false
            return facts.some((f) => (kept.cloud ?? []).some((k) => sameFact(k, f)))
          })
    if (!target) {
      out.push(
        facts.length === 0
          ? change
          : {
              ...change,
              alsoIn: [...change.alsoIn],
              cloud: facts.map((f) => ({...f, instances: [...f.instances], related: [...f.related]})),
              sameChangeIn: [...change.sameChangeIn],
            },
      )
      continue
    }
    target.alsoIn.push(citation(change), ...change.alsoIn)
    // The commits that repeat a folded IaC commit (its merge, its cherry-picks) record this change too.
    target.sameChangeIn.push(...change.sameChangeIn)
    for (const fact of facts) {
      const kept = target.cloud!.find((k) => sameFact(k, fact))
      if (!kept) continue
      kept.instances = [...new Set([...kept.instances, ...fact.instances])]
      kept.related = [
        ...new Set([...kept.related, ...fact.related, ...(isResourceId(fact.resource) ? [] : [fact.resource])]),
      ]
    }
    if (target.files.length === 0 && change.files.length > 0) target.files = change.files
  }
  return out.sort((a, b) => Date.parse(b.time) - Date.parse(a.time))
}

/** How a merged source is named: "git 1a2b3c4 (main.tf)", "aws-config sg-… 2014-03-29T18:45:02Z". */
export function citation(change: Change): string {
  if (change.source === 'git') {
    const files = change.files
      .map((f) => f.path)
      .slice(0, 2)
      .join(', ')
    return `git ${change.commit?.slice(0, 7) ?? ''}${files ? ` (${files})` : ''}`
  }
  return `${change.source} ${change.origin ?? change.time}`
}

/** A short name of where a candidate was read: `git 1a2b3c4`, `cloudtrail`, `aws-config`, a log's file name. */
export function shortOrigin(origin: string): string {
  if (origin.startsWith('git ')) return origin.split(' ').slice(0, 2).join(' ')
  if (/^(?:cloudtrail|aws-config) /.test(origin)) return origin.split(' ')[0] ?? origin
  return origin.replace(/^.*\//, '')
}

/** Every source of a candidate, short: "cloudtrail + aws-config + git 1a2b3c4", "git + merge 1a2b3c4". */
export function sourcesOf(change: Pick<Change, 'alsoIn' | 'sameChangeIn' | 'source'>): string {
  return [
    change.source,
    ...change.alsoIn.map(shortOrigin),
    ...(change.sameChangeIn ?? []).map((o) => `${o.relation} ${o.commit.slice(0, 7)}`),
  ].join(' + ')
}
