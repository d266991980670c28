import {describe, expect, it} from 'vitest'

import {
  ANSWER,
  DROP,
  KOD,
  chronyBucket,
  createLimiter,
  seededRandom,
  type Decision,
  type LimiterSetting,
} from '../../src/ratelimit/index.js'

const SEED_CAPTURE_SEC = 2693.13

/** Feeds arrival times for one client through a limiter; returns the decisions. */
function replay(
  setting: LimiterSetting,
  times: number[],
  options: Parameters<typeof createLimiter>[2] = {},
): Decision[] {
  const limiter = createLimiter(setting, 1, options)
  return times.map((t) => limiter.decide(0, t))
}

function tally(decisions: Decision[]): {answered: number; kods: number; dropped: number} {
  return {
    answered: decisions.filter((d) => d === ANSWER).length,
    dropped: decisions.filter((d) => d === DROP).length,
    kods: decisions.filter((d) => d === KOD).length,
  }
}

function every(periodSec: number, count: number, start = 1_400_000_000): number[] {
  return Array.from({length: count}, (_, i) => start + i * periodSec)
}

const NTPD: LimiterSetting = {algorithm: 'ntpd', average: 3, kod: true, minimum: 2}
const NTPSEC: LimiterSetting = {algorithm: 'ntpsec', average: 1, burst: 20, kod: true, kodRate: 0.5}

// Classic ntpd 4.2.8 is not packaged in Debian 12 (ntpsec replaced it), so there is no daemon to
// replay against: these are the worked numbers of research/ntp.md §4 and cases computed by hand.
describe('classic ntpd limiter (ntp 4.2.8 ntp_monitor.c)', () => {
  it('answers an ntpd polling every 64 s for 45 minutes: 42 answers, no KoD', () => {
    expect(tally(replay(NTPD, every(64, 42)))).toEqual({answered: 42, dropped: 0, kods: 0})
  })

  it('gives a 1 q/s retry loop 13 answers, then one KoD per 9 requests for the rest of the capture', () => {
    // The bucket grows by 8 − 2 − 1 = 5 per answered second until it would pass 64: 13 answers.
    // Then it is set to 72, leaks 1 per second, and each time it drops under 64 one KoD refills it.
    const decisions = replay(NTPD, every(1, 2693))
    expect(tally(decisions)).toEqual({answered: 13, dropped: 2693 - 13 - 298, kods: 298})
    expect(decisions.slice(0, 14)).toEqual([...new Array(13).fill(ANSWER), KOD])
    expect(decisions.slice(14, 23)).toEqual(new Array(9).fill(DROP).map((d, i) => (i === 8 ? KOD : d)))
  })

  it("answers the incident's top talker (18,043 requests at 6.7 q/s) once: sub-second gaps round to 0 s and never drain the bucket", () => {
    const decisions = replay(NTPD, every(SEED_CAPTURE_SEC / 18_043, 18_043))
    expect(tally(decisions)).toEqual({answered: 1, dropped: 18_041, kods: 1})
  })

  it('applies the guard time to the rounded headway plus a 1 s grace: with minimum 2, 0.4 s fails and 0.6 s passes', () => {
    expect(replay(NTPD, [0, 0.4])).toEqual([ANSWER, KOD])
    expect(replay(NTPD, [0, 0.6])).toEqual([ANSWER, ANSWER])
    expect(replay({...NTPD, minimum: 3}, [0, 1.4])).toEqual([ANSWER, KOD])
    expect(replay({...NTPD, minimum: 3}, [0, 1.6])).toEqual([ANSWER, ANSWER])
    expect(replay({...NTPD, minimum: 1}, [0, 0.4])).toEqual([ANSWER, ANSWER])
  })

  it('without the kod flag drops silently where it would have sent a KoD', () => {
    const withKod = replay(NTPD, every(1, 200))
    const without = replay({...NTPD, kod: false}, every(1, 200))
    expect(without).toEqual(withKod.map((d) => (d === KOD ? DROP : d)))
  })

  it('scales with discard average: at average 5 (32 s) a 64 s poller is still served, a 16 s poller is cut', () => {
    const strict = {...NTPD, average: 5}
    expect(tally(replay(strict, every(64, 42))).answered).toBe(42)
    // head 32, limit 256: served while the bucket, growing 32 − 2 − 16 = 14 per poll, stays under 224.
    expect(tally(replay(strict, every(16, 100))).answered).toBeLessThan(25)
  })
})

describe('ntpsec limiter (1.1.9+ score)', () => {
  it('serves 20, then sends 11 RATE KoDs, then drops, for 40 requests 50 ms apart (as the real ntpsec 1.2.2 did, ntp.md §8)', () => {
    const decisions = replay(NTPSEC, every(0.05, 40))
    expect(decisions).toEqual([...new Array(20).fill(ANSWER), ...new Array(11).fill(KOD), ...new Array(9).fill(DROP)])
  })

  it('reproduces the worked numbers of ntp.md §4: top talker 21 answers / 12 KoDs, 1 q/s loop 74 / 2619', () => {
    expect(tally(replay(NTPSEC, every(SEED_CAPTURE_SEC / 18_043, 18_043)))).toMatchObject({answered: 21, kods: 12})
    expect(tally(replay(NTPSEC, every(1, 2693)))).toMatchObject({answered: 74, kods: 2619})
  })

  it('never limits a client slower than one packet per second on average', () => {
    expect(tally(replay(NTPSEC, every(1.05, 2000))).answered).toBe(2000)
    expect(tally(replay(NTPSEC, every(64, 42))).answered).toBe(42)
  })
})

describe('chrony limiter (clientlog.c token bucket)', () => {
  const CHRONY: LimiterSetting = {algorithm: 'chrony', burst: 8, interval: 3, kod: 0, leak: 2}

  it('sizes the bucket in 1/16 s ticks as chrony does', () => {
    expect(chronyBucket(3, 8)).toEqual({maxTokens: 1024, shift: 0, tokensPerHit: 128})
    expect(chronyBucket(-1, 4)).toEqual({maxTokens: 32, shift: 0, tokensPerHit: 8})
    // 2^(4+12) · 255 overflows 16 bits: chrony shifts the tick until it fits.
    expect(chronyBucket(12, 255)).toEqual({maxTokens: 255 * 2 ** 8, shift: 8, tokensPerHit: 2 ** 8})
    // Below 1/16 s per response: one token per response, several per tick.
    expect(chronyBucket(-6, 1)).toEqual({maxTokens: 4, shift: -2, tokensPerHit: 1})
  })

  it('always answers a client polling no faster than the interval, and a first burst of `burst` requests', () => {
    expect(tally(replay(CHRONY, every(8, 300))).answered).toBe(300)
    expect(replay(CHRONY, every(0.01, 8))).toEqual(new Array(8).fill(ANSWER))
  })

  it('answers 1 in 2^leak of the limited requests at random', () => {
    const decisions = replay(CHRONY, every(0.01, 20_008), {random: seededRandom(42)})
    const leaked = tally(decisions.slice(8)).answered
    // Binomial(20000, 1/4): mean 5000, sd 61.
    expect(Math.abs(leaked - 5000)).toBeLessThan(4 * 61)
  })

  it('gives up limiting a client that polls more than twice as fast while dropped (a broken retry loop)', () => {
    // 8 s apart while answered, 0.25 s apart after a drop: chrony's two rate estimates diverge and it
    // inverts the leak, answering 3 in 4 instead of 1 in 4.
    const limiter = createLimiter({...CHRONY, interval: 4, burst: 1}, 1, {random: seededRandom(9)})
    let t = 0
    let answered = 0
    for (let i = 0; i < 4000; i++) {
      const decision = limiter.decide(0, t)
      if (decision === ANSWER) answered++
      t += decision === ANSWER ? 8 : 0.25
    }
    expect(answered / 4000).toBeGreaterThan(0.6)
  })

  it('with kod N (chrony 4.6+) turns about 1 in 2^N drops into KoDs, and repeats exactly for one seed', () => {
    const setting: LimiterSetting = {...CHRONY, kod: 1}
    const first = tally(replay(setting, every(0.01, 10_000), {random: seededRandom(3)}))
    expect(first.kods / (first.kods + first.dropped)).toBeCloseTo(0.5, 1)
    expect(tally(replay(setting, every(0.01, 10_000), {random: seededRandom(3)}))).toEqual(first)
  })
})
