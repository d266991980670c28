import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {analyseBehaviour, medianInPlace} from '../../src/behaviour/index.js'
import type {RequestLog} from '../../src/pcap/request-log.js'
import {DEFAULT_LIMITER_SETTINGS, simulateLimiters} from '../../src/ratelimit/index.js'

/** Arbitrary RequestLogs as a reader might fill them from odd captures: times out of order, any version/mode/reply. */
const requestLogs = fc
  .record({
    clients: fc.integer({max: 6, min: 1}),
    rows: fc.array(
      fc.record({
        client: fc.nat(),
        mode: fc.integer({max: 7, min: 0}),
        port: fc.integer({max: 65_535, min: 0}),
        reply: fc.integer({max: 2, min: 0}),
        time: fc.double({max: 5000, min: 0, noNaN: true}),
        version: fc.integer({max: 7, min: 0}),
      }),
      {maxLength: 300},
    ),
    spare: fc.nat({max: 5}),
  })
  .map(({clients, rows, spare}): RequestLog => {
    // Arrays longer than count, as a growing reader leaves them: only [0, count) may be read.
    const size = rows.length + spare
    const log: RequestLog = {
      client: new Uint32Array(size).fill(clients + 99),
      clients: Array.from({length: clients}, (_, c) => `192.0.2.${c}`),
      count: rows.length,
      mode: new Uint8Array(size),
      reply: new Uint8Array(size),
      replyIpBytes: new Uint16Array(size).fill(76),
      srcPort: new Uint16Array(size),
      timeSec: new Float64Array(size).fill(Number.NaN),
      version: new Uint8Array(size),
    }
    rows.forEach((row, i) => {
      log.client[i] = row.client % clients
      log.mode[i] = row.mode
      log.reply[i] = row.reply
      log.srcPort[i] = row.port
      log.timeSec[i] = 1_400_000_000 + row.time
      log.version[i] = row.version
    })
    return log
  })

describe('behaviour and rate limits on arbitrary request logs', () => {
  it('never throw, read only [0, count), and keep their counts consistent', () => {
    fc.assert(
      fc.property(requestLogs, (log) => {
        const behaviour = analyseBehaviour(log, {durationSec: 5000})
        for (const nat of behaviour.suspectedNat) expect(nat.estimatedHosts).toBeGreaterThanOrEqual(2)
        for (const fleet of behaviour.fleets) expect(Date.parse(fleet.start)).toBeLessThan(Date.parse(fleet.end))
        const limits = simulateLimiters(log, {durationSec: 5000, settings: DEFAULT_LIMITER_SETTINGS})
        for (const result of limits.results) {
          expect(result.answered + result.kods + result.dropped + limits.baseline.unanswered).toBe(limits.requests)
          expect(result.egressBytes).toBe(76 * (result.answered + result.kods))
        }
      }),
      {numRuns: 200},
    )
  })

  it('report nothing for an empty log, and refuse to price it', () => {
    const empty: RequestLog = {
      client: new Uint32Array(0),
      clients: [],
      count: 0,
      mode: new Uint8Array(0),
      reply: new Uint8Array(0),
      replyIpBytes: new Uint16Array(0),
      srcPort: new Uint16Array(0),
      timeSec: new Float64Array(0),
      version: new Uint8Array(0),
    }
    expect(analyseBehaviour(empty)).toMatchObject({
      clientsJudged: 0,
      fleets: [],
      misbehaving: [],
      suspectedNat: [],
      violations: [],
    })
    expect(() => simulateLimiters(empty)).toThrow(expect.objectContaining({code: 'E_NO_DATA'}))
  })
})

describe('medianInPlace', () => {
  it('equals the middle of the sorted values, for any length and with runs of equal values', () => {
    const sortedMedian = (values: number[]) => {
      const sorted = Float64Array.from(values).sort()
      const mid = sorted.length >> 1
      return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
    }
    // Small integers make long runs of equal values (a steady poller's gaps); doubles make none.
    const value = fc.oneof(
      fc.integer({max: 4, min: 0}),
      fc.double({max: 1e6, min: -1e6, noNaN: true}).map((x) => x + 0),
    ) // + 0: no -0
    fc.assert(
      fc.property(fc.array(value, {maxLength: 300, minLength: 1}), (values) => {
        const scratch = new Float64Array(values.length + 5).fill(-7)
        scratch.set(values)
        expect(medianInPlace(scratch, values.length)).toBe(sortedMedian(values))
        // It only reorders the range: the same values, nothing past it touched.
        expect([...scratch.subarray(0, values.length)].sort((a, b) => a - b)).toEqual([...values].sort((a, b) => a - b))
        expect([...scratch.subarray(values.length)]).toEqual([-7, -7, -7, -7, -7])
      }),
      {numRuns: 500, seed: 5905},
    )
    expect(medianInPlace(new Float64Array(0), 0)).toBeNaN()
    // 100,000 equal gaps: a selection that degenerated on equal values would take seconds here.
    expect(medianInPlace(new Float64Array(100_000).fill(64), 100_000)).toBe(64)
  })
})
