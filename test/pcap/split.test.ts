import {readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import fc from 'fast-check'
import {afterAll, describe, expect, it} from 'vitest'

import {parseAddressWords} from '../../src/pcap/addresses.js'
import {analyseCapture, analyseCaptureParallel, scanPart} from '../../src/pcap/analyse.js'
import {LINKTYPE} from '../../src/pcap/decode.js'
import {CaptureReader, capturePackets, findRecordBoundary} from '../../src/pcap/reader.js'
import {CaptureWriter, linkFrame, udpPacket} from '../../src/pcap/writer.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'
import {withEnv} from '../helpers/env.js'
import {propertyRuns} from '../helpers/property.js'

const SAMPLE = join(SAMPLES, 'captures', 'ntp-server.pcap')

/**
 * Runs `fn` with every capture split in two (BILLWATCH_PCAP_SPLIT_BYTES=0), however small, and pcap
 * files too: the native scanner, which reads them in one pass, is turned off.
 */
function splittingAll<T>(fn: () => Promise<T>): Promise<T> {
  return withEnv({BILLWATCH_PCAP_NATIVE: '0', BILLWATCH_PCAP_SPLIT_BYTES: '0'}, fn)
}

describe('a capture read in two halves side by side', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('finds the record boundary a walk from the start reaches, without reading up to it', () => {
    const bytes = readFileSync(SAMPLE)
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (const near of [100_000, 200_000, 300_000]) {
      let at = 24
      while (at < near) at += 16 + view.getUint32(at + 8, true)
      expect(findRecordBoundary(SAMPLE, near)).toBe(at)
    }
  })

  it('gives the one-pass result count for count, in process and through the CLI (with the replays and fleets in a worker too)', async () => {
    const split = await splittingAll(() => analyseCaptureParallel(SAMPLE, {host: 'auto'}))
    expect(split).toEqual(analyseCapture(SAMPLE, {host: 'auto'}))
    // Both threads at work (split scan, replays in a worker) against one thread doing everything.
    const parallel = {BILLWATCH_PCAP_NATIVE: '0', BILLWATCH_PCAP_SPLIT_BYTES: '0', BILLWATCH_REPLAY_WORKER_MIN: '0'}
    const serial = {BILLWATCH_PCAP_SPLIT_BYTES: '1e15', BILLWATCH_REPLAY_WORKER_MIN: '1e15'}
    const halves = await runCli(['pcap', SAMPLE, '--json', '--db', join(tmp.dir, 'a.duckdb')], {env: parallel})
    const once = await runCli(['pcap', SAMPLE, '--json', '--db', join(tmp.dir, 'b.duckdb')], {env: serial})
    expect(halves.code).toBe(0)
    expect(halves.stdout).toBe(once.stdout)
    // The worker finds the sample's fleet too (the main thread leaves fleets to it).
    expect(JSON.parse(halves.stdout).ntp.fleets).toHaveLength(1)
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

describe('a pcapng read in two halves side by side', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  /**
   * The sample's packets as pcapng (dumpcap's and tshark's default format). `leading` writes blocks
   * before the first packet; `extra` writes more a quarter of the way in, and returns the interface id
   * the packets after it use.
   */
  function samplePcapng(
    name: string,
    extra?: (writer: CaptureWriter) => number,
    leading?: (writer: CaptureWriter) => void,
  ): string {
    const path = join(tmp.dir, name)
    const writer = new CaptureWriter(path, {format: 'pcapng', interfaces: [{linkType: LINKTYPE.ethernet, tsresol: 9}]})
    leading?.(writer)
    const total = statSync(SAMPLE).size
    let interfaceId: number | undefined
    for (const packet of capturePackets(SAMPLE)) {
      if (extra && interfaceId === undefined && packet.position > total / 4) interfaceId = extra(writer)
      writer.packet(packet.timeSec, packet.frame, {interfaceId: interfaceId ?? 0, origlen: packet.origlen})
    }
    writer.close()
    return path
  }

  /** Both ways in process: split at the middle (forced by BILLWATCH_PCAP_SPLIT_BYTES=0) and one pass. */
  async function splitAndWhole(path: string) {
    return {
      split: await splittingAll(() => analyseCaptureParallel(path, {host: 'auto'})),
      whole: analyseCapture(path, {host: 'auto'}),
    }
  }

  it('finds the block boundary a walk from the start reaches, past the section header and interface blocks', () => {
    const path = samplePcapng('sample.pcapng')
    const bytes = readFileSync(path)
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (const near of [100_000, 200_001, 300_002]) {
      let at = 0
      while (at < near || view.getUint32(at, true) !== 6) at += view.getUint32(at + 4, true)
      expect(findRecordBoundary(path, near)).toBe(at)
    }
  })

  it('never splits at the first packet: the leading blocks belong to the first half', async () => {
    // A 4 KB name-resolution block (type 4, just its end-of-records option) between the interface and the packets.
    const path = samplePcapng('leading-nrb.pcapng', undefined, (writer) => {
      const nrb = Buffer.alloc(4096)
      nrb.writeUInt32LE(4, 0)
      nrb.writeUInt32LE(4096, 4)
      nrb.writeUInt32LE(4096, 4092)
      writer.raw(nrb)
    })
    const reader = CaptureReader.open(path)
    const first = reader.firstRecordOffset
    reader.close()
    expect(first).toBeGreaterThan(4096)
    expect(findRecordBoundary(path, first + 2)).toBeGreaterThan(first)
    expect(findRecordBoundary(path, 30)).toBeGreaterThan(first)
  })

  it('gives the one-pass result count for count, and the same counts as the pcap it was written from', async () => {
    const path = samplePcapng('sample.pcapng')
    const {split, whole} = await splitAndWhole(path)
    expect(split).toEqual(whole)
    // The second half alone, as the worker reads it: its own share of the requests, not a fallback.
    const size = statSync(path).size
    const from = findRecordBoundary(path, Math.floor(size / 2))!
    const secondHalf = scanPart({from, host: parseAddressWords('10.206.10.174'), ntpPort: 123, path, to: size})
    expect(secondHalf.requestCount).toBeGreaterThan(whole.ntp.requests / 4)
    expect(secondHalf.requestCount).toBeLessThan((whole.ntp.requests * 3) / 4)
    const pcap = analyseCapture(SAMPLE, {host: 'auto'})
    expect([
      split.format,
      split.packets,
      split.bytes,
      split.billableBytes,
      split.ntp.requests,
      split.ntp.answeredClients,
    ]).toEqual(['pcapng', pcap.packets, pcap.bytes, pcap.billableBytes, pcap.ntp.requests, pcap.ntp.answeredClients])
  })

  it('numbers a record cut at the end of the second half as one pass does, in pcap and pcapng', async () => {
    for (const [name, source] of [
      ['cut.pcap', SAMPLE],
      ['cut.pcapng', samplePcapng('whole.pcapng')],
    ] as const) {
      const bytes = readFileSync(source)
      const path = join(tmp.dir, name)
      writeFileSync(path, bytes.subarray(0, bytes.length - 37))
      const {split, whole} = await splitAndWhole(path)
      expect(whole.truncated?.record).toBeGreaterThan(1000)
      expect(split).toEqual(whole)
    }
  })

  it('names a damaged record in the second half as one pass does', async () => {
    const bytes = Buffer.from(readFileSync(SAMPLE))
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    let at = 24
    while (at < (bytes.length * 3) / 4) at += 16 + view.getUint32(at + 8, true)
    view.setUint32(at + 8, 10_000_000, true)
    const path = join(tmp.dir, 'damaged.pcap')
    writeFileSync(path, bytes)
    // An explicit host: picking one would read the small sample's damaged record before any split.
    const host = '10.206.10.174'
    const onePass = (() => {
      try {
        analyseCapture(path, {host})
      } catch (error) {
        return (error as Error).message
      }
      return 'no error'
    })()
    expect(onePass).toMatch(new RegExp(`damaged capture at byte ${at}: record \\d+ claims 10000000 captured bytes`))
    await splittingAll(() => expect(analyseCaptureParallel(path, {host})).rejects.toThrow(onePass))
  })

  it('agrees with one pass on captures with bytes overwritten anywhere past the header (property)', async () => {
    const sources = {pcap: readFileSync(SAMPLE), pcapng: readFileSync(samplePcapng('fuzz-source.pcapng'))}
    const outcome = async (run: () => Promise<unknown>) => {
      try {
        return {result: await run()}
      } catch (error) {
        return {error: (error as Error).message}
      }
    }
    // Both formats each run (15 cases each under BILLWATCH_TEST_DEEP=1, 5 by default: test/helpers/property.ts).
    for (const format of ['pcap', 'pcapng'] as const)
      await splittingAll(() =>
        fc.assert(
          fc.asyncProperty(
            fc.double({max: 1, min: 0.05, noNaN: true}),
            fc.uint8Array({maxLength: 12, minLength: 1}),
            async (where, junk) => {
              const bytes = Buffer.from(sources[format])
              bytes.set(junk, Math.floor(where * (bytes.length - junk.length)))
              const path = join(tmp.dir, `fuzz.${format}`)
              writeFileSync(path, bytes)
              const host = '10.206.10.174'
              const whole = await outcome(async () => analyseCapture(path, {host}))
              const split = await outcome(() => analyseCaptureParallel(path, {host}))
              expect(split).toEqual(whole)
            },
          ),
          {numRuns: propertyRuns(15, 5)},
        ),
      )
  }, 120_000)

  it('reads a new section in the second half with its own interfaces and link type', async () => {
    // From the middle on, a second section whose one interface is raw IP (link type 101).
    const path = join(tmp.dir, 'two-sections.pcapng')
    const writer = new CaptureWriter(path, {format: 'pcapng'})
    const half = statSync(SAMPLE).size / 2
    let raw = false
    for (const {frame, position, timeSec} of capturePackets(SAMPLE)) {
      if (!raw && position > half) {
        writer.section([{linkType: LINKTYPE.raw}])
        raw = true
      }
      // The sample is Ethernet: its IP packet starts after the 14-byte header.
      writer.packet(timeSec, raw ? frame.subarray(14) : frame)
    }
    writer.close()
    const {split, whole} = await splitAndWhole(path)
    expect(split).toEqual(whole)
    expect(split.linkTypes).toEqual([LINKTYPE.ethernet, LINKTYPE.raw])
  })

  it('notices an interface described after the first packets', () => {
    const path = samplePcapng('late-interface.pcapng', (writer) =>
      writer.addInterface({linkType: LINKTYPE.ethernet, tsresol: 6}),
    )
    const firstHalf = CaptureReader.open(path, {from: 0, to: findRecordBoundary(path, statSync(path).size / 2)!})
    try {
      while (firstHalf.next());
      expect(firstHalf.interfacesChangedAfterPackets).toBe(true)
    } finally {
      firstHalf.close()
    }
  })

  it('reads the file in one pass when a new section starts in the first half', async () => {
    // From a quarter in, a section whose interface counts microseconds where the leading one counts
    // nanoseconds: a second half read with the leading interfaces would put its packets in 1970.
    const path = samplePcapng('new-section.pcapng', (writer) => {
      writer.section([{linkType: LINKTYPE.ethernet, tsresol: 6}])
      return 0
    })
    const {split, whole} = await splitAndWhole(path)
    expect(whole.firstSec).toBeGreaterThan(1e9)
    expect(split).toEqual(whole)
  })
})
