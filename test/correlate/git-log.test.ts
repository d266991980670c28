import {rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {openRepository, readCommits, type Repository} from '../../src/correlate/git-log.js'
import type {Change} from '../../src/correlate/types.js'
import {BillwatchError} from '../../src/errors.js'
import {tempDir} from '../helpers/cli.js'
import {commitAt, git, initRepo} from './repo.js'

async function read(repo: Repository, since: string, until: string): Promise<Change[]> {
  const out: Change[] = []
  for await (const change of readCommits(repo, {since: new Date(since), until: new Date(until)})) out.push(change)
  // git walks from HEAD; with back-dated commits its order is not strictly by time.
  return out.sort((a, b) => b.time.localeCompare(a.time))
}

describe('git history of a configuration repository', () => {
  const tmp = tempDir('bw-gitlog-')
  const zones = join(tmp.dir, 'zones')
  const hashes: Record<string, string> = {}

  beforeAll(() => {
    initRepo(zones)
    hashes.old = commitAt(zones, '2014-03-20T12:00:00+0000', 'old', {hosts: '127.0.0.1 localhost\n'})
    // Local day 2014-03-30 but UTC 2014-03-29T23:30Z: inside a [03-29, 03-30) UTC window.
    hashes.paris = commitAt(zones, '2014-03-30T00:30:00+0100', 'paris edit', {'ntp.conf': 'server 0.pool.ntp.org\n'})
    hashes.kolkata = commitAt(zones, '2014-03-29T23:30:00+0530', 'kolkata edit', {hosts: '127.0.0.1 localhost ntp\n'})
    hashes.denver = commitAt(zones, '2014-03-29T11:15:00-0700', 'denver rename', {
      hosts: null,
      'hosts.new': '127.0.0.1 localhost ntp\n',
    })
    // Local day 2014-03-29 but UTC 2014-03-30T02:00Z: outside the window.
    hashes.honolulu = commitAt(zones, '2014-03-29T16:00:00-1000', 'honolulu edit', {motd: 'hi\n'})
  })
  afterAll(() => tmp.cleanup())

  it('reads commits by their UTC author time, newest first, keeping the recorded offsets', async () => {
    const changes = await read(openRepository(zones), '2014-03-29T00:00:00Z', '2014-03-30T00:00:00Z')
    expect(changes.map((c) => c.subject)).toEqual(['paris edit', 'denver rename', 'kolkata edit'])
    const paris = changes[0]!
    expect(paris.commit).toBe(hashes.paris)
    expect(paris.time).toBe('2014-03-29T23:30:00Z')
    expect(paris.recordedTime).toBe('2014-03-30T00:30:00+01:00')
    expect(changes[1]!.time).toBe('2014-03-29T18:15:00Z')
    expect(changes[1]!.recordedTime).toBe('2014-03-29T11:15:00-07:00')
    expect(changes[2]!.time).toBe('2014-03-29T18:00:00Z')
    expect(changes[2]!.parents).toEqual([hashes.paris])
    expect(changes[1]!.parents).toEqual([hashes.kolkata])
  })

  it('lists the files each commit changed, with status', async () => {
    const changes = await read(openRepository(zones), '2014-03-29T00:00:00Z', '2014-03-30T00:00:00Z')
    expect(changes.find((c) => c.subject === 'paris edit')!.files).toEqual([{path: 'ntp.conf', status: 'added'}])
    expect(changes.find((c) => c.subject === 'kolkata edit')!.files).toEqual([{path: 'hosts', status: 'modified'}])
    expect(changes.find((c) => c.subject === 'denver rename')!.files).toEqual([
      {from: 'hosts', path: 'hosts.new', status: 'renamed'},
    ])
  })

  it('reads the same history through a bare clone and through a linked worktree', async () => {
    const bare = join(tmp.dir, 'etc.git')
    git(tmp.dir, ['clone', '-q', '--bare', zones, bare])
    const fromBare = openRepository(bare)
    expect(fromBare.bare).toBe(true)
    const window = ['2014-03-01T00:00:00Z', '2014-04-01T00:00:00Z'] as const
    const direct = await read(openRepository(zones), ...window)
    expect((await read(fromBare, ...window)).map((c) => c.commit)).toEqual(direct.map((c) => c.commit))

    const worktree = join(tmp.dir, 'etc.worktree')
    git(zones, ['worktree', 'add', '-q', '-b', 'resolve-dpkg-new', worktree])
    const extra = commitAt(worktree, '2014-03-31T09:00:00+0000', 'merge ntp.conf.dpkg-new', {
      'ntp.conf': 'server 1.pool.ntp.org\n',
    })
    const fromWorktree = openRepository(worktree)
    expect(fromWorktree.bare).toBe(false)
    expect(fromWorktree.gitDir).toContain(join('worktrees', 'etc.worktree'))
    const seen = await read(fromWorktree, ...window)
    expect(seen[0]!.commit).toBe(extra)
    expect(seen.slice(1).map((c) => c.commit)).toEqual(direct.map((c) => c.commit))
  })

  it('records a merge with both parents and the files it brought in against the first parent', async () => {
    const dir = initRepo(join(tmp.dir, 'merge'))
    commitAt(dir, '2014-03-28T10:00:00+0000', 'base', {hosts: 'a\n'})
    git(dir, ['checkout', '-q', '-b', 'ntp'])
    commitAt(dir, '2014-03-29T10:00:00+0000', 'add ntp.conf', {'ntp.conf': 'server 0.pool.ntp.org\n'})
    git(dir, ['checkout', '-q', 'master'])
    commitAt(dir, '2014-03-29T11:00:00+0000', 'edit hosts', {hosts: 'b\n'})
    git(dir, ['merge', '-q', '--no-ff', '-m', 'Merge branch ntp', 'ntp'], {
      GIT_AUTHOR_DATE: '2014-03-29T12:00:00+0000',
      GIT_COMMITTER_DATE: '2014-03-29T12:00:00+0000',
    })
    const changes = await read(openRepository(dir), '2014-03-29T00:00:00Z', '2014-03-30T00:00:00Z')
    const merge = changes.find((c) => c.subject === 'Merge branch ntp')!
    expect(merge.parents).toHaveLength(2)
    expect(merge.files).toEqual([{path: 'ntp.conf', status: 'added'}])
    expect(changes.map((c) => c.subject).sort()).toEqual(['Merge branch ntp', 'add ntp.conf', 'edit hosts'])
  })

  it('opens an empty repository and reads nothing from it', async () => {
    const empty = initRepo(join(tmp.dir, 'empty'))
    const repo = openRepository(empty)
    expect(repo.hasCommits).toBe(false)
    expect(await read(repo, '2000-01-01T00:00:00Z', '2100-01-01T00:00:00Z')).toEqual([])
  })

  it("a damaged repository (an object file gone or unreadable) is refused in billwatch's words, not git's", async () => {
    const damaged = initRepo(join(tmp.dir, 'damaged'))
    commitAt(damaged, '2014-03-20T12:00:00+0000', 'first', {hosts: '127.0.0.1 localhost\n'})
    const head = commitAt(damaged, '2014-03-29T12:00:00+0000', 'ntp installed', {'ntp.conf': 'server 0.pool.ntp.org\n'})
    const repo = openRepository(damaged)
    // The newest commit's object removed: the history cannot be walked past it.
    rmSync(join(damaged, '.git', 'objects', head.slice(0, 2), head.slice(2)))
    const error = await read(repo, '2000-01-01T00:00:00Z', '2100-01-01T00:00:00Z').then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(BillwatchError)
    const refused = error as BillwatchError
    expect(refused.code).toBe('E_GIT')
    expect(refused.message).toBe(
      `${damaged}: the repository is damaged: git cannot read some of its objects, expected a repository whose commits git can read`,
    )
    expect(JSON.stringify(refused.toJSON())).not.toMatch(/fatal|error:|\b[0-9a-f]{40}\b/)
  })

  it('refuses a directory that is not a repository, a file and a missing path with located errors', () => {
    const plain = join(tmp.dir, 'plain')
    initRepo(plain)
    const notRepo = join(tmp.dir, 'plain', 'sub')
    // A subdirectory of a repository is inside one; a fresh directory under /tmp is not.
    const outside = tempDir('bw-notrepo-')
    try {
      expect(() => openRepository(outside.dir)).toThrow(BillwatchError)
      try {
        openRepository(outside.dir)
      } catch (error) {
        expect((error as BillwatchError).code).toBe('E_GIT')
        expect((error as BillwatchError).file).toBe(outside.dir)
        expect((error as BillwatchError).message).toMatch(/not a git repository/)
      }
      const file = join(outside.dir, 'file.txt')
      writeFileSync(file, 'x')
      expect(() => openRepository(file)).toThrow(
        `${file}: not a directory, expected a git repository (e.g. /etc with etckeeper)`,
      )
      const missing = join(notRepo, 'missing')
      expect(() => openRepository(missing)).toThrow(
        expect.objectContaining({
          code: 'E_NOT_FOUND',
          message: `${missing}: no such directory, expected a git repository (e.g. /etc with etckeeper)`,
        }),
      )
    } finally {
      outside.cleanup()
    }
  })
})
