/**
 * explain counts inbound and outbound over the same days, and gives remedies only for the evidence
 * present: no NTP rate-limit or pool advice for a bill with no NTP evidence at all.
 */
import {spawn} from 'node:child_process'
import dgram from 'node:dgram'
import {statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, afterEach, beforeEach, describe, expect, it} from 'vitest'

import {gatherEvidence} from '../../src/explain/evidence.js'
import {remediation} from '../../src/explain/remediation.js'
import {analyseCapture} from '../../src/pcap/analyse.js'
import {buildReport} from '../../src/pcap/report.js'
import {buildNarrative, renderMarkdown, renderText} from '../../src/explain/narrative.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {renderReport} from '../../src/report/html.js'
import {Store} from '../../src/store/index.js'
import {commitAt, initRepo} from '../correlate/repo.js'
import {tempDir} from '../helpers/cli.js'
import {freeUdpPort} from '../helpers/ntp-daemons.js'
import {requireRoot, requireTool} from '../helpers/tools.js'

const HEADER = 'Service, Operation, UsageType, Resource, StartTime, EndTime, UsageValue'
const day = (d: number) => `02/${String(d).padStart(2, '0')}/14 00:00:00`
const next = (d: number) => (d === 28 ? '03/01/14 00:00:00' : day(d + 1))
const iso = (d: number) => `2014-02-${String(d).padStart(2, '0')}`

/** February 2014: egress steps up on the 15th; AWS writes no egress line for the days the server sent nothing. */
function usage(egressGaps: Set<number>): {rows: string[]; egress: Map<number, number>; ingress: Map<number, number>} {
  const rows = [HEADER]
  const egress = new Map<number, number>()
  const ingress = new Map<number, number>()
  for (let d = 1; d <= 28; d++) {
    const out = d < 15 ? 3e6 + d * 1000 : 9e9 + d * 1e6
    const inbound = d < 15 ? 2e6 + d * 700 : 8e9 + d * 3e6
    if (!egressGaps.has(d)) {
      egress.set(d, out)
      rows.push(`AmazonEC2,RunInstances,DataTransfer-Out-Bytes,,${day(d)},${next(d)},${out}`)
    }
    ingress.set(d, inbound)
    rows.push(`AmazonEC2,RunInstances,DataTransfer-In-Bytes,,${day(d)},${next(d)},${inbound}`)
  }
  return {egress, ingress, rows}
}

describe('explain: evidence and remedies', () => {
  const tmp = tempDir('bw-explain-evidence-')
  let store: Store
  let n = 0
  afterAll(() => tmp.cleanup())
  beforeEach(async () => {
    store = await Store.open(join(tmp.dir, `store-${++n}.duckdb`))
  })
  afterEach(async () => {
    await store.close()
  })

  async function ingest(rows: string[]): Promise<void> {
    const csv = join(tmp.dir, `usage-${n}.csv`)
    writeFileSync(csv, `${rows.join('\n')}\n`)
    await ingestFiles(store, [csv])
  }

  it('counts inbound and outbound over the same days, a day without an egress line included', async () => {
    const gaps = new Set([16, 20, 23, 27])
    const {egress, ingress, rows} = usage(gaps)
    await ingest(rows)
    const evidence = await gatherEvidence(store)
    expect(evidence.step?.date).toBe('2014-02-15')
    const symmetry = evidence.symmetry!
    expect(symmetry).toMatchObject({from: '2014-02-15', to: '2014-02-28'})
    const sum = (m: Map<number, number>) =>
      [...m].reduce(
        (total, [d, bytes]) => (iso(d) >= symmetry.from && iso(d) <= symmetry.to ? total + bytes : total),
        0,
      )
    expect(symmetry.ingressBytes).toBe(sum(ingress))
    expect(symmetry.egressBytes).toBe(sum(egress))
    expect(symmetry.ratio).toBeCloseTo(sum(egress) / sum(ingress), 12)
  })

  it('compares only the span both directions cover', async () => {
    const {rows} = usage(new Set())
    // Inbound for the first 20 days only: the last 8 days of egress have nothing to compare with.
    const cut = rows.filter((r) => !(r.includes('DataTransfer-In') && Number(r.split(',')[4]!.slice(3, 5)) > 20))
    await ingest(cut)
    const symmetry = (await gatherEvidence(store)).symmetry!
    expect(symmetry).toMatchObject({from: '2014-02-15', to: '2014-02-20'})
  })

  it('gives no NTP rate-limit or pool advice for a bill with no NTP evidence at all', async () => {
    await ingest(usage(new Set()).rows)
    const evidence = await gatherEvidence(store)
    expect(evidence.remediation).toMatchObject({
      advice: [],
      blocking: [],
      ntpEvidence: [],
      rateLimiting: [],
      snippets: [],
    })
    const text = renderText(buildNarrative(evidence))
    const markdown = renderMarkdown(buildNarrative(evidence))
    const html = renderReport(evidence).html
    for (const out of [text, markdown, html]) {
      expect(out).not.toMatch(
        /ratelimit interval|restrict default|netspeed|vendor\.pool|NTP Pool management|Rate limiting: what/i,
      )
      expect(out).toContain('Nothing points at NTP')
    }
  })

  it('gives the remedy a non-NTP change supports, and NTP remedies once a change names NTP', async () => {
    await ingest(usage(new Set()).rows)
    const repo = initRepo(join(tmp.dir, 'etc-web'))
    commitAt(repo, '2014-02-01T09:00:00+0000', 'Initial Checkin', {hosts: '127.0.0.1 localhost\n'})
    const web = commitAt(
      repo,
      '2014-02-14T10:00:00+0000',
      'committing changes in /etc made by "apt-get install nginx"\n\nPackage changes:\n+nginx 1.4.6-1 amd64\n',
      {'nginx/nginx.conf': 'http {}\n'},
    )
    const evidence = await gatherEvidence(store, {repo})
    expect(evidence.change?.commit).toBe(web)
    expect(evidence.remediation.snippets).toEqual([])
    expect(evidence.remediation.advice).toEqual([])
    expect(evidence.remediation.other).toEqual([
      expect.stringMatching(/^Nothing points at NTP/),
      expect.stringContaining(`(commit ${web.slice(0, 10)}): undo or restrict it`),
    ])

    const ntp = initRepo(join(tmp.dir, 'etc-ntp'))
    commitAt(ntp, '2014-02-01T09:00:00+0000', 'Initial Checkin', {hosts: '127.0.0.1 localhost\n'})
    const install = commitAt(
      ntp,
      '2014-02-14T10:00:00+0000',
      'committing changes in /etc made by "apt-get install ntp"\n\nPackage changes:\n+ntp 1:4.2.6 amd64\n',
      {'ntp.conf': 'server 0.pool.ntp.org\n'},
    )
    const withNtp = await gatherEvidence(store, {repo: ntp})
    expect(withNtp.remediation.ntpEvidence).toEqual([expect.stringContaining(`commit ${install.slice(0, 10)}`)])
    expect(withNtp.remediation.snippets.map((s) => s.daemon)).toEqual(['ntpd / ntpsec', 'chrony'])
    expect(withNtp.remediation.other).toEqual([])
    expect(renderText(buildNarrative(withNtp))).toContain('NTP remedies, because the change behind the step names NTP')
  })

  it('tells the story from a correlate result an older billwatch saved (no committer time, no sameChangeIn)', async () => {
    await ingest(usage(new Set()).rows)
    const repo = initRepo(join(tmp.dir, 'etc-old'))
    commitAt(repo, '2014-02-01T09:00:00+0000', 'Initial Checkin', {hosts: '127.0.0.1 localhost\n'})
    commitAt(
      repo,
      '2014-02-14T10:00:00+0000',
      'committing changes in /etc made by "apt-get install ntp"\n\nPackage changes:\n+ntp 1:4.2.6 amd64\n',
      {
        'ntp.conf': 'server 0.pool.ntp.org\n',
      },
    )
    const fresh = await gatherEvidence(store, {repo})
    const saved = structuredClone(fresh.correlation!)
    for (const step of saved.steps)
      for (const c of step.candidates as unknown as Record<string, unknown>[]) {
        delete c.committerTime
        delete c.sameChangeIn
      }
    await store.saveEvidence('correlate', repo, saved)
    const text = renderText(buildNarrative(await gatherEvidence(store)))
    expect(text).toContain('made 2014-02-14 10:00 UTC, 0.6 days before the step')
  })

  it('gives no NTP advice for a capture without NTP, but names the port it does show', async () => {
    // tcpdump on lo while a loopback server answers 40 datagrams on a port that is not NTP's.
    const port = await freeUdpPort('127.0.0.2')
    const file = join(tmp.dir, 'not-ntp.pcap')
    requireRoot('capture on lo')
    const tcpdump = spawn(requireTool('tcpdump'), ['-i', 'lo', '-U', '-n', '-w', file, `udp port ${port}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    await new Promise<void>((resolve, reject) => {
      let stderr = ''
      tcpdump.stderr.on('data', (chunk) => (stderr += chunk) && stderr.includes('listening on') && resolve())
      tcpdump.once('exit', (code) => reject(new Error(`tcpdump exited ${code}: ${stderr}`)))
    })
    const server = dgram.createSocket('udp4')
    await new Promise<void>((resolve) => server.bind(port, '127.0.0.2', resolve))
    server.on('message', (msg, from) => server.send(Buffer.concat([msg, Buffer.alloc(400)]), from.port, from.address))
    const client = dgram.createSocket('udp4')
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve))
    let answers = 0
    client.on('message', () => answers++)
    const send = (text: string) =>
      new Promise<void>((resolve) => client.send(Buffer.from(text), port, '127.0.0.2', () => resolve()))
    // tcpdump may say it listens a moment before it captures: knock until the file holds a packet (10 s at most).
    for (let waited = 0; (statSync(file, {throwIfNoEntry: false})?.size ?? 0) <= 24 && waited < 10_000; waited += 100) {
      await send('knock')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const before = answers
    for (let i = 0; i < 40; i++) await send(`query ${i}`)
    for (let waited = 0; answers < before + 40 && waited < 5000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50))
    client.close()
    server.close()
    // Under load tcpdump may lag: stop it only once the 40 replies (16 + 450 bytes a record at least) are in the file.
    for (let waited = 0; statSync(file).size < 24 + 40 * 466 && waited < 10_000; waited += 100)
      await new Promise((resolve) => setTimeout(resolve, 100))
    const exited = new Promise((resolve) => tcpdump.once('exit', resolve))
    tcpdump.kill('SIGINT')
    await exited

    const report = buildReport(analyseCapture(file, {host: '127.0.0.2'}))
    expect(report.outbound.packets).toBeGreaterThanOrEqual(40)
    const remedies = remediation(report)
    expect(remedies).toMatchObject({advice: [], blocking: [], ntpEvidence: [], snippets: []})
    expect(remedies.other).toEqual([
      expect.stringMatching(/^Nothing points at NTP/),
      `The capture puts 100.0% of outbound bytes on udp ${port}: find what listens there (ss -lunp on the server) and restrict whom it answers.`,
    ])
  })
})
