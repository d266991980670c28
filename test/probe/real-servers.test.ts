import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {kissCode} from '../../src/ntp/packet.js'
import {type ProbeClock, sampleAddress} from '../../src/probe/client.js'
import {probeHost} from '../../src/probe/index.js'
import {type NtpDaemon, queryOnce, startChronyd, startNtpsec} from '../helpers/ntp-daemons.js'

/** Real time shifted by `skewMs`; sleeps return at once (the daemons see back-to-back samples). */
function clock(skewMs = 0): ProbeClock {
  return {
    now: () => performance.timeOrigin + performance.now() + skewMs,
    random: () => 0.5,
    sleep: async () => undefined,
  }
}

const daemons: NtpDaemon[] = []
let chrony4: NtpDaemon
let chrony6: NtpDaemon
let ntpsecServing: NtpDaemon
let ntpsecNoquery: NtpDaemon
let ntpsecKod: NtpDaemon

beforeAll(async () => {
  ;[chrony4, chrony6, ntpsecServing, ntpsecNoquery, ntpsecKod] = await Promise.all([
    startChronyd(),
    startChronyd({address: '::1', stratum: 5}),
    startNtpsec({config: ['restrict default nomodify', 'restrict 127.0.0.0 mask 255.0.0.0 nomodify'], serveTime: true}),
    startNtpsec({config: ['restrict default nomodify noquery', 'restrict 127.0.0.0 mask 255.0.0.0 nomodify noquery']}),
    startNtpsec({
      config: [
        'restrict default kod limited nomodify noquery',
        'restrict 127.0.0.0 mask 255.0.0.0 kod limited nomodify noquery',
      ],
    }),
  ])
  daemons.push(chrony4, chrony6, ntpsecServing, ntpsecNoquery, ntpsecKod)
})
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()))
})

describe('against chronyd', () => {
  it('measures our clock 5 s behind as a +5000 ms offset, over IPv4 and IPv6', async () => {
    for (const [daemon, stratum] of [
      [chrony4, 7],
      [chrony6, 5],
    ] as const) {
      const result = await probeHost({host: daemon.address, port: daemon.port}, {clock: clock(-5000)})
      expect(result).toMatchObject({
        answered: 1,
        exitCode: 0,
        kod: null,
        leap: 0,
        refid: '127.127.1.1',
        stratum,
        verdict: 'served',
        version: 4,
      })
      expect(result.offsetMs!).toBeGreaterThan(4950)
      expect(result.offsetMs!).toBeLessThan(5050)
      expect(result.delayMs!).toBeGreaterThanOrEqual(0)
      expect(result.summary).toBe(
        `${daemon.address} serves NTP to the public: stratum ${stratum}, refid 127.127.1.1, answered 1/1`,
      )
    }
  })

  it('does not answer mode 6 or mode 7 (chrony implements neither)', async () => {
    const result = await probeHost(
      {host: chrony4.address, port: chrony4.port},
      {clock: clock(), exposure: true, timeoutMs: 300},
    )
    expect(result).toMatchObject({amplification: null, mode6Exposed: false, mode7Exposed: false})
  })

  it('loses answers to a ratelimit and stops sampling after its bounded retries', async () => {
    // chrony 4.3 never sends KoD: an over-eager client is dropped (answered 1 in 2^leak at random).
    // Started here, unqueried, so the bucket holds exactly one token when sampling begins.
    const limited = await startChronyd({extraConfig: ['ratelimit interval 4 burst 1 leak 4'], waitForAnswer: false})
    daemons.push(limited)
    const result = await sampleAddress(limited.address, limited.port, {
      clock: clock(),
      count: 4,
      intervalMs: 2000,
      timeoutMs: 150,
    })
    expect(result.answered).toBeGreaterThanOrEqual(1)
    // The limiter drops requests; which ones chrony's random leak (and its leniency towards clients that
    // keep retrying) lets through varies from run to run, so the test holds the probe to its manners:
    // every request answered or timed out, never more than 3 tries per sample, and a sample that
    // drew three timeouts ends the run (stoppedEarly only when samples were left to take).
    expect(result.timeouts).toBeGreaterThanOrEqual(1)
    expect(result.requests).toBe(result.answered + result.timeouts)
    expect(result.requests).toBeLessThanOrEqual(4 * 3)
    const failedSample = result.answered < 4 ? result.answered : undefined
    expect(result.stoppedEarly).toBe(failedSample !== undefined && failedSample < 3 ? 'no-answer' : null)
    if (failedSample !== undefined) expect(result.timeouts).toBeGreaterThanOrEqual(3)
  })
})

describe('against ntpsec', () => {
  it('sees a synchronised ntpsec serve time and leak its version over mode 6, with no monlist', async () => {
    const result = await probeHost(
      {host: ntpsecServing.address, port: 123},
      {clock: clock(), exposure: true, timeoutMs: 500},
    )
    expect(result).toMatchObject({
      answered: 1,
      kod: null,
      leap: 0,
      mode6Exposed: true,
      mode7Exposed: false,
      amplification: null,
      stratum: 4,
    })
    expect(result.refid).toMatch(/^198\.1[89]\.\d+\.\d+$/)
    const mode6 = result.results[0]!.exposure!.mode6
    expect(mode6.versionString).toMatch(/^ntpd ntpsec-1\.2\./)
    expect(mode6.variables.stratum).toBe('4')
    expect(mode6.amplification).toBeGreaterThan(1)
  })

  it('gets nothing from mode 6 under `restrict … noquery`, and reads the not yet synchronised ntpsec (INIT) as served, unsynchronised', async () => {
    // RFC 5905 §7.4: INIT asks nothing of the client; the server answers the world and its replies cost egress.
    const result = await probeHost(
      {host: ntpsecNoquery.address, port: 123},
      {clock: clock(), exposure: true, timeoutMs: 300},
    )
    expect(result).toMatchObject({
      answered: 1,
      exitCode: 0,
      kod: null,
      leap: 3,
      mode6Exposed: false,
      mode7Exposed: false,
      refid: 'INIT',
      stratum: 0,
      verdict: 'served',
    })
    expect(result.results[0]!.status).toBe('unsynchronised')
    expect(result.summary).toContain('served, unsynchronised (LI 3, stratum 0, kiss code INIT): not synchronised yet')
  })

  it('obeys a real KoD RATE from `restrict … limited kod`: one request, then silence for the cool-down', async () => {
    // Another client at our address exhausts the limit first (ntpsec keys its limiter on the source IP).
    let sawRate = false
    for (let i = 0; i < 60 && !sawRate; i++) {
      const reply = await queryOnce(ntpsecKod.address, 123, 200)
      sawRate = reply !== undefined && kissCode(reply) === 'RATE'
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(sawRate).toBe(true)
    const result = await probeHost(
      {host: ntpsecKod.address, port: 123},
      {clock: clock(), count: 4, exposure: true, intervalMs: 16_000, timeoutMs: 300},
    )
    const [only] = result.results
    expect(only).toMatchObject({answered: 0, kod: 'RATE', mode6Exposed: null, requests: 1, status: 'refused'})
    expect(Date.parse(only!.retryAfter!)).toBeGreaterThan(Date.now() + 30_000)
    expect(result.exitCode).toBe(4)
  })
})
