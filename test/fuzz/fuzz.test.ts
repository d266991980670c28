import {describe, expect, it} from 'vitest'

import {KINDS, runFuzz} from '../../bench/fuzz/harness.js'
import {propertyRuns} from '../helpers/property.js'

describe('the fuzz harness (bench/fuzz), a short seeded run', () => {
  it('mutates every input kind and finds no crash, hang, raw error, store change or escape sequence', async () => {
    const perKind = propertyRuns(14, 6)
    const report = await runFuzz({
      count: KINDS.length * perKind,
      fromSources: process.env.BILLWATCH_TEST_BUILD !== '1',
      jobs: 2,
      seed: 20,
      timeoutMs: 10_000,
    })
    expect(report.failures).toEqual([])
    for (const kind of KINDS) expect(report.byKind[kind]?.inputs).toBe(perKind)
    // The mutations reach both outcomes: inputs the CLI takes and inputs it refuses in one line.
    const counts = Object.values(report.byKind)
    expect(counts.reduce((n, c) => n + c.accepted, 0)).toBeGreaterThan(0)
    expect(counts.reduce((n, c) => n + c.refused, 0)).toBeGreaterThan(0)
  }, 900_000)
})
