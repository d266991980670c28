import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import fc from 'fast-check'
import {afterAll, describe, expect, it} from 'vitest'

import {analyseCapture} from '../../src/pcap/analyse.js'
import {LINKTYPE} from '../../src/pcap/decode.js'
import {capturePackets} from '../../src/pcap/reader.js'
import {buildReport} from '../../src/pcap/report.js'
import {CaptureWriter, type InterfaceSpec} from '../../src/pcap/writer.js'
import {ROOT, tempDir} from '../helpers/cli.js'

// Issue 20 item 2: one bad timestamp must not make a capture cost time and memory in proportion to
// its span. The sample (a busy NTP server's 4 minutes) is rewritten with its first and last packets
// moved to hostile times; everything the report builds must follow the packets, not the span.
const SAMPLE = join(ROOT, 'samples/captures/ntp-server.pcap')
const {dir, cleanup} = tempDir('billwatch-pcap-time-bounds-')
afterAll(cleanup)

const packets = [...capturePackets(SAMPLE)].map((p) => ({
  frame: Uint8Array.from(p.frame),
  origlen: p.origlen,
  timeSec: p.timeSec,
}))

let fileNumber = 0
function rewrite(
  times: (index: number, time: number) => number,
  format: 'pcap' | 'pcapng' = 'pcap',
  iface?: InterfaceSpec,
): string {
  const path = join(dir, `capture-${fileNumber++}.${format}`)
  const writer = new CaptureWriter(path, {format, interfaces: iface && [iface], linkType: LINKTYPE.ethernet})
  packets.forEach((p, i) => writer.packet(times(i, p.timeSec), p.frame, {origlen: p.origlen}))
  writer.close()
  return path
}

/** The whole report, timed: before the fix the first case took 21 s and 1.7 GB. */
function reportOf(path: string) {
  const started = performance.now()
  const report = buildReport(analyseCapture(path))
  JSON.stringify(report)
  return {report, ms: performance.now() - started}
}

describe('capture time bounds follow the packets, not the span', () => {
  it('a pcap with packets at 0 and 2^32−1 s reads like the capture it is, in bounded time', () => {
    const last = packets.length - 1
    const {report, ms} = reportOf(rewrite((i, t) => (i === 0 ? 0 : i === last ? 2 ** 32 - 1 : t)))
    const plain = buildReport(analyseCapture(SAMPLE))
    expect(report.packets).toBe(plain.packets)
    expect(report.ntp.requests).toBe(plain.ntp.requests)
    expect(report.start).toBe('1970-01-01T00:00:00.000Z')
    expect(report.end).toBe('2106-02-07T06:28:15.000Z')
    expect(report.durationSec).toBe(2 ** 32 - 1)
    expect(ms).toBeLessThan(10_000)
  })

  it.each([1e10, 1e11, 1e15])('a pcapng with one packet at %d s', (far) => {
    const {report, ms} = reportOf(rewrite((i, t) => (i === 7 ? far : t), 'pcapng'))
    expect(report.packets).toBe(packets.length)
    expect(ms).toBeLessThan(10_000)
  })

  it.each<[string, InterfaceSpec]>([
    ['if_tsoffset 2^62', {linkType: LINKTYPE.ethernet, tsoffset: 2 ** 62}],
    ['if_tsoffset −2^62', {linkType: LINKTYPE.ethernet, tsoffset: -(2 ** 62)}],
    ['if_tsresol 2^-127', {linkType: LINKTYPE.ethernet, tsresol: 0xff}],
    ['if_tsresol 10^-127', {linkType: LINKTYPE.ethernet, tsresol: 0x7f}],
    ['if_tsresol 10^0', {linkType: LINKTYPE.ethernet, tsresol: 0}],
  ])('pcapng %s: no RangeError, times a date cannot hold are null', (_name, iface) => {
    // Written with µs units and offset 0, then the interface option patched: the stored units stay, their meaning
    // changes.
    const path = rewrite((_i, t) => t, 'pcapng', {linkType: LINKTYPE.ethernet, tsoffset: 0, tsresol: 6})
    const bytes = readFileSync(path)
    const tsresol = bytes.indexOf(Buffer.from([9, 0, 1, 0]))
    const tsoffset = bytes.indexOf(Buffer.from([14, 0, 8, 0]))
    if (iface.tsresol !== undefined) bytes[tsresol + 4] = iface.tsresol
    if (iface.tsoffset !== undefined) bytes.writeBigInt64LE(BigInt(iface.tsoffset), tsoffset + 4)
    writeFileSync(path, bytes)
    const {report, ms} = reportOf(path)
    expect(report.packets).toBe(packets.length)
    for (const time of [report.start, report.end]) if (time !== null) expect(Number.isNaN(Date.parse(time))).toBe(false)
    expect(ms).toBeLessThan(10_000)
  })

  it('any 32-bit timestamps on a few packets give a report (property)', () => {
    const few = packets.slice(0, 40)
    fc.assert(
      fc.property(
        fc.array(fc.integer({max: 2 ** 32 - 1, min: 0}), {maxLength: few.length, minLength: few.length}),
        (times) => {
          const path = join(dir, `property-${fileNumber++}.pcap`)
          const writer = new CaptureWriter(path)
          few.forEach((p, i) => writer.packet(times[i]!, p.frame, {origlen: p.origlen}))
          writer.close()
          const report = buildReport(analyseCapture(path))
          expect(report.packets).toBe(few.length)
        },
      ),
      {numRuns: 40},
    )
  })
})
