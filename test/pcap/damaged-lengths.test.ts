/**
 * A record header whose original (wire) length is less than the bytes it captured — a damaged or
 * fuzzed capture, as in tcpdump's test captures (found by bench/corpus: the report said more bytes
 * were captured than were on the wire). A frame was at least as long as what was captured of it:
 * both scanners count it so, alike.
 */
import {join} from 'node:path'

import fc from 'fast-check'
import {afterAll, describe, expect, it} from 'vitest'

import {analyseCapture} from '../../src/pcap/analyse.js'
import {LINKTYPE} from '../../src/pcap/decode.js'
import {CaptureWriter, linkFrame, udpPacket} from '../../src/pcap/writer.js'
import {tempDir} from '../helpers/cli.js'
import {withEnv} from '../helpers/env.js'

const {dir, cleanup} = tempDir('billwatch-pcap-lengths-')
afterAll(cleanup)

const SERVER = '10.0.0.1'

describe('a record that claims fewer wire bytes than it captured', () => {
  let run = 0
  it('counts the frame as at least its captured bytes, native and JavaScript alike', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('pcap' as const, 'pcapng' as const),
        fc.array(fc.record({payload: fc.integer({max: 200, min: 0}), short: fc.integer({max: 60, min: 0})}), {
          maxLength: 20,
          minLength: 1,
        }),
        (format, packets) => {
          const path = join(dir, `damaged-${++run}.${format}`)
          const writer = new CaptureWriter(path, {format})
          let wire = 0
          packets.forEach((p, i) => {
            const frame = linkFrame(
              LINKTYPE.ethernet,
              udpPacket(SERVER, `198.51.100.${1 + (i % 50)}`, 8000, 40_000 + i, new Uint8Array(p.payload)),
            )
            // The header's wire length falls short of the captured frame by `short` bytes (0: a sound record).
            writer.packet(1_700_000_000 + i, frame, {origlen: Math.max(0, frame.length - p.short)})
            wire += frame.length
          })
          writer.close()
          const native = withEnv({BILLWATCH_PCAP_NATIVE: '1'}, () => analyseCapture(path, {host: SERVER}))
          const javascript = withEnv({BILLWATCH_PCAP_NATIVE: '0'}, () => analyseCapture(path, {host: SERVER}))
          expect(native).toEqual(javascript)
          expect(javascript.capturedBytes).toBe(wire)
          expect(javascript.bytes).toBe(wire)
        },
      ),
      {numRuns: 40},
    )
  })
})
