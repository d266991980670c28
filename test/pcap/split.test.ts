import {readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {analyseCapture, analyseCaptureParallel} from '../../src/pcap/analyse.js'
import {LINKTYPE} from '../../src/pcap/decode.js'
import {findPcapRecordBoundary} from '../../src/pcap/reader.js'
import {CaptureWriter, linkFrame, udpPacket} from '../../src/pcap/writer.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'

const SAMPLE = join(SAMPLES, 'captures', 'ntp-server.pcap')

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

  it('gives the one-pass result count for count, in process and through the CLI (with the replays in a worker too)', async () => {
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
    // Both threads at work (split scan, replays in a worker) against one thread doing everything.
    const parallel = {BILLWATCH_PCAP_SPLIT_BYTES: '0', BILLWATCH_REPLAY_WORKER_MIN: '0'}
    const serial = {BILLWATCH_PCAP_SPLIT_BYTES: '1e15', BILLWATCH_REPLAY_WORKER_MIN: '1e15'}
    const halves = await runCli(['pcap', SAMPLE, '--json', '--db', join(tmp.dir, 'a.duckdb')], {env: parallel})
    const once = await runCli(['pcap', SAMPLE, '--json', '--db', join(tmp.dir, 'b.duckdb')], {env: serial})
    expect(halves.code).toBe(0)
    expect(halves.stdout).toBe(once.stdout)
  })
})

describe('a capture whose address table starts at an odd size', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('still counts the client whose id slot is the first past the initial table', () => {
    // The scan sizes its per-address records from the file size: ceil(bytes / 200) / 8 of them. A
    // file of 6,601,000 bytes gives 4,125, so the 4,126th address is the first past the initial
    // records (under an earlier layout of 2 slots per address its client was dropped).
    const path = join(tmp.dir, 'odd.pcap')
    const writer = new CaptureWriter(path)
    const server = '10.206.10.174'
    const request = new Uint8Array(48)
    request[0] = 0x23
    const reply = new Uint8Array(48)
    reply[0] = 0x24
    reply[1] = 2
    let t = 1_396_000_000
    // File size: 24-byte header, then 16 + frame bytes per record (Ethernet + IPv4 + UDP = 42 + payload).
    let bytes = 24
    const write = (src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array) => {
      writer.packet((t += 0.001), linkFrame(LINKTYPE.ethernet, udpPacket(src, dst, srcPort, dstPort, payload)))
      bytes += 16 + 42 + payload.length
    }
    for (let i = 0; i < 5000; i++) {
      const client = `198.51.${(i >> 8) & 0xff}.${i & 0xff}`
      write(client, server, 40_000, 123, request)
      write(server, client, 123, 40_000, reply)
    }
    // Pad with one bulky flow to the size that makes the table odd.
    const padding = new Uint8Array(1400)
    while (bytes + 2 * (16 + 42 + 1400) <= 6_601_000) write(server, '192.0.2.1', 53, 5353, padding)
    write(server, '192.0.2.1', 53, 5353, new Uint8Array(6_601_000 - bytes - 16 - 42))
    writer.close()
    expect(statSync(path).size).toBe(6_601_000)
    const analysis = analyseCapture(path, {host: server})
    expect(analysis.ntp.requestingClients).toBe(5000)
    expect(analysis.ntp.answeredClients).toBe(5000)
  })
})
