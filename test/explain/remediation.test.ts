import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {remediation} from '../../src/explain/remediation.js'
import {analyseCapture} from '../../src/pcap/analyse.js'
import {buildReport} from '../../src/pcap/report.js'
import {parseLimiterSetting} from '../../src/ratelimit/index.js'
import {SAMPLES} from '../helpers/cli.js'

const CAPTURE = join(SAMPLES, 'captures', 'ntp-server.pcap')

describe('remediation snippets', () => {
  const analysis = analyseCapture(CAPTURE)

  it("give each snippet the effect of replaying the snippet's own setting", () => {
    const report = buildReport(analysis)
    const results = report.ntp.rateLimiting!.results
    const chrony = results.find((r) => r.setting === 'chrony: ratelimit interval 3 burst 8 leak 2')!
    const ntpsec = results.find((r) => r.setting === 'ntpsec: restrict default limited kod; limit average 1 burst 20 kod 0.5')!
    const [ntpSnippet, chronySnippet] = remediation(report).snippets
    expect(chronySnippet!.config).toContain('ratelimit interval 3 burst 8 leak 2')
    const count = (n: number) => n.toLocaleString('en-US')
    expect(chronySnippet!.effect).toContain(`${count(chrony.answered)} of ${count(chrony.requests)} requests answered, ${chrony.kods} KoDs`)
    expect(ntpSnippet!.effect).toContain(`${count(ntpsec.answered)} of ${count(ntpsec.requests)} requests answered, ${ntpsec.kods} KoDs`)
    // The sample's figures, written as every other count is (thousands separators).
    // 1,039, not 1,041: the replay answers only requests the server answered (issue 22).
    expect(chronySnippet!.effect).toMatch(/^replaying the capture: 1,039 of 1,928 requests answered, 0 KoDs, egress cut 46\.0% /)
  })

  it('claim no effect for a snippet when only other settings were replayed (pcap --limiter)', () => {
    const report = buildReport(analysis, {limiters: [parseLimiterSetting('chrony interval 1 burst 16 leak 2'), parseLimiterSetting('ntpsec average 2 burst 40')]})
    expect(report.ntp.rateLimiting!.results).toHaveLength(2)
    expect(remediation(report).snippets.map((s) => s.effect)).toEqual([null, null])
    expect(remediation(report).rateLimiting).toHaveLength(2)
  })
})
