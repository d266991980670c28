import {spawn, spawnSync} from 'node:child_process'
import {existsSync, statSync} from 'node:fs'
import {resolve} from 'node:path'
import {StringDecoder} from 'node:string_decoder'

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

// Field and record separators that cannot appear in hashes or dates; commit messages are not
// expected to contain them (git itself refuses NUL in messages).
const RECORD = '\u001E'
const FIELD = '\u001F'
const FORMAT = `${RECORD}%H${FIELD}%P${FIELD}%an <%ae>${FIELD}%aI${FIELD}%cI${FIELD}%B${FIELD}`

/** Opens a configuration repository: a work tree, a linked worktree or a bare repository. */
export function openRepository(path: string): Repository {
  const abs = resolve(path)
  if (!existsSync(abs)) throw new BillwatchError('E_NOT_FOUND', 'no such directory', {expected: 'a git repository (e.g. /etc with etckeeper)', file: path})
  if (!statSync(abs).isDirectory()) {
    throw new BillwatchError('E_GIT', 'not a directory', {expected: 'a git repository (e.g. /etc with etckeeper)', file: path})
  }
  const probe = git(abs, ['rev-parse', '--absolute-git-dir', '--is-bare-repository'])
  if (probe.status !== 0) {
    throw new BillwatchError('E_GIT', 'not a git repository', {
      expected: 'a work tree, worktree or bare repository',
      file: path,
      got: firstLine(probe.stderr),
      suggestions: ['etckeeper init -d DIR, or pass --repo PATH of an existing repository'],
    })
  }
  const [gitDir = '', bare = 'false'] = probe.stdout.trim().split('\n')
  const head = git(abs, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'])
  return {bare: bare === 'true', gitDir, hasCommits: head.status === 0, path: abs}
}

export interface ReadCommitsOptions {
  /** Inclusive lower bound on the committer time. */
  since: Date
  /** Exclusive upper bound on the committer time. */
  until: Date
}

/**
 * Streams the commits reachable from HEAD whose committer time is in [since, until), in git log order,
 * with the files each changed (merges: against their first parent). git does the date filtering and
 * only computes file lists for commits in the window, so long histories stay fast.
 */
export async function* readCommits(repo: Repository, options: ReadCommitsOptions): AsyncGenerator<Change> {
  if (!repo.hasCommits) return
  const args = [
    'log', '--no-color', '--no-ext-diff', '--diff-merges=first-parent', '--name-status', '-z',
    `--format=${FORMAT}`,
    // git compares whole seconds; widen by one second each side and filter exactly below.
    `--since=@${Math.floor(options.since.getTime() / 1000) - 1}`,
    `--until=@${Math.ceil(options.until.getTime() / 1000) + 1}`,
    'HEAD', '--',
  ]
  const child = spawn('git', gitArgs(repo.path, args), {stdio: ['ignore', 'pipe', 'pipe']})
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number>((done, fail) => {
    child.on('error', fail)
    child.on('close', (code) => done(code ?? 1))
  })
  const decoder = new StringDecoder('utf8')
  let pending = ''
  const sinceMs = options.since.getTime()
  const untilMs = options.until.getTime()
  const accept = (record: string): Change | undefined => {
    const change = parseRecord(record)
    const ms = Date.parse(change.time)
    return ms >= sinceMs && ms < untilMs ? change : undefined
  }
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      pending += decoder.write(chunk)
      const records = pending.split(RECORD)
      pending = records.pop() ?? ''
      for (const record of records) {
        if (record === '') continue
        const change = accept(record)
        if (change) yield change
      }
    }
    pending += decoder.end()
    if (pending !== '') {
      const change = accept(pending)
      if (change) yield change
    }
  } finally {
    if (child.exitCode === null) child.kill()
  }
  const code = await exited
  if (code !== 0) {
    throw new BillwatchError('E_GIT', `git log failed: ${firstLine(stderr)}`, {file: repo.path})
  }
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

function parseRecord(record: string): Change {
  const fields = record.split(FIELD)
  const [hash = '', parents = '', author = '', authorTime = '', committerTime = '', message = '', rest = ''] = fields
  const files = parseNameStatus(rest)
  const [subject = '', ...bodyLines] = message.replace(/\n+$/, '').split('\n')
  const body = bodyLines.join('\n').replace(/^\n+/, '')
  const described = describeMessage(subject, body)
  return {
    alsoIn: [],
    author,
    authorTime,
    command: described.command,
    commit: hash,
    files,
    kind: described.kind,
    manager: described.manager,
    origin: null,
    packages: described.packages,
    parents: parents === '' ? [] : parents.split(' '),
    recordedTime: committerTime,
    source: 'git',
    subject,
    time: toUtcIso(committerTime),
  }
}

const STATUS: Record<string, FileStatus> = {A: 'added', C: 'copied', D: 'deleted', M: 'modified', R: 'renamed', T: 'type-changed'}

/** `-z --name-status` output: `\0\nM\0path\0R100\0old\0new\0…` */
function parseNameStatus(text: string): FileChange[] {
  const tokens = text.replace(/^\0?\n?/, '').split('\0')
  const files: FileChange[] = []
  for (let i = 0; i < tokens.length; i++) {
    const code = tokens[i]?.trim() ?? ''
    if (code === '') continue
    const status = STATUS[code[0] ?? ''] ?? 'unknown'
    if (status === 'renamed' || status === 'copied') {
      const from = tokens[++i] ?? ''
      files.push({from, path: tokens[++i] ?? '', status})
    } else {
      files.push({path: tokens[++i] ?? '', status})
    }
  }
  return files
}

/** `2014-03-29T18:41:36+01:00` → `2014-03-29T17:41:36Z`. */
export function toUtcIso(recorded: string): string {
  const ms = Date.parse(recorded)
  return Number.isNaN(ms) ? recorded : isoSeconds(ms)
}

function gitArgs(cwd: string, args: string[]): string[] {
  // Reading a repository owned by another user (root's /etc) is safe for log/show: they run no hooks.
  return ['-c', `safe.directory=${cwd}`, '-c', 'core.quotepath=off', '-C', cwd, ...args]
}

function git(cwd: string, args: string[]): {status: number; stderr: string; stdout: string} {
  const result = spawnSync('git', gitArgs(cwd, args), {encoding: 'utf8', maxBuffer: 64 * 1024 * 1024})
  if (result.error) throw new BillwatchError('E_GIT', `cannot run git: ${result.error.message}`, {suggestions: ['install git']})
  return {status: result.status ?? 1, stderr: result.stderr, stdout: result.stdout}
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? ''
}
