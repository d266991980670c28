import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {Flags} from '@oclif/core'

import {BillwatchError} from '../src/errors.js'
import {BaseCommand} from '../src/cli/base-command.js'
import {formatCount, formatRatio, truncate} from '../src/cli/format.js'
import {renderTable} from '../src/cli/render.js'
import {analyseAnomalies, EGRESS_LABEL} from '../src/anomalies/index.js'
import {
  cloudSources,
  correlate,
  correlationSources,
  type CorrelateResult,
  type StepInput,
  stepInput,
} from '../src/correlate/index.js'
import {sourcesOf} from '../src/correlate/cloud.js'
import {loadKnowledge} from '../src/correlate/knowledge.js'
import {checkZone, findLogs, zoneOfRoot} from '../src/correlate/package-logs.js'
import {scopeStep} from '../src/correlate/scope.js'
import {saveFinding} from '../src/store/evidence.js'
import {hasUsage, usageAroundDay} from '../src/store/usage.js'
import {isDay} from '../src/detect/index.js'

/** What `billwatch correlate --json` prints: its JSON Schema is schemas/correlate.json. */
export type CorrelateCommandResult = CorrelateResult

export default class Correlate extends BaseCommand<typeof Correlate> {
  static override summary =
    'Rank the changes (etckeeper commits, apt/dpkg runs, CloudTrail events, AWS Config history, Terraform/CloudFormation commits) that explain each step.'
  static override description = [
    'For each step (from the store, or --date), reads the changes made to the machine in a window around it: commits of the /etc repository (etckeeper or plain git; work tree, worktree or bare) and apt history.log / dpkg.log runs (plain, .gz, rotated).',
    'Every branch, tag and remote of the repository is read, and a commit is dated by its author time (when the change was made; a rebase or cherry-pick keeps it), the committer time shown beside it when it differs. A merge that only repeats its branch, and a cherry-pick of a change, count as that one change.',
    "The account's own history can be read beside or instead of the machine's: --cloudtrail (log files as delivered to S3, a CloudTrail Lake/Athena result CSV, or the LookupEvents API region by region for the regions whose usage stepped, paced under its 2 requests per second), --aws-config (history files or GetResourceConfigHistory for the resources the step names and their security groups), and --repo on a Terraform or CloudFormation repository (each commit's diff). Only changes that can drive egress are candidates: security-group and network-ACL rules, instance launches, starts and images, Elastic IP and interface associations, routes, NAT and internet gateways, listeners, public buckets and distributions, removed VPC endpoints; reads (Describe*, Get*, List*) and sign-ins never are. The same change from several sources is one candidate citing each.",
    'Ranks them by time (with the lag the service implies, e.g. about a day for the NTP pool to send clients), by relevance to the usage that stepped (a knowledge base of packages, files and ports kept as data: src/correlate/knowledge.json, extend it with --knowledge), and by what the configuration said at that commit. Each candidate comes with one line of reasoning. With a store (--db), the result is saved for billwatch explain.',
  ].join('\n\n')

  static override examples = [
    {
      command:
        '<%= config.bin %> ingest samples/billing/usage-report-ec2-2013-06-01_2014-06-01.csv && <%= config.bin %> <%= command.id %> --repo /tmp/etc-history',
      description: 'Correlate every step anomalies finds in the store',
    },
    {
      command:
        'samples/scripts/make-etc-repo.sh /tmp/etc-history && <%= config.bin %> <%= command.id %> --repo /tmp/etc-history --date 2014-03-30',
      description:
        'Build the /etc history of the NTP pool server incident, then rank the changes before the 2014-03-30 egress step',
    },
    '<%= config.bin %> <%= command.id %> --repo /tmp/etc-history --date 2014-03-30 --usage-type DataTransfer-Out-Bytes --json',
    '<%= config.bin %> <%= command.id %> --root /mnt/old-disk --date 2014-03-30 --window 14,2',
    '<%= config.bin %> <%= command.id %> --repo /etc --apt-log /var/log/apt/history.log --date 2014-03-30 --log-tz Europe/Berlin',
    {
      command: '<%= config.bin %> <%= command.id %> --cloudtrail samples/cloudtrail --date 2014-03-30',
      description: 'The NTP pool server incident told by the account: rank CloudTrail log files as delivered to S3',
    },
    {
      command:
        'samples/scripts/make-terraform-repo.sh /tmp/infra && <%= config.bin %> <%= command.id %> --repo /tmp/infra --cloudtrail samples/cloudtrail --aws-config samples/aws-config --date 2014-03-30',
      description:
        'The same change from a Terraform repository, CloudTrail and AWS Config: one candidate citing all three',
    },
    '<%= config.bin %> <%= command.id %> --cloudtrail api --aws-config api --profile audit',
  ]

  static override flags = {
    'aws-config': Flags.string({
      description:
        'AWS Config history: a file or folder of history/snapshot files as delivered to S3 (.json.gz), or "api" for GetResourceConfigHistory of the resources the step names.',
      helpValue: 'DIR|api',
    }),
    cloudtrail: Flags.string({
      description:
        'CloudTrail: a log file or folder as delivered to S3 (.json.gz), a CloudTrail Lake/Athena result CSV, or "api" for LookupEvents (needs cloudtrail:LookupEvents).',
      helpValue: 'DIR|FILE|api',
    }),
    profile: Flags.string({
      description: 'AWS shared-config profile for --cloudtrail api / --aws-config api.',
      helpValue: 'NAME',
    }),
    region: Flags.string({
      description:
        "Region to ask with --cloudtrail api / --aws-config api (default: the regions whose usage stepped, else the profile's region).",
      helpValue: 'R',
      multiple: true,
    }),
    'apt-log': Flags.string({
      description: 'apt history.log to read (plain or .gz); repeat for rotated files.',
      helpValue: 'FILE',
      multiple: true,
    }),
    date: Flags.string({
      description: 'Correlate a step starting on this UTC day instead of the steps found in the store.',
      helpValue: 'YYYY-MM-DD',
      multiple: true,
    }),
    direction: Flags.string({
      description: 'With --date: did usage rise or fall? (default: as anomalies found it on that day, else up)',
      options: ['up', 'down'],
    }),
    'dpkg-log': Flags.string({
      description: 'dpkg.log to read (plain or .gz); repeat for rotated files.',
      helpValue: 'FILE',
      multiple: true,
    }),
    knowledge: Flags.string({
      description: 'Extra knowledge-base JSON (same shape as src/correlate/knowledge.json) to add or replace services.',
      helpValue: 'FILE',
    }),
    limit: Flags.integer({default: 5, description: 'Candidates shown per step.', min: 1}),
    'log-tz': Flags.string({
      description: "Time zone of the package logs' wall-clock times (default: ROOT/etc/timezone, else UTC).",
      helpValue: 'ZONE',
    }),
    repo: Flags.string({
      description: 'Git repository of the configuration (default: /etc, or ROOT/etc with --root).',
      helpValue: 'PATH',
    }),
    root: Flags.string({
      description:
        'A machine root (mounted disk or copy of /): reads ROOT/etc, ROOT/var/log/apt/history.log* and ROOT/var/log/dpkg.log*.',
      helpValue: 'DIR',
    }),
    'usage-type': Flags.string({
      description:
        'The usage that stepped: with --date, a usage type (default DataTransfer-Out, internet egress); without it, a GLOB passed to anomalies.',
    }),
    window: Flags.string({
      default: '7,1',
      description: 'Days before and after the step day to search.',
      helpValue: 'BEFORE[,AFTER]',
    }),
  }

  async run(): Promise<CorrelateCommandResult> {
    const {flags} = this
    const [daysBefore, daysAfter] = parseWindow(flags.window)
    const root = flags.root
    // An empty path (an unset shell variable) would mean the current folder: refused.
    for (const flag of ['repo', 'root', 'apt-log', 'dpkg-log', 'knowledge'] as const) {
      const values = [flags[flag]].flat()
      if (values.some((value) => value?.trim() === '')) this.usage('an empty path', `--${flag}`)
    }
    if (root !== undefined && !existsSync(root)) this.usage(`${root} does not exist`, '--root')
    const found = root === undefined ? {apt: [], dpkg: []} : findLogs(root)
    const aptLogs = [...found.apt, ...(flags['apt-log'] ?? [])]
    const dpkgLogs = [...found.dpkg, ...(flags['dpkg-log'] ?? [])]
    const logZone =
      flags['log-tz'] === undefined ? (root === undefined ? 'UTC' : zoneOfRoot(root)) : checkZone(flags['log-tz'])
    const cloud = flags.cloudtrail !== undefined || flags['aws-config'] !== undefined
    // The account's history alone does not need this machine's /etc.
    const repo =
      cloud && flags.repo === undefined && root === undefined
        ? null
        : chooseRepo(flags.repo, root, aptLogs.length + dpkgLogs.length > 0)
    const knowledge = loadKnowledge(flags.knowledge)
    // A store is in use when named (--db, BILLWATCH_DB) or already there; with --date, correlate needs none.
    const useStore = flags.date === undefined || flags.db !== undefined || existsSync(this.storePath())
    const listed =
      flags.date === undefined
        ? await this.stepsFromStore(flags['usage-type'])
        : await this.stepsByHand(flags.date, useStore)
    // Where each step happened (regions, the resources that drove it), when the store holds its usage.
    const steps =
      useStore && cloud
        ? await this.withStore(async (store) =>
            Promise.all(listed.map(async (step) => scopeStep(step, await usageAroundDay(store, step.date)))),
          )
        : listed
    const progress = this.progress('reading history')
    const result = await correlate({
      aptLogs,
      daysAfter,
      daysBefore,
      dpkgLogs,
      knowledge,
      limit: flags.limit,
      logZone,
      onProgress: progress.update,
      repo,
      steps,
      ...cloudSources(
        {awsConfig: flags['aws-config'], cloudtrail: flags.cloudtrail, profile: flags.profile, regions: flags.region},
        steps,
      ),
    })
    progress.done()
    if (useStore) {
      await this.withStore((store) => saveFinding(store, 'correlate', correlationSources(result), result))
    }
    this.print(() => renderResult(result))
    return result
  }

  /** The steps `anomalies` finds in the store. */
  private async stepsFromStore(usageType: string | undefined): Promise<StepInput[]> {
    const found = await this.withStore((store) => analyseAnomalies(store, usageType === undefined ? {} : {usageType}), {
      mustExist: true,
      readOnly: true,
    })
    if (found.steps.length === 0)
      this.note(`no step in ${found.usageType} between ${found.firstDay} and ${found.lastDay}`)
    return found.steps.map((step) => stepInput(step))
  }

  /** --date steps; when the store holds usage, the step anomalies finds on that day lends its size and direction. */
  private async stepsByHand(dates: string[], useStore: boolean): Promise<StepInput[]> {
    const {flags} = this
    // Check every date before opening the store: a typo should not wait for the analysis.
    const days = dates.map((date) => checkDate(date))
    const usageType = flags['usage-type'] ?? EGRESS_LABEL
    const known = useStore
      ? await this.withStore(async (store) => {
          if (!(await hasUsage(store))) return []
          return (await analyseAnomalies(store, flags['usage-type'] === undefined ? {} : {usageType})).steps
        })
      : []
    return days.map((day): StepInput => {
      const step = known.find((s) => s.date === day)
      if (step && flags.direction === undefined) return stepInput(step)
      return {
        date: day,
        direction: flags.direction === 'down' ? 'down' : 'up',
        ratio: null,
        resourceId: null,
        usageType,
      }
    })
  }
}

function parseWindow(text: string): [number, number] {
  const match = /^(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?$/.exec(text.trim())
  if (!match)
    throw new BillwatchError('E_USAGE', '', {expected: 'BEFORE[,AFTER] days, e.g. 7,1', field: '--window', got: text})
  return [Number(match[1]), match[2] === undefined ? 1 : Number(match[2])]
}

function checkDate(date: string): string {
  if (!isDay(date)) {
    throw new BillwatchError('E_USAGE', '', {expected: 'a day as YYYY-MM-DD', field: '--date', got: date})
  }
  return date
}

/** --repo as given; else ROOT/etc or /etc when it is there (logs alone are enough when it is not). */
function chooseRepo(flag: string | undefined, root: string | undefined, haveOtherSources: boolean): null | string {
  if (flag !== undefined) return flag
  const etc = root === undefined ? '/etc' : join(root, 'etc')
  if (haveOtherSources && !existsSync(join(etc, '.git'))) return null
  return etc
}

function renderResult(result: CorrelateResult): string {
  const blocks: string[] = []
  const read = `read ${formatCount(result.changesRead.git)} commits, ${formatCount(result.changesRead.aptHistory)} apt and ${formatCount(result.changesRead.dpkgLog)} dpkg runs`
  const sources = [result.repo, result.logs.length > 0 ? 'package logs' : null].filter(Boolean).join(', ')
  const window = `window ${result.windowDaysBefore} days before, ${result.windowDaysAfter} after`
  // With only the account's history there is no machine history to count.
  if (sources || (!result.cloudtrail && !result.awsConfig))
    blocks.push(`${sources || 'package logs'}: ${read} (${window})`)
  else blocks.push(`the account's history (${window})`)
  if (result.cloudtrail) {
    const regions = result.cloudtrail.regions.length > 0 ? ` in ${result.cloudtrail.regions.join(', ')}` : ''
    blocks.push(
      `CloudTrail ${result.cloudtrail.source}: ${formatCount(result.cloudtrail.eventsRead)} events${regions}, ${formatCount(result.changesRead.cloudtrail ?? 0)} that can move egress`,
    )
    for (const note of result.cloudtrail.notes) blocks.push(`  note: ${note}`)
  }
  if (result.awsConfig) {
    blocks.push(
      `AWS Config ${result.awsConfig.source}: ${formatCount(result.awsConfig.itemsRead)} configuration items of ${formatCount(result.awsConfig.resources.length)} resources, ${formatCount(result.changesRead.awsConfig ?? 0)} changes`,
    )
  }
  for (const step of result.steps) {
    const size = step.ratio === null ? '' : ` ${formatRatio(step.direction === 'up' ? step.ratio : 1 / step.ratio)}`
    blocks.push(`\nstep ${step.date} ${step.usageType} ${step.direction}${size}`)
    if (step.candidates.length === 0) {
      blocks.push(`  ${step.note ?? 'no candidates'}`)
      continue
    }
    blocks.push(
      renderTable(
        ['#', 'score', 'made (UTC)', 'change', 'packages', 'files', 'source'],
        step.candidates.map((c, i) => [
          i + 1,
          c.score.toFixed(3),
          `${c.time.slice(0, 10)} ${c.time.slice(11, 16)}`,
          `${c.commit === null ? '' : `${c.commit.slice(0, 7)} `}${truncate(c.subject, 60)}`,
          c.packages.length,
          c.files.length,
          sourcesOf(c),
        ]),
        ['right', 'right', 'left', 'left', 'right', 'right', 'left'],
      ),
    )
    blocks.push(step.candidates.map((c, i) => `${i + 1}. ${c.reason}`).join('\n'))
  }
  return blocks.join('\n')
}
