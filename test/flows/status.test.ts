/**
 * `billwatch status` lists flow-record sources beside billing sources: kind, interface, days covered,
 * records, NODATA/SKIPDATA counts, bytes and sampling, and which days another delivery counts for.
 */
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {analyseCapture} from '../../src/pcap/analyse.js'
import {buildReport} from '../../src/pcap/report.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'

const tmp = tempDir('billwatch-flow-status-')
afterAll(() => tmp.cleanup())

const HEADER =
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status'
const ENI = 'eni-0fedcba9876543210'
const DAY = Date.UTC(2014, 4, 13) / 1000

/** Records over three days: traffic, NODATA and SKIPDATA windows, a rejected probe. */
function records(): string[] {
  const out: string[] = []
  for (let i = 0; i < 36; i++) {
    const end = DAY + i * 7200 + 600
    if (i % 9 === 4) out.push(`2 123456789012 ${ENI} - - - - - - - ${end - 600} ${end} - NODATA`)
    else if (i % 12 === 7) out.push(`2 123456789012 ${ENI} - - - - - - - ${end - 600} ${end} - SKIPDATA`)
    else if (i % 10 === 3)
      out.push(`2 123456789012 ${ENI} 198.51.100.9 10.1.2.3 40000 3389 6 1 40 ${end - 50} ${end} REJECT OK`)
    else
      out.push(
        `2 123456789012 ${ENI} 10.1.2.3 203.0.113.${(i % 5) + 1} 123 40000 17 2 ${152 + i} ${end - 50} ${end} ACCEPT OK`,
      )
  }
  return out
}

describe('billwatch status lists flow sources', () => {
  it('beside billing sources, with the figures of each file (json and human), and a second delivery of the same records marked', async () => {
    const db = join(tmp.dir, 'store.duckdb')
    const lines = records()
    const s3 = join(tmp.dir, 'eni.log')
    writeFileSync(s3, `${HEADER}\n${lines.join('\n')}\n`)
    // The same records as a CloudWatch Logs export, half of them: every day it has, the S3 file has too.
    const export_ = join(tmp.dir, 'export.jsonl')
    writeFileSync(
      export_,
      `${lines
        .slice(0, 18)
        .map((message) => JSON.stringify({message, timestamp: 1}))
        .join('\n')}\n`,
    )
    const sample = join(SAMPLES, 'captures', 'ntp-server.vpcflow.log')
    const billing = join(SAMPLES, 'billing')
    const ingested = await runCli(['ingest', billing, sample, s3, export_, '--db', db, '--json'])
    expect(ingested.code).toBe(0)

    const status = (await runCli(['status', '--db', db, '--json'])).json()
    expect(status.sources.length).toBeGreaterThan(0)
    const byPath = new Map<string, any>(status.flowSources.map((f: any) => [f.path, f]))
    expect([...byPath.keys()].sort()).toEqual([export_, s3, sample].sort())

    const mine = byPath.get(s3)
    const accepted = lines.filter((l) => l.endsWith('ACCEPT OK'))
    expect(mine).toMatchObject({
      days: 3,
      duplicateDays: 0,
      firstDay: '2014-05-13',
      interfaces: [ENI],
      kind: 'vpc-text',
      lastDay: '2014-05-15',
      nodataRecords: lines.filter((l) => l.endsWith('NODATA')).length,
      records: lines.length,
      rejectedRecords: lines.filter((l) => l.includes('REJECT')).length,
      sampling: null,
      skipdataRecords: lines.filter((l) => l.endsWith('SKIPDATA')).length,
    })
    expect(mine.nodataRecords).toBeGreaterThan(0)
    expect(mine.skipdataRecords).toBeGreaterThan(0)
    expect(mine.egressBytes).toBe(accepted.reduce((sum, l) => sum + Number(l.split(' ')[9]), 0))
    expect(mine.fileBytes).toBe(readFileSync(s3).length)

    const other = byPath.get(export_)
    expect(other).toMatchObject({duplicateDays: 2, kind: 'vpc-cloudwatch', records: 18})

    const pcap = buildReport(analyseCapture(join(SAMPLES, 'captures', 'ntp-server.pcap')), {behaviour: false})
    expect(byPath.get(sample)).toMatchObject({
      duplicateDays: 0,
      egressBytes: pcap.outbound.billableBytes,
      interfaces: ['eni-0a1b2c3d4e5f60718'],
    })

    const human = await runCli(['status', '--db', db])
    expect(human.code).toBe(0)
    const flowLines = human.stdout.split('\n').filter((l) => l.includes(ENI))
    expect(flowLines).toHaveLength(2)
    expect(flowLines.find((l) => l.includes(s3))).toMatch(/vpc-text .*2014-05-13 .*2014-05-15 .* 3 .* 36 .* none /)
    expect(flowLines.find((l) => l.includes(export_))).toContain('2 counted from another delivery')
  }, 240_000)

  it('a store with flow records only is not called empty', async () => {
    const db = join(tmp.dir, 'flows-only.duckdb')
    expect((await runCli(['ingest', join(SAMPLES, 'captures', 'ntp-server.vpcflow.log'), '--db', db])).code).toBe(0)
    const human = await runCli(['status', '--db', db])
    expect(human.stdout).not.toContain('empty')
    expect(human.stdout).toContain('eni-0a1b2c3d4e5f60718')
  }, 120_000)
})
