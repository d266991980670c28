import {describe, expect, it} from 'vitest'

import {flatPricing} from '../../src/pricing/egress.js'
import {cumulativeShare, sortedTimes, thresholdTable} from '../../src/pcap/report.js'

// Ten clients with the incident's blocking table's query counts; each reply is 76 billable bytes.
const counts = [1, 1, 2, 3, 23, 51, 79, 289, 864, 18_287]
const requests = Uint32Array.from(counts)
const bytes = Float64Array.from(counts, (n) => n * 76)
const total = counts.reduce((a, b) => a + b, 0) * 76

describe('blocking thresholds', () => {
  it('picks, per cut share, the largest minimum that still cuts that much, and prices what is left', () => {
    const rows = thresholdTable(requests, bytes, 2693, flatPricing(0.12), [50])
    const cutOf = (min: number) => (counts.filter((c) => c >= min).reduce((a, b) => a + b, 0) * 76) / total
    // 18,287 of 19,600 requests come from one client: blocking it alone cuts 93%.
    expect(rows.map((r) => r.minQueries)).toEqual([1, 50, 864, 18_287, 18_288])
    for (const row of rows) expect(row.bandwidthCutShare).toBeCloseTo(cutOf(row.minQueries), 12)
    expect(rows.find((r) => r.minQueries === 864)!.blockedClients).toBe(2)
    // Nothing blocked: all 19,600 × 76 bytes over 2693 s at $0.12 per 2^30 bytes, for a year of 12 average months.
    const yearly = ((total / 2693) * 86_400 * 30.436875 * 12 * 0.12) / 2 ** 30
    expect(rows.at(-1)!.annualCost).toBeCloseTo(yearly, 2)
    expect(rows[0]!.annualCost).toBe(0)
  })

  it('draws the cumulative share: traffic to clients with at most N queries', () => {
    const points = cumulativeShare(requests, bytes)
    expect(points.at(-1)).toEqual({clientShare: 1, maxQueries: 18_287, trafficShare: 1})
    const at864 = points.find((p) => p.maxQueries === 864)!
    expect(at864.trafficShare).toBeCloseTo((total - 18_287 * 76) / total, 12)
    expect(at864.clientShare).toBeCloseTo(0.9, 12)
  })

  it('returns nothing for a capture without NTP replies', () => {
    expect(thresholdTable(new Uint32Array(0), new Float64Array(0), 10, flatPricing(0.12), [])).toEqual([])
    expect(cumulativeShare(new Uint32Array(0), new Float64Array(0))).toEqual([])
  })
})

describe("a top talker's request times", () => {
  it('come back as Float64Array sort orders them, whether the rows were in order or not', () => {
    const cases = [
      [1, 2, 2, 3.5, 10],
      [3, 1, 2],
      [5, 6, 4, 7],
      [0, 1, 2],
      [1, -0, 0, 2],
      [0, -0, 1],
      [Number.NaN, 1, 2],
      [1, Number.NaN, 0.5],
      [7],
      [],
    ]
    for (const values of cases) {
      // A column with rows of other clients around them.
      const column = Float64Array.from([99, ...values, -1])
      const times = sortedTimes(column, 1, 1 + values.length)
      const expected = Float64Array.from(values).sort()
      expect([...times].map((t) => (Object.is(t, -0) ? '-0' : String(t)))).toEqual(
        [...expected].map((t) => (Object.is(t, -0) ? '-0' : String(t))),
      )
      // A copy: the column stays as it was.
      expect([...column]).toEqual([99, ...values, -1])
    }
  })
})
