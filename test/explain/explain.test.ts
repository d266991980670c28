import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {formatRatio, formatShare, formatUsd} from '../../src/cli/format.js'
import {makeEtcRepo} from '../correlate/repo.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'

const LEGACY = join(SAMPLES, 'billing', 'usage-report-ec2-2013-06-01_2014-06-01.csv')
const CAPTURE = join(SAMPLES, 'captures', 'ntp-server.pcap')

describe('billwatch explain on the samples', () => {
  const tmp = tempDir()
  const db = join(tmp.dir, 'store.duckdb')
  const repo = join(tmp.dir, 'etc')
  let anomalies: any
  let correlation: any
  let capture: any
  let explained: any
  let text: string

  beforeAll(async () => {
    makeEtcRepo(repo)
    expect((await runCli(['ingest', LEGACY, '--db', db])).code).toBe(0)
    anomalies = (await runCli(['anomalies', '--db', db, '--json'])).json()
    correlation = (await runCli(['correlate', '--repo', repo, '--date', '2014-03-30', '--json'])).json()
    capture = (await runCli(['pcap', CAPTURE, '--db', db, '--json'])).json()
    const json = await runCli(['explain', '--db', db, '--repo', repo, '--format', 'json'])
    expect(json.code).toBe(0)
    explained = json.json()
    const human = await runCli(['explain', '--db', db])
    expect(human.code).toBe(0)
    text = human.stdout
  })
  afterAll(() => tmp.cleanup())

  it('names the step day and its ratio exactly as anomalies prints them', () => {
    const step = anomalies.steps.find((s: any) => s.usageType === 'DataTransfer-Out')
    expect(step.date).toBe('2014-03-30')
    expect(explained.step).toEqual(step)
    expect(text).toContain(`went up ${formatRatio(step.ratio)} on 2014-03-30`)
  })

  it('names the NTP install commit correlate ranks first', () => {
    const top = correlation.steps[0].candidates[0]
    expect(top.subject).toBe('ntp installed')
    expect(explained.change.commit).toBe(top.commit)
    expect(explained.change.score).toBe(top.score)
    expect(text).toContain(`"ntp installed" (commit ${top.commit.slice(0, 10)})`)
  })

  it('gives the NTP share of outbound bytes that pcap printed (read back from the store)', () => {
    const ntp = capture.byPort.find((p: any) => p.protocol === 'udp' && p.port === 123)
    expect(explained.sources.capture).toBe('store')
    expect(explained.capture.byPort).toEqual(capture.byPort)
    expect(text).toContain(`UDP 123 (NTP) is ${formatShare(ntp.share)} of outbound bytes`)
  })

  it('states the yearly cost of the step with the same pricing as anomalies', () => {
    const step = anomalies.steps.find((s: any) => s.usageType === 'DataTransfer-Out')
    expect(explained.bill).toMatchObject({
      monthlyDeltaUsd: step.monthlyCostUsd,
      pricing: anomalies.pricing.label,
      yearlyDeltaUsd: step.yearlyCostUsd,
    })
    expect(text).toContain(`${formatUsd(step.yearlyCostUsd)} a year`)
  })

  it("finds inbound within 5% of outbound and rules out an amplification attack, as the incident's operator did", () => {
    expect(explained.symmetry.verdict).toBe('symmetric')
    expect(Math.abs(explained.symmetry.ratio - 1)).toBeLessThan(0.05)
    expect(text).toContain('rules out an amplification attack')
  })

  it('says the probe evidence is missing instead of inventing it', () => {
    expect(explained.probe).toBeNull()
    expect(explained.missing.map((m: any) => m.evidence)).toEqual(['probe'])
    expect(text).toContain('No probe evidence')
  })
})

describe('billwatch explain with other evidence', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('reads lopsided traffic as the opposite of the incident: outbound dwarfs inbound', async () => {
    const db = join(tmp.dir, 'amp.duckdb')
    const csv = join(tmp.dir, 'amp.csv')
    const rows = ['Service, Operation, UsageType, Resource, StartTime, EndTime, UsageValue']
    for (let d = 1; d <= 28; d++) {
      const day = `02/${String(d).padStart(2, '0')}/14 00:00:00`
      const next = d === 28 ? '03/01/14 00:00:00' : `02/${String(d + 1).padStart(2, '0')}/14 00:00:00`
      const out = d < 15 ? 3e6 + d * 1000 : 9e9 + d * 1e6
      rows.push(
        `AmazonEC2,RunInstances,DataTransfer-Out-Bytes,,${day},${next},${out}`,
        `AmazonEC2,RunInstances,DataTransfer-In-Bytes,,${day},${next},${Math.round(out / 40)}`,
      )
    }
    writeFileSync(csv, `${rows.join('\n')}\n`)
    expect((await runCli(['ingest', csv, '--db', db])).code).toBe(0)
    const result = await runCli(['explain', '--db', db, '--format', 'json'])
    expect(result.code).toBe(0)
    const evidence = result.json()
    expect(evidence.symmetry).toMatchObject({verdict: 'outbound-dominant'})
    expect(evidence.symmetry.ratio).toBeCloseTo(40, 0)
    expect(evidence.missing.map((m: any) => m.evidence).sort()).toEqual(['capture', 'change', 'probe'])
    const text = evidence.narrative.flatMap((s: any) => s.claims.map((c: any) => c.text)).join('\n')
    expect(text).toContain('amplification attack')
    expect(text).not.toContain('rules out')
  })

  it('refuses to explain an empty store location with a pointed error', async () => {
    const result = await runCli(['explain', '--db', join(tmp.dir, 'none.duckdb')])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('no store at')
  })
})
