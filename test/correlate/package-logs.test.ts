import {spawnSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {
  findLogs,
  localToUtc,
  parseAptHistory,
  parseDpkgLog,
  readLogText,
  zoneOfRoot,
} from '../../src/correlate/package-logs.js'
import {runCli, tempDir} from '../helpers/cli.js'

// apt and dpkg write local wall-clock time; this machine was in New York (EDT, -04:00, from 2014-03-09).
const HISTORY_OLD = `
Start-Date: 2014-03-10  09:00:01
Commandline: apt-get install nginx
Install: nginx:amd64 (1.4.6-1ubuntu3), nginx-core:amd64 (1.4.6-1ubuntu3, automatic)
End-Date: 2014-03-10  09:00:09
`
const HISTORY_RECENT = `
Start-Date: 2014-03-29  14:41:10
Commandline: apt-get install ntp
Requested-By: ubuntu (1000)
Install: ntp:amd64 (1:4.2.6.p5+dfsg-3ubuntu2), libopts25:amd64 (1:5.18-2ubuntu2, automatic)
End-Date: 2014-03-29  14:41:36

Start-Date: 2014-03-29  16:02:00
Commandline: apt-get purge -y bind9
Purge: bind9:amd64 (1:9.9.5.dfsg-3)
Upgrade: tzdata:amd64 (2014a-0ubuntu0.12.04, 2014b-0ubuntu0.12.04)
End-Date: 2014-03-29  16:02:05
`
const DPKG_RECENT = [
  '2014-03-29 14:41:30 startup archives unpack',
  '2014-03-29 14:41:31 install libopts25:amd64 <none> 1:5.18-2ubuntu2',
  '2014-03-29 14:41:31 status half-installed libopts25:amd64 1:5.18-2ubuntu2',
  '2014-03-29 14:41:32 install ntp:amd64 <none> 1:4.2.6.p5+dfsg-3ubuntu2',
  '2014-03-29 14:41:35 startup packages configure',
  '2014-03-29 14:41:35 configure ntp:amd64 1:4.2.6.p5+dfsg-3ubuntu2 <none>',
  '2014-03-29 14:41:36 status installed ntp:amd64 1:4.2.6.p5+dfsg-3ubuntu2',
  '',
].join('\n')

describe('apt and dpkg logs', () => {
  const tmp = tempDir('bw-pkglogs-')
  const root = join(tmp.dir, 'root')

  beforeAll(() => {
    mkdirSync(join(root, 'etc'), {recursive: true})
    mkdirSync(join(root, 'var/log/apt'), {recursive: true})
    writeFileSync(join(root, 'etc/timezone'), 'America/New_York\n')
    // Rotated the way logrotate leaves them: .1 plain, older ones compressed by gzip.
    writeFileSync(join(root, 'var/log/apt/history.log'), '')
    writeFileSync(join(root, 'var/log/apt/history.log.1'), HISTORY_RECENT)
    writeFileSync(join(root, 'var/log/apt/history.log.2'), HISTORY_OLD)
    writeFileSync(join(root, 'var/log/dpkg.log.1'), DPKG_RECENT)
    writeFileSync(join(root, 'var/log/dpkg.log'), '2014-04-05 10:00:00 startup archives unpack\n')
    const gz = spawnSync('gzip', ['-9', join(root, 'var/log/apt/history.log.2')])
    if (gz.status !== 0) throw new Error(`gzip failed: ${gz.stderr.toString()}`)
  })
  afterAll(() => tmp.cleanup())

  it('finds rotated logs under a root, oldest first, and the zone from etc/timezone', () => {
    expect(findLogs(root)).toEqual({
      apt: ['history.log.2.gz', 'history.log.1', 'history.log'].map((f) => join(root, 'var/log/apt', f)),
      dpkg: ['dpkg.log.1', 'dpkg.log'].map((f) => join(root, 'var/log', f)),
    })
    expect(zoneOfRoot(root)).toBe('America/New_York')
    expect(zoneOfRoot(tmp.dir)).toBe('UTC')
  })

  it('converts local wall-clock times to UTC across a DST change', () => {
    expect(new Date(localToUtc('2014-03-29', '14:41:36', 'America/New_York')).toISOString()).toBe(
      '2014-03-29T18:41:36.000Z',
    )
    expect(new Date(localToUtc('2014-03-08', '14:41:36', 'America/New_York')).toISOString()).toBe(
      '2014-03-08T19:41:36.000Z',
    )
    expect(new Date(localToUtc('2014-03-30', '00:11:36', '+05:30')).toISOString()).toBe('2014-03-29T18:41:36.000Z')
  })

  it('reads apt history entries (gzip too) with their command, packages and versions', () => {
    const old = parseAptHistory(
      readLogText(join(root, 'var/log/apt/history.log.2.gz')),
      'history.log.2.gz',
      'America/New_York',
    )
    expect(old).toHaveLength(1)
    expect(old[0]).toMatchObject({
      command: 'apt-get install nginx',
      manager: 'apt',
      origin: 'history.log.2.gz:2',
      source: 'apt-history',
      time: '2014-03-10T13:00:09Z',
    })
    const recent = parseAptHistory(HISTORY_RECENT, 'history.log.1', 'America/New_York')
    expect(recent.map((c) => c.time)).toEqual(['2014-03-29T18:41:36Z', '2014-03-29T20:02:05Z'])
    expect(recent[0]!.packages).toEqual([
      {action: 'install', name: 'ntp', version: '1:4.2.6.p5+dfsg-3ubuntu2'},
      {action: 'install', name: 'libopts25', version: '1:5.18-2ubuntu2'},
    ])
    expect(recent[1]!.packages).toEqual([
      {action: 'purge', name: 'bind9', version: '1:9.9.5.dfsg-3'},
      {action: 'upgrade', fromVersion: '2014a-0ubuntu0.12.04', name: 'tzdata', version: '2014b-0ubuntu0.12.04'},
    ])
  })

  it('groups dpkg lines into runs and keeps only package actions', () => {
    const runs = parseDpkgLog(DPKG_RECENT, 'dpkg.log.1', 'America/New_York')
    expect(runs).toHaveLength(1)
    expect(runs[0]).toMatchObject({
      origin: 'dpkg.log.1:2',
      source: 'dpkg-log',
      subject: 'dpkg: libopts25, ntp installed',
      time: '2014-03-29T18:41:32Z',
    })
  })

  it('names the file, line and field of a bad entry', () => {
    expect(() =>
      parseAptHistory('Start-Date: 29/03/2014 14:41\nCommandline: apt-get install ntp\n', 'history.log', 'UTC'),
    ).toThrow(
      'history.log:1: column "Start-Date": expected a date like 2014-03-29 18:41:30, got a value shaped "99/99/9999 99:99"',
    )
    expect(() => parseDpkgLog('2014-03-29 14:41:31 install ntp:amd64 <none> 1\ngarbage\n', 'dpkg.log', 'UTC')).toThrow(
      /^dpkg\.log:2: expected a line starting/,
    )
    const damaged = join(tmp.dir, 'damaged.gz')
    const gz = spawnSync('gzip', ['-c'], {input: HISTORY_RECENT})
    writeFileSync(damaged, gz.stdout.subarray(0, gz.stdout.length - 12))
    expect(() => readLogText(damaged)).toThrow(expect.objectContaining({code: 'E_TRUNCATED', file: damaged}))
  })

  it('correlates from logs alone under --root, joining the dpkg run to the apt entry of the same install', async () => {
    const result = await runCli(['correlate', '--root', root, '--date', '2014-03-30', '--json'])
    expect(result.code).toBe(0)
    const out = result.json()
    expect(out.repo).toBeNull()
    expect(out.changesRead).toEqual({aptHistory: 2, dpkgLog: 1, git: 0})
    const [first, second] = out.steps[0].candidates
    expect(first).toMatchObject({
      command: 'apt-get install ntp',
      commit: null,
      source: 'apt-history',
      time: '2014-03-29T18:41:36Z',
    })
    expect(first.alsoIn).toEqual([`${join(root, 'var/log/dpkg.log.1')}:2`])
    expect(first.reason).toBe(
      'ntp installed 2014-03-29 18:41 UTC, 0.2 days before egress rose; ntpd serves NTP on UDP 123 to anyone unless restricted',
    )
    // Purging a DNS server does not explain a rise.
    expect(second.command).toBe('apt-get purge -y bind9')
    expect(second.score).toBeLessThan(first.score / 2)
  })

  it("takes --log-tz over the root's zone, and refuses an unknown zone or a missing root", async () => {
    const utc = await runCli(['correlate', '--root', root, '--log-tz', 'UTC', '--date', '2014-03-30', '--json'])
    expect(utc.code).toBe(0)
    expect(utc.json().steps[0].candidates[0]).toMatchObject({
      command: 'apt-get install ntp',
      time: '2014-03-29T14:41:36Z',
    })
    const bad = await runCli(['correlate', '--root', root, '--log-tz', 'Mars/Olympus', '--date', '2014-03-30'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain(
      '--log-tz: unknown time zone, expected UTC, an offset like +02:00, or an IANA name like Europe/Berlin, got "Mars/Olympus"',
    )
    const missing = await runCli(['correlate', '--root', join(tmp.dir, 'nowhere'), '--date', '2014-03-30'])
    expect(missing.code).toBe(2)
    expect(missing.stderr.trim()).toBe(`billwatch: --root: ${join(tmp.dir, 'nowhere')} does not exist`)
  })
})
