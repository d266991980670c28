/**
 * Property: whatever the history looks like around it — side branches, merges, cherry-picks, rebases,
 * commits made while the clock was wrong, messages full of separators and fake records — correlate
 * finds the one true change (an ntp install, known by construction) exactly once, first, dated by its
 * author time, and every candidate is a real commit read as written. Histories are real repositories
 * built with git fast-import (which sets every author and committer time exactly).
 */
import {spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import fc from 'fast-check'
import {afterAll, describe, expect, it} from 'vitest'

import {correlate} from '../../src/correlate/index.js'
import {loadKnowledge} from '../../src/correlate/knowledge.js'
import {isoSeconds} from '../../src/correlate/time.js'
import {tempDir} from '../helpers/cli.js'
import {GIT_ENV, initRepo} from './repo.js'

const STEP_DAY = '2014-03-30'
const STEP_START = Date.parse(`${STEP_DAY}T00:00:00Z`)
const HOUR = 3_600_000
const DAY = 24 * HOUR
const WINDOW = {since: STEP_START - 7 * DAY, until: STEP_START + DAY}
const TRUE_SUBJECT = 'committing changes in /etc made by "apt-get install ntp"'
const TRUE_MESSAGE = `${TRUE_SUBJECT}\n\nPackage changes:\n+ntp 1:4.2.6.p5+dfsg-3ubuntu2 all\n`
const NTP_CONF = 'server 0.pool.ntp.org\nrestrict -4 default kod notrap nomodify nopeer noquery\n'
const FAKE_HASH = 'f'.repeat(40)

/** Where the true change sits in the history. */
const PLACEMENTS = ['master', 'side', 'merged', 'merged-own-edit', 'merged-late', 'cherry-picked', 'rebased'] as const

/** Messages that would have forged records in a separator-based reader; none names a service in its subject. */
const hostileMessage = fc.oneof(
  fc.constantFrom(
    `edit motd\n\n\u001E${FAKE_HASH}\u001F\u001Fmallory <m@example.org>\u001F2014-03-29T12:00:00+00:00\u001F2014-03-29T12:00:00+00:00\u001F${TRUE_SUBJECT}\u001F`,
    `x\n\u001E${FAKE_HASH}\u001F${FAKE_HASH}\u001Fx <x>\u001F2014-03-29T12:00:00Z\u001F2014-03-29T12:00:00Z\u001F${TRUE_SUBJECT}\u001F\u0000M\u0000ntp.conf\u0000`,
    'daily autocommit',
    `tweak\n\nauthor mallory <m> 1396094400 +0000\ncommitter mallory <m> 1396094400 +0000\n\n${TRUE_SUBJECT}`,
  ),
  fc.string({
    maxLength: 40,
    unit: fc.constantFrom('a', 'b', 'e', ' ', '\n', '\u001E', '\u001F', '%', '"', '\u0000', 'é', '\t'),
  }),
)

const noiseCommit = fc.record({
  after: fc.boolean(),
  clock: fc.constantFrom('right', 'right', 'right', 'backwards', 'rebased'),
  file: fc.constantFrom('hosts', 'motd', 'resolv.conf', 'fstab', 'issue'),
  hours: fc.integer({max: 5 * 24, min: -25 * 24}),
  message: hostileMessage,
  zone: fc.constantFrom('+0000', '-0400', '+0530', '+0100', '-0700'),
})

const history = fc.record({
  mergeAfterHours: fc.integer({max: 20, min: 1}),
  noise: fc.array(noiseCommit, {maxLength: 12}),
  pickDelayHours: fc.integer({max: 72, min: 1}),
  placement: fc.constantFrom(...PLACEMENTS),
  rebaseDays: fc.integer({max: 200, min: 20}),
  trueHoursBefore: fc.integer({max: 40, min: 2}),
  trueZone: fc.constantFrom('+0000', '-0400', '+0530'),
})
type History = typeof history extends fc.Arbitrary<infer T> ? T : never

interface Built {
  dir: string
  trueTime: number
  /** mark → message and author time of each commit written. */
  commits: Map<string, {message: string; authorMs: number}>
  /** What the true change's candidate must cite. */
  cites: ('cherry-pick' | 'merge')[]
  trueCommitterMs: number
}

/** Writes the history with git fast-import; marks map to hashes through --export-marks. */
function build(dir: string, h: History): Built {
  initRepo(dir)
  const trueTime = STEP_START - h.trueHoursBefore * HOUR
  const written: {mark: number; message: string; authorMs: number}[] = []
  let stream = ''
  let mark = 0
  let masterTip = 0
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`
  const stamp = (ms: number, zone: string) => `${Math.floor(ms / 1000)} ${zone}`
  const commit = (
    ref: string,
    o: {
      message: string
      authorMs: number
      committerMs: number
      zone: string
      from: number
      merge?: number
      file: string
      content: string
      alsoMotd?: string | undefined
    },
  ) => {
    mark += 1
    stream += `commit ${ref}\nmark :${mark}\nauthor ops <ops@example.org> ${stamp(o.authorMs, o.zone)}\ncommitter root <root@example.org> ${stamp(o.committerMs, o.zone)}\n`
    stream += data(o.message)
    if (o.from > 0) stream += `from :${o.from}\n`
    if (o.merge !== undefined) stream += `merge :${o.merge}\n`
    stream += `M 100644 inline ${o.file}\n${data(o.content)}`
    if (o.alsoMotd !== undefined) stream += `M 100644 inline motd\n${data(o.alsoMotd)}`
    stream += '\n'
    written.push({authorMs: o.authorMs, mark, message: o.message})
    return mark
  }
  masterTip = commit('refs/heads/master', {
    authorMs: STEP_START - 30 * DAY,
    committerMs: STEP_START - 30 * DAY,
    content: 'root\n',
    file: 'hosts',
    from: 0,
    message: 'Initial Checkin',
    zone: '+0000',
  })
  const noise = (after: boolean) => {
    h.noise.forEach((n, i) => {
      if (n.after !== after) return
      let authorMs = STEP_START + n.hours * HOUR + i * 1000
      if (n.clock === 'backwards') authorMs = Date.parse('2001-01-01T00:00:00Z') + n.hours * HOUR
      const committerMs = n.clock === 'rebased' ? authorMs + 30 * DAY : authorMs
      masterTip = commit('refs/heads/master', {
        authorMs,
        committerMs,
        content: `revision ${i}\n`,
        file: n.file,
        from: masterTip,
        message: n.message,
        zone: n.zone,
      })
    })
  }
  noise(false)
  const trueChange = (ref: string, from: number, committerMs = trueTime) =>
    commit(ref, {
      authorMs: trueTime,
      committerMs,
      content: NTP_CONF,
      file: 'ntp.conf',
      from,
      message: TRUE_MESSAGE,
      zone: h.trueZone,
    })
  const cites: Built['cites'] = []
  let trueCommitterMs = trueTime
  const onSide = ['side', 'merged', 'merged-own-edit', 'merged-late', 'cherry-picked'].includes(h.placement)
  if (h.placement === 'master') masterTip = trueChange('refs/heads/master', masterTip)
  if (h.placement === 'rebased') {
    trueCommitterMs = trueTime + h.rebaseDays * DAY
    masterTip = trueChange('refs/heads/master', masterTip, trueCommitterMs)
  }
  const side = onSide ? trueChange('refs/heads/side', masterTip) : 0
  if (h.placement.startsWith('merged')) {
    const at = h.placement === 'merged-late' ? STEP_START + 3 * DAY : trueTime + h.mergeAfterHours * HOUR
    // The merge's tree is the master tip's plus the branch's file (nothing of its own), or an motd edit besides.
    const alsoMotd = h.placement === 'merged-own-edit' ? 'edited while merging\n' : undefined
    masterTip = commit('refs/heads/master', {
      alsoMotd,
      authorMs: at,
      committerMs: at,
      content: NTP_CONF,
      file: 'ntp.conf',
      from: masterTip,
      merge: side,
      message: "Merge branch 'side'",
      zone: '+0000',
    })
    if (h.placement !== 'merged-late') cites.push('merge')
  }
  if (h.placement === 'cherry-picked') {
    masterTip = trueChange('refs/heads/master', masterTip, trueTime + h.pickDelayHours * HOUR)
    cites.push('cherry-pick')
  }
  noise(true)
  const marks = join(dir, '.git', 'bw-marks')
  const imported = spawnSync('git', ['fast-import', '--quiet', `--export-marks=${marks}`], {
    cwd: dir,
    encoding: 'utf8',
    env: {...process.env, ...GIT_ENV},
    input: stream,
  })
  if (imported.status !== 0) throw new Error(`fast-import failed: ${imported.stderr}`)
  const hashOf = new Map(
    readFileSync(marks, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(' ') as [string, string]),
  )
  const commits = new Map(written.map((w) => [hashOf.get(`:${w.mark}`)!, {authorMs: w.authorMs, message: w.message}]))
  return {cites, commits, dir, trueCommitterMs, trueTime}
}

describe('correlate on generated histories', () => {
  const tmp = tempDir('bw-history-prop-')
  afterAll(() => tmp.cleanup())
  const knowledge = loadKnowledge()
  let runs = 0

  it('finds the true change once, first, by its author time; every candidate is a real commit as written', async () => {
    await fc.assert(
      fc.asyncProperty(history, async (h) => {
        const built = build(join(tmp.dir, `h${++runs}`), h)
        const result = await correlate({
          aptLogs: [],
          daysAfter: 1,
          daysBefore: 7,
          dpkgLogs: [],
          knowledge,
          limit: 100,
          logZone: 'UTC',
          repo: built.dir,
          steps: [
            {date: STEP_DAY, direction: 'up', ratio: null, resourceId: null, usageType: 'DataTransfer-Out-Bytes'},
          ],
        })
        const candidates = result.steps[0]!.candidates
        const ntp = candidates.filter((c) => c.files.some((f) => f.path === 'ntp.conf') || c.packages.length > 0)
        expect(ntp).toHaveLength(1)
        const [top] = candidates
        expect(top!.subject).toBe(TRUE_SUBJECT)
        expect(top!.time).toBe(isoSeconds(built.trueTime))
        expect(Date.parse(top!.committerTime!)).toBe(Math.floor(built.trueCommitterMs / 1000) * 1000)
        expect(top!.sameChangeIn.map((s) => s.relation)).toEqual(built.cites)
        // Every candidate is a commit that exists, with the subject and author time it was written with.
        for (const c of candidates) {
          const written = built.commits.get(c.commit!)
          expect(written).toBeDefined()
          expect(c.subject).toBe(written!.message.replace(/\n+$/, '').split('\n')[0])
          expect(c.time).toBe(isoSeconds(Math.floor(written!.authorMs / 1000) * 1000))
        }
        // Nothing in the window is lost: each commit authored in it is a candidate or cited by one.
        const shown = new Set(candidates.flatMap((c) => [c.commit, ...c.sameChangeIn.map((s) => s.commit)]))
        for (const [hash, w] of built.commits) {
          const inWindow = Math.floor(w.authorMs / 1000) * 1000 >= WINDOW.since && w.authorMs < WINDOW.until
          if (inWindow) expect(shown.has(hash)).toBe(true)
        }
      }),
      {numRuns: 25, seed: 22_08},
    )
  }, 240_000)
})
