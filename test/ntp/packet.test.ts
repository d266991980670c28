import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {
  CONTROL_OP,
  MODE,
  NTP_UNIX_OFFSET_SECONDS,
  decodeControl,
  decodeMode7,
  decodeNtp,
  encodeClientRequest,
  encodeControlRequest,
  encodeMonlistRequest,
  encodeNtp,
  kissAction,
  kissCode,
  kissCodeOfWord,
  ntpToUnixMs,
  offsetAndDelay,
  referenceIdText,
  replyMeaning,
  unixMsToNtp,
} from '../../src/ntp/packet.js'
import {validateReply} from '../../src/probe/client.js'

const ROLLOVER_UNIX_MS = (2 ** 32 - NTP_UNIX_OFFSET_SECONDS) * 1000

const timestamp = fc.record({fraction: fc.nat(0xffff_ffff), seconds: fc.nat(0xffff_ffff)})
const header = fc.record({
  leap: fc.integer({max: 3, min: 0}),
  mode: fc.oneof(fc.constant(4), fc.integer({max: 5, min: 1})),
  originTime: timestamp,
  poll: fc.integer({max: 127, min: -128}),
  precision: fc.integer({max: 127, min: -128}),
  receiveTime: timestamp,
  referenceId: fc.uint8Array({maxLength: 4, minLength: 4}),
  referenceTime: timestamp,
  rootDelay: fc.integer({max: 0xffff_ffff, min: 0}).map((raw) => raw / 65_536),
  rootDispersion: fc.integer({max: 0xffff_ffff, min: 0}).map((raw) => raw / 65_536),
  stratum: fc.integer({max: 255, min: 0}),
  transmitTime: timestamp,
  version: fc.oneof(fc.constant(4), fc.integer({max: 7, min: 0})),
})

describe('mode 1–5 header', () => {
  it('round-trips every field through encode and decode', () => {
    fc.assert(
      fc.property(header, (fields) => {
        const decoded = decodeNtp(encodeNtp(fields))
        expect(decoded).toEqual({...fields, trailingBytes: 0})
      }),
    )
  })

  it('builds the data-minimised client request: 0x23, then zeros up to a transmit nonce', () => {
    const bytes = encodeClientRequest({fraction: 0xdead_beef, seconds: 0x0102_0304})
    expect(bytes.length).toBe(48)
    expect(Array.from(bytes.subarray(0, 40)).every((b, i) => b === (i === 0 ? 0x23 : 0))).toBe(true)
    expect(Array.from(bytes.subarray(40))).toEqual([1, 2, 3, 4, 0xde, 0xad, 0xbe, 0xef])
  })

  it('counts extension fields and MACs as trailing bytes', () => {
    const bytes = new Uint8Array(48 + 20)
    bytes.set(encodeNtp({mode: MODE.server, stratum: 2}))
    expect(decodeNtp(bytes)?.trailingBytes).toBe(20)
  })

  it('returns undefined for short packets and for modes 0, 6 and 7', () => {
    expect(decodeNtp(new Uint8Array(47))).toBeUndefined()
    for (const mode of [0, 6, 7]) expect(decodeNtp(encodeNtp({mode}))).toBeUndefined()
  })
})

describe('era-aware timestamps (RFC 4330 §3, RFC 5905 §6)', () => {
  it('puts the wrapped seconds of 2036 in era 1 when the pivot is near', () => {
    const justAfter = unixMsToNtp(ROLLOVER_UNIX_MS + 10_000)
    expect(justAfter.seconds).toBe(10)
    expect(ntpToUnixMs(justAfter, ROLLOVER_UNIX_MS)).toBe(ROLLOVER_UNIX_MS + 10_000)
    expect(new Date(ntpToUnixMs(justAfter, ROLLOVER_UNIX_MS)).toISOString()).toBe('2036-02-07T06:28:26.000Z')
  })

  it('keeps a timestamp a few seconds before the rollover in era 0 when the pivot is after it', () => {
    const justBefore = unixMsToNtp(ROLLOVER_UNIX_MS - 2000)
    expect(justBefore.seconds).toBe(2 ** 32 - 2)
    expect(ntpToUnixMs(justBefore, ROLLOVER_UNIX_MS + 1000)).toBe(ROLLOVER_UNIX_MS - 2000)
  })

  it('round-trips any instant 1968–2104 within the fraction resolution, given a pivot within 68 years', () => {
    fc.assert(
      fc.property(
        fc.integer({max: 4_236_000_000_000, min: -60_000_000_000}),
        fc.integer({max: 2_000_000_000_000, min: -2_000_000_000_000}),
        (unixMs, pivotShift) => {
          const back = ntpToUnixMs(unixMsToNtp(unixMs), unixMs + pivotShift)
          expect(Math.abs(back - unixMs)).toBeLessThan(0.001)
        },
      ),
    )
  })

  it('computes offset and delay from four timestamps (RFC 5905 §8 example shape)', () => {
    // Client 1 s behind, 20 ms each way, 2 ms in the server.
    expect(offsetAndDelay(0, 1020, 1022, 42)).toEqual({delayMs: 40, offsetMs: 1000})
  })
})

describe('kiss codes and reference ids', () => {
  const kod = (code: string) =>
    encodeNtp({leap: 3, mode: MODE.server, referenceId: new TextEncoder().encode(code), stratum: 0})

  it.each(['RATE', 'DENY', 'RSTR', 'NTSN', 'AUTH', 'XABC'])(
    "reads Kiss-o'-Death %s from a stratum-0 packet and from its refid word",
    (code) => {
      const packet = kod(code)
      expect(kissCode(decodeNtp(packet)!)).toBe(code)
      expect(kissCodeOfWord(new DataView(packet.buffer).getUint32(12))).toBe(code)
    },
  )

  it('reads INIT, STEP, a zero and an unprintable stratum-0 refid as an unsynchronised server, not a KoD', () => {
    for (const id of [
      new TextEncoder().encode('INIT'),
      new TextEncoder().encode('STEP'),
      new Uint8Array(4),
      new Uint8Array([1, 2, 3, 4]),
    ]) {
      const header = decodeNtp(encodeNtp({leap: 3, mode: MODE.server, referenceId: id, stratum: 0, version: 3}))!
      expect(kissCode(header)).toBeUndefined()
      expect(replyMeaning(header).kind).toBe('unsynchronised')
    }
    expect(kissCodeOfWord(0)).toBeUndefined()
  })

  it('has no kiss code above stratum 0; LI 3 or stratum 16 is unsynchronised, else time', () => {
    const meaning = (fields: Parameters<typeof encodeNtp>[0]) =>
      replyMeaning(decodeNtp(encodeNtp({mode: MODE.server, referenceId: new TextEncoder().encode('RATE'), ...fields}))!)
    expect(
      kissCode(decodeNtp(encodeNtp({mode: MODE.server, referenceId: new TextEncoder().encode('RATE'), stratum: 2}))!),
    ).toBeUndefined()
    expect(meaning({stratum: 2})).toEqual({kind: 'time'})
    expect(meaning({leap: 3, stratum: 2}).kind).toBe('unsynchronised')
    expect(meaning({stratum: 16}).kind).toBe('unsynchronised')
    expect(meaning({stratum: 0})).toEqual({action: 'reduce-rate', code: 'RATE', kind: 'kiss'})
  })

  it('asks the client to act only on RATE, DENY and RSTR', () => {
    expect(['RATE', 'DENY', 'RSTR', 'INIT', 'STEP', 'AUTH', 'NTSN', 'XFOO'].map((code) => kissAction(code))).toEqual([
      'reduce-rate',
      'stop',
      'stop',
      'discard',
      'discard',
      'discard',
      'discard',
      'discard',
    ])
  })

  it('renders refids as ASCII at stratum 1, dotted quad above, hex when stratum 1 is not printable', () => {
    const text = (stratum: number, id: number[] | string) =>
      referenceIdText(
        decodeNtp(
          encodeNtp({
            mode: MODE.server,
            referenceId: typeof id === 'string' ? new TextEncoder().encode(id) : new Uint8Array(id),
            stratum,
          }),
        )!,
      )
    expect(text(1, 'GPS')).toBe('GPS')
    expect(text(1, 'PPS')).toBe('PPS')
    expect(text(2, [192, 0, 2, 1])).toBe('192.0.2.1')
    expect(text(7, [127, 127, 1, 1])).toBe('127.127.1.1')
    expect(text(1, [0xc6, 0x12, 0x01, 0x02])).toBe('c6120102')
  })
})

describe('mode 6 and mode 7', () => {
  it('encodes READVAR and decodes a fragmented response header and its data', () => {
    const request = encodeControlRequest(CONTROL_OP.readVariables, 0xbeef)
    expect(Array.from(request)).toEqual([0x16, 0x02, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0])
    const response = new Uint8Array(12 + 8)
    response.set([0x16, 0x80 | 0x20 | 2, 0xbe, 0xef, 0x06, 0x18, 0, 0, 0, 0, 0, 12])
    response.set(new TextEncoder().encode('leap=0, '), 12)
    // The count claims 12 data bytes; only 8 arrived.
    expect(decodeControl(response)).toMatchObject({
      count: 12,
      more: true,
      opcode: 2,
      response: true,
      sequence: 0xbeef,
      status: 0x0618,
    })
    expect(new TextDecoder().decode(decodeControl(response)!.data)).toBe('leap=0, ')
  })

  it('encodes MON_GETLIST_1 as nmap sends it and decodes a response header', () => {
    const request = encodeMonlistRequest()
    expect(request.length).toBe(48)
    expect(Array.from(request.subarray(0, 4))).toEqual([0x17, 0, 3, 42])
    const response = new Uint8Array([0x80 | 0x40 | 0x17, 0, 3, 42, 0x00, 0x06, 0x00, 0x48])
    expect(decodeMode7(response)).toEqual({
      error: 0,
      implementation: 3,
      itemCount: 6,
      itemSize: 72,
      more: true,
      request: 42,
      response: true,
      sequence: 0,
      version: 2,
    })
  })
})

describe('hostile input', () => {
  it('never throws on any bytes, whichever decoder or the probe validation reads them', () => {
    const nonce = {fraction: 7, seconds: 7}
    fc.assert(
      fc.property(fc.uint8Array({maxLength: 600}), fc.integer({max: 64, min: 0}), (bytes, offset) => {
        // Offsets into a larger buffer catch DataView mistakes a fresh array would hide.
        const framed = new Uint8Array(offset + bytes.length)
        framed.set(bytes, offset)
        const view = framed.subarray(offset)
        decodeNtp(view)
        decodeControl(view)
        decodeMode7(view)
        const verdict = validateReply(
          {address: '127.0.0.1', bytes: view, port: 123},
          {address: '127.0.0.1', port: 123},
          nonce,
        )
        expect('reply' in verdict || 'ignore' in verdict).toBe(true)
      }),
      {numRuns: 2000},
    )
  })

  it('accepts a reply exactly when mode is 4, VN 3–4, origin is our nonce, and transmit is set (or it is a KoD)', () => {
    const nonce = {fraction: 0x1234_5678, seconds: 0x9abc_def0}
    fc.assert(
      fc.property(header, fc.boolean(), (fields, echoNonce) => {
        const packet = encodeNtp({...fields, originTime: echoNonce ? nonce : fields.originTime})
        const decoded = decodeNtp(packet)!
        const expected =
          decoded.mode === MODE.server &&
          (decoded.version === 3 || decoded.version === 4) &&
          decoded.originTime.seconds === nonce.seconds &&
          decoded.originTime.fraction === nonce.fraction &&
          (decoded.stratum === 0 || decoded.transmitTime.seconds !== 0 || decoded.transmitTime.fraction !== 0)
        const verdict = validateReply({address: '::1', bytes: packet, port: 123}, {address: '::1', port: 123}, nonce)
        expect('reply' in verdict).toBe(expected)
      }),
      {numRuns: 3000},
    )
  })
})
