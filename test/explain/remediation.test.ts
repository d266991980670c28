import {join} from 'node:path'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {accountChange, rule} from '../../src/correlate/cloud.js'
import {loadKnowledge} from '../../src/correlate/knowledge.js'
import {rankChanges} from '../../src/correlate/rank.js'
import type {CloudFact, NetworkRule, StepInput} from '../../src/correlate/types.js'
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
    const ntpsec = results.find(
      (r) => r.setting === 'ntpsec: restrict default limited kod; limit average 1 burst 20 kod 0.5',
    )!
    const [ntpSnippet, chronySnippet] = remediation(report).snippets
    expect(chronySnippet!.config).toContain('ratelimit interval 3 burst 8 leak 2')
    const count = (n: number) => n.toLocaleString('en-US')
    expect(chronySnippet!.effect).toContain(
      `${count(chrony.answered)} of ${count(chrony.requests)} requests answered, ${chrony.kods} KoDs`,
    )
    expect(ntpSnippet!.effect).toContain(
      `${count(ntpsec.answered)} of ${count(ntpsec.requests)} requests answered, ${ntpsec.kods} KoDs`,
    )
    // The sample's figures, written as every other count is (thousands separators).
    // 1,039, not 1,041: the replay answers only requests the server answered (issue 22).
    expect(chronySnippet!.effect).toMatch(
      /^replaying the capture: 1,039 of 1,928 requests answered, 0 KoDs, egress cut 46\.0% /,
    )
  })

  it('claim no effect for a snippet when only other settings were replayed (pcap --limiter)', () => {
    const report = buildReport(analysis, {
      limiters: [
        parseLimiterSetting('chrony interval 1 burst 16 leak 2'),
        parseLimiterSetting('ntpsec average 2 burst 40'),
      ],
    })
    expect(report.ntp.rateLimiting!.results).toHaveLength(2)
    expect(remediation(report).snippets.map((s) => s.effect)).toEqual([null, null])
    expect(remediation(report).rateLimiting).toHaveLength(2)
  })
})

describe('NTP remedies from a change to the account', () => {
  const STEP: StepInput = {
    date: '2014-03-30',
    direction: 'up',
    drivers: ['i-0a1b2c3d'],
    ratio: 2000,
    resourceId: 'i-0a1b2c3d',
    usageType: 'DataTransfer-Out',
  }
  const knowledge = loadKnowledge()
  const candidate = (fact: CloudFact, source: 'aws-config' | 'cloudtrail' = 'cloudtrail') => {
    const change = accountChange({
      author: 'arn:aws:iam::123456789012:user/ops',
      facts: [fact],
      origin: `${source} test`,
      recordedTime: '2014-03-29T18:40:12Z',
      source,
      subject: 'rule',
      time: '2014-03-29T18:40:12Z',
    })
    return rankChanges(STEP, [change], {knowledge, repo: null})[0]!
  }
  const ruleFact = (r: NetworkRule, action: CloudFact['action'] = 'rule-added'): CloudFact => ({
    action,
    instances: ['i-0a1b2c3d'],
    operation: 'AuthorizeSecurityGroupIngress',
    region: 'us-east-1',
    related: [],
    resource: 'sg-0f1e2d3c4b5a69788',
    resourceType: 'AWS::EC2::SecurityGroup',
    rule: r,
  })

  it('a CloudTrail or Config record that opened UDP 123 is NTP evidence, and says what it opened', () => {
    for (const source of ['cloudtrail', 'aws-config'] as const) {
      const remedies = remediation(null, {
        change: candidate(ruleFact(rule('ingress', 'udp', 123, 123, ['0.0.0.0/0'])), source),
      })
      expect(remedies.ntpEvidence).toEqual([
        `the change behind the step opened UDP 123, the NTP port: sg-0f1e2d3c4b5a69788 was opened to the world on UDP 123 (${source})`,
      ])
      expect(remedies.snippets).toHaveLength(2)
      expect(remedies.other).toEqual([])
    }
    const listener: CloudFact = {
      action: 'listener-added',
      instances: [],
      listener: {port: 123, protocol: 'UDP'},
      operation: 'CreateListener',
      region: 'us-east-1',
      related: [],
      resource: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/ntp/1',
      resourceType: 'AWS::ElasticLoadBalancingV2::Listener',
    }
    expect(remediation(null, {change: candidate(listener)}).ntpEvidence).toHaveLength(1)
  })

  it('only an allowed inbound rule naming UDP ports that include 123 counts (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('tcp', 'udp', 'all'),
        fc.integer({max: 65_535, min: 0}),
        fc.integer({max: 400, min: 0}),
        fc.constantFrom('ingress', 'egress'),
        fc.constantFrom('rule-added', 'rule-removed'),
        fc.boolean(),
        fc.constantFrom('0.0.0.0/0', '10.0.0.0/8'),
        (protocol, from, width, direction, action, allow, peer) => {
          const to = Math.min(65_535, from + width)
          const r = rule(direction, protocol, from, to, [peer], allow)
          const opens =
            protocol === 'udp' &&
            direction === 'ingress' &&
            action === 'rule-added' &&
            allow &&
            from <= 123 &&
            to >= 123 &&
            !(from === 0 && to === 65_535)
          const remedies = remediation(null, {change: candidate(ruleFact(r, action))})
          expect(remedies.ntpEvidence.length > 0).toBe(opens)
          expect(remedies.snippets.length > 0).toBe(opens)
        },
      ),
      {numRuns: 300},
    )
  })
})
