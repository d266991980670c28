import {spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {describeMessage, parseCommandLine, parsePackageChanges} from '../../src/correlate/etckeeper.js'
import {openRepository, readCommits} from '../../src/correlate/git-log.js'
import {Store} from '../../src/store/index.js'
import type {Change} from '../../src/correlate/types.js'
import {ROOT, runCli, tempDir} from '../helpers/cli.js'
import {requireTools} from '../helpers/tools.js'

describe('a real etckeeper repository driven by its apt hooks', () => {
  const tmp = tempDir('bw-etckeeper-')
  const root = join(tmp.dir, 'root')
  const changes: Change[] = []

  beforeAll(async () => {
    requireTools('unshare', 'etckeeper', 'git')
    // A private mount namespace keeps etckeeper's /var/cache/etckeeper packagelist away from the machine's.
    const unshare = process.getuid?.() === 0 ? ['-m'] : ['-rm']
    const run = spawnSync('unshare', [...unshare, join(ROOT, 'test/correlate/etckeeper-run.sh'), tmp.dir], {
      encoding: 'utf8',
    })
    if (run.status !== 0) throw new Error(`etckeeper-run.sh failed (${run.status}): ${run.stderr}`)
    for await (const c of readCommits(openRepository(join(root, 'etc')), {
      since: new Date('2000-01-01'),
      until: new Date('2100-01-01'),
    }))
      changes.push(c)
  }, 60_000)
  afterAll(() => tmp.cleanup())

  const bySubject = (re: RegExp) => changes.find((c) => re.test(c.subject))!

  it('recognises each kind of etckeeper commit and the front end that made it', () => {
    const pre = bySubject(/^saving uncommitted changes/)
    expect(pre).toMatchObject({kind: 'pre-install', manager: 'apt', packages: []})
    expect(pre.files.map((f) => f.path)).toContain('hosts')
    const install = bySubject(/install ntp"$/)
    expect(install.subject).toBe(`committing changes in /etc made by "/bin/bash ${tmp.dir}/bin/apt-get install ntp"`)
    expect(install).toMatchObject({
      command: `/bin/bash ${tmp.dir}/bin/apt-get install ntp`,
      kind: 'package-manager',
      manager: 'apt',
    })
    expect(bySubject(/^daily autocommit$/).kind).toBe('daily-autocommit')
    expect(bySubject(/^Initial Checkin$/).kind).toBe('manual')
  })

  it('reads the package list from the body etckeeper wrote (dpkg list format 2: name version arch)', () => {
    const install = bySubject(/install ntp"$/)
    // The body as etckeeper wrote it, not as this test imagines it.
    const body = spawnSync('git', ['-C', join(root, 'etc'), 'log', '-1', '--format=%b', install.commit!], {
      encoding: 'utf8',
    }).stdout
    expect(body).toContain('Package changes:\n+ntp 1:4.2.6.p5+dfsg-3ubuntu2 all')
    expect(install.packages).toEqual([{action: 'install', name: 'ntp', version: '1:4.2.6.p5+dfsg-3ubuntu2'}])
    expect(install.files).toContainEqual({path: 'ntp.conf', status: 'added'})
    const purge = bySubject(/purge ntp"$/)
    expect(purge.packages).toEqual([{action: 'remove', name: 'ntp', version: '1:4.2.6.p5+dfsg-3ubuntu2'}])
    expect(purge.files).toContainEqual({path: 'ntp.conf', status: 'deleted'})
  })

  it('keeps the time zone each commit was made in and compares in UTC', () => {
    const install = bySubject(/install ntp"$/)
    expect(install.recordedTime).toBe('2014-03-29T13:41:30-04:00')
    expect(install.time).toBe('2014-03-29T17:41:30Z')
    expect(bySubject(/^daily autocommit$/).time).toBe('2014-03-30T05:00:01Z')
  })

  it('ranks the commit of the ntp install first for the next day, with its reason', async () => {
    const result = await runCli(['correlate', '--repo', join(root, 'etc'), '--date', '2014-03-30', '--json'])
    expect(result.code).toBe(0)
    const [step] = result.json().steps
    expect(step.candidates.map((c: Change) => c.kind)).toEqual(['package-manager', 'pre-install', 'daily-autocommit'])
    expect(step.candidates[0].reason).toBe(
      "ntp installed 2014-03-29 17:41 UTC, 0.3 days before egress rose; ntpd serves NTP on UDP 123 to anyone unless restricted — and ntp.conf has no 'restrict default ignore'",
    )
  })

  it("with --root, reads dpkg.log in the root's zone and joins it to the commit of the same run", async () => {
    expect(readFileSync(join(root, 'etc/timezone'), 'utf8').trim()).toBe('Asia/Kolkata')
    const purge = bySubject(/purge ntp"$/)
    const day = new Date(Date.parse(purge.time) + 86_400_000).toISOString().slice(0, 10)
    const db = join(tmp.dir, 'bw.duckdb')
    const result = await runCli([
      'correlate',
      '--root',
      root,
      '--date',
      day,
      '--direction',
      'down',
      '--db',
      db,
      '--json',
    ])
    expect(result.code).toBe(0)
    const out = result.json()
    expect(out.repo).toBe(join(root, 'etc'))
    expect(out.logs).toEqual([join(root, 'var/log/dpkg.log')])
    const [first, second] = out.steps[0].candidates
    // dpkg wrote Asia/Kolkata wall-clock time; read as UTC it would be 5.5 h off and join nothing.
    expect(first.commit).toBe(purge.commit)
    expect(first.alsoIn).toEqual([expect.stringMatching(/var\/log\/dpkg\.log:\d+$/)])
    expect(first.reason).toMatch(/^ntp removed .* egress fell; .*removing it stops that$/)
    // The install a second earlier is another dpkg run: it stays a candidate of its own, ranked below.
    expect(second).toMatchObject({commit: null, source: 'dpkg-log', packages: [{action: 'install', name: 'ntp'}]})
    expect(second.score).toBeLessThan(first.score)

    const store = await Store.open(db, {mustExist: true})
    try {
      // Saved under what it read (correlationSources): the repository and the package logs.
      const saved = await store.latestEvidence<{steps: {candidates: {commit: string}[]}[]}>(
        'correlate',
        `${join(root, 'etc')}, package logs`,
      )
      expect(saved?.data.steps[0]?.candidates[0]?.commit).toBe(purge.commit)
    } finally {
      await store.close()
    }
  })
})

describe('etckeeper messages of other front ends', () => {
  it('reads rpm package lists (dnf, yum): epoch:name-version-release.arch, pairing upgrades', () => {
    const body = [
      'Package changes:',
      '+0:ntp-4.2.6p5-29.el7.centos.2.x86_64',
      '-1:openssl-1.0.2k-19.el7.x86_64',
      '+1:openssl-1.0.2k-21.el7_9.x86_64',
      '',
    ].join('\n')
    expect(parsePackageChanges(body)).toEqual([
      {action: 'install', name: 'ntp', version: '4.2.6p5-29.el7.centos.2'},
      {action: 'upgrade', fromVersion: '1:1.0.2k-19.el7', name: 'openssl', version: '1:1.0.2k-21.el7_9'},
    ])
    expect(describeMessage('committing changes in /etc after yum run', body)).toMatchObject({
      kind: 'package-manager',
      manager: 'yum',
    })
  })

  it('reads pacman lists and dnf command lines', () => {
    expect(parsePackageChanges('Package changes:\n+chrony 4.5-1\n-ntp 4.2.8.p17-1\n')).toEqual([
      {action: 'install', name: 'chrony', version: '4.5-1'},
      {action: 'remove', name: 'ntp', version: '4.2.8.p17-1'},
    ])
    expect(
      describeMessage('committing changes in /etc made by "/usr/bin/python3 /usr/bin/dnf install -y chrony"', ''),
    ).toEqual({
      command: '/usr/bin/python3 /usr/bin/dnf install -y chrony',
      kind: 'package-manager',
      manager: 'dnf',
      packages: [{action: 'install', name: 'chrony', version: null}],
    })
    expect(describeMessage('saving uncommitted changes in /etc prior to pacman run', '')).toMatchObject({
      kind: 'pre-install',
      manager: 'pacman',
    })
  })

  it('prefers the full "Package changes" list and falls back to "Packages with configuration changes"', () => {
    const both =
      'Packages with configuration changes:\n+ntp 1:4.2 all\n\nPackage changes:\n+libopts25 1:5.18 amd64\n+ntp 1:4.2 all\n'
    expect(parsePackageChanges(both).map((p) => p.name)).toEqual(['libopts25', 'ntp'])
    expect(parsePackageChanges('Packages with configuration changes:\n+ntp 1:4.2 all\n').map((p) => p.name)).toEqual([
      'ntp',
    ])
  })

  it('names packages from command lines of each package manager', () => {
    expect(parseCommandLine('apt-get -y install ntp=1:4.2.6 ntpdate:amd64').packages.map((p) => p.name)).toEqual([
      'ntp',
      'ntpdate',
    ])
    expect(parseCommandLine('apt-get purge ntp').packages).toEqual([{action: 'purge', name: 'ntp', version: null}])
    expect(parseCommandLine('pacman -Rns ntp')).toEqual({
      manager: 'pacman',
      packages: [{action: 'remove', name: 'ntp', version: null}],
    })
    expect(parseCommandLine('pacman -S chrony').packages[0]).toMatchObject({action: 'install', name: 'chrony'})
    expect(parseCommandLine('dpkg -i /tmp/ntp_4.2.6_amd64.deb').packages[0]).toMatchObject({
      action: 'install',
      name: 'ntp',
    })
    expect(parseCommandLine('yum -y erase ntp').packages[0]).toMatchObject({action: 'remove', name: 'ntp'})
    expect(parseCommandLine('vim /etc/ntp.conf')).toEqual({manager: null, packages: []})
  })
})
