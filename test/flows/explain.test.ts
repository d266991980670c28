import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {analyseAnomalies} from '../../src/anomalies/index.js'
import {gatherEvidence} from '../../src/explain/evidence.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {Store} from '../../src/store/index.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'

const tmp = tempDir('billwatch-flow-explain-')
afterAll(() => tmp.cleanup())
const USAGE = join(SAMPLES, 'billing', 'usage-report-ec2-2013-06-01_2014-06-01.csv')
const HEADER =
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status'

/** A default-format flow log of one interface: `bytesOn(day)` of egress from `port` each day. */
function flowLog(name: string, days: string[], port: number, proto: number, bytesOn: (day: string) => number): string {
  const lines = [HEADER]
  for (const day of days) {
    const end = Date.parse(`${day}T12:00:00Z`) / 1000
    const bytes = bytesOn(day)
    lines.push(
      `2 123456789012 eni-0feedfacecafe0001 10.0.0.8 198.51.100.20 ${port} 40000 ${proto} ${Math.max(1, Math.round(bytes / 100))} ${bytes} ${end - 60} ${end} ACCEPT OK`,
    )
  }
  const path = join(tmp.dir, name)
  writeFileSync(path, `${lines.join('\n')}\n`)
  return path
}

function daysBetween(from: string, to: string): string[] {
  const out: string[] = []
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000)
    out.push(new Date(t).toISOString().slice(0, 10))
  return out
}

async function evidenceWith(name: string, flowFile: string) {
  const store = await Store.open(join(tmp.dir, `${name}.duckdb`))
  try {
    await ingestFiles(store, [USAGE, flowFile])
    return await gatherEvidence(store, {pricePerGb: 0.12})
  } finally {
    await store.close()
  }
}

describe('explain with flow records and no capture', () => {
  it("names UDP/123 as the step's port on the sample store, citing the flow logs", async () => {
    const db = join(tmp.dir, 'sample.duckdb')
    const ingest = await runCli(['ingest', USAGE, join(SAMPLES, 'flows'), '--db', db, '--json'])
    expect(ingest.code).toBe(0)
    expect(ingest.json().flows.length).toBe(14)
    const explained = await runCli(['explain', '--db', db, '--json'], {timeoutMs: 180_000})
    expect(explained.code).toBe(0)
    const result = explained.json()
    expect(result.capture).toBeNull()
    expect(result.flows.best).toMatchObject({
      interface: 'eni-0a1b2c3d4e5f60718',
      matches: true,
      port: 123,
      protocol: 'udp',
      stepDate: '2014-03-30',
    })
    expect(result.flows.best.shareOfStep).toBeGreaterThan(0.8)
    const claim = result.narrative
      .flatMap((s: {claims: {text: string; source: string}[]}) => s.claims)
      .find((c: {text: string}) => c.text.includes('UDP/123'))
    expect(claim.text).toMatch(
      /^VPC Flow Logs of eni-0a1b2c3d4e5f60718 show UDP\/123 egress going from ~0 to .* a day on 2014-03-30: \d+% of the step\.$/,
    )
    expect(claim.source).toMatch(/VPC Flow Logs, 14 files, 2014-03-23 to 2014-04-05/)
    // The flow records are NTP evidence: the NTP remedies rest on them when there is no capture.
    expect(result.remediation.ntpEvidence.join(' ')).toMatch(/VPC Flow Logs of eni-0a1b2c3d4e5f60718 show UDP\/123/)
    const text = await runCli(['explain', '--db', db], {timeoutMs: 180_000})
    expect(text.stdout).toContain('WHAT THE FLOW RECORDS SHOW')
  }, 300_000)

  it("anomalies finds the step in the flow series flow:udp/123 on the bill's day", async () => {
    const store = await Store.open(join(tmp.dir, 'series.duckdb'))
    try {
      await ingestFiles(store, [join(SAMPLES, 'flows')])
      const result = await analyseAnomalies(store, {usageType: 'flow:udp/123'})
      expect(result.firstDay).toBe('2014-03-23')
      expect(result.days).toBe(14)
      expect(result.steps.map((s) => s.date)).toContain('2014-03-30')
      expect(result.steps.every((s) => s.direction === 'up')).toBe(true)
    } finally {
      await store.close()
    }
  })

  it('says plainly when the flow records cover the step but show no step', async () => {
    const steady = flowLog('steady.log', daysBetween('2014-03-20', '2014-04-09'), 22, 6, () => 4_000_000)
    const evidence = await evidenceWith('steady', steady)
    expect(evidence.flows?.best?.matches).toBe(false)
    expect(evidence.flows?.summary).toMatch(/show no step on 2014-03-30/)
    expect(evidence.flows?.summary).toMatch(/not in this interface's logged traffic/)
  })

  it("a flow step on another day is not the bill's step", async () => {
    const late = flowLog('late.log', daysBetween('2014-03-20', '2014-04-09'), 123, 17, (day) =>
      day >= '2014-04-04' ? 9e9 : 1e3,
    )
    const evidence = await evidenceWith('late', late)
    expect(evidence.flows?.best?.stepDate).toBe('2014-04-04')
    expect(evidence.flows?.best?.matches).toBe(false)
  })

  it("flow records that do not reach the step's days neither confirm nor refute it", async () => {
    const old = flowLog('old.log', daysBetween('2013-10-01', '2013-10-10'), 123, 17, () => 5e6)
    const evidence = await evidenceWith('old', old)
    expect(evidence.flows?.best).toBeNull()
    expect(evidence.flows?.summary).toMatch(/neither confirm nor refute/)
  })
})
