import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {analyseCapture, analyseCaptureParallel} from '../../src/pcap/analyse.js'
import {findPcapRecordBoundary} from '../../src/pcap/reader.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'

const SAMPLE = join(SAMPLES, 'ntp-server.pcap')

describe('a capture read in two halves side by side', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('finds the record boundary a walk from the start reaches, without reading up to it', () => {
    const bytes = readFileSync(SAMPLE)
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (const near of [100_000, 200_000, 300_000]) {
      let at = 24
      while (at < near) at += 16 + view.getUint32(at + 8, true)
      expect(findPcapRecordBoundary(SAMPLE, near)).toBe(at)
    }
  })

  it('gives the one-pass result count for count, in process and through the CLI', async () => {
    const previous = process.env.BILLWATCH_PCAP_SPLIT_BYTES
    process.env.BILLWATCH_PCAP_SPLIT_BYTES = '0'
    try {
      const split = await analyseCaptureParallel(SAMPLE, {host: 'auto'})
      const whole = analyseCapture(SAMPLE, {host: 'auto'})
      expect(split).toEqual(whole)
    } finally {
      if (previous === undefined) delete process.env.BILLWATCH_PCAP_SPLIT_BYTES
      else process.env.BILLWATCH_PCAP_SPLIT_BYTES = previous
    }
    const halves = await runCli(['pcap', SAMPLE, '--json', '--db', join(tmp.dir, 'a.duckdb')], {env: {BILLWATCH_PCAP_SPLIT_BYTES: '0'}})
    const once = await runCli(['pcap', SAMPLE, '--json', '--db', join(tmp.dir, 'b.duckdb')], {env: {BILLWATCH_PCAP_SPLIT_BYTES: '1e15'}})
    expect(halves.code).toBe(0)
    expect(halves.stdout).toBe(once.stdout)
  })
})
