/**
 * `billwatch correlate`: for each step, the changes to the machine in a window around it (commits of the
 * configuration repository, apt and dpkg runs), ranked by how well they explain it.
 */
import type {Step} from '../anomalies/types.js'
import type {ProgressCallback} from '../core/progress.js'
import type {AwsConnection} from '../aws/clients.js'
import {BillwatchError} from '../errors.js'
import type {ConfigChanges} from './aws-config.js'
import {isIacPath, mergeCloudChanges} from './cloud.js'
import type {TrailChanges} from './cloudtrail.js'
import {openRepository, readCommits, type Repository} from './git-log.js'
import type {Knowledge} from './knowledge.js'
import {parseAptHistory, parseDpkgLog, readLogText} from './package-logs.js'
import {rankChanges} from './rank.js'
import {foldSameChanges} from './same-change.js'
import {isoSeconds} from './time.js'
import type {Change, CorrelatedStep, CorrelateResult, PackageChange, StepInput} from './types.js'

export type {Candidate, Change, CorrelatedStep, CorrelateResult, StepInput} from './types.js'

const DAY_MS = 86_400_000
/** A package run and the commit etckeeper made for it are at most this far apart. */
const SAME_RUN_MS = 15 * 60_000

export interface CorrelateOptions {
  /** Configuration repository (work tree, worktree or bare); null reads logs only. */
  repo: null | string
  aptLogs: string[]
  dpkgLogs: string[]
  /** Zone the package logs' wall-clock times are in. */
  logZone: string
  steps: StepInput[]
  daysBefore: number
  daysAfter: number
  knowledge: Knowledge
  /** Candidates kept per step. */
  limit: number
  /** CloudTrail: log files (a file or an S3-layout folder, or a Lake/Athena CSV), or LookupEvents in these regions. */
  cloudtrail?: {path: string} | {connection: AwsConnection; regions: string[]}
  /** AWS Config: history files, or GetResourceConfigHistory for these resources (and the groups related to them). */
  awsConfig?: {path: string} | {connection: AwsConnection; resources: string[]}
  onProgress?: ProgressCallback
}

export async function correlate(options: CorrelateOptions): Promise<CorrelateResult> {
  const repo = options.repo === null ? null : openRepository(options.repo)
  const windows = options.steps.map((step) => {
    const start = Date.parse(`${step.date}T00:00:00Z`)
    return {since: start - options.daysBefore * DAY_MS, until: start + options.daysAfter * DAY_MS}
  })
  const since = Math.min(...windows.map((w) => w.since))
  const until = Math.max(...windows.map((w) => w.until))

  let commits: Change[] = []
  let commitsRead = 0
  if (repo && windows.length > 0) {
    const read = {
      onWalk: options.onProgress,
      since: new Date(since),
      until: new Date(until),
      windows: windows.map((w) => ({since: new Date(w.since), until: new Date(w.until)})),
    }
    for await (const change of readCommits(repo, read)) commits.push(change)
    commitsRead = commits.length
    commits = foldSameChanges(repo, commits)
  }
  // Terraform and CloudFormation commits: what each did to the account, from its diff.
  // The parsers (and the AWS SDK clients below) load only when a source needs them: the CLI starts faster.
  const iac = repo && commits.some((c) => c.files.some((f) => isIacPath(f.path))) ? await import('./iac.js') : undefined
  if (repo && iac) {
    // Merges that stand beside their branch's commits (cited by them as the same change) kept only their own edits.
    const beside = new Set(
      commits.flatMap((c) => c.sameChangeIn.filter((s) => s.relation === 'merge').map((s) => s.commit)),
    )
    for (const commit of commits) {
      if (!commit.files.some((f) => isIacPath(f.path))) continue
      const facts = await iac.iacFacts(repo, commit, {
        ownEditsOnly: commit.commit !== null && beside.has(commit.commit),
      })
      if (facts.length > 0) commit.cloud = facts
    }
  }
  const inRange = (c: Change) => Date.parse(c.time) >= since && Date.parse(c.time) < until
  const apt = options.aptLogs
    .flatMap((file) => parseAptHistory(readLogText(file), file, options.logZone))
    .filter(inRange)
  const dpkg = options.dpkgLogs
    .flatMap((file) => parseDpkgLog(readLogText(file), file, options.logZone))
    .filter(inRange)
  const window = {since, until}
  const trail = await readTrail(options, window)
  const config = await readConfig(options, window)
  const account = mergeCloudChanges([...(trail?.changes ?? []), ...(config?.changes ?? []), ...commits])
  const changes = mergeRuns(account, mergeRuns(apt, dpkg))

  // Steps share commits and services share files: each file is read at a commit once per run.
  const fileCache = new Map<string, string | undefined>()
  const steps = options.steps.map((step, i): CorrelatedStep => {
    const window = windows[i] ?? {since, until}
    const inWindow = changes.filter((c) => {
      const t = Date.parse(c.time)
      return t >= window.since && t < window.until
    })
    const ranked = rankChanges(step, inWindow, {fileCache, knowledge: options.knowledge, repo}).slice(0, options.limit)
    return {
      ...step,
      candidates: ranked,
      note: ranked.length > 0 ? null : emptyNote(repo, options, window),
      windowEnd: isoSeconds(window.until),
      windowStart: isoSeconds(window.since),
    }
  })
  return {
    changesRead: {
      aptHistory: apt.length,
      dpkgLog: dpkg.length,
      git: commitsRead,
      ...(trail ? {cloudtrail: trail.changes.length} : {}),
      ...(config ? {awsConfig: config.changes.length} : {}),
    },
    ...(trail && options.cloudtrail
      ? {
          cloudtrail: {
            eventsRead: trail.eventsRead,
            notes: trail.notes,
            regions: trail.regions,
            source: 'path' in options.cloudtrail ? options.cloudtrail.path : 'LookupEvents',
          },
        }
      : {}),
    ...(config && options.awsConfig
      ? {
          awsConfig: {
            itemsRead: config.itemsRead,
            resources: config.resources,
            source: 'path' in options.awsConfig ? options.awsConfig.path : 'GetResourceConfigHistory',
          },
        }
      : {}),
    logs: [...options.aptLogs, ...options.dpkgLogs],
    repo: repo?.path ?? null,
    steps,
    windowDaysAfter: options.daysAfter,
    windowDaysBefore: options.daysBefore,
  }
}

async function readTrail(
  options: CorrelateOptions,
  window: {since: number; until: number},
): Promise<TrailChanges | undefined> {
  const source = options.cloudtrail
  if (!source || options.steps.length === 0) return undefined
  const {lookupTrailEvents, readTrailFiles} = await import('./cloudtrail.js')
  if ('path' in source) return readTrailFiles(source.path, window)
  return lookupTrailEvents(window, {
    connection: source.connection,
    regions: source.regions,
    ...(options.onProgress ? {onPage: options.onProgress} : {}),
  })
}

async function readConfig(
  options: CorrelateOptions,
  window: {since: number; until: number},
): Promise<ConfigChanges | undefined> {
  const source = options.awsConfig
  if (!source || options.steps.length === 0) return undefined
  const {configHistoryFromApi, readConfigFiles} = await import('./aws-config.js')
  if ('path' in source) return readConfigFiles(source.path, window)
  return configHistoryFromApi(window, {
    connection: source.connection,
    resources: source.resources,
    ...(options.onProgress ? {onPage: options.onProgress} : {}),
  })
}

export interface CloudSourceFlags {
  /** A path, or 'api'. */
  cloudtrail?: string | undefined
  awsConfig?: string | undefined
  profile?: string | undefined
  regions?: string[] | undefined
}

/**
 * --cloudtrail and --aws-config as correlate takes them: a path, or the API with the regions whose usage
 * stepped (else the profile's region) and the resources the steps name.
 */
export function cloudSources(
  flags: CloudSourceFlags,
  steps: StepInput[],
): Pick<CorrelateOptions, 'awsConfig' | 'cloudtrail'> {
  const connection: AwsConnection = {
    ...(flags.profile === undefined ? {} : {profile: flags.profile}),
    ...(flags.regions?.length === 1 ? {region: flags.regions[0]} : {}),
  }
  const out: Pick<CorrelateOptions, 'awsConfig' | 'cloudtrail'> = {}
  if (flags.cloudtrail !== undefined) {
    const stepped = [...new Set(steps.flatMap((s) => s.regions ?? []))]
    const regions =
      flags.regions ??
      (stepped.length > 0 ? stepped : [process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1'])
    out.cloudtrail = flags.cloudtrail === 'api' ? {connection, regions} : {path: flags.cloudtrail}
  }
  if (flags.awsConfig !== undefined) {
    if (flags.awsConfig === 'api') {
      const resources = [...new Set(steps.flatMap((s) => s.drivers ?? (s.resourceId ? [s.resourceId] : [])))]
      if (resources.length === 0) {
        throw new BillwatchError('E_USAGE', 'the step names no resource to ask AWS Config about', {
          field: '--aws-config',
          suggestions: ['ingest a usage export with resource ids (CUR), or pass --aws-config DIR'],
        })
      }
      const region = connection.region ?? steps.find((s) => s.regions?.length)?.regions?.[0]
      out.awsConfig = {connection: {...connection, ...(region === undefined ? {} : {region})}, resources}
    } else {
      out.awsConfig = {path: flags.awsConfig}
    }
  }
  return out
}

/** What a correlation read, in words: "/etc", "/tmp/infra, CloudTrail samples/cloudtrail", "package logs". */
export function correlationSources(result: CorrelateResult): string {
  const named = [
    result.repo,
    result.logs.length > 0 ? 'package logs' : null,
    result.cloudtrail ? `CloudTrail ${result.cloudtrail.source}` : null,
    result.awsConfig ? `AWS Config ${result.awsConfig.source}` : null,
  ].filter((x): x is string => x !== null)
  return named.join(', ') || 'logs'
}

/** The step of `anomalies` as correlate needs it. */
export function stepInput(step: Step): StepInput {
  return {
    date: step.date,
    direction: step.direction,
    ratio: step.ratio,
    resourceId: step.resourceId,
    usageType: step.usageType,
  }
}

/**
 * Folds each log entry into the change (commit, or apt entry for dpkg runs) that records the same package
 * run: within SAME_RUN_MS and naming a common package (or a post-install commit with no package list).
 */
export function mergeRuns(into: Change[], entries: Change[]): Change[] {
  const out = into.map((c) => ({...c, alsoIn: [...c.alsoIn], packages: c.packages.map((p) => ({...p}))}))
  const rest: Change[] = []
  for (const entry of entries) {
    const keys = new Set(entry.packages.map(runKey))
    const t = Date.parse(entry.time)
    const target = out.find((c) => {
      if (Math.abs(Date.parse(c.time) - t) > SAME_RUN_MS) return false
      if (c.packages.some((p) => keys.has(runKey(p)))) return true
      return c.packages.length === 0 && c.kind === 'package-manager'
    })
    if (!target) {
      rest.push(entry)
      continue
    }
    target.alsoIn.push(entry.origin ?? entry.source, ...entry.alsoIn)
    target.command ??= entry.command
    target.manager ??= entry.manager
    for (const p of entry.packages) {
      const known = target.packages.find((q) => q.name === p.name)
      if (!known) target.packages.push(p)
      else if (known.version === null) Object.assign(known, {...p, action: known.action})
    }
  }
  return [...out, ...rest].sort((a, b) => Date.parse(b.time) - Date.parse(a.time))
}

/** Same package, same way (added or taken away): an install and the purge a second later are two runs. */
function runKey(p: PackageChange): string {
  return `${p.name}\u0000${p.action === 'remove' || p.action === 'purge' ? '-' : '+'}`
}

function emptyNote(repo: null | Repository, options: CorrelateOptions, window: {since: number; until: number}): string {
  const range = `${isoSeconds(window.since).slice(0, 10)} and ${isoSeconds(window.until).slice(0, 10)}`
  if (repo && !repo.hasCommits && options.aptLogs.length + options.dpkgLogs.length === 0)
    return `repository ${repo.path} has no commits`
  const sources = [
    repo ? `repository ${repo.path}` : '',
    options.aptLogs.length + options.dpkgLogs.length > 0 ? 'the package logs' : '',
    options.cloudtrail ? 'CloudTrail' : '',
    options.awsConfig ? 'AWS Config' : '',
  ]
    .filter(Boolean)
    .join(' or ')
  return `no change in ${sources || 'any source'} between ${range}`
}
