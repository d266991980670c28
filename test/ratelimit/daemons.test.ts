/**
 * Each limiter simulation against the real daemon on loopback: a scripted request train goes to the
 * daemon, the replies are recorded, and the same send times are replayed through the simulator.
 * ntpsec's limiter is deterministic, so every request must match. chrony answers some limited
 * requests at random (1 in 2^leak, never fewer than 1 in 16) and randomises its tick phase, so the
 * requests the model answers in every run must be answered, and the count of the others must sit
 * within a binomial bound of the model's expectation. Classic ntpd has no Debian 12 package: its
 * model is checked against worked numbers in limiters.test.ts.
 */
import {describe, expect, it} from 'vitest'

import {
  ANSWER,
  DROP,
  KOD,
  createLimiter,
  seededRandom,
  type Decision,
  type LimiterSetting,
} from '../../src/ratelimit/index.js'
import {startChronyd, startNtpsec} from '../helpers/ntp-daemons.js'
import {sendTrain, type TrainOutcome} from './request-train.js'

function observed(outcome: TrainOutcome): Decision {
  if (outcome.reply === 'none') return DROP
  // Unsynchronised ntpsec answers every request with INIT (an answer, RFC 5905 §7.4); only RATE is the limiter's KoD.
  return outcome.reply === 'kod' && outcome.kiss === 'RATE' ? KOD : ANSWER
}

function simulate(setting: LimiterSetting, outcomes: TrainOutcome[]): Decision[] {
  const limiter = createLimiter(setting, 1)
  return outcomes.map((outcome) => limiter.decide(0, outcome.sentAtSec))
}

const burst = (count: number, gapMs: number): number[] => new Array<number>(count).fill(gapMs)

describe.concurrent('rate-limit simulations against the real daemons on loopback', () => {
  it('ntpsec 1.2.2 with its default limit (average 1, burst 20, kod 0.5) decides every request as simulated', async () => {
    const daemon = await startNtpsec({config: ['restrict default kod limited nomodify noquery']})
    try {
      const outcomes = await sendTrain(daemon.address, daemon.port, [0, ...burst(39, 50)])
      const real = outcomes.map(observed)
      expect(real).toEqual(simulate({algorithm: 'ntpsec', average: 1, burst: 20, kod: true, kodRate: 0.5}, outcomes))
      expect(real.filter((d) => d === ANSWER)).toHaveLength(20)
      expect(real.filter((d) => d === KOD)).toHaveLength(11)
    } finally {
      await daemon.stop()
    }
  })

  it('ntpsec with `limit average 2 burst 4 kod 1` decides every request as simulated, through pauses that let the score decay', async () => {
    const daemon = await startNtpsec({
      config: ['restrict default kod limited nomodify noquery', 'limit average 2 burst 4 kod 1'],
    })
    try {
      const outcomes = await sendTrain(daemon.address, daemon.port, [
        0,
        ...burst(15, 30),
        1500,
        ...burst(9, 30),
        3000,
        ...burst(5, 300),
      ])
      const real = outcomes.map(observed)
      expect(real).toEqual(simulate({algorithm: 'ntpsec', average: 2, burst: 4, kod: true, kodRate: 1}, outcomes))
      // The train exercises all three outcomes, and recovery after the pauses.
      expect(new Set(real)).toEqual(new Set([ANSWER, KOD, DROP]))
    } finally {
      await daemon.stop()
    }
  })

  it('chrony 4.3 `ratelimit interval -1 burst 4 leak 2` answers what the token bucket guarantees, and a binomially plausible share of the rest', async () => {
    const setting: LimiterSetting = {algorithm: 'chrony', burst: 4, interval: -1, kod: 0, leak: 2}
    const daemon = await startChronyd({extraConfig: ['ratelimit interval -1 burst 4 leak 2'], waitForAnswer: false})
    let outcomes: TrainOutcome[]
    try {
      outcomes = await sendTrain(daemon.address, daemon.port, [
        0,
        ...burst(15, 40),
        1200,
        ...burst(15, 40),
        ...burst(4, 600),
      ])
    } finally {
      await daemon.stop()
    }
    const real = outcomes.map(observed)
    expect(real).not.toContain(KOD) // chrony 4.3 never sends KoD

    // The model's answer probability per request, over random leaks and tick phases.
    const runs = 2000
    const answeredIn = new Float64Array(outcomes.length)
    for (let run = 0; run < runs; run++) {
      const random = seededRandom(run + 1)
      const limiter = createLimiter(setting, 1, {random, tickOffsetSec: random() / 16})
      outcomes.forEach((outcome, i) => {
        if (limiter.decide(0, outcome.sentAtSec) === ANSWER) answeredIn[i]!++
      })
    }
    const probability = Array.from(answeredIn, (count) => count / runs)
    const certain = probability.flatMap((p, i) => (p === 1 ? [i] : []))
    expect(certain.length).toBeGreaterThanOrEqual(10) // first burst, refills after the pause, the slow tail
    for (const i of certain) expect({request: i, reply: real[i]}).toEqual({request: i, reply: ANSWER})

    const uncertain = probability.flatMap((p, i) => (p < 1 ? [i] : []))
    const expected = uncertain.reduce((sum, i) => sum + probability[i]!, 0)
    const sd = Math.sqrt(uncertain.reduce((sum, i) => sum + probability[i]! * (1 - probability[i]!), 0))
    const answeredUncertain = uncertain.filter((i) => real[i] === ANSWER).length
    expect(Math.abs(answeredUncertain - expected)).toBeLessThanOrEqual(4 * sd)
  })
})
