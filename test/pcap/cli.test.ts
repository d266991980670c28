import {existsSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {LINKTYPE} from '../../src/pcap/decode.js'
import {CaptureWriter, linkFrame, udpPacket} from '../../src/pcap/writer.js'
import {costOfRate, flatPricing} from '../../src/pricing/egress.js'
import type {PcapReport} from '../../src/pcap/report.js'
import {Store} from '../../src/store/index.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'

const {dir, cleanup} = tempDir('billwatch-pcap-cli-')
afterAll(cleanup)
const SAMPLE = join(SAMPLES, 'captures', 'ntp-server.pcap')
const CONTROL = join(SAMPLES, 'captures', 'ntp-control.pcap')
const db = join(dir, 'store.duckdb')

describe('billwatch pcap on the committed sample capture of the NTP pool server incident', () => {
  let report: PcapReport
  beforeAll(async () => {
    const result = await runCli([
      'pcap',
      SAMPLE,
      '--control',
      CONTROL,
      '--price-per-gb',
      '0.12',
      '--block-threshold',
      '100',
      '--json',
      '--db',
      db,
    ])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    report = result.json<PcapReport>()
  })

  it('prints the keys the issue requires, with wire, captured and billable bytes kept apart', () => {
    expect(report.host).toEqual({address: '10.206.10.174', detected: true})
    expect(report.packets).toBeGreaterThan(3000)
    // pcap file size = 24 + Σ(16 + caplen); frames are 90 bytes, IP packets 76.
    expect(report.fileBytes).toBe(24 + 16 * report.packets + report.capturedBytes)
    expect(report.ntp.outbound.bytes).toBe(90 * report.ntp.responses)
    expect(report.ntp.outbound.billableBytes).toBe(76 * report.ntp.responses)
    expect(report.outbound.packets).toBeGreaterThan(0)
    const ntp = report.byPort[0]!
    expect([ntp.protocol, ntp.port]).toEqual(['udp', 123])
    expect(ntp.share).toBeGreaterThan(0.994)
    expect(ntp.share).toBeLessThan(0.998)
    expect(ntp.bytes / report.outbound.bytes).toBeCloseTo(ntp.share, 10)
  })

  it('ranks the greedy Puerto Rico client first, at several queries per second, still asking after KoDs', () => {
    const [first, second] = report.ntp.topTalkers
    expect(first).toMatchObject({address: '162.220.96.14', requests: 720, sourcePorts: 1, versions: [4], modes: [3]})
    expect(first!.qps).toBeCloseTo(720 / report.durationSec, 6)
    expect(first!.kods).toBeGreaterThan(0)
    expect(first!.requestsAfterKod).toBeGreaterThan(first!.kods)
    expect(second!.address).toBe('70.45.91.171')
    expect(report.ntp.kissCodes).toEqual({RATE: first!.kods})
  })

  it('builds the blocking economics table: cuts fall and remaining cost rises with the threshold', () => {
    const rows = report.ntp.thresholds
    expect(rows[0]).toMatchObject({bandwidthCutShare: 1, minQueries: 1})
    expect(rows.at(-1)).toMatchObject({bandwidthCutShare: 0, blockedClients: 0})
    expect(rows.map((r) => r.minQueries)).toContain(100)
    for (let i = 1; i < rows.length; i++) {
      expect(rows[i]!.minQueries).toBeGreaterThan(rows[i - 1]!.minQueries)
      expect(rows[i]!.bandwidthCutShare).toBeLessThanOrEqual(rows[i - 1]!.bandwidthCutShare)
      expect(rows[i]!.annualCost!).toBeGreaterThanOrEqual(rows[i - 1]!.annualCost!)
    }
    // Blocking nobody leaves all NTP egress, priced flat at the given $0.12/GB.
    const all = costOfRate(report.ntp.outbound.billableBytes / report.durationSec, flatPricing(0.12)).yearlyUsd
    expect(rows.at(-1)!.annualCost).toBeCloseTo(all, 2)
    for (const target of [0.25, 0.5, 0.75])
      expect(rows.some((r) => r.bandwidthCutShare >= target && r.bandwidthCutShare < target + 0.3)).toBe(true)
  })

  it('wires in the behaviour findings and the rate-limiter replay', () => {
    expect(report.ntp.suspectedNat?.map((n) => n.address)).toContain('70.45.88.20')
    expect(report.ntp.suspectedNat?.find((n) => n.address === '70.45.88.20')!.estimatedHosts).toBeGreaterThanOrEqual(10)
    expect(report.ntp.suspectedNat?.map((n) => n.address)).not.toContain('162.220.96.14')
    const fleet = report.ntp.fleets?.find((f) => f.start.startsWith('2014-06-08T19:45'))
    expect(fleet?.clients).toBeGreaterThan(100)
    expect(report.ntp.violations?.map((v) => v.rule)).toContain('ignores-kod')
    expect(report.ntp.rateLimiting?.requests).toBe(report.ntp.requests)
    expect(report.ntp.rateLimiting?.results.length).toBeGreaterThan(0)
  })

  it('compares with the control server, normalised to the same duration', () => {
    const control = report.control!
    expect(control.host).toBe('24.23.190.188')
    expect(control.uniqueClients).toBe(200)
    expect(control.uniqueClientsNormalised).toBeCloseTo((200 * report.durationSec) / control.durationSec, 6)
    expect(control.ratios.bytesPerSec).toBeCloseTo(
      report.ntp.outbound.bytes / report.durationSec / control.ntpBytesPerSec,
      6,
    )
    expect(control.ratios.uniqueClients).toBeCloseTo(report.ntp.answeredClients / 200, 6)
  })

  it('saves the report as evidence for probe and explain', async () => {
    const store = await Store.open(db, {mustExist: true})
    try {
      const evidence = await store.latestEvidence<PcapReport>('pcap')
      expect(evidence?.subject).toBe(SAMPLE)
      expect(evidence?.data.packets).toBe(report.packets)
      expect(evidence?.data.ntp.topTalkers[0]!.address).toBe('162.220.96.14')
    } finally {
      await store.close()
    }
  })
})

describe('billwatch pcap: human output and errors', () => {
  it('prints tables for people', async () => {
    const result = await runCli(['pcap', SAMPLE, '--top', '3', '--no-replay', '--db', db])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/host 10\.206\.10\.174 \(auto: the busiest address\)/)
    expect(result.stdout).toMatch(/udp\s+123\s+[\d,]+\s+[\d,]+\s+99\.\d%/)
    expect(result.stdout).toMatch(/162\.220\.96\.14\s+720\s+3\.00/)
    expect(result.stdout).toContain('likely NAT/CGNAT gateways')
    // One client: singular (the sample's 162.220.96.14 ignores its KoDs).
    expect(result.stdout).toContain('  ignores-kod: 1 client, 720 requests —')
    expect(result.stdout).toMatch(
      /^NTP \(port 123\): 1,928 requests, 1,925 replies \(99\.\d% of outbound bytes\), 3 unanswered, 67 KoDs \(RATE 67\)$/m,
    )
    expect(result.stdout).not.toContain('rate limiting replayed')
  })

  it('rejects a file that is not a capture with one line naming it, and nothing saved', async () => {
    const bad = join(dir, 'usage.csv')
    writeFileSync(bad, 'Service, Operation, UsageType, Resource, StartTime, EndTime, UsageValue\n')
    const result = await runCli(['pcap', bad, '--json', '--db', join(dir, 'bad.duckdb')])
    expect(result.code).toBe(1)
    expect(result.json().error).toMatchObject({code: 'E_PCAP', file: bad})
    expect(result.stderr.trim().split('\n')[0]).toMatch(/usage\.csv: not a readable capture: unknown magic number/)
    expect(existsSync(join(dir, 'bad.duckdb'))).toBe(false)
  })

  it('says in words why a capture cannot be opened: no such file, a directory', async () => {
    const missing = await runCli(['pcap', join(dir, 'nope.pcap'), '--json', '--db', db])
    expect([missing.code, missing.json().error.code]).toEqual([1, 'E_NOT_FOUND'])
    expect(missing.stderr.trim()).toBe(
      `billwatch: ${join(dir, 'nope.pcap')}: no such file, expected a pcap or pcapng file`,
    )
    // A folder is a capture set (issue 26): one that holds no capture is refused in one line.
    const directory = await runCli(['pcap', dir, '--db', db])
    expect([directory.code, directory.stderr.trim()]).toEqual([
      1,
      `billwatch: ${dir}: a folder with no pcap or pcapng file in it, expected a capture file, a folder of them or a glob`,
    ])
  })

  it('replays the limiter settings given with --limiter, in order, and refuses a bad one in one line', async () => {
    const run = await runCli([
      'pcap',
      SAMPLE,
      '--limiter',
      'chrony interval 1 burst 16 leak 2',
      '--limiter',
      'ntpsec average 2 burst 40',
      '--json',
      '--db',
      db,
    ])
    expect(run.code).toBe(0)
    const replay = run.json<PcapReport>().ntp.rateLimiting!
    expect(replay.results.map((r) => r.setting)).toEqual([
      'chrony: ratelimit interval 1 burst 16 leak 2',
      'ntpsec: restrict default limited kod; limit average 2 burst 40 kod 0.5',
    ])
    // chrony at one answer per 2 s with a 16-deep bucket still holds back the 3 q/s talker.
    expect(replay.results[0]!.dropped).toBeGreaterThan(0)
    for (const r of replay.results)
      expect(r.answered + r.kods + r.dropped + replay.baseline.unanswered).toBe(replay.requests)
    const bad = await runCli(['pcap', SAMPLE, '--limiter', 'chrony burst 0', '--json', '--db', db])
    expect(bad.code).toBe(2)
    expect(bad.json().error).toMatchObject({code: 'E_USAGE', expected: '1..255', field: '--limiter', got: '0'})
    const clash = await runCli(['pcap', SAMPLE, '--limiter', 'ntpd kod', '--no-replay', '--db', db])
    expect([clash.code, clash.stderr.trim()]).toEqual([
      2,
      'billwatch: --limiter: replays a setting; it cannot go with --no-replay',
    ])
  })

  it('says so when --limiter has nothing to replay: a capture without NTP', async () => {
    const dns = join(dir, 'dns.pcap')
    const writer = new CaptureWriter(dns)
    for (let i = 0; i < 20; i++) {
      writer.packet(
        1_396_000_000 + i,
        linkFrame(LINKTYPE.ethernet, udpPacket('192.0.2.10', '10.0.0.53', 40_000 + i, 53, new Uint8Array(30))),
      )
      writer.packet(
        1_396_000_000 + i + 0.01,
        linkFrame(LINKTYPE.ethernet, udpPacket('10.0.0.53', '192.0.2.10', 53, 40_000 + i, new Uint8Array(90))),
      )
    }
    writer.close()
    const run = await runCli(['pcap', dns, '--host', '10.0.0.53', '--limiter', 'chrony', '--db', db])
    expect(run.code).toBe(0)
    expect(run.stderr.trim()).toBe(
      '--limiter: nothing to replay: the capture holds no NTP requests to the host over a measurable span',
    )
  })

  it('says which address to use when --host is not in the capture, and rejects a bad price', async () => {
    const missing = await runCli(['pcap', SAMPLE, '--host', '192.0.2.99', '--json', '--db', db])
    expect(missing.code).toBe(1)
    expect(missing.json().error).toMatchObject({
      code: 'E_NO_DATA',
      field: '--host',
      suggestions: ['--host 10.206.10.174 (the busiest address) or --host auto'],
    })
    const price = await runCli(['pcap', SAMPLE, '--price-per-gb', 'cheap', '--db', db])
    expect(price.code).toBe(2)
    expect(price.stderr.split('\n')[0]).toBe(
      'billwatch: --price-per-gb: expected a non-negative number of USD per GB, got "cheap"',
    )
  })
})
