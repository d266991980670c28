/** The shapes `billwatch correlate` reads (changes) and prints (candidates per step). */

export type PackageAction = 'install' | 'purge' | 'reinstall' | 'remove' | 'upgrade'

export interface PackageChange {
  name: string
  action: PackageAction
  /** Version after the change (before it, for remove/purge); null when only a command line names it. */
  version: null | string
  /** Version before an upgrade or downgrade. */
  fromVersion?: string
}

export type FileStatus = 'added' | 'copied' | 'deleted' | 'modified' | 'renamed' | 'type-changed' | 'unknown'

export interface FileChange {
  /** Path relative to the repository root (i.e. under /etc for etckeeper). */
  path: string
  status: FileStatus
  /** The old path of a rename or copy. */
  from?: string
}

/** What etckeeper (or a person) said a commit was. */
export type ChangeKind =
  | 'daily-autocommit' // etckeeper's cron job
  | 'manual' // anything a person typed
  | 'package-manager' // etckeeper's post-install hook: "committing changes in /etc made by …"
  | 'pre-install' // etckeeper's pre-install hook: "saving uncommitted changes in /etc prior to … run"

export type ChangeSource = 'apt-history' | 'aws-config' | 'cloudtrail' | 'dpkg-log' | 'git'

/** What a change did to the account's network or compute, as CloudTrail, AWS Config or an IaC diff records it. */
export type CloudAction =
  | 'address-associated' // an Elastic IP put on an instance or interface
  | 'address-disassociated'
  | 'endpoint-removed' // a VPC endpoint deleted: its traffic now goes out through NAT or the internet gateway
  | 'gateway-attached' // internet gateway attached, egress-only gateway created
  | 'gateway-detached'
  | 'image-changed' // an instance's root volume replaced from an image
  | 'instance-changed' // type, security groups or user data of an instance
  | 'instance-launched'
  | 'instance-started'
  | 'instance-stopped' // stopped or terminated
  | 'interface-attached'
  | 'listener-added' // a load balancer listens on a new port
  | 'listener-removed'
  | 'nat-created'
  | 'nat-deleted'
  | 'public-access-opened' // an S3 bucket or CloudFront distribution made readable by anyone
  | 'route-changed'
  | 'route-removed'
  | 'rule-added' // a security-group or network-ACL rule allowed
  | 'rule-removed'

/** A security-group or network-ACL rule. */
export interface NetworkRule {
  direction: 'egress' | 'ingress'
  /** 'tcp', 'udp', 'icmp', 'all', or an IANA protocol number as text. */
  protocol: string
  /** null: every port (all protocols, or -1). */
  fromPort: null | number
  toPort: null | number
  /** What the rule opens to: CIDRs (0.0.0.0/0), prefix lists (pl-…) or security groups (sg-…). */
  peers: string[]
  /** Network ACL entries can deny; security-group rules always allow. */
  allow: boolean
}

/** One fact about a change to the account. */
export interface CloudFact {
  action: CloudAction
  /** The API call (AuthorizeSecurityGroupIngress) or IaC resource address (aws_security_group_rule.ntp). */
  operation: string
  /** The resource changed: sg-…, i-…, rtb-…, an ARN, or an IaC address when no id is known. */
  resource: string
  /** CloudFormation-style type, e.g. AWS::EC2::SecurityGroup. */
  resourceType: string
  region: null | string
  rule?: NetworkRule
  /** A listener's protocol and port. */
  listener?: {protocol: string; port: number}
  /** Instances the resource protects or is attached to, as far as the sources say. */
  instances: string[]
  /** Other ids the change names (image, allocation, route target, bucket). */
  related: string[]
}

/** One change to the machine: a commit of the configuration repository, or a package-manager run from its logs. */
export interface Change {
  source: ChangeSource
  /** Full commit hash (git only). */
  commit: null | string
  parents: string[]
  /**
   * When the change was made, ISO 8601 UTC: for git the author time, which a rebase, cherry-pick or
   * amend keeps while the committer time moves on.
   */
  time: string
  /** The same instant as recorded, with its UTC offset (e.g. 2014-03-29T18:41:36+00:00). */
  recordedTime: string
  /** Author time as recorded (git only). */
  authorTime: null | string
  /** Committer time as recorded (git only): when the commit was written, later than `time` after a rebase. */
  committerTime: null | string
  author: null | string
  subject: string
  kind: ChangeKind
  /** Package manager front end named by the message or log: apt, dnf, yum, pacman, dpkg, … */
  manager: null | string
  /** The command line that made the change, when recorded. */
  command: null | string
  packages: PackageChange[]
  files: FileChange[]
  /** Where a log-derived change came from (file:line). */
  origin: null | string
  /**
   * Log entries merged into this commit because they record the same package run, or the other sources of a cloud
   * change.
   */
  alsoIn: string[]
  /**
   * What the change did to the account (CloudTrail events, AWS Config history, IaC diffs); absent for machine changes.
   */
  cloud?: CloudFact[]
  /**
   * Other commits that record this same change (a merge repeating it, a cherry-pick of it): one candidate, not several.
   */
  sameChangeIn: SameChange[]
}

/**
 * How another commit records the same change as the candidate:
 * - merge: a merge whose diff only repeats the candidate (it adds nothing of its own);
 * - branch: the candidate is such a merge, and this is the branch commit (outside the window) it repeats;
 * - cherry-pick: the same patch by the same author at the same author time, committed again (cherry-pick, rebase).
 */
export interface SameChange {
  commit: string
  relation: 'branch' | 'cherry-pick' | 'merge'
  subject: string
  /** Author time, ISO 8601 UTC. */
  time: string
  /** Committer time, ISO 8601 UTC. */
  committedTime: string
}

export interface CandidateScores {
  /** 0..1: how well the time fits the step, given the lag the service implies. */
  time: number
  /** 0..1: how much the change could produce the usage that stepped. */
  relevance: number
}

export interface Candidate extends Change {
  /** 0..1, best first. */
  score: number
  scores: CandidateScores
  /** Days from the change to the start of the step day (negative: after it began). */
  daysBefore: number
  /** Knowledge-base entries the change matched (ids). */
  services: string[]
  /** Facts found in the configuration at that commit, e.g. "ntp.conf has no 'restrict default ignore'". */
  findings: string[]
  /** One line of reasoning. */
  reason: string
}

export interface StepInput {
  date: string
  usageType: string
  direction: 'down' | 'up'
  /** levelAfter / levelBefore; null when the step was given by hand (--date). */
  ratio: null | number
  resourceId: null | string
  /** Resources whose usage drove the step (instances first); a change to one of them ranks higher. */
  drivers?: string[]
  /** Regions whose usage stepped (where CloudTrail is asked). */
  regions?: string[]
}

export interface CorrelatedStep extends StepInput {
  /** The window searched, ISO 8601 UTC, [start, end). */
  windowStart: string
  windowEnd: string
  candidates: Candidate[]
  /** Set when there is nothing to rank, e.g. "no change between … and …". */
  note: null | string
}

export interface CorrelateResult {
  repo: null | string
  logs: string[]
  windowDaysBefore: number
  windowDaysAfter: number
  /** How many changes were read in all windows, per source. */
  changesRead: {aptHistory: number; dpkgLog: number; git: number; cloudtrail?: number; awsConfig?: number}
  /** CloudTrail records read (all events, read-only ones included) and where from; absent without --cloudtrail. */
  cloudtrail?: {source: string; eventsRead: number; regions: string[]; notes: string[]}
  /** AWS Config configuration items read; absent without --aws-config. */
  awsConfig?: {source: string; itemsRead: number; resources: string[]}
  steps: CorrelatedStep[]
}
