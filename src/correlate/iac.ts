/**
 * Infrastructure-as-code repositories: what a commit of Terraform or CloudFormation files changed in the
 * account (security-group and network-ACL rules, instances, Elastic IPs, routes, NAT and internet
 * gateways, listeners, VPC endpoints, public buckets), read by diffing the resources each module or
 * template declares at the commit and at its first parent.
 *
 * Terraform HCL is parsed by @cdktf/hcl2json (HashiCorp's HCL2 parser compiled to WebAssembly; resources
 * come back as `resource.TYPE.NAME[0]`, expressions as "${…}" text). CloudFormation templates (JSON or
 * YAML with the short intrinsic-function tags) by the `yaml` library. Attribute names: Terraform AWS
 * provider documentation (registry.terraform.io/providers/hashicorp/aws) and the CloudFormation
 * resource reference (docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-template-resource-type-ref.html).
 */
import {parse as parseHcl} from '@cdktf/hcl2json'
import {parse as parseYaml, type Tags, type YAMLMap, type YAMLSeq} from 'yaml'

import {
  arrayAt,
  entriesOf,
  field,
  firstString,
  isRecord,
  type JsonRecord,
  recordAt,
  stringAt,
  stringsOf,
} from '../core/json.js'
import {fact, isResourceId, rule} from './cloud.js'

export {isIacPath, isTerraformPath} from './cloud.js'
import {listFilesAt, readFileAt, type Repository} from './git-log.js'
import type {Change, CloudAction, CloudFact, NetworkRule} from './types.js'

const TERRAFORM = /\.tf(?:\.json)?$/
const TEMPLATE = /\.(?:ya?ml|json|template)$/i

/** One thing a configuration declares, with how its appearance, disappearance or change reads as a fact. */
interface Item {
  key: string
  /** Compared between the two versions: a change of value is a change of the item. */
  value: string
  added?: CloudFact
  removed?: CloudFact
  /** The fact for a change from the older value. */
  changed?: CloudFact | ((before: string) => CloudFact)
}

interface Declared {
  items: Map<string, Item>
  /** Resource address → real id (Terraform import blocks, literal ids), for matching other sources. */
  ids: Map<string, string>
  /** Security group address → instance addresses it is attached to. */
  protects: Map<string, Set<string>>
}

export interface IacFactsOptions {
  /**
   * The change is a merge whose branch commits are candidates of their own (see foldSameChanges): only what
   * the merge itself did counts, i.e. items whose result differs from every parent (as git's combined diff).
   */
  ownEditsOnly?: boolean
}

/**
 * The account facts a commit's IaC files changed, each module (a directory of .tf files) or template
 * compared with the commit's first parent. Files that are not Terraform or CloudFormation add nothing.
 */
export async function iacFacts(repo: Repository, change: Change, options: IacFactsOptions = {}): Promise<CloudFact[]> {
  if (change.commit === null) return []
  const parent = change.parents[0]
  const units = new Set<string>()
  for (const f of change.files) {
    for (const path of [f.path, f.from].filter((p): p is string => p !== undefined)) {
      if (TERRAFORM.test(path)) units.add(`tf:${dirOf(path)}`)
      else if (TEMPLATE.test(path)) units.add(`cfn:${path}`)
    }
  }
  const facts: CloudFact[] = []
  for (const unit of units) {
    const [kind, where = ''] = [unit.slice(0, unit.indexOf(':')), unit.slice(unit.indexOf(':') + 1)]
    const read =
      kind === 'tf'
        ? (commit: string) => terraformModule(repo, commit, where)
        : (commit: string) => Promise.resolve(cloudFormation(readFileAt(repo, commit, where) ?? '', where))
    const after = await read(change.commit)
    const before = parent ? await read(parent) : emptyDeclared()
    const others = options.ownEditsOnly ? await Promise.all(change.parents.slice(1).map(read)) : []
    facts.push(...diffDeclared(before, after, (key) => others.every((other) => itemDiffers(other, after, key))))
  }
  return facts
}

function itemDiffers(before: Declared, after: Declared, key: string): boolean {
  const old = before.items.get(key)
  const now = after.items.get(key)
  return old === undefined || now === undefined ? old !== now : old.value !== now.value
}

function dirOf(path: string): string {
  const i = path.lastIndexOf('/')
  return i < 0 ? '' : path.slice(0, i)
}

function emptyDeclared(): Declared {
  return {ids: new Map(), items: new Map(), protects: new Map()}
}

/** The facts of the items that differ between the two versions (and that `keep` accepts). */
function diffDeclared(before: Declared, after: Declared, keep: (key: string) => boolean = () => true): CloudFact[] {
  const facts: CloudFact[] = []
  for (const [key, item] of after.items) {
    if (!keep(key)) continue
    const old = before.items.get(key)
    if (!old && item.added) facts.push(item.added)
    else if (old && old.value !== item.value && item.changed)
      facts.push(typeof item.changed === 'function' ? item.changed(old.value) : item.changed)
  }
  for (const [key, item] of before.items)
    if (!after.items.has(key) && item.removed && keep(key)) facts.push(item.removed)
  // Name real ids where the configuration knows them, and the instances each group protects.
  const ids = new Map([...before.ids, ...after.ids])
  const idOf = (address: string) => ids.get(address) ?? address
  const protects = new Map([...before.protects, ...after.protects])
  for (const f of facts) {
    const address = f.resource
    f.resource = idOf(address)
    if (f.resource !== address) f.related.push(address)
    f.instances = [...new Set([...(protects.get(address) ?? [])].map(idOf))]
    f.related = f.related.map(idOf)
  }
  return facts
}

/**
 * The facts of a change from one parsed document to another: Terraform as hcl2json gives it, or a CloudFormation
 * template. (iacFacts does the same per module of a commit; a document of any other shape declares nothing.)
 */
export function documentFacts(kind: 'cloudformation' | 'terraform', before: unknown, after: unknown): CloudFact[] {
  const declared = (document: unknown) => {
    const out = emptyDeclared()
    if (kind === 'terraform') addTerraform(document, out)
    else addTemplate(document, out)
    return out
  }
  return diffDeclared(declared(before), declared(after))
}

// ---- Terraform ----------------------------------------------------------------------------------------

async function terraformModule(repo: Repository, commit: string, dir: string): Promise<Declared> {
  const declared = emptyDeclared()
  for (const path of listFilesAt(repo, commit, dir).filter((p) => p.endsWith('.tf'))) {
    const text = readFileAt(repo, commit, path)
    if (text === undefined) continue
    let parsed: unknown
    try {
      parsed = await parseHcl(path, text)
    } catch {
      // A file that does not parse at this commit declares nothing we can read; its neighbours still count.
      continue
    }
    addTerraform(parsed, declared)
  }
  return declared
}

/** "${aws_security_group.ntp.id}" → "aws_security_group.ntp"; literal ids stay. */
function ref(value: unknown): null | string {
  if (typeof value !== 'string') return null
  const m = /^\$\{\s*((?:data\.)?[a-z0-9_]+\.[A-Za-z0-9_-]+)(?:\[[^\]]*\])?(?:\.[a-z_]+)?\s*\}$/.exec(value)
  return m ? m[1]! : value
}

function refs(value: unknown): string[] {
  return (Array.isArray(value) ? value : value === undefined ? [] : [value])
    .map(ref)
    .filter((x): x is string => x !== null)
}

function strings(value: unknown): string[] {
  return (Array.isArray(value) ? value : value === undefined || value === null ? [] : [value]).filter(
    (x): x is string => typeof x === 'string',
  )
}

function ruleKey(group: string, r: NetworkRule): string {
  return `${group}|${r.direction}|${r.protocol}|${r.fromPort}|${r.toPort}|${r.allow}|${r.peers.join(',')}`
}

function addRule(declared: Declared, group: string, type: string, operation: string, r: NetworkRule): void {
  // One item per peer, so that widening a rule to 0.0.0.0/0 reads as that peer added.
  for (const peer of r.peers.length > 0 ? r.peers : ['']) {
    const one = {...r, peers: peer ? [peer] : []}
    const key = `rule:${ruleKey(group, one)}`
    declared.items.set(key, {
      added: fact('rule-added', operation, group, type, {rule: one}),
      key,
      removed: fact('rule-removed', operation, group, type, {rule: one}),
      value: '',
    })
  }
}

function protect(declared: Declared, group: string, instance: string): void {
  const set = declared.protects.get(group) ?? new Set<string>()
  set.add(instance)
  declared.protects.set(group, set)
}

function simple(
  declared: Declared,
  key: string,
  value: string,
  facts: Pick<Item, 'added' | 'changed' | 'removed'>,
): void {
  declared.items.set(key, {key, value, ...facts})
}

const SG = 'AWS::EC2::SecurityGroup'

/**
 * hcl2json's shape: `{resource: {TYPE: {NAME: [body]}}, data: {…}, import: [{to, id}]}`; blocks of another shape
 * declare nothing.
 */
function addTerraform(parsed: unknown, declared: Declared): void {
  // import { to = aws_instance.ntp  id = "i-…" } (Terraform 1.5+): the real id of an address.
  for (const block of arrayAt(parsed, 'import').filter(isRecord)) {
    const to = ref(block.to) ?? ''
    if (typeof block.id === 'string' && to) declared.ids.set(to.replace(/^\$\{|\}$/g, ''), block.id)
  }
  for (const [type, byName] of entriesOf(field(parsed, 'data'))) {
    for (const [name, bodies] of entriesOf(byName)) {
      const body = Array.isArray(bodies) ? (bodies as unknown[])[0] : undefined
      const id = stringsOf([field(body, 'instance_id'), field(body, 'id')]).find(isResourceId)
      if (id) declared.ids.set(`data.${type}.${name}`, id)
    }
  }
  for (const [type, byName] of entriesOf(field(parsed, 'resource'))) {
    for (const [name, bodies] of entriesOf(byName)) {
      for (const body of Array.isArray(bodies) ? (bodies as unknown[]) : [])
        addTerraformResource(declared, type, `${type}.${name}`, isRecord(body) ? body : {})
    }
  }
}

function cidrsOf(b: JsonRecord): string[] {
  return [
    ...strings(b.cidr_blocks),
    ...strings(b.ipv6_cidr_blocks),
    ...strings(b.prefix_list_ids),
    ...refs(b.security_groups),
    ...refs(b.source_security_group_id),
    ...strings(b.cidr_ipv4),
    ...strings(b.cidr_ipv6),
    ...refs(b.referenced_security_group_id),
    ...strings(b.prefix_list_id),
  ]
}

function addTerraformResource(declared: Declared, type: string, address: string, b: JsonRecord): void {
  switch (type) {
    case 'aws_security_group': {
      for (const direction of ['ingress', 'egress'] as const) {
        for (const block of arrayAt(b, direction).filter(isRecord))
          addRule(
            declared,
            address,
            SG,
            `${address} ${direction}`,
            rule(direction, block.protocol, block.from_port, block.to_port, cidrsOf(block)),
          )
      }
      return
    }
    case 'aws_security_group_rule': {
      const group = ref(b.security_group_id) ?? address
      addRule(
        declared,
        group,
        SG,
        address,
        rule(b.type === 'egress' ? 'egress' : 'ingress', b.protocol, b.from_port, b.to_port, cidrsOf(b)),
      )
      return
    }
    case 'aws_vpc_security_group_ingress_rule':
    case 'aws_vpc_security_group_egress_rule': {
      const group = ref(b.security_group_id) ?? address
      addRule(
        declared,
        group,
        SG,
        address,
        rule(type.includes('egress') ? 'egress' : 'ingress', b.ip_protocol, b.from_port, b.to_port, cidrsOf(b)),
      )
      return
    }
    case 'aws_network_acl_rule': {
      const acl = ref(b.network_acl_id) ?? address
      addRule(
        declared,
        acl,
        'AWS::EC2::NetworkAcl',
        address,
        rule(
          b.egress === true ? 'egress' : 'ingress',
          b.protocol,
          b.from_port,
          b.to_port,
          strings(b.cidr_block).concat(strings(b.ipv6_cidr_block)),
          stringAt(b, 'rule_action') !== 'deny',
        ),
      )
      return
    }
    case 'aws_instance': {
      for (const group of [...refs(b.vpc_security_group_ids), ...refs(b.security_groups)])
        protect(declared, group, address)
      instance(declared, address, ref(b.ami) ?? '', stringAt(b, 'instance_type') ?? '', [
        ...refs(b.vpc_security_group_ids),
        ...refs(b.security_groups),
      ])
      return
    }
    case 'aws_network_interface_sg_attachment': {
      const group = ref(b.security_group_id)
      const eni = ref(b.network_interface_id)
      if (group && eni) protect(declared, group, eni)
      return
    }
    case 'aws_eip':
    case 'aws_eip_association': {
      return addAddress(
        declared,
        address,
        ref(b.instance) ?? ref(b.instance_id),
        ref(b.network_interface) ?? ref(b.network_interface_id),
      )
    }
    case 'aws_route': {
      addTerraformRoute(declared, ref(b.route_table_id) ?? address, address, b)
      return
    }
    case 'aws_route_table': {
      for (const block of arrayAt(b, 'route').filter(isRecord)) addTerraformRoute(declared, address, address, block)
      return
    }
    case 'aws_nat_gateway':
      return presence(declared, address, 'nat-created', 'nat-deleted', 'AWS::EC2::NatGateway')
    case 'aws_internet_gateway':
    case 'aws_egress_only_internet_gateway':
      return presence(declared, address, 'gateway-attached', 'gateway-detached', 'AWS::EC2::InternetGateway')
    case 'aws_vpc_endpoint':
      return presence(declared, address, null, 'endpoint-removed', 'AWS::EC2::VPCEndpoint')
    case 'aws_lb_listener':
    case 'aws_alb_listener': {
      return addListener(declared, address, ref(b.load_balancer_arn) ?? address, b.port, b.protocol)
    }
    case 'aws_s3_bucket_public_access_block': {
      const open = [b.block_public_acls, b.block_public_policy, b.ignore_public_acls, b.restrict_public_buckets].some(
        (v) => v === false,
      )
      const bucket = ref(b.bucket) ?? address
      simple(declared, `public:${address}`, String(open), {
        ...(open
          ? {
              added: fact('public-access-opened', address, bucket, 'AWS::S3::Bucket'),
              changed: fact('public-access-opened', address, bucket, 'AWS::S3::Bucket'),
            }
          : {}),
      })
      return
    }
    case 'aws_cloudfront_distribution':
      return presence(declared, address, 'public-access-opened', null, 'AWS::CloudFront::Distribution')
  }
}

/** An instance: launched, its image replaced, or its type or security groups changed. */
function instance(declared: Declared, address: string, image: string, type: string, groups: string[]): void {
  const related = image ? [image] : []
  simple(declared, `instance:${address}`, [image, type, [...groups].sort().join(',')].join('|'), {
    added: fact('instance-launched', address, address, 'AWS::EC2::Instance', {related}),
    changed: (before) =>
      before.split('|')[0] !== image
        ? fact('image-changed', address, address, 'AWS::EC2::Instance', {related})
        : fact('instance-changed', address, address, 'AWS::EC2::Instance', {related: groups}),
    removed: fact('instance-stopped', address, address, 'AWS::EC2::Instance'),
  })
}

/** An Elastic IP on an instance or interface: associated, moved, taken off. */
function addAddress(
  declared: Declared,
  address: string,
  instance: null | string,
  networkInterface: null | string,
): void {
  const target = instance ?? networkInterface
  if (!target) return
  const type = instance ? 'AWS::EC2::Instance' : 'AWS::EC2::NetworkInterface'
  simple(declared, `eip:${address}`, target, {
    added: fact('address-associated', address, target, type, {related: [address]}),
    changed: fact('address-associated', address, target, type, {related: [address]}),
    removed: fact('address-disassociated', address, target, type, {related: [address]}),
  })
}

/** A load balancer listener: added, its port or protocol changed, removed. */
function addListener(declared: Declared, address: string, lb: string, port: unknown, protocol: unknown): void {
  const listener = {
    port: Number(typeof port === 'number' || typeof port === 'string' ? port : undefined),
    protocol: (typeof protocol === 'string' ? protocol : 'tcp').toLowerCase(),
  }
  const type = 'AWS::ElasticLoadBalancingV2::LoadBalancer'
  simple(declared, `listener:${address}`, `${listener.protocol}/${listener.port}`, {
    added: fact('listener-added', address, lb, type, {listener}),
    changed: fact('listener-added', address, lb, type, {listener}),
    removed: fact('listener-removed', address, lb, type, {listener}),
  })
}

function addTerraformRoute(declared: Declared, table: string, operation: string, b: JsonRecord): void {
  const destination =
    firstString(
      b.destination_cidr_block,
      b.cidr_block,
      b.destination_ipv6_cidr_block,
      b.ipv6_cidr_block,
      b.destination_prefix_list_id,
    ) ?? ''
  const target =
    ref(b.gateway_id) ??
    ref(b.nat_gateway_id) ??
    ref(b.instance_id) ??
    ref(b.network_interface_id) ??
    ref(b.transit_gateway_id) ??
    ref(b.vpc_peering_connection_id) ??
    ref(b.egress_only_gateway_id) ??
    ref(b.vpc_endpoint_id) ??
    ''
  addRoute(declared, table, operation, destination, target)
}

/** A route of a table: where traffic to `destination` leaves (internet gateway, NAT, instance…). */
function addRoute(declared: Declared, table: string, operation: string, destination: string, target: string): void {
  const related = [target, destination].filter(Boolean)
  simple(declared, `route:${table}|${destination}`, target, {
    added: fact('route-changed', operation, table, 'AWS::EC2::RouteTable', {related}),
    changed: fact('route-changed', operation, table, 'AWS::EC2::RouteTable', {related}),
    removed: fact('route-removed', operation, table, 'AWS::EC2::RouteTable', {related}),
  })
}

function presence(
  declared: Declared,
  address: string,
  added: CloudAction | null,
  removed: CloudAction | null,
  type: string,
): void {
  simple(declared, `present:${address}`, '', {
    ...(added ? {added: fact(added, address, address, type)} : {}),
    ...(removed ? {removed: fact(removed, address, address, type)} : {}),
  })
}

// ---- CloudFormation -------------------------------------------------------------------------------------

const INTRINSICS = [
  'Base64',
  'Cidr',
  'FindInMap',
  'GetAtt',
  'GetAZs',
  'ImportValue',
  'Join',
  'Select',
  'Split',
  'Sub',
  'Transform',
  'If',
  'Equals',
  'Not',
  'And',
  'Or',
  'Condition',
  'Ref',
]

/** The short-form tags of CloudFormation YAML (!Ref, !GetAtt, !Sub …) as their long form. */
const CFN_TAGS: Tags = INTRINSICS.flatMap((name) => {
  const key = name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`
  const wrap = (value: unknown) => ({[key]: name === 'GetAtt' && typeof value === 'string' ? value.split('.') : value})
  return [
    {identify: (): boolean => false, resolve: (value: string) => wrap(value), tag: `!${name}`},
    {
      collection: 'seq' as const,
      identify: (): boolean => false,
      resolve: (seq: YAMLMap | YAMLSeq) => wrap(seq.toJSON()),
      tag: `!${name}`,
    },
    {
      collection: 'map' as const,
      identify: (): boolean => false,
      resolve: (map: YAMLMap | YAMLSeq) => wrap(map.toJSON()),
      tag: `!${name}`,
    },
  ]
})

function cloudFormation(text: string, path: string): Declared {
  const declared = emptyDeclared()
  if (text.trim() === '') return declared
  let template: unknown
  try {
    template = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text, {customTags: CFN_TAGS, logLevel: 'silent'})
  } catch {
    return declared
  }
  addTemplate(template, declared)
  return declared
}

/** A template's `Resources: {NAME: {Type: 'AWS::…', Properties: {…}}}`; anything else declares nothing. */
function addTemplate(template: unknown, declared: Declared): void {
  for (const [name, resource] of entriesOf(field(template, 'Resources'))) {
    const type = stringAt(resource, 'Type')
    if (type?.startsWith('AWS::')) addCfnResource(declared, type, name, recordAt(resource, 'Properties') ?? {})
  }
}

/** {Ref: X} / {Fn::GetAtt: [X, GroupId]} → X; literal ids stay. */
function cfnRef(value: unknown): null | string {
  if (typeof value === 'string') return value
  if (isRecord(value)) {
    if (typeof value.Ref === 'string') return value.Ref
    const att = field(value, 'Fn::GetAtt')
    if (Array.isArray(att) && typeof att[0] === 'string') return att[0]
    if (typeof att === 'string') return att.split('.')[0] ?? null
  }
  return null
}

function cfnRefs(value: unknown): string[] {
  return (Array.isArray(value) ? value : value === undefined ? [] : [value])
    .map(cfnRef)
    .filter((x): x is string => x !== null)
}

function cfnRule(direction: NetworkRule['direction'], p: JsonRecord): NetworkRule {
  const peers = stringsOf([
    p.CidrIp,
    p.CidrIpv6,
    p.DestinationPrefixListId,
    p.SourcePrefixListId,
    cfnRef(p.SourceSecurityGroupId),
    cfnRef(p.DestinationSecurityGroupId),
  ])
  return rule(direction, p.IpProtocol, p.FromPort, p.ToPort, peers)
}

function addCfnResource(declared: Declared, type: string, name: string, p: JsonRecord): void {
  switch (type) {
    case 'AWS::EC2::SecurityGroup': {
      for (const r of arrayAt(p, 'SecurityGroupIngress').filter(isRecord))
        addRule(declared, name, SG, `${name} SecurityGroupIngress`, cfnRule('ingress', r))
      for (const r of arrayAt(p, 'SecurityGroupEgress').filter(isRecord))
        addRule(declared, name, SG, `${name} SecurityGroupEgress`, cfnRule('egress', r))
      return
    }
    case 'AWS::EC2::SecurityGroupIngress':
    case 'AWS::EC2::SecurityGroupEgress':
      addRule(declared, cfnRef(p.GroupId) ?? name, SG, name, cfnRule(type.endsWith('Egress') ? 'egress' : 'ingress', p))
      return
    case 'AWS::EC2::NetworkAclEntry': {
      const direction = p.Egress === true || p.Egress === 'true' ? 'egress' : 'ingress'
      addRule(
        declared,
        cfnRef(p.NetworkAclId) ?? name,
        'AWS::EC2::NetworkAcl',
        name,
        rule(
          direction,
          p.Protocol,
          field(p, 'PortRange', 'From'),
          field(p, 'PortRange', 'To'),
          stringsOf([p.CidrBlock, p.Ipv6CidrBlock]),
          stringAt(p, 'RuleAction') !== 'deny',
        ),
      )
      return
    }
    case 'AWS::EC2::Instance': {
      for (const group of [...cfnRefs(p.SecurityGroupIds), ...cfnRefs(p.SecurityGroups)]) protect(declared, group, name)
      instance(declared, name, cfnRef(p.ImageId) ?? '', stringAt(p, 'InstanceType') ?? '', [
        ...cfnRefs(p.SecurityGroupIds),
        ...cfnRefs(p.SecurityGroups),
      ])
      return
    }
    case 'AWS::EC2::EIP':
    case 'AWS::EC2::EIPAssociation': {
      return addAddress(declared, name, cfnRef(p.InstanceId), cfnRef(p.NetworkInterfaceId))
    }
    case 'AWS::EC2::Route': {
      const target =
        cfnRef(p.GatewayId) ??
        cfnRef(p.NatGatewayId) ??
        cfnRef(p.InstanceId) ??
        cfnRef(p.NetworkInterfaceId) ??
        cfnRef(p.TransitGatewayId) ??
        ''
      return addRoute(
        declared,
        cfnRef(p.RouteTableId) ?? name,
        name,
        firstString(p.DestinationCidrBlock, p.DestinationIpv6CidrBlock) ?? '',
        target,
      )
    }
    case 'AWS::EC2::NatGateway':
      return presence(declared, name, 'nat-created', 'nat-deleted', type)
    case 'AWS::EC2::InternetGateway':
    case 'AWS::EC2::EgressOnlyInternetGateway':
      return presence(declared, name, 'gateway-attached', 'gateway-detached', type)
    case 'AWS::EC2::VPCEndpoint':
      return presence(declared, name, null, 'endpoint-removed', type)
    case 'AWS::ElasticLoadBalancingV2::Listener': {
      return addListener(declared, name, cfnRef(p.LoadBalancerArn) ?? name, p.Port, p.Protocol)
    }
    case 'AWS::S3::Bucket': {
      const c = field(p, 'PublicAccessBlockConfiguration')
      const open = ['BlockPublicAcls', 'BlockPublicPolicy', 'IgnorePublicAcls', 'RestrictPublicBuckets'].some((key) => {
        const value = field(c, key)
        return value === false || value === 'false'
      })
      simple(
        declared,
        `public:${name}`,
        String(open),
        open
          ? {
              added: fact('public-access-opened', name, name, type),
              changed: fact('public-access-opened', name, name, type),
            }
          : {},
      )
      return
    }
    case 'AWS::CloudFront::Distribution':
      return presence(declared, name, 'public-access-opened', null, type)
  }
}
