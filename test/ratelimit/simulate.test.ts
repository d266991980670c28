import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {BillwatchError} from '../../src/errors.js'
import {CURRENT_EGRESS_PRICING, costOfRate, flatPricing} from '../../src/pricing/egress.js'
import {
  DEFAULT_LIMITER_SETTINGS,
  describeSetting,
  parseLimiterSetting,
  simulateLimiters,
} from '../../src/ratelimit/index.js'
import {LogBuilder, T0} from '../behaviour/synthetic-log.js'

const SEED_SEC = 2693.13
const END = T0 + SEED_SEC

/**
 * The NTP pool server incident's cast in one capture: a polite ntpd, a 50-host NAT, the 1 q/s loop, the 6.8 q/s talker.
 */
function seedCapture() {
  const builder = new LogBuilder(31).periodic('192.0.2.1', 64, T0, END, {port: 123}, 0.01)
  for (let h = 0; h < 50; h++) {
    const period = 2 ** (6 + Math.floor(builder.random() * 5))
    builder.periodic('203.0.113.9', period, T0 + builder.random() * period, END, {port: 2000 + h}, 0.02)
  }
  builder.periodic('192.0.2.2', 1, T0, END, {port: 40_000})
  builder.periodic('162.220.96.14', SEED_SEC / 18_287, T0, END, {port: 51_000}, 0.5)
  return builder.build()
}

describe('simulateLimiters', () => {
  const log = seedCapture()
  const report = simulateLimiters(log, {durationSec: SEED_SEC})
  const bySetting = (prefix: string) => report.results.find((r) => r.setting.startsWith(prefix))!

  it('takes the capture as the baseline: every request answered with a 76-byte IPv4 reply', () => {
    expect(report.requests).toBe(log.count)
    expect(report.baseline).toMatchObject({answered: log.count, egressBytes: 76 * log.count, kods: 0})
    expect(report.baseline.annualCostUsd).toBeCloseTo(costOfRate((76 * log.count) / SEED_SEC).yearlyUsd, 9)
    expect(report.pricing).toBe(CURRENT_EGRESS_PRICING.label)
  })

  it('reports each default setting, with answers + KoDs + drops adding up to the requests', () => {
    expect(report.results.map((r) => r.parameters)).toEqual(DEFAULT_LIMITER_SETTINGS)
    expect(report.baseline.unanswered).toBe(0)
    for (const result of report.results) expect(result.answered + result.kods + result.dropped).toBe(report.requests)
  })

  it('answers only what the server answered: savings never negative, unanswered requests apart (issue 22)', () => {
    // The shape: a server that left requests unanswered (here 0–60% of each client's, at
    // random); a replay that answered them showed −3.8% savings.
    fc.assert(
      fc.property(fc.integer({max: 2 ** 31, min: 1}), fc.double({max: 0.6, min: 0, noNaN: true}), (seed, lossShare) => {
        const builder = new LogBuilder(seed)
        const lost = () => (builder.random() < lossShare ? 0 : 1)
        for (let t = T0; t < T0 + 600; t += 64) builder.add({address: '192.0.2.1', reply: lost(), timeSec: t})
        for (let t = T0; t < T0 + 600; t += 1)
          builder.add({address: '192.0.2.2', port: 40_000, reply: lost(), timeSec: t})
        for (let t = T0; t < T0 + 600; t += 0.2)
          builder.add({address: '192.0.2.3', port: 41_000, reply: lost(), timeSec: t})
        const lossy = builder.build()
        let unanswered = 0
        for (let i = 0; i < lossy.count; i++) if (lossy.reply[i] === 0) unanswered++
        const replayed = simulateLimiters(lossy, {durationSec: 600})
        expect(replayed.baseline.unanswered).toBe(unanswered)
        for (const result of replayed.results) {
          expect(result.savedBytes).toBeGreaterThanOrEqual(0)
          expect(result.savedShare).toBeGreaterThanOrEqual(0)
          expect(result.savedAnnualUsd).toBeGreaterThanOrEqual(0)
          expect(result.answered + result.kods).toBeLessThanOrEqual(replayed.baseline.answered)
          expect(result.answered + result.kods + result.dropped + replayed.baseline.unanswered).toBe(replayed.requests)
        }
      }),
      {numRuns: 15},
    )
  })

  it('charges a KoD the same egress as an answer, and prices the saving over the capture duration', () => {
    for (const result of report.results) {
      expect(result.egressBytes).toBe(76 * (result.answered + result.kods))
      expect(result.savedBytes).toBe(report.baseline.egressBytes - result.egressBytes)
      const pricing = costOfRate(result.egressBytes / SEED_SEC)
      expect(result.annualCostUsd).toBeCloseTo(pricing.yearlyUsd, 9)
      expect(result.savedAnnualUsd).toBeCloseTo(report.baseline.annualCostUsd - pricing.yearlyUsd, 9)
    }
    // With kod the same decisions send KoDs where they would drop: more egress, never fewer answers.
    const withKod = bySetting('ntpd: restrict default limited kod')
    const without = bySetting('ntpd: restrict default limited;')
    expect(withKod.answered).toBe(without.answered)
    expect(withKod.egressBytes).toBe(without.egressBytes + 76 * withKod.kods)
  })

  it("blacks out the 50-host NAT under classic ntpd's defaults but not under ntpsec's 1 packet/s average", () => {
    const ntpd = bySetting('ntpd: restrict default limited kod')
    expect(ntpd.blackedOutNats.map((n) => n.address)).toEqual(['203.0.113.9'])
    expect(ntpd.blackedOutNats[0]!.answeredShare).toBeLessThan(0.1)
    expect(bySetting('ntpsec: restrict default limited kod').blackedOutNats).toEqual([])
  })

  it('names the most-limited addresses, the 6.8 q/s talker first', () => {
    const ntpsec = bySetting('ntpsec: restrict default limited kod')
    expect(ntpsec.mostLimited[0]).toMatchObject({address: '162.220.96.14', answered: 21, kods: 12})
    expect(ntpsec.mostLimited[1]).toMatchObject({address: '192.0.2.2'})
    expect(ntpsec.mostLimited.map((m) => m.address)).not.toContain('192.0.2.1')
  })

  it('repeats chrony results exactly for one seed and marks them as random', () => {
    const again = simulateLimiters(log, {durationSec: SEED_SEC, settings: [DEFAULT_LIMITER_SETTINGS[4]!]})
    expect(again.results[0]).toEqual(report.results[4])
    expect(report.results.map((r) => r.deterministic)).toEqual([true, true, true, true, false, false])
  })

  it('gives a setting without KoD the same result alone as beside its KoD sibling, whose replay it shares', () => {
    DEFAULT_LIMITER_SETTINGS.forEach((setting, i) => {
      const alone = simulateLimiters(log, {durationSec: SEED_SEC, settings: [setting]})
      expect(alone.results[0]).toEqual(report.results[i])
    })
    // chrony draws KoDs from a stream of their own: `kod 2` answers exactly what `kod 0` answers.
    const [chronyPlain, chronyKod] = [report.results[4]!, report.results[5]!]
    expect(chronyKod.kods).toBeGreaterThan(0)
    expect(chronyKod.answered).toBe(chronyPlain.answered)
    expect(chronyKod.kods + chronyKod.dropped).toBe(chronyPlain.dropped)
  })

  it('leaves unanswered what the server left unanswered, uses the given pricing, and replays only time requests', () => {
    const builder = new LogBuilder(32)
    for (let i = 0; i < 100; i++)
      builder.add({address: '192.0.2.9', reply: i % 2, replyIpBytes: 96, timeSec: T0 + 64 * i})
    builder.add({address: '192.0.2.9', mode: 6, timeSec: T0 + 1})
    const result = simulateLimiters(builder.build(), {
      pricing: flatPricing(0.09),
      settings: [DEFAULT_LIMITER_SETTINGS[0]!],
    })
    expect(result.requests).toBe(100)
    expect(result.baseline.egressBytes).toBe(50 * 96)
    expect(result.baseline.unanswered).toBe(50)
    // Before issue 22 the replay answered all 100 (savings −100%): it can only answer the 50 the server did.
    expect(result.results[0]).toMatchObject({answered: 50, dropped: 0, egressBytes: 50 * 96, savedBytes: 0})
    expect(result.results[0]!.annualCostUsd).toBeCloseTo(
      costOfRate((50 * 96) / (64 * 99), flatPricing(0.09)).yearlyUsd,
      9,
    )
  })

  it('refuses a capture it cannot extrapolate from', () => {
    const single = new LogBuilder().add({address: '192.0.2.1', timeSec: T0}).build()
    expect(() => simulateLimiters(single)).toThrow(BillwatchError)
    expect(() => simulateLimiters(single)).toThrow(expect.objectContaining({code: 'E_NO_DATA', field: 'durationSec'}))
  })
})

describe('parseLimiterSetting', () => {
  it('reads settings written like the daemons configure them, defaults filled in', () => {
    expect(parseLimiterSetting('ntpd average 4 minimum 1 kod')).toEqual({
      algorithm: 'ntpd',
      average: 4,
      kod: true,
      minimum: 1,
    })
    expect(parseLimiterSetting('ntpd')).toEqual({algorithm: 'ntpd', average: 3, kod: false, minimum: 2})
    expect(parseLimiterSetting('ntpsec average 2 burst 10 kod 1')).toEqual({
      algorithm: 'ntpsec',
      average: 2,
      burst: 10,
      kod: true,
      kodRate: 1,
    })
    expect(parseLimiterSetting('ntpsec nokod')).toMatchObject({kod: false, kodRate: 0.5})
    expect(parseLimiterSetting('chrony interval 1 burst 4 leak 3 kod 1')).toEqual({
      algorithm: 'chrony',
      burst: 4,
      interval: 1,
      kod: 1,
      leak: 3,
    })
    expect(parseLimiterSetting('chrony:interval=-1,burst=2')).toEqual({
      algorithm: 'chrony',
      burst: 2,
      interval: -1,
      kod: 0,
      leak: 2,
    })
  })

  it('round-trips through describeSetting', () => {
    expect(describeSetting(parseLimiterSetting('chrony interval 3 burst 8 leak 2'))).toBe(
      'chrony: ratelimit interval 3 burst 8 leak 2',
    )
    expect(describeSetting(parseLimiterSetting('ntpd kod'))).toBe(
      'ntpd: restrict default limited kod; discard average 3 minimum 2',
    )
  })

  it('names what it expected when a setting is wrong', () => {
    expect(() => parseLimiterSetting('openntpd')).toThrow(
      expect.objectContaining({code: 'E_USAGE', expected: 'ntpd, ntpsec or chrony', got: 'openntpd'}),
    )
    expect(() => parseLimiterSetting('chrony average 3')).toThrow(
      expect.objectContaining({code: 'E_USAGE', expected: 'interval, burst, leak, kod', got: 'average'}),
    )
  })

  it('refuses values the daemon would clamp or reject, instead of replaying something else', () => {
    const refused = (text: string) => {
      try {
        parseLimiterSetting(text)
      } catch (error) {
        return (error as Error).message
      }
      return 'accepted'
    }
    expect(refused('chrony burst 0')).toBe(
      '--limiter: chrony burst must be an integer from 1 to 255, expected 1..255, got "0"',
    )
    expect(refused('chrony leak 5')).toBe(
      '--limiter: chrony leak must be an integer from 1 to 4, expected 1..4, got "5"',
    )
    expect(refused('chrony interval 2.5')).toMatch(/chrony interval must be an integer from -19 to 12/)
    expect(refused('ntpsec burst 0')).toMatch(/ntpsec burst must be a number from 0.001/)
    expect(refused('chrony burst')).toBe('--limiter: chrony burst needs a number, expected burst N, got "burst"')
    expect(refused('ntpd kod 2')).toBe('--limiter: ntpd kod takes no value, expected kod, got "kod 2"')
    expect(refused('chrony interval -19 burst 255 leak 4 kod 4')).toBe('accepted')
  })
})
