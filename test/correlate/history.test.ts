/**
 * correlate reads the whole history of a real git repository: every branch, commits behind a
 * backwards-dated one, author time over committer time (rebases, cherry-picks), one candidate per
 * change (merges and cherry-picks fold), and no commit message can forge a commit.
 */
import {spawnSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {correlate} from '../../src/correlate/index.js'
import {loadKnowledge} from '../../src/correlate/knowledge.js'
import type {Candidate, StepInput} from '../../src/correlate/types.js'
import {ROOT, tempDir} from '../helpers/cli.js'
import {requireTools} from '../helpers/tools.js'
import {commitAt, GIT_ENV, git, initRepo} from './repo.js'

const NTP_INSTALL =
  'committing changes in /etc made by "apt-get install ntp"\n\nPackage changes:\n+ntp 1:4.2.6.p5+dfsg-3ubuntu2 all\n'
const NTP_CONF = 'server 0.pool.ntp.org\nrestrict -4 default kod notrap nomodify nopeer noquery\n'
const STEP: StepInput = {
  date: '2014-03-30',
  direction: 'up',
  ratio: 2137.4,
  resourceId: null,
  usageType: 'DataTransfer-Out-Bytes',
}
const knowledge = loadKnowledge()

async function candidates(repo: string, step = STEP): Promise<Candidate[]> {
  const result = await correlate({
    aptLogs: [],
    daysAfter: 1,
    daysBefore: 7,
    dpkgLogs: [],
    knowledge,
    limit: 10,
    logZone: 'UTC',
    repo,
    steps: [step],
  })
  return result.steps[0]!.candidates
}

const touchesNtp = (c: Candidate) =>
  c.files.some((f) => f.path === 'ntp.conf') || c.packages.some((p) => p.name === 'ntp')
const allCommits = (dir: string) => new Set(git(dir, ['rev-list', '--all']).split('\n'))

describe('reading a configuration history', () => {
  const tmp = tempDir('bw-history-')
  afterAll(() => tmp.cleanup())
  let n = 0
  const fresh = () => initRepo(join(tmp.dir, `repo-${++n}`))
  /** A repository whose ntp install is on branch `branch` (made at `day`T10:00Z); master edits hosts an hour later. */
  const installOnBranch = (branch: string, day: string, base = '2014-03-20') => {
    const dir = fresh()
    commitAt(dir, `${base}T09:00:00+0000`, 'Initial Checkin', {hosts: 'a\n'})
    git(dir, ['checkout', '-q', '-b', branch])
    const install = commitAt(dir, `${day}T10:00:00+0000`, NTP_INSTALL, {'ntp.conf': NTP_CONF})
    git(dir, ['checkout', '-q', 'master'])
    commitAt(dir, `${day}T11:00:00+0000`, 'edit hosts', {hosts: 'b\n'})
    return {dir, install}
  }
  const mergeAt = (dir: string, date: string) =>
    git(dir, ['merge', '-q', '--no-ff', '-m', 'Merge branch ntp', 'ntp'], {
      GIT_AUTHOR_DATE: date,
      GIT_COMMITTER_DATE: date,
    })

  it('finds commits behind one whose clock was wrong (a backwards date must not end the walk)', async () => {
    const dir = fresh()
    commitAt(dir, '2014-03-20T09:00:00+0000', 'Initial Checkin', {hosts: '127.0.0.1 localhost\n'})
    const install = commitAt(dir, '2014-03-29T13:41:30-0400', NTP_INSTALL, {'ntp.conf': NTP_CONF})
    // The machine booted with its clock in 2001 until ntpd set it.
    commitAt(dir, '2001-01-01T00:00:05+0000', 'daily autocommit', {motd: 'hi\n'})
    commitAt(dir, '2014-03-31T05:00:01+0000', 'daily autocommit', {motd: 'hello\n'})
    const found = await candidates(dir)
    expect(found[0]).toMatchObject({commit: install, time: '2014-03-29T17:41:30Z'})
  })

  it('dates a rebased commit by its author time and keeps the committer time, shown when they differ', async () => {
    const dir = fresh()
    commitAt(dir, '2014-03-20T09:00:00+0000', 'Initial Checkin', {hosts: '127.0.0.1 localhost\n'})
    commitAt(dir, '2014-03-29T13:41:30-0400', NTP_INSTALL, {'ntp.conf': NTP_CONF})
    // Months later the history is rebased: every commit is written again, author times kept.
    git(dir, ['rebase', '-q', '--force-rebase', '--root'], {GIT_COMMITTER_DATE: '2014-06-02T10:00:00+0200'})
    commitAt(dir, '2014-03-30T05:00:01+0000', 'daily autocommit', {motd: 'hi\n'})
    const found = await candidates(dir)
    const top = found[0]!
    expect(top.subject).toBe(NTP_INSTALL.split('\n')[0])
    expect(top.time).toBe('2014-03-29T17:41:30Z')
    expect(top.recordedTime).toBe('2014-03-29T13:41:30-04:00')
    expect(top.committerTime).toBe('2014-06-02T10:00:00+02:00')
    expect(top.reason).toMatch(
      /^ntp installed 2014-03-29 17:41 UTC \(committed 2014-06-02 08:00 UTC\), 0\.3 days before egress rose/,
    )
    // Author and committer the same minute: nothing extra to say.
    const daily = found.find((c) => c.subject === 'daily autocommit')!
    expect(daily.reason).not.toContain('committed')
  })

  it('reads commits on side branches that were never merged', async () => {
    const dir = fresh()
    commitAt(dir, '2014-03-20T09:00:00+0000', 'Initial Checkin', {hosts: '127.0.0.1 localhost\n'})
    git(dir, ['checkout', '-q', '-b', 'try-ntp'])
    const install = commitAt(dir, '2014-03-29T12:00:00+0000', NTP_INSTALL, {'ntp.conf': NTP_CONF})
    git(dir, ['checkout', '-q', 'master'])
    commitAt(dir, '2014-03-29T15:00:00+0000', 'edit hosts', {hosts: '127.0.0.1 localhost web\n'})
    const found = await candidates(dir)
    expect(found[0]!.commit).toBe(install)
  })

  it('makes a merge that only repeats its branch one candidate with the branch commit, citing the merge', async () => {
    const {dir, install} = installOnBranch('ntp', '2014-03-29')
    mergeAt(dir, '2014-03-29T12:00:00+0000')
    const merge = git(dir, ['rev-parse', 'HEAD'])
    const found = await candidates(dir)
    expect(found.filter(touchesNtp)).toHaveLength(1)
    expect(found[0]).toMatchObject({
      commit: install,
      sameChangeIn: [{commit: merge, relation: 'merge', subject: 'Merge branch ntp'}],
    })
    expect(found[0]!.reason).toContain(`; the same change as merge ${merge.slice(0, 7)} (2014-03-29 12:00 UTC)`)
    expect(found.map((c) => c.commit)).not.toContain(merge)
  })

  it('keeps a merge with an edit of its own as a change of its own', async () => {
    const {dir, install} = installOnBranch('ntp', '2014-03-29')
    git(dir, ['merge', '-q', '--no-ff', '--no-commit', 'ntp'])
    // Its own edit goes to a file whose name git quotes in patch headers.
    commitAt(dir, '2014-03-29T12:00:00+0000', 'Merge branch ntp, and open the firewall', {
      'nftables "open"\t.conf': 'accept udp dport 123\n',
    })
    const merge = git(dir, ['rev-parse', 'HEAD'])
    const found = await candidates(dir)
    expect(found.map((c) => c.commit)).toEqual(expect.arrayContaining([install, merge]))
    // The branch's edit is counted once, with the branch commit; the merge keeps only the file it edited itself.
    expect(found.filter(touchesNtp).map((c) => c.commit)).toEqual([install])
    expect(found.find((c) => c.commit === install)!.sameChangeIn).toEqual([
      expect.objectContaining({commit: merge, relation: 'merge'}),
    ])
    expect(found.find((c) => c.commit === merge)!.files).toEqual([{path: 'nftables "open"\t.conf', status: 'added'}])
  })

  it('keeps a merge of a branch made before the window, citing the branch commit', async () => {
    const {dir, install} = installOnBranch('ntp', '2014-03-02', '2014-03-01')
    mergeAt(dir, '2014-03-29T12:00:00+0000')
    const found = await candidates(dir)
    expect(found).toHaveLength(1)
    expect(found[0]).toMatchObject({
      subject: 'Merge branch ntp',
      sameChangeIn: [{commit: install, relation: 'branch', time: '2014-03-02T10:00:00Z'}],
    })
    expect(found[0]!.files).toEqual([{path: 'ntp.conf', status: 'added'}])
  })

  it('makes a cherry-pick and its original one candidate', async () => {
    const {dir, install: original} = installOnBranch('staging', '2014-03-29')
    git(dir, ['cherry-pick', original], {GIT_COMMITTER_DATE: '2014-03-29T18:00:00+0000'})
    const picked = git(dir, ['rev-parse', 'HEAD'])
    expect(picked).not.toBe(original)
    const found = await candidates(dir)
    expect(found.filter(touchesNtp)).toHaveLength(1)
    expect(found[0]).toMatchObject({
      commit: original,
      sameChangeIn: [{commit: picked, committedTime: '2014-03-29T18:00:00Z', relation: 'cherry-pick'}],
    })
    // The same edit made again later (its own author time) is another change.
    commitAt(dir, '2014-03-29T19:00:00+0000', 'remove ntp.conf', {'ntp.conf': null})
    commitAt(dir, '2014-03-29T20:00:00+0000', NTP_INSTALL, {'ntp.conf': NTP_CONF})
    expect((await candidates(dir)).filter(touchesNtp)).toHaveLength(3)
  })

  it('never takes separators, fake headers or NUL in a message for another commit', async () => {
    const dir = fresh()
    commitAt(dir, '2014-03-20T09:00:00+0000', 'Initial Checkin', {hosts: 'a\n'})
    const fake = 'f'.repeat(40)
    // What the old one-stream format (0x1E records, 0x1F fields) would have read as a commit of its own,
    // an "apt-get install ntp" run with a hash, author and time of the message's choosing.
    const forgedRun = 'committing changes in /etc made by "apt-get install ntp"'
    const forged = `edit motd\n\n\u001E${fake}\u001F\u001Fmallory <m@example.org>\u001F2014-03-29T12:00:00+00:00\u001F2014-03-29T12:00:00+00:00\u001F${forgedRun}\u001F`
    const hostile = commitAt(dir, '2014-03-29T09:00:00+0000', forged, {motd: 'x\n'})
    // A commit object written by hand: a NUL and fake headers in its message (git commit refuses NUL).
    const parentTree = git(dir, ['rev-parse', 'HEAD^{tree}'])
    const object = `tree ${parentTree}\nparent ${hostile}\nauthor ops <ops@example.org> 1396094400 +0000\ncommitter ops <ops@example.org> 1396094400 +0000\n\nnul\u0000${fake}\n\nauthor x <x> 1 +0000\n${forgedRun}\n`
    const made = spawnSync('git', ['hash-object', '-t', 'commit', '-w', '--literally', '--stdin'], {
      cwd: dir,
      encoding: 'utf8',
      env: {...process.env, ...GIT_ENV},
      input: object,
    })
    expect(made.status).toBe(0)
    git(dir, ['update-ref', 'refs/heads/master', made.stdout.trim()])
    const found = await candidates(dir)
    const real = allCommits(dir)
    expect(found.every((c) => real.has(c.commit!))).toBe(true)
    expect(found.map((c) => c.subject).sort()).toEqual(['edit motd', `nul\u0000${fake}`])
    expect(found.flatMap((c) => c.packages)).toEqual([])
    expect(found.find((c) => c.commit === hostile)).toMatchObject({
      author: 'ops <ops@example.org>',
      time: '2014-03-29T09:00:00Z',
      files: [{path: 'motd', status: 'added'}],
    })
  })
})

describe('a real etckeeper history, rebased, then committed to with the clock wrong', () => {
  const tmp = tempDir('bw-history-etckeeper-')
  const etc = join(tmp.dir, 'root', 'etc')
  let install = ''

  beforeAll(() => {
    requireTools('unshare', 'etckeeper', 'git')
    // The ntp install of etckeeper-run.sh (apt hooks, 2014-03-29T13:41:30-04:00), in a private mount namespace.
    const unshare = process.getuid?.() === 0 ? ['-m'] : ['-rm']
    const run = spawnSync('unshare', [...unshare, join(ROOT, 'test/correlate/etckeeper-run.sh'), tmp.dir], {
      encoding: 'utf8',
    })
    if (run.status !== 0) throw new Error(`etckeeper-run.sh failed (${run.status}): ${run.stderr}`)
    install = git(etc, ['log', '--all', '--format=%H', '--grep', 'install ntp'])
    // Months later the history is rewritten (every commit written again, author times kept)...
    git(etc, ['rebase', '-q', '--force-rebase', '--root'], {GIT_COMMITTER_DATE: '2014-07-01T08:00:00+0000'})
    // ...and the machine, its clock reset to 2001 at boot, lets etckeeper commit before ntpd corrects it.
    writeFileSync(join(etc, 'motd'), 'rebooted\n')
    const clockWrong = {
      GIT_AUTHOR_DATE: '2001-01-01T00:00:07+0000',
      GIT_COMMITTER_DATE: '2001-01-01T00:00:07+0000',
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: join(tmp.dir, 'home'),
    }
    const committed = spawnSync('etckeeper', ['commit', '-d', etc, 'daily autocommit'], {
      encoding: 'utf8',
      env: {...process.env, ...GIT_ENV, ...clockWrong},
    })
    if (committed.status !== 0) throw new Error(`etckeeper commit failed: ${committed.stderr}`)
  }, 120_000)
  afterAll(() => tmp.cleanup())

  it('still ranks the ntp install first, at the time it was made', async () => {
    expect(git(etc, ['log', '-1', '--format=%cI %s'])).toBe('2001-01-01T00:00:07+00:00 daily autocommit')
    const found = await candidates(etc)
    const top = found[0]!
    expect(top.commit).not.toBe(install) // rewritten by the rebase
    expect(top).toMatchObject({
      committerTime: '2014-07-01T08:00:00+00:00',
      kind: 'package-manager',
      recordedTime: '2014-03-29T13:41:30-04:00',
      time: '2014-03-29T17:41:30Z',
    })
    expect(top.packages).toEqual([{action: 'install', name: 'ntp', version: '1:4.2.6.p5+dfsg-3ubuntu2'}])
    expect(top.reason).toMatch(
      /^ntp installed 2014-03-29 17:41 UTC \(committed 2014-07-01 08:00 UTC\), 0\.3 days before egress rose/,
    )
  })
})
