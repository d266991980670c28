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

export type ChangeSource = 'apt-history' | 'dpkg-log' | 'git'

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
  /** Log entries merged into this commit because they record the same package run. */
  alsoIn: string[]
  /** Other commits that record this same change (a merge repeating it, a cherry-pick of it): one candidate, not several. */
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
  changesRead: {aptHistory: number; dpkgLog: number; git: number}
  steps: CorrelatedStep[]
}
