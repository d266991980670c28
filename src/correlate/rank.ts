/**
 * Ranks the changes around one step. score = time × (0.1 + 0.9 × relevance), both 0..1:
 * - time: full inside the lag the service implies (days from change to the first day at the new level,
 *   plus one day since usage is daily), decaying outside it; a change after the step day began scores low.
 * - relevance: the best service the change touches (package > file > mention in the message), times how
 *   well that service fits the usage that stepped, the kind of change for the step's direction
 *   (install for a rise, removal for a fall), the service's prior weight, and what its configuration says
 *   at that commit (e.g. ntp.conf without 'restrict default ignore' serves everyone).
 */
import {isInternetEgress, isInternetIngress} from '../aws/usage-types.js'
import {formatRatio} from '../core/units.js'
import {round} from '../detect/index.js'
import {type Repository, readFileAt} from './git-log.js'
import {citation, factInstances, factStory, isTerraformPath, opensToInternet, portWords, ruleCovers} from './cloud.js'
import {
  type ConfigCheck,
  type Knowledge,
  type Service,
  servicesMentioned,
  servicesOfFile,
  servicesOfPackage,
  servicesOfPort,
} from './knowledge.js'
import {describePackages} from './package-logs.js'
import type {Candidate, Change, CloudFact, PackageAction, StepInput} from './types.js'

const DAY_MS = 86_400_000

type Action = 'config' | PackageAction

interface Evidence {
  service: Service
  strength: number
  action: Action
  packages: string[]
  files: string[]
}

const DIRECTION_FIT: Record<'down' | 'up', Record<Action, number>> = {
  down: {config: 0.8, install: 0.3, purge: 1, reinstall: 0.3, remove: 1, upgrade: 0.5},
  up: {config: 0.8, install: 1, purge: 0.3, reinstall: 0.4, remove: 0.3, upgrade: 0.5},
}

// Relevance of changes that match no known service: a package run can still open a port; a config edit less so.
const UNKNOWN_PACKAGES = 0.12
const UNKNOWN_FILES = 0.06
const NOTHING_KNOWN = 0.02

/** The kind of usage a usage type measures, in the knowledge base's terms; null when unknown. */
export function usageKind(usageType: string): null | string {
  if (isInternetEgress(usageType) || /DataTransfer-Out|Out-Bytes$/.test(usageType)) return 'egress'
  if (isInternetIngress(usageType) || /DataTransfer-In|In-Bytes$/.test(usageType)) return 'ingress'
  if (/BoxUsage|CPUCredits|SpotUsage|HeavyUsage|Lambda-GB-Second/.test(usageType)) return 'compute'
  if (/EBS:|TimedStorage|VolumeUsage|SnapshotUsage/.test(usageType)) return 'storage'
  if (usageType.includes('Requests')) return 'requests'
  return null
}

export interface RankOptions {
  knowledge: Knowledge
  /** Used to read configuration files at a commit for the knowledge base's checks. */
  repo: null | Repository
  /**
   * Files already read at a commit, keyed by commit + '\0' + path (undefined: absent there), so that one
   * correlate() reads each file once however many steps and services look at it.
   */
  fileCache?: Map<string, string | undefined>
}

/** Scores every change against the step, best first (ties: closer to the step first). */
export function rankChanges(step: StepInput, changes: Change[], options: RankOptions): Candidate[] {
  const stepStart = Date.parse(`${step.date}T00:00:00Z`)
  const kind = usageKind(step.usageType)
  const candidates = changes.map((change) => scoreChange(change, step, stepStart, kind, options))
  return candidates.sort((a, b) => b.score - a.score || Math.abs(a.daysBefore) - Math.abs(b.daysBefore))
}

function scoreChange(
  change: Change,
  step: StepInput,
  stepStart: number,
  kind: null | string,
  options: RankOptions,
): Candidate {
  const daysBefore = (stepStart - Date.parse(change.time)) / DAY_MS
  const evidence = gatherEvidence(change, options.knowledge)
  const findings: string[] = []
  let relevance =
    change.packages.length > 0 ? UNKNOWN_PACKAGES : change.files.length > 0 ? UNKNOWN_FILES : NOTHING_KNOWN
  let best: Evidence | undefined
  for (const e of evidence) {
    const usageFit = kind === null ? 0.5 : e.service.usage.includes(kind) ? 1 : 0.2
    const checked =
      change.commit !== null && options.repo
        ? runChecks(e.service.checks, options.repo, change.commit, step.direction, options.fileCache)
        : {factor: 1, findings: []}
    const value = e.strength * DIRECTION_FIT[step.direction][e.action] * usageFit * e.service.weight * checked.factor
    if (value > relevance || best === undefined) {
      if (value > relevance) relevance = value
      best = e
      findings.splice(0, findings.length, ...checked.findings)
    }
  }
  const cloud = bestCloudEvidence(change, step, kind, options.knowledge)
  // A change to the account is judged by its facts (its files, if any, are the IaC files that made it).
  const cloudWins = cloud !== undefined && (best === undefined || cloud.value >= relevance)
  if (cloudWins) {
    relevance = cloud.value
    findings.splice(0, findings.length)
  }
  const lag = cloudWins
    ? (cloud.service?.lagDays ?? options.knowledge.cloud.lagDays)
    : (best?.service.lagDays ?? options.knowledge.defaultLagDays)
  const time = timeFit(daysBefore, lag)
  const score = time * (0.1 + 0.9 * relevance)
  const candidate: Candidate = {
    ...change,
    daysBefore: round(daysBefore, 2),
    findings,
    reason: '',
    score: round(score, 3),
    scores: {relevance: round(relevance, 3), time: round(time, 3)},
    services: [...new Set([...(cloud?.service ? [cloud.service.id] : []), ...evidence.map((e) => e.service.id)])],
  }
  candidate.reason = cloudWins
    ? cloudReason(candidate, step, kind, cloud)
    : reasonLine(candidate, step, kind, best, relevance)
  return candidate
}

interface CloudEvidence {
  fact: CloudFact
  value: number
  /** The service on the port a rule or listener opens. */
  service?: Service
  /** Did it touch an instance the step's usage came from? null: the sources do not say which instance. */
  onDriver: boolean | null
  why: string
}

/** The account change's strongest fact: action prior × usage fit × what a rule opens × the instance it touches. */
function bestCloudEvidence(
  change: Change,
  step: StepInput,
  kind: null | string,
  knowledge: Knowledge,
): CloudEvidence | undefined {
  let best: CloudEvidence | undefined
  for (const fact of change.cloud ?? []) {
    const e = cloudEvidence(fact, step, kind, knowledge)
    if (!best || e.value > best.value) best = e
  }
  return best
}

function cloudEvidence(fact: CloudFact, step: StepInput, kind: null | string, knowledge: Knowledge): CloudEvidence {
  const k = knowledge.cloud
  // A deny entry closes what it names, as a removed rule does.
  const actionId = fact.rule && !fact.rule.allow ? 'rule-removed' : fact.action
  const action = k.actions[actionId]
  const fit = (usage: string[]) => (kind === null ? 0.5 : usage.includes(kind) ? 1 : 0.2)
  let value = action ? action[step.direction] * fit(action.usage) : 0.05
  let why = action?.summary ?? fact.operation
  let service: Service | undefined
  const opened = (covers: (port: string) => boolean, words: string, everyPort: boolean) => {
    if (everyPort) {
      value *= k.everyPort
      why = `${words}: every service on the instance is reachable`
      return
    }
    const services = servicesOfPort(knowledge, covers)
    const scored = services.map((s) => ({s, v: s.weight * fit(s.usage)})).sort((a, b) => b.v - a.v)
    if (scored[0]) {
      service = scored[0].s
      value *= scored[0].v
      why = `${words} is ${service.portName ?? service.id}: ${service.portWhy ?? service.summary}`
    } else {
      value *= k.unknownPort
    }
  }
  if (fact.rule) {
    const r = fact.rule
    value *= r.direction === 'egress' ? k.egressRule : opensToInternet(r) ? k.internetIngress : k.privateIngress
    opened((port) => ruleCovers(r, port), portWords(r), r.fromPort === null)
  } else if (fact.listener) {
    const port = fact.listener.port
    const protocol = /udp/i.test(fact.listener.protocol) ? 'udp' : 'tcp'
    opened((p) => p === `${protocol}/${port}`, `${protocol.toUpperCase()} ${port}`, false)
  }
  const drivers = step.drivers ?? (step.resourceId ? [step.resourceId] : [])
  const instances = factInstances(fact)
  const onDriver = instances.length === 0 || drivers.length === 0 ? null : instances.some((i) => drivers.includes(i))
  if (drivers.length > 0) value *= onDriver === null ? k.unknownInstance : onDriver ? k.driverInstance : k.otherInstance
  return {fact, onDriver, value: Math.min(1, value), why, ...(service ? {service} : {})}
}

/**
 * "sg-… was opened to the world on UDP 123 by arn:…:user/ops at 2014-03-29 18:40 UTC, 0.2 days before
 * egress rose 2274x on i-…, which this security group protects; UDP 123 is NTP: …".
 */
function cloudReason(c: Candidate, step: StepInput, kind: null | string, e: CloudEvidence): string {
  const {fact} = e
  const when = whenMade(c)
  const who = c.author ? ` by ${c.author}` : ''
  const series = kind === 'egress' ? 'egress' : step.usageType
  const moved = step.direction === 'up' ? 'rose' : 'fell'
  const size = step.ratio === null ? '' : ` ${formatRatio(step.direction === 'up' ? step.ratio : 1 / step.ratio)}`
  const drivers = step.drivers ?? (step.resourceId ? [step.resourceId] : [])
  const instances = factInstances(fact)
  const hit = instances.filter((i) => drivers.includes(i))
  const on = hit[0] ?? (drivers.length === 1 ? drivers[0] : undefined)
  const days = Math.abs(c.daysBefore).toFixed(1)
  const relation = `${days} days ${c.daysBefore >= 0 ? 'before' : 'into the day'} ${series} ${moved}${size}${on ? ` on ${on}` : ''}`
  const target = fact.resource.startsWith('i-')
    ? 'the instance itself'
    : `which this ${fact.resourceType === 'AWS::EC2::SecurityGroup' ? 'security group protects' : 'change touches'}`
  const link = e.onDriver
    ? `, ${target}`
    : e.onDriver === false
      ? ` (it concerns ${instances.slice(0, 3).join(', ')}, not ${drivers.slice(0, 2).join(', ')})`
      : ''
  const lagNote = e.service?.lagWhy && c.daysBefore > 1 ? ` (${e.service.lagWhy})` : ''
  const sources = [citation(c), ...c.alsoIn].map(sourceName)
  const recorded = sources.length > 1 ? `; recorded by ${sources.slice(0, -1).join(', ')} and ${sources.at(-1)}` : ''
  return `${factStory(fact)}${who} at ${when}, ${relation}${link}; ${e.why}${lagNote}${recorded}${sameChangeNote(c)}`
}

/** 1 inside [lag0, lag1 + 1] days before the step day (slightly favouring the near end), decaying outside. */
export function timeFit(daysBefore: number, [lag0, lag1]: [number, number]): number {
  const end = lag1 + 1
  if (daysBefore < 0) return Math.max(0.02, 0.4 * (1 + daysBefore))
  if (daysBefore < lag0) return Math.exp(-(lag0 - daysBefore))
  if (daysBefore <= end) return 1 - (0.15 * (daysBefore - lag0)) / (end - lag0)
  return 0.85 * Math.exp(-(daysBefore - end) / 1.5)
}

function gatherEvidence(change: Change, knowledge: Knowledge): Evidence[] {
  const out: Evidence[] = []
  for (const p of change.packages) {
    for (const service of servicesOfPackage(knowledge, p.name))
      out.push({action: p.action, files: [], packages: [p.name], service, strength: 1})
  }
  // An IaC commit's diff was read as account facts: its paths (ntp/security.tf) say nothing about /etc.
  const machineFiles = change.cloud?.length ? [] : change.files.filter((f) => !isTerraformPath(f.path))
  for (const f of machineFiles) {
    const services = new Set([
      ...servicesOfFile(knowledge, f.path),
      ...(f.from ? servicesOfFile(knowledge, f.from) : []),
    ])
    const action: Action = f.status === 'deleted' ? 'remove' : 'config'
    for (const service of services) out.push({action, files: [f.path], packages: [], service, strength: 0.8})
  }
  // A commit whose diff was read as account facts, or that only touched Terraform files, is known by its diff, not its
  // words.
  const readAsIac =
    Boolean(change.cloud?.length) || (change.files.length > 0 && change.files.every((f) => isTerraformPath(f.path)))
  if (change.source === 'git' && change.kind === 'manual' && !readAsIac) {
    const action = messageAction(change.subject)
    for (const service of servicesMentioned(knowledge, change.subject))
      out.push({action, files: [], packages: [], service, strength: 0.7})
  }
  return mergeEvidence(out)
}

/** One evidence per (service, action), keeping the strongest and every package and file behind it. */
function mergeEvidence(list: Evidence[]): Evidence[] {
  const merged = new Map<string, Evidence>()
  for (const e of list) {
    const key = `${e.service.id}\u0000${e.action}`
    const seen = merged.get(key)
    if (seen) {
      seen.strength = Math.max(seen.strength, e.strength)
      seen.packages.push(...e.packages.filter((p) => !seen.packages.includes(p)))
      seen.files.push(...e.files.filter((f) => !seen.files.includes(f)))
    } else {
      merged.set(key, {...e, files: [...e.files], packages: [...e.packages]})
    }
  }
  return [...merged.values()]
}

function messageAction(subject: string): Action {
  if (/\b(?:remov|purg|uninstall|disabl|stop|delet)/i.test(subject)) return 'remove'
  if (/\b(?:install|add|enabl|start|setup|set up|deploy)/i.test(subject)) return 'install'
  return 'config'
}

/**
 * Reads each check's files at the commit. For a rise, the risky state (e.g. no 'restrict default ignore')
 * keeps the weight and the safe state lowers it; for a fall it is the other way round.
 */
function runChecks(
  checks: ConfigCheck[],
  repo: Repository,
  commit: string,
  direction: 'down' | 'up',
  cache: Map<string, string | undefined> | undefined,
): {factor: number; findings: string[]} {
  let factor = 1
  const findings: string[] = []
  for (const check of checks) {
    for (const file of check.files) {
      if (file.includes('*')) continue
      const text = cachedReadFileAt(repo, commit, file, cache)
      if (text === undefined) continue
      const present = new RegExp(check.pattern, 'm').test(text)
      const risky = check.when === 'present' ? present : !present
      const sentence = (risky ? check.finding : check.otherwise).replaceAll('{file}', file)
      if (sentence) findings.push(sentence)
      const weight = risky === (direction === 'up') ? check.weight : check.otherwiseWeight
      factor = Math.min(factor, weight)
      break
    }
  }
  return {factor, findings}
}

function cachedReadFileAt(
  repo: Repository,
  commit: string,
  path: string,
  cache: Map<string, string | undefined> | undefined,
): string | undefined {
  if (!cache) return readFileAt(repo, commit, path)
  const key = `${commit}\u0000${path}`
  if (cache.has(key)) return cache.get(key)
  const text = readFileAt(repo, commit, path)
  cache.set(key, text)
  return text
}

/** `cloudtrail file.json.gz#id` → `CloudTrail`; `git 1a2b3c4 (main.tf)` → `commit 1a2b3c4 (main.tf)`. */
function sourceName(cited: string): string {
  if (cited.startsWith('cloudtrail ')) return 'CloudTrail'
  if (cited.startsWith('aws-config ')) return 'AWS Config'
  if (cited.startsWith('git ')) return `commit ${cited.slice(4)}`
  return cited
}

/** `2014-03-29 17:41 UTC` of an ISO time. */
export function utcMinute(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`
}

/** When the change was made, and when it was committed if that was another minute (a rebase, cherry-pick or amend). */
export function whenMade(c: Change): string {
  // Results saved by an older billwatch have no committer time.
  const committed = c.committerTime == null ? null : toUtc(c.committerTime)
  const note =
    committed !== null && utcMinute(committed) !== utcMinute(c.time) ? ` (committed ${utcMinute(committed)})` : ''
  return `${utcMinute(c.time)}${note}`
}

/** "; the same change as merge 1a2b3c4 (…)" for the other commits that record it. */
function sameChangeNote(c: Change): string {
  if (!c.sameChangeIn?.length) return ''
  const words = {branch: 'branch commit', 'cherry-pick': 'cherry-pick', merge: 'merge'} as const
  const parts = c.sameChangeIn.map(
    (s) =>
      `${words[s.relation]} ${s.commit.slice(0, 7)} (${utcMinute(s.relation === 'branch' ? s.time : s.committedTime)})`,
  )
  return `; the same change as ${parts.join(', ')}`
}

function toUtc(recorded: string): string {
  const ms = Date.parse(recorded)
  return Number.isNaN(ms) ? recorded : new Date(ms).toISOString()
}

function reasonLine(
  c: Candidate,
  step: StepInput,
  kind: null | string,
  best: Evidence | undefined,
  relevance: number,
): string {
  const when = whenMade(c)
  const series = kind === 'egress' ? 'egress' : step.usageType
  const moved = step.direction === 'up' ? 'rose' : 'fell'
  const size = step.ratio === null ? '' : ` ${formatRatio(step.direction === 'up' ? step.ratio : 1 / step.ratio)}`
  const days = Math.abs(c.daysBefore).toFixed(1)
  const relation =
    c.daysBefore >= 0
      ? `${days} days before ${series} ${moved}${size}`
      : `${days} days into the day ${series} ${moved}${size}`
  const what = describeWhat(c, best)
  if (!best || relevance <= UNKNOWN_PACKAGES) {
    const touched = c.files.length > 0 ? ` (${shortPaths(c.files.map((f) => f.path))})` : ''
    return `${what} ${when}, ${relation}; touches nothing known to drive ${series}${touched}${sameChangeNote(c)}`
  }
  const lagNote = best.service.lagWhy && c.daysBefore > 1 ? ` (${best.service.lagWhy})` : ''
  const facts = c.findings.length > 0 ? ` — and ${c.findings.join(', and ')}` : ''
  const stops =
    step.direction === 'down' && (best.action === 'remove' || best.action === 'purge') ? '; removing it stops that' : ''
  return `${what} ${when}, ${relation}${lagNote}; ${best.service.summary}${facts}${stops}${sameChangeNote(c)}`
}

function describeWhat(c: Candidate, best: Evidence | undefined): string {
  if (best && best.packages.length > 0)
    return describePackages(c.packages.filter((p) => best.packages.includes(p.name)))
  if (best && best.files.length > 0)
    return `${shortPaths(best.files)} ${best.action === 'remove' ? 'deleted' : 'changed'}`
  if (c.source !== 'git' && c.packages.length > 0) return describePackages(c.packages)
  return `"${c.subject}"`
}

function shortPaths(paths: string[]): string {
  return paths.length <= 2 ? paths.join(', ') : `${paths.slice(0, 2).join(', ')} and ${paths.length - 2} more`
}
