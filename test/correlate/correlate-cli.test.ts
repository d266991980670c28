import {spawnSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {Store} from '../../src/store/index.js'
import {ROOT, runCli, tempDir} from '../helpers/cli.js'
import {git, MAKE_ETC_REPO, makeEtcRepo} from './repo.js'

describe("billwatch correlate on the NTP pool server incident's story", () => {
  const tmp = tempDir('bw-correlate-')
  const repo = join(tmp.dir, 'etc-history')
  beforeAll(() => makeEtcRepo(repo))
  afterAll(() => tmp.cleanup())

  it("builds the incident's /etc history the same way every time", () => {
    const head = git(repo, ['rev-parse', 'HEAD'])
    expect(makeEtcRepo(repo)).toContain(`4 commits, HEAD ${head}`)
    expect(git(repo, ['log', '--format=%ci %s'])).toBe(
      [
        '2014-06-11 14:38:57 +0000 apt-get update; apt-get upgrade',
        '2014-03-29 18:41:36 +0000 ntp installed',
        '2014-03-29 17:19:31 +0000 pre-ntpd checkin',
        '2013-05-02 05:26:25 +0000 Initial Checkin',
      ].join('\n'),
    )
    const notMine = join(tmp.dir, 'not-mine')
    mkdirSync(notMine)
    writeFileSync(join(notMine, 'precious'), 'x')
    const refused = spawnSync(MAKE_ETC_REPO, [notMine], {encoding: 'utf8'})
    expect(refused.status).toBe(1)
    expect(refused.stderr).toContain('refusing to replace it')
  })

  it('ranks "ntp installed" first for 2014-03-30, with its evidence and one line of reasoning', async () => {
    const result = await runCli(['correlate', '--repo', repo, '--date', '2014-03-30', '--json'])
    expect(result.code).toBe(0)
    const out = result.json()
    expect(out.steps).toHaveLength(1)
    expect(out.steps[0].date).toBe('2014-03-30')
    const [first, second] = out.steps[0].candidates
    expect(first).toMatchObject({
      commit: git(repo, ['rev-parse', 'HEAD~1']),
      files: [
        {path: 'default/ntp', status: 'added'},
        {path: 'ntp.conf', status: 'added'},
      ],
      packages: [
        {action: 'install', name: 'libopts25', version: '1:5.18-2ubuntu2'},
        {action: 'install', name: 'ntp', version: '1:4.2.6.p5+dfsg-3ubuntu2'},
      ],
      subject: 'ntp installed',
      time: '2014-03-29T18:41:36Z',
    })
    expect(first.reason).toBe(
      "ntp installed 2014-03-29 18:41 UTC, 0.2 days before egress rose; ntpd serves NTP on UDP 123 to anyone unless restricted — and ntp.conf has no 'restrict default ignore'",
    )
    expect(second.subject).toBe('pre-ntpd checkin')
    expect(first.score).toBeGreaterThan(second.score * 3)
  })

  it('prints a table and the reasons for people', async () => {
    const result = await runCli(['correlate', '--repo', repo, '--date', '2014-03-30'])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^1 {2}0\.\d{3} {2}2014-03-29 18:41 {2}[0-9a-f]{7} ntp installed/m)
    expect(result.stdout).toContain('1. ntp installed 2014-03-29 18:41 UTC, 0.2 days before egress rose;')
  })

  it('says so when no commit falls in the window', async () => {
    const result = await runCli(['correlate', '--repo', repo, '--date', '2014-01-15', '--json'])
    expect(result.code).toBe(0)
    expect(result.json().steps[0]).toMatchObject({
      candidates: [],
      note: `no change in repository ${repo} between 2014-01-08 and 2014-01-16`,
    })
    const human = await runCli(['correlate', '--repo', repo, '--date', '2014-01-15'])
    expect(human.stdout).toContain(`no change in repository ${repo} between 2014-01-08 and 2014-01-16`)
  })

  it('widens the window with --window to reach the upgrade in June', async () => {
    const result = await runCli(['correlate', '--repo', repo, '--date', '2014-06-12', '--window', '1,0', '--json'])
    const [only] = result.json().steps[0].candidates
    expect(only.subject).toBe('apt-get update; apt-get upgrade')
    expect(only.packages.map((p: {action: string}) => p.action)).toEqual(['upgrade', 'upgrade', 'upgrade'])
  })

  it('says an empty repository has no commits', async () => {
    const empty = join(tmp.dir, 'empty')
    mkdirSync(empty)
    git(empty, ['init', '-q'])
    const result = await runCli(['correlate', '--repo', empty, '--date', '2014-03-30', '--json'])
    expect(result.code).toBe(0)
    expect(result.json().steps[0].note).toBe(`repository ${empty} has no commits`)
  })

  it("takes the steps anomalies finds in the NTP pool server incident's ingested usage report, and saves the result for explain", async () => {
    const db = join(tmp.dir, 'seed.duckdb')
    const ingest = await runCli([
      'ingest',
      join(ROOT, 'samples/billing/usage-report-ec2-2013-06-01_2014-06-01.csv'),
      '--db',
      db,
    ])
    expect(ingest.code).toBe(0)
    const anomalies = (await runCli(['anomalies', '--db', db, '--json'])).json()
    const result = await runCli(['correlate', '--repo', repo, '--db', db, '--json'])
    expect(result.code).toBe(0)
    const out = result.json()
    // Every step anomalies reports, in its terms; the incident has one: egress up ~2000x on 2014-03-30.
    expect(out.steps.map((s: {date: string; ratio: number}) => [s.date, s.ratio])).toEqual(
      anomalies.steps.map((s: {date: string; ratio: number}) => [s.date, s.ratio]),
    )
    const seed = out.steps.find((s: {date: string}) => s.date === '2014-03-30')
    expect(seed).toMatchObject({direction: 'up', usageType: 'DataTransfer-Out'})
    expect(seed.ratio).toBeGreaterThan(1000)
    expect(seed.candidates[0].subject).toBe('ntp installed')
    const size = `${Math.round(seed.ratio)}x`
    expect(seed.candidates[0].reason).toBe(
      `ntp installed 2014-03-29 18:41 UTC, 0.2 days before egress rose ${size}; ntpd serves NTP on UDP 123 to anyone unless restricted — and ntp.conf has no 'restrict default ignore'`,
    )
    const store = await Store.open(db, {mustExist: true})
    try {
      const saved = await store.latestEvidence<{steps: {candidates: {subject: string}[]; date: string}[]}>(
        'correlate',
        repo,
      )
      expect(saved?.data.steps.find((s) => s.date === '2014-03-30')?.candidates[0]?.subject).toBe('ntp installed')
    } finally {
      await store.close()
    }
    // --date on a store with usage borrows that day's step: its size appears in the reason.
    const byHand = (await runCli(['correlate', '--repo', repo, '--db', db, '--date', '2014-03-30', '--json'])).json()
    expect(byHand.steps[0].ratio).toBe(seed.ratio)
  })

  it('fails with one clear line for a path that is not a repository, and for a bad date', async () => {
    const plain = join(tmp.dir, 'plain')
    mkdirSync(plain)
    const result = await runCli(['correlate', '--repo', plain, '--date', '2014-03-30'])
    expect(result.code).toBe(1)
    expect(result.stderr.split('\n')[0]).toMatch(
      new RegExp(`^billwatch: ${plain}: not a git repository, expected a work tree, worktree or bare repository$`),
    )
    const json = await runCli(['correlate', '--repo', plain, '--date', '2014-03-30', '--json'])
    expect(json.json().error).toMatchObject({code: 'E_GIT', file: plain})
    const date = await runCli(['correlate', '--repo', repo, '--date', '30/03/2014'])
    expect(date.code).toBe(2)
    expect(date.stderr).toContain('--date: expected a day as YYYY-MM-DD, got "30/03/2014"')
  })
})
