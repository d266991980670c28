/**
 * One change, one candidate. A history records the same edit in several commits when it is
 * - merged: a merge whose diff (against its first parent) only repeats the commits of its branch —
 *   git's combined diff (`--cc`) shows nothing of its own;
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
  const byHash = new Map(changes.filter((c) => c.commit !== null).map((c) => [c.commit as string, c]))
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
  for (const merge of pureMerges(repo, merges)) {
    const branch = branchCommits(repo, merge)
    const inWindow = [...new Set(branch.map(standsFor).filter((c): c is Change => c !== undefined && c !== merge))]
    if (inWindow.length > 0) {
      for (const change of inWindow) change.sameChangeIn.push(citation(merge, 'merge'))
      foldedInto.set(merge.commit!, inWindow[0]!)
      continue
    }
    // The branch's commits were made before the window: the merge is the change's only trace in it.
    const cited = readCommitsByHash(repo, branch.slice(0, BRANCH_COMMITS_CITED))
    merge.sameChangeIn.push(...cited.map((c) => citation(c, 'branch')))
  }
  return changes.filter((c) => c.commit === null || !foldedInto.has(c.commit))
}

function citation(change: Change, relation: SameChange['relation']): SameChange {
  return {commit: change.commit ?? '', committedTime: isoSeconds(committedMs(change)), relation, subject: change.subject, time: change.time}
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
  const patches = gitBuffer(repo.path, ['diff-tree', '--stdin', '-p', '-r', '--root', '--no-ext-diff', '--no-textconv'], `${input}\n`)
  const ids = new Map<string, string>()
  for (const line of gitBuffer(repo.path, ['patch-id', '--stable'], patches).toString('latin1').split('\n')) {
    const [id, commit] = line.split(' ')
    if (id && commit) ids.set(commit, id)
  }
  return ids
}

/**
 * The merges whose combined diff is empty: every hunk of the result comes from one of the parents, so
 * the merge adds nothing its branch did not. A merge that resolved a conflict its own way (or added an
 * edit) has a hunk of its own and stays a change of its own.
 */
function pureMerges(repo: Repository, merges: Change[]): Change[] {
  if (merges.length === 0) return []
  const input = merges.map((m) => m.commit).join('\n')
  const text = gitBuffer(repo.path, ['diff-tree', '--stdin', '--cc', '-p', '--no-ext-diff', '--no-textconv'], `${input}\n`).toString('latin1')
  const own = new Set<string>()
  const fed = new Set(merges.map((m) => m.commit as string))
  let current = ''
  // A section starts with the merge's hash on a line of its own; patch lines always carry a prefix.
  for (const line of text.split('\n')) {
    if (fed.has(line)) current = line
    else if (line.startsWith('diff --cc ') && current !== '') own.add(current)
  }
  return merges.filter((m) => !own.has(m.commit as string))
}

/** The commits a merge brings in: reachable from its other parents, not from its first. Newest first. */
function branchCommits(repo: Repository, merge: Change): string[] {
  const [first, ...others] = merge.parents
  const text = gitBuffer(repo.path, ['rev-list', ...others, `^${first}`, '--'], '').toString('latin1')
  return text.split('\n').filter((line) => line !== '')
}
