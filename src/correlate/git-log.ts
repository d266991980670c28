import {spawn, spawnSync} from 'node:child_process'
import {existsSync, statSync} from 'node:fs'
import {resolve} from 'node:path'

import {BillwatchError} from '../errors.js'
import {describeMessage} from './etckeeper.js'
import {isoSeconds} from './time.js'
import type {Change, FileChange, FileStatus} from './types.js'

export interface Repository {
  /** Absolute path as given (work tree, linked worktree or bare repository). */
  path: string
  gitDir: string
  bare: boolean
  /** False for a repository whose HEAD has no commit yet. */
  hasCommits: boolean
}

/** Opens a configuration repository: a work tree, a linked worktree or a bare repository. */
export function openRepository(path: string): Repository {
  const abs = resolve(path)
  if (!existsSync(abs))
    throw new BillwatchError('E_NOT_FOUND', 'no such directory', {
      expected: 'a git repository (e.g. /etc with etckeeper)',
      file: path,
    })
  if (!statSync(abs).isDirectory()) {
    throw new BillwatchError('E_GIT', 'not a directory', {
      expected: 'a git repository (e.g. /etc with etckeeper)',
      file: path,
    })
  }
  const probe = git(abs, ['rev-parse', '--absolute-git-dir', '--is-bare-repository'])
  if (probe.status !== 0) {
    // git's own words stay out of the message; the one cause a user can act on differently is named.
    const detail = probe.stderr.includes('dubious ownership')
      ? 'a git repository owned by another user (git refuses it: safe.directory)'
      : 'not a git repository'
    throw new BillwatchError('E_GIT', detail, {
      expected: 'a work tree, worktree or bare repository',
      file: path,
      suggestions: ['etckeeper init -d DIR, or pass --repo PATH of an existing repository'],
    })
  }
  const [gitDir = '', bare = 'false'] = probe.stdout.trim().split('\n')
  const head = git(abs, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'])
  return {bare: bare === 'true', gitDir, hasCommits: head.status === 0, path: abs}
}

export interface ReadCommitsOptions {
  /** Inclusive lower bound on the author time. */
  since: Date
  /** Exclusive upper bound on the author time. */
  until: Date
  /**
   * Narrower [since, until) author-time ranges within the bounds (one per step); commits outside all of them are
   * skipped.
   */
  windows?: {since: Date; until: Date}[]
  /** Called now and then with the number of commits walked so far. */
  onWalk?: ((walked: number) => void) | undefined
}

/**
 * The commits of every branch, tag and remote (and HEAD) whose author time falls in the window, with
 * the files each changed (merges: against their first parent), the same change recorded by several
 * commits folded into one (see foldSameChanges). Newest first by author time.
 *
 * git's own date limit (`--since`) stops walking at the first commit older than it, so one commit with
 * a backwards committer date (a clock set right only after it) would hide all older ones: the whole
 * graph is walked here, reading only hashes and times, and the window is applied by author time. All
 * git output read is NUL-separated or length-prefixed, so no commit message can forge a record.
 */
export async function* readCommits(repo: Repository, options: ReadCommitsOptions): AsyncGenerator<Change> {
  const ranges = (options.windows ?? [options]).map((w) => [w.since.getTime(), w.until.getTime()] as const)
  const lower = options.since.getTime()
  const upper = options.until.getTime()
  const inWindow = (ms: number) =>
    ms >= lower && ms < upper && ranges.some(([since, until]) => ms >= since && ms < until)
  const starts = refsToWalk(repo)
  if (starts.length === 0) return
  const hashes = await walkHistory(repo, starts, inWindow, options.onWalk)
  for (const change of describeCommits(repo, commitTimes(repo, hashes)).sort(
    (a, b) => Date.parse(b.time) - Date.parse(a.time),
  ))
    yield change
}

/** The given commits (hashes), read as readCommits reads them, in the order given. */
export function readCommitsByHash(repo: Repository, hashes: string[]): Change[] {
  return describeCommits(repo, commitTimes(repo, hashes))
}

function describeCommits(repo: Repository, walked: WalkedCommit[]): Change[] {
  if (walked.length === 0) return []
  const raw = readRawCommits(
    repo,
    walked.map((w) => w.hash),
  )
  const files = readFileChanges(repo, walked)
  return walked.map((w) => toChange(w, raw.get(w.hash), files.get(w.hash) ?? []))
}

/** A commit's hashes and times as git formats them (`%H %P %at %ct`): nothing a message can reach. */
interface WalkedCommit {
  hash: string
  parents: string[]
  authorMs: number
  committerMs: number
}

const HASH = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/

/**
 * The hashes of every commit `revs` reach whose author time `keep` accepts: one pass over the whole
 * graph reading only `%H %at` (NUL-separated), never git's date limits.
 */
async function walkHistory(
  repo: Repository,
  revs: string[],
  keep: (authorMs: number) => boolean,
  onWalk?: (walked: number) => void,
): Promise<string[]> {
  const args = ['log', '-z', '--no-color', '--no-show-signature', '--format=%H%x00%at', ...revs, '--']
  const child = spawn('git', gitArgs(repo.path, args), {stdio: ['ignore', 'pipe', 'pipe']})
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number>((done, fail) => {
    child.on('error', fail)
    child.on('close', (code) => done(code ?? 1))
  })
  const kept: string[] = []
  let hash: null | string = null
  let pending = ''
  let count = 0
  const take = (field: string) => {
    if (hash === null) {
      hash = field
      return
    }
    const authorMs = Number(field) * 1000
    if (!HASH.test(hash) || field === '' || !Number.isFinite(authorMs)) {
      throw new BillwatchError('E_GIT', 'unexpected git log output', {
        expected: 'the hash and author time of each commit',
        file: repo.path,
      })
    }
    if (keep(authorMs)) kept.push(hash)
    hash = null
    if (++count % 10_000 === 0) onWalk?.(count)
  }
  try {
    // Hashes and decimal times only: ASCII, so the chunks can be split without a decoder.
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      const parts = (pending + chunk.toString('latin1')).split('\0')
      pending = parts.pop() ?? ''
      for (const part of parts) take(part.replace(/^\n/, ''))
    }
    if (pending.replace(/^\n/, '') !== '') take(pending.replace(/^\n/, ''))
  } finally {
    if (child.exitCode === null) child.kill()
  }
  const code = await exited
  if (code !== 0) throw gitFailure(stderr, repo.path)
  onWalk?.(count)
  return kept
}

const BATCH = 2000

/** Parents and both times of the given commits (`git log --no-walk --stdin`, NUL-separated), in the order given. */
function commitTimes(repo: Repository, hashes: string[]): WalkedCommit[] {
  const out: WalkedCommit[] = []
  for (let i = 0; i < hashes.length; i += BATCH) {
    const input = `${hashes.slice(i, i + BATCH).join('\n')}\n`
    const fields = gitBuffer(
      repo.path,
      [
        'log',
        '--no-walk=unsorted',
        '--stdin',
        '-z',
        '--no-color',
        '--no-show-signature',
        '--format=%H%x00%P%x00%at%x00%ct',
      ],
      input,
    )
      .toString('latin1')
      .split('\0')
    for (let f = 0; f + 3 < fields.length; f += 4) {
      const [hash = '', parents = '', authorSec = '', committerSec = ''] = fields
        .slice(f, f + 4)
        .map((x) => x.replace(/^\n/, ''))
      const commit = {
        authorMs: Number(authorSec) * 1000,
        committerMs: Number(committerSec) * 1000,
        hash,
        parents: parents === '' ? [] : parents.split(' '),
      }
      if (
        !HASH.test(hash) ||
        authorSec === '' ||
        !Number.isFinite(commit.authorMs) ||
        !Number.isFinite(commit.committerMs) ||
        !commit.parents.every((p) => HASH.test(p))
      ) {
        throw new BillwatchError('E_GIT', 'unexpected git log output', {
          expected: 'hash, parents and times of each commit',
          file: repo.path,
        })
      }
      out.push(commit)
    }
  }
  return out
}

/** HEAD (when it has a commit) and every branch, tag and remote; not the stash or notes, which are not history. */
function refsToWalk(repo: Repository): string[] {
  const refs = git(repo.path, [
    'for-each-ref',
    '--count=1',
    '--format=%(objectname)',
    'refs/heads',
    'refs/tags',
    'refs/remotes',
  ])
  const any = refs.status === 0 && refs.stdout.trim() !== ''
  if (!repo.hasCommits && !any) return []
  return [...(repo.hasCommits ? ['HEAD'] : []), ...(any ? ['--branches', '--tags', '--remotes'] : [])]
}

/** A commit object as stored: identity and zone of author and committer, and the message. */
interface RawCommit {
  author: string
  authorZone: string
  committerZone: string
  message: string
}

/**
 * Reads commit objects with `git cat-file --batch`: each comes with its byte length, so nothing inside a
 * message (record or field separators, fake headers) can be taken for another commit or field.
 */
function readRawCommits(repo: Repository, hashes: string[]): Map<string, RawCommit> {
  const out = new Map<string, RawCommit>()
  for (let i = 0; i < hashes.length; i += BATCH) {
    const batch = hashes.slice(i, i + BATCH)
    const result = gitBuffer(repo.path, ['cat-file', '--batch'], `${batch.join('\n')}\n`)
    let at = 0
    const data = result
    while (at < data.length) {
      const eol = data.indexOf(0x0a, at)
      if (eol < 0) break
      const [hash = '', type = '', size = ''] = data.subarray(at, eol).toString('latin1').split(' ')
      at = eol + 1
      if (type === 'missing' || size === '') continue
      const length = Number(size)
      const body = data.subarray(at, at + length)
      at += length + 1
      if (type === 'commit') out.set(hash, parseRawCommit(body))
    }
  }
  return out
}

/** Headers up to the first empty line (`author NAME <EMAIL> EPOCH ZONE`, `encoding X`, …), then the message. */
export function parseRawCommit(body: Buffer): RawCommit {
  const split = body.indexOf('\n\n')
  const head = body
    .subarray(0, split < 0 ? body.length : split)
    .toString('utf8')
    .split('\n')
  const header = (name: string) => head.find((line) => line.startsWith(`${name} `))?.slice(name.length + 1)
  const ident = (line: string | undefined) => {
    const match = /^(.*) (-?\d+) ([+-]\d{4})$/.exec(line ?? '')
    return match ? {ident: match[1] ?? '', zone: match[3] ?? '+0000'} : {ident: line ?? '', zone: '+0000'}
  }
  const author = ident(header('author'))
  const committer = ident(header('committer'))
  const message = split < 0 ? Buffer.alloc(0) : body.subarray(split + 2)
  return {
    author: author.ident,
    authorZone: author.zone,
    committerZone: committer.zone,
    message: decodeMessage(message, header('encoding')),
  }
}

/** A message in the encoding its commit names (git log would re-encode it the same way); UTF-8 otherwise. */
function decodeMessage(bytes: Buffer, encoding: string | undefined): string {
  if (encoding !== undefined) {
    try {
      return new TextDecoder(encoding.trim()).decode(bytes)
    } catch {
      // An encoding Node does not know: read it as UTF-8, as git does when it cannot convert.
    }
  }
  return new TextDecoder('utf-8').decode(bytes)
}

/**
 * The files each commit changed, against its first parent (a root commit: everything added), from
 * `git diff-tree --stdin -z`: a commit's hash, then status and path(s) per file, all NUL-terminated.
 */
function readFileChanges(repo: Repository, commits: WalkedCommit[]): Map<string, FileChange[]> {
  const out = new Map<string, FileChange[]>()
  for (let i = 0; i < commits.length; i += BATCH) {
    const input = commits.slice(i, i + BATCH).map((c) => [c.hash, ...c.parents.slice(0, 1)].join(' '))
    const text = gitBuffer(
      repo.path,
      ['diff-tree', '--stdin', '-z', '-r', '-M', '--root', '--name-status'],
      `${input.join('\n')}\n`,
    ).toString('utf8')
    const tokens = text.split('\0')
    let current: FileChange[] | undefined
    for (let t = 0; t < tokens.length; t++) {
      const token = tokens[t] ?? ''
      if (token === '') continue
      if (HASH.test(token)) {
        current = []
        out.set(token, current)
        continue
      }
      const status = STATUS[token[0] ?? ''] ?? 'unknown'
      if (status === 'renamed' || status === 'copied') {
        const from = tokens[++t] ?? ''
        current?.push({from, path: tokens[++t] ?? '', status})
      } else {
        current?.push({path: tokens[++t] ?? '', status})
      }
    }
  }
  return out
}

function toChange(walked: WalkedCommit, raw: RawCommit | undefined, files: FileChange[]): Change {
  const message = raw?.message ?? ''
  const [subject = '', ...bodyLines] = message.replace(/\n+$/, '').split('\n')
  const body = bodyLines.join('\n').replace(/^\n+/, '')
  const described = describeMessage(subject, body)
  const authorTime = recordedIso(walked.authorMs, raw?.authorZone ?? '+0000')
  return {
    alsoIn: [],
    author: raw?.author ?? null,
    authorTime,
    command: described.command,
    commit: walked.hash,
    committerTime: recordedIso(walked.committerMs, raw?.committerZone ?? '+0000'),
    files,
    kind: described.kind,
    manager: described.manager,
    origin: null,
    packages: described.packages,
    parents: walked.parents,
    recordedTime: authorTime,
    sameChangeIn: [],
    source: 'git',
    subject,
    time: isoSeconds(walked.authorMs),
  }
}

/** Epoch ms and git's `+0530` → `2014-03-30T05:11:30+05:30`, as `%aI` prints it. */
export function recordedIso(ms: number, zone: string): string {
  const match = /^([+-])(\d{2})(\d{2})$/.exec(zone)
  const sign = match?.[1] === '-' ? -1 : 1
  const minutes = match ? sign * (Number(match[2]) * 60 + Number(match[3])) : 0
  const local = new Date(ms + minutes * 60_000).toISOString().slice(0, 19)
  return `${local}${match ? `${match[1]}${match[2]}:${match[3]}` : '+00:00'}`
}

/** Reads a file as it was at a commit; undefined when it did not exist there. */
export function readFileAt(repo: Repository, commit: string, path: string): string | undefined {
  const result = git(repo.path, ['show', `${commit}:${path}`])
  return result.status === 0 ? result.stdout : undefined
}

/** Paths of the files under `dir` ('' for the root) at a commit, not recursing into subfolders. */
export function listFilesAt(repo: Repository, commit: string, dir: string): string[] {
  const result = git(repo.path, ['ls-tree', '--name-only', '-z', commit, '--', dir === '' ? '.' : `${dir}/`])
  return result.status === 0 ? result.stdout.split('\0').filter((path) => path !== '') : []
}

const STATUS: Record<string, FileStatus> = {
  A: 'added',
  C: 'copied',
  D: 'deleted',
  M: 'modified',
  R: 'renamed',
  T: 'type-changed',
}

function gitArgs(cwd: string, args: string[]): string[] {
  // Reading a repository owned by another user (root's /etc) is safe for log/show: they run no hooks.
  return ['-c', `safe.directory=${cwd}`, '-c', 'core.quotepath=off', '-C', cwd, ...args]
}

function git(cwd: string, args: string[]): {status: number; stderr: string; stdout: string} {
  const result = spawnSync('git', gitArgs(cwd, args), {encoding: 'utf8', maxBuffer: 64 * 1024 * 1024})
  if (result.error)
    throw new BillwatchError('E_GIT', `cannot run git: ${result.error.message}`, {suggestions: ['install git']})
  return {status: result.status ?? 1, stderr: result.stderr, stdout: result.stdout}
}

/** Runs git with `input` on stdin and returns its stdout; a failure is an E_GIT error naming the repository. */
export function gitBuffer(cwd: string, args: string[], input: Buffer | string): Buffer {
  const result = spawnSync('git', gitArgs(cwd, args), {input, maxBuffer: 1 << 30})
  if (result.error)
    throw new BillwatchError('E_GIT', `cannot run git: ${result.error.message}`, {suggestions: ['install git']})
  if (result.status !== 0) throw gitFailure(result.stderr.toString(), cwd)
  return result.stdout
}

/**
 * A git failure in billwatch's words: git's own lines quote ref names, paths and hashes from the
 * repository, so they stay out; the causes a user acts on differently are named.
 */
function gitFailure(stderr: string, path: string): BillwatchError {
  const cause = /permission denied/i.test(stderr)
    ? {
        detail: 'cannot read the repository (permission denied)',
        suggestions: ["run as a user who can read it, e.g. sudo for root's /etc"],
      }
    : /bad object|could not read|unable to read|corrupt|missing (blob|tree|commit)|loose object|pack|bad tree|invalid object|did not parse/i.test(
          stderr,
        )
      ? {
          detail: 'the repository is damaged: git cannot read some of its objects',
          suggestions: [`git -C ${path} fsck`, 'or read a clone of it that is whole'],
        }
      : /shallow/i.test(stderr)
        ? {
            detail: 'the repository is a shallow clone whose history git cannot walk',
            suggestions: [`git -C ${path} fetch --unshallow`],
          }
        : {detail: 'git could not read the history', suggestions: [`git -C ${path} log`]}
  return new BillwatchError('E_GIT', cause.detail, {
    expected: 'a repository whose commits git can read',
    file: path,
    suggestions: cause.suggestions,
  })
}
