import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import fc from 'fast-check'
import {afterAll, describe, expect, it} from 'vitest'

import {isBillwatchError} from '../../src/errors.js'
import {encodeClientRequest} from '../../src/ntp/packet.js'
import {formatAddressWords, parseAddressWords} from '../../src/pcap/addresses.js'
import {analyseCapture} from '../../src/pcap/analyse.js'
import {LINKTYPE} from '../../src/pcap/decode.js'
import {CaptureWriter, linkFrame, udpPacket} from '../../src/pcap/writer.js'
import {tempDir} from '../helpers/cli.js'

const {dir, cleanup} = tempDir('billwatch-pcap-malformed-')
afterAll(cleanup)

let fileNumber = 0
/** Analyses `bytes` as a file: it must return, or throw a BillwatchError — nothing else, and fast. */
function survives(bytes: Uint8Array): void {
  const path = join(dir, `case-${fileNumber++}.bin`)
  writeFileSync(path, bytes)
  const started = performance.now()
  try {
    const analysis = analyseCapture(path)
    expect(analysis.packets).toBeGreaterThanOrEqual(0)
    expect(analysis.capturedBytes).toBeLessThanOrEqual(bytes.length)
  } catch (error) {
    if (!isBillwatchError(error)) throw error
    expect(['E_PCAP', 'E_EMPTY']).toContain(error.code)
    expect(error.message).toContain(path)
    expect(error.message).not.toContain('\n')
  }
  expect(performance.now() - started).toBeLessThan(2000)
}

function validCapture(format: 'pcap' | 'pcapng', bigEndian: boolean): Buffer {
  const writer = new CaptureWriter(undefined, {bigEndian, format})
  for (let i = 0; i < 4; i++) {
    writer.packet(
      1_402_256_000 + i,
      linkFrame(
        LINKTYPE.ethernet,
        udpPacket('203.0.113.5', '10.206.10.174', 40_000, 123, encodeClientRequest({fraction: i, seconds: i})),
      ),
    )
  }
  return writer.bytes()
}

const formats = fc.constantFrom(['pcap', false], ['pcap', true], ['pcapng', false], ['pcapng', true]) as fc.Arbitrary<
  ['pcap' | 'pcapng', boolean]
>

describe('malformed captures never crash or hang', () => {
  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({maxLength: 600}), (bytes) => survives(bytes)),
      {numRuns: 150},
    )
  })

  it('a valid magic followed by random bytes', () => {
    const magics = [
      [0xd4, 0xc3, 0xb2, 0xa1],
      [0xa1, 0xb2, 0xc3, 0xd4],
      [0x4d, 0x3c, 0xb2, 0xa1],
      [0x0a, 0x0d, 0x0d, 0x0a],
    ]
    fc.assert(
      fc.property(fc.constantFrom(...magics), fc.uint8Array({maxLength: 600}), (magic, rest) =>
        survives(Uint8Array.from([...magic, ...rest])),
      ),
      {numRuns: 150},
    )
  })

  it('valid captures cut anywhere', () => {
    fc.assert(
      fc.property(formats, fc.nat(), ([format, bigEndian], cut) => {
        const bytes = validCapture(format, bigEndian)
        survives(bytes.subarray(0, cut % (bytes.length + 1)))
      }),
      {numRuns: 150},
    )
  })

  it('valid captures with bytes overwritten, including absurd lengths', () => {
    const absurd = fc.constantFrom(0xffff_ffff, 0x7fff_ffff, 0x8000_0000, 0, 1, 11, 13, 0x0400_0001)
    fc.assert(
      fc.property(formats, fc.nat(), absurd, fc.boolean(), ([format, bigEndian], at, value, littleEndian) => {
        const bytes = Buffer.from(validCapture(format, bigEndian))
        const offset = (at % Math.max(1, bytes.length - 4)) & ~3
        if (littleEndian) bytes.writeUInt32LE(value >>> 0, offset)
        else bytes.writeUInt32BE(value >>> 0, offset)
        survives(bytes)
      }),
      {numRuns: 200},
    )
  })

  it('names the file and the expected formats when the magic is unknown', () => {
    const path = join(dir, 'not-a-capture.csv')
    writeFileSync(path, 'Service, Operation, UsageType\n')
    expect(() => analyseCapture(path)).toThrowError(
      /not-a-capture\.csv: not a readable capture: unknown magic number 0x76726553.*expected a pcap/,
    )
  })

  it('says a cut record in the middle of a pcap names an absurd length', () => {
    const bytes = Buffer.from(validCapture('pcap', false))
    bytes.writeUInt32LE(0xffff_ffff, 24 + 16 + 90 + 8)
    const path = join(dir, 'absurd.pcap')
    writeFileSync(path, bytes)
    expect(() => analyseCapture(path)).toThrowError(
      /absurd\.pcap: damaged capture at byte 130: record 2 claims 4294967295 captured bytes/,
    )
  })
})

describe('address text', () => {
  it('round-trips any address through parse and RFC 5952 text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const words = parseAddressWords(text)
        const formatted = formatAddressWords(...words)
        expect(parseAddressWords(formatted)).toEqual(words)
      }),
      {numRuns: 300},
    )
  })

  it('writes the RFC 5952 examples', () => {
    expect(formatAddressWords(...parseAddressWords('2001:0db8:0000:0000:0000:0000:0002:0001'))).toBe('2001:db8::2:1')
    expect(formatAddressWords(...parseAddressWords('2001:db8:0:1:1:1:1:1'))).toBe('2001:db8:0:1:1:1:1:1')
    expect(formatAddressWords(...parseAddressWords('2001:0:0:1:0:0:0:1'))).toBe('2001:0:0:1::1')
    expect(formatAddressWords(...parseAddressWords('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1')
    expect(formatAddressWords(...parseAddressWords('::ffff:192.0.2.1'))).toBe('192.0.2.1')
  })
})
