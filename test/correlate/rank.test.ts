import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {correlate} from '../../src/correlate/index.js'
import {loadKnowledge} from '../../src/correlate/knowledge.js'
import {timeFit, usageKind} from '../../src/correlate/rank.js'
import type {StepInput} from '../../src/correlate/types.js'
import {tempDir} from '../helpers/cli.js'
import {commitAt, initRepo} from './repo.js'

const OPEN_NTP = 'server 0.pool.ntp.org\nrestrict -4 default kod notrap nomodify nopeer noquery\n'
const CLOSED_NTP = 'server 0.pool.ntp.org\nrestrict default ignore\nrestrict 127.0.0.1\n'

function step(date: string, fields: Partial<StepInput> = {}): StepInput {
  return {date, direction: 'up', ratio: 2137.4, resourceId: null, usageType: 'DataTransfer-Out-Bytes', ...fields}
}

describe('ranking changes around a step', () => {
  const tmp = tempDir('bw-rank-')
  const knowledge = loadKnowledge()
  const run = (repo: string, steps: StepInput[], extra: Partial<Parameters<typeof correlate>[0]> = {}) =>
    correlate({
      aptLogs: [],
      daysAfter: 1,
      daysBefore: 7,
      dpkgLogs: [],
      knowledge,
      limit: 10,
      logZone: 'UTC',
      repo,
      steps,
      ...extra,
    })

  let open = ''
  let closed = ''
  let chrony = ''
  beforeAll(() => {
    open = initRepo(join(tmp.dir, 'open'))
    commitAt(open, '2014-03-20T08:00:00+0000', 'Initial Checkin', {hosts: 'a\n'})
    commitAt(open, '2014-03-29T18:00:00+0000', 'motd', {motd: 'welcome\n'})
    commitAt(open, '2014-03-29T18:41:36+0000', 'committing changes in /etc after apt run', {'ntp.conf': OPEN_NTP})
    commitAt(
      open,
      '2014-04-04T09:00:00+0000',
      'committing changes in /etc after apt run\n\nPackage changes:\n-ntp 1:4.2.6 amd64\n',
      {'ntp.conf': null},
    )

    closed = initRepo(join(tmp.dir, 'closed'))
    commitAt(closed, '2014-03-29T18:41:36+0000', 'ntp installed\n\nPackage changes:\n+ntp 1:4.2.6 amd64\n', {
      'ntp.conf': CLOSED_NTP,
    })

    chrony = initRepo(join(tmp.dir, 'chrony'))
    commitAt(chrony, '2014-03-29T12:00:00+0000', 'chrony installed\n\nPackage changes:\n+chrony 1.29-1 amd64\n', {
      'chrony/chrony.conf': 'pool 2.debian.pool.ntp.org iburst\n',
    })
    commitAt(chrony, '2014-03-29T13:00:00+0000', 'daily autocommit', {
      'nginx/sites-enabled/default': 'server { listen 80; }\n',
    })
  })
  afterAll(() => tmp.cleanup())

  it('puts the change that opened NTP first and says why, with the step size', async () => {
    const result = await run(open, [step('2014-03-30')])
    const [first, second] = result.steps[0]!.candidates
    expect(first!.files).toEqual([{path: 'ntp.conf', status: 'added'}])
    expect(first!.reason).toBe(
      "ntp.conf changed 2014-03-29 18:41 UTC, 0.2 days before egress rose 2137x; ntpd serves NTP on UDP 123 to anyone unless restricted — and ntp.conf has no 'restrict default ignore'",
    )
    expect(second!.subject).toBe('motd')
    expect(second!.score).toBeLessThan(first!.score / 3)
  })

  it('weighs the same install lower when ntp.conf has restrict default ignore', async () => {
    const [openTop] = (await run(open, [step('2014-03-30')])).steps[0]!.candidates
    const [closedTop] = (await run(closed, [step('2014-03-30')])).steps[0]!.candidates
    expect(closedTop!.findings).toEqual(["ntp.conf has 'restrict default ignore'"])
    expect(closedTop!.scores.relevance).toBeLessThan(openTop!.scores.relevance * 0.5)
  })

  it('for a fall, prefers the removal; for a rise, the install', async () => {
    const result = await run(open, [step('2014-04-05', {direction: 'down', ratio: 1 / 2000}), step('2014-03-30')])
    expect(result.steps[0]!.candidates[0]!.packages).toEqual([{action: 'remove', name: 'ntp', version: '1:4.2.6'}])
    expect(result.steps[0]!.candidates[0]!.reason).toMatch(
      /^ntp removed 2014-04-04 09:00 UTC, 0\.6 days before egress fell 2000x; .*removing it stops that$/,
    )
    expect(result.steps[1]!.candidates[0]!.subject).toBe('committing changes in /etc after apt run')
    expect(result.steps[1]!.candidates[0]!.time).toBe('2014-03-29T18:41:36Z')
  })

  it('ranks a web server above a chrony that serves no clients, and says so', async () => {
    const [first, second] = (await run(chrony, [step('2014-03-30')])).steps[0]!.candidates
    expect(first!.services).toEqual(['web'])
    expect(second!.findings).toEqual(["chrony/chrony.conf has no 'allow': chronyd serves no clients"])
  })

  it('scores egress changes lower for a step in instance hours', async () => {
    const egress = (await run(open, [step('2014-03-30')])).steps[0]!.candidates[0]!
    const hours = (await run(open, [step('2014-03-30', {usageType: 'BoxUsage:t1.micro'})])).steps[0]!.candidates
    const ntp = hours.find((c) => c.commit === egress.commit)!
    expect(ntp.scores.relevance).toBeLessThan(egress.scores.relevance / 2)
    expect(usageKind('USE1-DataTransfer-Out-Bytes')).toBe('egress')
    expect(usageKind('BoxUsage:t1.micro')).toBe('compute')
  })

  it('says so when no change falls in the window', async () => {
    const result = await run(open, [step('2014-01-15')])
    expect(result.steps[0]!.candidates).toEqual([])
    expect(result.steps[0]!.note).toBe(`no change in repository ${open} between 2014-01-08 and 2014-01-16`)
  })

  it('fits time to the lag a service implies: full within it, decaying before and after', () => {
    expect(timeFit(0.22, [0, 2])).toBeGreaterThan(0.98)
    expect(timeFit(2.9, [0, 2])).toBeGreaterThan(0.85)
    expect(timeFit(5, [0, 2])).toBeLessThan(timeFit(3.5, [0, 2]))
    expect(timeFit(-0.5, [0, 1])).toBeLessThan(0.25)
    expect(timeFit(-0.1, [0, 1])).toBeGreaterThan(timeFit(-0.9, [0, 1]))
  })

  it('extends the knowledge base from a file and names the bad field of a broken one', async () => {
    const repo = initRepo(join(tmp.dir, 'custom'))
    commitAt(repo, '2014-03-29T10:00:00+0000', 'deploy', {'tileserver/tileserver.json': '{}\n'})
    commitAt(repo, '2014-03-29T11:00:00+0000', 'motd', {motd: 'x\n'})
    const extra = join(tmp.dir, 'extra.json')
    writeFileSync(
      extra,
      JSON.stringify({
        services: [
          {
            files: ['tileserver/**'],
            id: 'tiles',
            packages: ['tileserver-gl'],
            summary: 'the tile server sends map tiles to every browser',
            usage: ['egress'],
          },
        ],
      }),
    )
    const result = await run(repo, [step('2014-03-30')], {knowledge: loadKnowledge(extra)})
    expect(result.steps[0]!.candidates[0]!.reason).toMatch(
      /^tileserver\/tileserver\.json changed .*; the tile server sends map tiles to every browser$/,
    )

    writeFileSync(extra, JSON.stringify({services: [{id: 'x', summary: 'y', usage: ['egress'], lagDays: [3, 1]}]}))
    expect(() => loadKnowledge(extra)).toThrow(
      `${extra}: field "services[0].lagDays": bad knowledge entry, expected [earliest, latest] days, got a value shaped "[9,9]"`,
    )
  })
})
