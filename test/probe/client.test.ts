import {afterEach, describe, expect, it} from 'vitest'

import {decodeMode7, MODE, MODE7_REQ_MON_GETLIST_1, NTP_UNIX_OFFSET_SECONDS} from '../../src/ntp/packet.js'
import {type ProbeClock, type ProbeEvent, kodAction, sampleAddress} from '../../src/probe/client.js'
import {requestMonlist} from '../../src/probe/exposure.js'
import {probeHost, resolveAll} from '../../src/probe/index.js'
import {type ScriptedServer, kissOfDeath, serverReply, startScriptedServer} from './udp-server.js'

/** A clock `skewMs` off real time whose sleeps return at once and are recorded. */
function testClock(skewMs = 0, jitter = 0): ProbeClock & {sleeps: number[]} {
  const sleeps: number[] = []
  return {
    now: () => performance.timeOrigin + performance.now() + skewMs,
    random: () => jitter,
    sleep: async (ms) => {
      sleeps.push(ms)
    },
    sleeps,
  }
}

const servers: ScriptedServer[] = []
async function server(...args: Parameters<typeof startScriptedServer>): Promise<ScriptedServer> {
  const s = await startScriptedServer(...args)
  servers.push(s)
  return s
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

describe('requests (RFC 8633 §5.2 data minimisation, RFC 9109 ports)', () => {
  it('sends 48 bytes: 0x23, zeros, and a random transmit nonce, fresh per sample, from a fresh port per run', async () => {
    const s = await server((request) => ({bytes: serverReply(request)}))
    const clock = testClock()
    const first = await sampleAddress(s.address, s.port, {clock, count: 3, intervalMs: 16_000})
    const second = await sampleAddress(s.address, s.port, {clock})
    expect(first.answered).toBe(3)
    expect(clock.sleeps).toEqual([16_000, 16_000])
    const nonces = s.requests.map((r) => r.header!.transmitTime)
    for (const request of s.requests) {
      expect(request.bytes.length).toBe(48)
      expect(request.bytes[0]).toBe(0x23)
      expect(request.bytes.subarray(1, 40).every((b) => b === 0)).toBe(true)
    }
    expect(new Set(nonces.map((n) => `${n.seconds}.${n.fraction}`)).size).toBe(4)
    // The nonce is not our clock: RFC 8633 asks clients not to leak it.
    const nowNtp = Date.now() / 1000 + NTP_UNIX_OFFSET_SECONDS
    expect(nonces.filter((n) => Math.abs(n.seconds - (nowNtp % 2 ** 32)) < 3600).length).toBeLessThan(2)
    expect(s.requests.slice(0, 3).every((r) => r.port === first.sourcePort)).toBe(true)
    expect(second.sourcePort).not.toBe(first.sourcePort)
  })

  it('refuses an interval under 2 s before sending anything', async () => {
    const s = await server((request) => ({bytes: serverReply(request)}))
    await expect(sampleAddress(s.address, s.port, {count: 2, intervalMs: 1000})).rejects.toThrow(/at least 2 s/)
    expect(s.requests).toHaveLength(0)
  })
})

describe('reply validation (RFC 4330 §5, RFC 5905 §8)', () => {
  it('ignores forged, short, wrong-mode and zero-transmit datagrams and still takes the genuine reply', async () => {
    const s = await server((request) => {
      const genuine = serverReply(request)
      const forgedOrigin = serverReply(request, {originTime: {fraction: 1, seconds: 1}})
      const wrongMode = serverReply(request, {mode: MODE.symmetricPassive})
      const zeroTransmit = serverReply(request, {transmitTime: {fraction: 0, seconds: 0}})
      return [
        forgedOrigin,
        genuine.subarray(0, 47),
        wrongMode,
        zeroTransmit,
        new Uint8Array([0x26, 0x81]),
        genuine,
      ].map((bytes) => ({bytes}))
    })
    const events: ProbeEvent[] = []
    const result = await sampleAddress(s.address, s.port, {
      clock: testClock(),
      onEvent: (e) => events.push(e),
      timeoutMs: 500,
    })
    expect(result.answered).toBe(1)
    expect(result.ignored.map((i) => i.reason)).toEqual([
      'bogus-origin',
      'short',
      'wrong-mode',
      'zero-transmit',
      'short',
    ])
    expect(result.samples[0]).toMatchObject({refid: '192.0.2.1', stratum: 2, synchronised: true, version: 4})
    expect(events.filter((e) => e.type === 'ignored')).toHaveLength(5)
  })

  it('logs a KoD without our nonce as spoofed and never obeys it', async () => {
    const s = await server((request) => [
      {bytes: kissOfDeath(request, 'DENY', {originTime: {fraction: 42, seconds: 42}})},
      {bytes: serverReply(request)},
    ])
    const result = await sampleAddress(s.address, s.port, {clock: testClock(), count: 2, intervalMs: 16_000})
    expect(result.kod).toBeNull()
    expect(result.answered).toBe(2)
    expect(result.ignored).toEqual([
      {bytes: 48, kissCode: 'DENY', reason: 'spoofed-kod'},
      {bytes: 48, kissCode: 'DENY', reason: 'spoofed-kod'},
    ])
  })

  it('drops replies that come from another port (connected socket) and reports the server as silent', async () => {
    const s = await server((request) => ({bytes: serverReply(request), fromOtherPort: true}))
    const result = await sampleAddress(s.address, s.port, {attempts: 2, clock: testClock(), timeoutMs: 80})
    expect(result.answered).toBe(0)
    expect(result.timeouts).toBe(2)
  })

  it('treats a second copy of an accepted reply as bogus (the nonce answers once)', async () => {
    const s = await server((request) => {
      const reply = serverReply(request)
      return [{bytes: reply}, {bytes: reply}]
    })
    const result = await sampleAddress(s.address, s.port, {
      clock: testClock(),
      count: 2,
      intervalMs: 2000,
      timeoutMs: 300,
    })
    expect(result.answered).toBe(2)
    // The duplicate of reply 1 arrives while we wait for reply 2: a different nonce is expected by then.
    expect(result.ignored.map((i) => i.reason)).toContain('bogus-origin')
  })

  it('reports LI 3 and stratum 16 answers as served but unsynchronised', async () => {
    const s = await server((request) => ({bytes: serverReply(request, {leap: 3, stratum: 16})}))
    const result = await probeHost({host: s.address, port: s.port}, {clock: testClock()})
    expect(result.results[0]!.status).toBe('unsynchronised')
    expect(result.verdict).toBe('served')
    expect(result.summary).toMatch(/unsynchronised \(LI 3, stratum 16\)/)
  })
})

describe('what a stratum-0 reply means (RFC 5905 §7.4, RFC 8633)', () => {
  const withRefid =
    (refid: number[], fields: Parameters<typeof serverReply>[1] = {}) =>
    (request: Parameters<typeof serverReply>[0]) => {
      const reply = serverReply(request, {leap: 3, stratum: 0, ...fields})
      reply.set(refid, 12)
      return {bytes: reply}
    }

  it.each([
    ['a zero refid from an NTPv3 server', [0, 0, 0, 0], 3, 'no kiss code'],
    ['INIT', [...'INIT'].map((c) => c.charCodeAt(0)), 4, 'kiss code INIT'],
    ['STEP', [...'STEP'].map((c) => c.charCodeAt(0)), 4, 'kiss code STEP'],
    ['an unprintable refid', [1, 2, 3, 4], 4, 'no kiss code'],
  ])('%s: served, unsynchronised, exit 0', async (_name, refid, version, why) => {
    const s = await server(withRefid(refid, {version}))
    const result = await probeHost({host: s.address, port: s.port}, {clock: testClock()})
    expect(result).toMatchObject({answered: 1, exitCode: 0, kod: null, verdict: 'served'})
    expect(result.results[0]!.status).toBe('unsynchronised')
    expect(result.summary).toContain(`served, unsynchronised (LI 3, stratum 0, ${why})`)
  })

  it.each(['AUTH', 'NTSN', 'XFOO'])(
    'a kiss code that asks nothing (%s) is discarded: not refused, exit 0',
    async (code) => {
      const s = await server(withRefid([...code].map((c) => c.charCodeAt(0))))
      const result = await probeHost({host: s.address, port: s.port}, {clock: testClock()})
      expect(result).toMatchObject({answered: 0, exitCode: 0, kod: code, verdict: 'served'})
      expect(result.results[0]!.status).toBe('unsynchronised')
      expect(result.results[0]!.denied).toBe(false)
      expect(result.results[0]!.retryAfter).toBeNull()
    },
  )

  it.each([
    ['RATE', 'stop-sampling'],
    ['DENY', 'stop-now'],
    ['RSTR', 'stop-now'],
  ])('%s refuses (exit 4)', async (code, action) => {
    const s = await server(withRefid([...code].map((c) => c.charCodeAt(0))))
    const result = await probeHost({host: s.address, port: s.port}, {clock: testClock()})
    expect(result).toMatchObject({exitCode: 4, kod: code, verdict: 'refused'})
    expect(result.results[0]!.status).toBe('refused')
    expect(kodAction(code)).toBe(action)
  })
})

describe('manners when unanswered and on Kiss-o-Death (RFC 5905 §7.4, RFC 8633 §5.4)', () => {
  it('retries a silent server with waits of 1×, 2×, 4× the timeout plus jitter, then stops', async () => {
    const s = await server(() => undefined)
    const waits: number[] = []
    const result = await sampleAddress(s.address, s.port, {
      clock: testClock(0, 0.999),
      count: 5,
      intervalMs: 16_000,
      onEvent: (e) => e.type === 'timeout' && waits.push(e.waitedMs),
      timeoutMs: 100,
    })
    expect(result.requests).toBe(3)
    expect(result.timeouts).toBe(3)
    expect(result.stoppedEarly).toBe('no-answer')
    // 100, 200 and 400 ms, each stretched by 0.999/4 of jitter: the waits the client planned…
    expect(waits.map(Math.round)).toEqual([125, 250, 500])
    // …and kept, as the server saw them (its receive times carry a few ms of event-loop delay).
    const gaps = s.requests.slice(1).map((r, i) => r.atMs - s.requests[i]!.atMs)
    expect(gaps[0]).toBeGreaterThanOrEqual(110)
    expect(gaps[1]).toBeGreaterThanOrEqual(235)
    expect(gaps[1]! / gaps[0]!).toBeGreaterThan(1.6)
  })

  it('calls a run stopped early only when samples were left to take', async () => {
    for (const [count, stoppedEarly] of [
      [2, null],
      [3, 'no-answer'],
    ] as const) {
      let seen = 0
      const s = await server((request) => (seen++ === 0 ? {bytes: serverReply(request)} : undefined))
      const result = await sampleAddress(s.address, s.port, {
        clock: testClock(),
        count,
        intervalMs: 2000,
        timeoutMs: 50,
      })
      expect(result).toMatchObject({answered: 1, requests: 4, stoppedEarly, timeouts: 3})
    }
  })

  it.each([
    ['DENY', 'stop-now'],
    ['RSTR', 'stop-now'],
    ['RATE', 'stop-sampling'],
  ])('stops after one KoD %s carrying our nonce and reports it', async (code, action) => {
    const s = await server((request) => ({bytes: kissOfDeath(request, code, {poll: 17})}))
    const result = await probeHost(
      {host: s.address, port: s.port},
      {clock: testClock(), count: 4, exposure: true, intervalMs: 16_000},
    )
    expect(s.requests).toHaveLength(1) // no second sample, no exposure packets
    const [only] = result.results
    expect(only).toMatchObject({
      answered: 0,
      denied: action === 'stop-now',
      kod: code,
      mode6Exposed: null,
      status: 'refused',
    })
    expect(result.exitCode).toBe(4)
    expect(result.summary).toContain(`Kiss-o'-Death ${code}`)
    if (code === 'RATE') {
      // Cool-down: the server's poll (2^17 s asked) capped at 2^13 s, more than 2 × 16 s.
      const coolMs = Date.parse(only!.retryAfter!) - Date.now()
      expect(coolMs).toBeGreaterThan(2 ** 13 * 1000 - 5000)
      expect(coolMs).toBeLessThanOrEqual(2 ** 13 * 1000)
    }
  })
})

describe('offset and delay (RFC 5905 §8) across the 2036 era rollover', () => {
  const ROLLOVER_MS = (2 ** 32 - NTP_UNIX_OFFSET_SECONDS) * 1000 // 2036-02-07T06:28:16Z

  it.each([
    ['both sides after the rollover', ROLLOVER_MS + 60_000, 0],
    ['client before, server after', ROLLOVER_MS - 1500, 3000],
    ['client after, server before', ROLLOVER_MS + 1500, -3000],
  ])('%s', async (_, clientMs, serverAheadMs) => {
    const clock = testClock(clientMs - Date.now())
    const s = await server((request) => ({bytes: serverReply(request, {}, clock.now() + serverAheadMs)}))
    const result = await sampleAddress(s.address, s.port, {clock})
    const [sample] = result.samples
    expect(sample!.offsetMs).toBeGreaterThan(serverAheadMs - 50)
    expect(sample!.offsetMs).toBeLessThan(serverAheadMs + 50)
    expect(sample!.delayMs).toBeGreaterThanOrEqual(0)
    expect(sample!.delayMs).toBeLessThan(100)
  })
})

describe('addresses', () => {
  it('probes every address a name resolves to, IPv4 and IPv6, and joins them in one verdict', async () => {
    const v4 = await server((request) => ({bytes: serverReply(request)}), '127.0.0.1')
    const v6 = await server(() => undefined, '::1')
    // Nothing listens on ::1 at the IPv4 server's port: that address is probed and found not serving.
    const result4 = await probeHost(
      {host: 'pool.test', port: v4.port},
      {clock: testClock(), resolve: async () => ['127.0.0.1', '::1'], timeoutMs: 60, attempts: 1},
    )
    expect(result4.addresses).toEqual(['127.0.0.1', '::1'])
    expect(result4.results.map((r) => r.status)).toEqual(['served', 'not-served'])
    expect(result4.verdict).toBe('served')
    expect(result4.summary).toBe('pool.test serves NTP to the public: 1/2 addresses answered')
    const result6 = await probeHost({host: '::1', port: v6.port}, {attempts: 1, clock: testClock(), timeoutMs: 60})
    expect(result6).toMatchObject({exitCode: 3, verdict: 'not-served'})
    expect(result6.results[0]!.family).toBe(6)
    expect(v6.requests[0]!.address).toBe('::1')
  })

  it('resolves localhost through the system resolver to loopback addresses only', async () => {
    const addresses = await resolveAll('localhost')
    expect(addresses.length).toBeGreaterThan(0)
    for (const a of addresses) expect(a === '::1' || a.startsWith('127.')).toBe(true)
  })
})

describe('monlist amplification', () => {
  it('measures response bytes over request bytes from a mode 7 responder that answers with 10 packets', async () => {
    // ntp 4.2.8 answers MON_GETLIST_1 with up to 6 entries of 72 bytes per 440-byte packet.
    const s = await server((request) => {
      const header = decodeMode7(request.bytes)
      if (header?.request !== MODE7_REQ_MON_GETLIST_1) return undefined
      return Array.from({length: 10}, (_, i) => {
        const bytes = new Uint8Array(8 + 6 * 72)
        bytes[0] = 0x80 | (i < 9 ? 0x40 : 0) | (2 << 3) | MODE.private
        bytes[2] = 3
        bytes[3] = MODE7_REQ_MON_GETLIST_1
        new DataView(bytes.buffer).setUint16(4, 6)
        new DataView(bytes.buffer).setUint16(6, 72)
        return {bytes}
      })
    })
    const monlist = await requestMonlist(s.address, s.port, 300)
    expect(monlist).toMatchObject({
      entries: 60,
      exposed: true,
      requestBytes: 48,
      responseBytes: 4400,
      responsePackets: 10,
    })
    expect(monlist.amplification).toBeCloseTo(4400 / 48, 2)
  })
})
