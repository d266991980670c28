/**
 * One change, one candidate. A history records the same edit in several commits when it is
 * - merged: a merge whose diff (against its first parent) only repeats the commits of its branch —
 *   git's combined diff (`--cc`) shows nothing of its own (a merge with edits of its own stays a change,
 *   with just the files it edited itself when its branch's commits are candidates already);
 * - cherry-picked or rebased onto another branch while the original stays reachable: the same patch
 *   (git patch-id) by the same author at the same author time.
 * Each such set becomes the one commit that made the change, citing the others in `sameChangeIn`.
 */
import {gitBuffer, readCommitsByHash, type Repository} from './git-log.js'
import {isoSeconds} from './time.js'
import type {Change, SameChange} from './types.js'

/** Branch commits a merge kept as a candidate (its branch lies outside the window) cites, newest first. */
const BRANCH_COMMITS_CITED = 3

export function foldSameChanges(repo: Repository, changes: Change[]): Change[] {
  const byHash = new Map(changes.filter((c) => c.commit !== null).map((c) => [c.commit!, c]))
  /** A folded commit → the change that now stands for it. */
  const foldedInto = new Map<string, Change>()
  const standsFor = (hash: string): Change | undefined => foldedInto.get(hash) ?? byHash.get(hash)

  for (const group of cherryPicks(repo, changes)) {
    const [original, ...copies] = group.sort((a, b) => committedMs(a) - committedMs(b))
    for (const copy of copies) {
      original!.sameChangeIn.push(citation(copy, 'cherry-pick'))
      foldedInto.set(copy.commit!, original!)
    }
  }

  const merges = changes.filter((c) => c.commit !== null && c.parents.length > 1 && !foldedInto.has(c.commit))
  const ownEdits = mergeOwnEdits(repo, merges)
  for (const merge of merges) {
    const own = ownEdits.get(merge.commit!) ?? new Set<string>()
    const branch = branchCommits(repo, merge)
    const inWindow = [...new Set(branch.map(standsFor).filter((c): c is Change => c !== undefined && c !== merge))]
    if (inWindow.length > 0) {
      for (const change of inWindow) change.sameChangeIn.push(citation(merge, 'merge'))
      // A merge that only repeats its branch is that change; one with edits of its own stays, with just those files.
      if (own.size === 0) foldedInto.set(merge.commit!, inWindow[0]!)
      else merge.files = merge.files.filter((f) => own.has(f.path))
      continue
    }
    if (own.size > 0) continue
    // The branch's commits were made before the window: the merge is the change's only trace in it.
    const cited = readCommitsByHash(repo, branch.slice(0, BRANCH_COMMITS_CITED))
    merge.sameChangeIn.push(...cited.map((c) => citation(c, 'branch')))
  }
  return changes.filter((c) => c.commit === null || !foldedInto.has(c.commit))
}

function citation(change: Change, relation: SameChange['relation']): SameChange {
  return {
    commit: change.commit ?? '',
    committedTime: isoSeconds(committedMs(change)),
    relation,
    subject: change.subject,
    time: change.time,
  }
}

function committedMs(change: Change): number {
  return Date.parse(change.committerTime ?? change.time)
}

/** Sets of non-merge commits with one author, author time and patch: a change and its cherry-picks. */
function cherryPicks(repo: Repository, changes: Change[]): Change[][] {
  const byAuthor = new Map<string, Change[]>()
  for (const change of changes) {
    if (change.commit === null || change.parents.length > 1) continue
    const key = `${change.author}\u0000${change.authorTime}`
    byAuthor.set(key, [...(byAuthor.get(key) ?? []), change])
  }
  const candidates = [...byAuthor.values()].filter((g) => g.length > 1).flat()
  if (candidates.length === 0) return []
  const patchIds = patchIdsOf(repo, candidates)
  const groups = new Map<string, Change[]>()
  for (const change of candidates) {
    const id = patchIds.get(change.commit!)
    if (id === undefined) continue // an empty commit: no patch to compare
    const key = `${change.author}\u0000${change.authorTime}\u0000${id}`
    groups.set(key, [...(groups.get(key) ?? []), change])
  }
  return [...groups.values()].filter((g) => g.length > 1)
}

/** git patch-id --stable of each commit's diff against its first parent (whitespace and line numbers aside). */
function patchIdsOf(repo: Repository, changes: Change[]): Map<string, string> {
  const input = changes.map((c) => [c.commit, ...c.parents.slice(0, 1)].join(' ')).join('\n')
  const patches = gitBuffer(
    repo.path,
    ['diff-tree', '--stdin', '-p', '-r', '--root', '--no-ext-diff', '--no-textconv'],
    `${input}\n`,
  )
  const ids = new Map<string, string>()
  for (const line of gitBuffer(repo.path, ['patch-id', '--stable'], patches).toString('latin1').split('\n')) {
    const [id, commit] = line.split(' ')
    if (id && commit) ids.set(commit, id)
  }
  return ids
}

/**
 * The paths each merge edited itself: those with a hunk in git's combined diff (`--cc`), i.e. a result
 * that matches none of the parents there. A merge with none only repeats what its branches did; one
 * that resolved a conflict its own way (or added an edit) has some.
 */
function mergeOwnEdits(repo: Repository, merges: Change[]): Map<string, Set<string>> {
  const own = new Map<string, Set<string>>()
  if (merges.length === 0) return own
  const input = merges.map((m) => m.commit).join('\n')
  const text = gitBuffer(
    repo.path,
    ['diff-tree', '--stdin', '--cc', '-p', '--no-ext-diff', '--no-textconv'],
    `${input}\n`,
  ).toString('utf8')
  const fed = new Set(merges.map((m) => m.commit!))
  let current: Set<string> | undefined
  // A section starts with the merge's hash on a line of its own; patch lines always carry a prefix.
  for (const line of text.split('\n')) {
    if (fed.has(line)) {
      current = new Set()
      own.set(line, current)
    } else if (line.startsWith('diff --cc ')) {
      current?.add(unquotePath(line.slice('diff --cc '.length)))
    }
  }
  return own
}

/** A path as git prints it in a patch header: as is, or C-quoted ("a\tb", octal bytes) when it must be. */
export function unquotePath(text: string): string {
  if (!text.startsWith('"') || !text.endsWith('"')) return text
  const bytes: number[] = []
  const escapes: Record<string, number> = {'"': 34, '\\': 92, a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11}
  const inner = Buffer.from(text.slice(1, -1), 'utf8')
  for (let i = 0; i < inner.length; i++) {
    const byte = inner[i]!
    if (byte !== 92) {
      bytes.push(byte)
      continue
    }
    const next = String.fromCharCode(inner[i + 1] ?? 0)
    if (/[0-7]/.test(next)) {
      bytes.push(Number.parseInt(inner.subarray(i + 1, i + 4).toString('latin1'), 8))
      i += 3
    } else {
      bytes.push(escapes[next] ?? inner[i + 1]!)
      i += 1
    }
  }
  return Buffer.from(bytes).toString('utf8')
}

/** The commits a merge brings in: reachable from its other parents, not from its first. Newest first. */
function branchCommits(repo: Repository, merge: Change): string[] {
  const [first, ...others] = merge.parents
  const text = gitBuffer(repo.path, ['rev-list', ...others, `^${first}`, '--'], '').toString('latin1')
  return text.split('\n').filter((line) => line !== '')
}
