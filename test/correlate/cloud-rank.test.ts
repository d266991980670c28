/** How account changes rank against each other, and when two sources' records are one change. */
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {accountChange, mergeCloudChanges, rule} from '../../src/correlate/cloud.js'
import {loadKnowledge} from '../../src/correlate/knowledge.js'
import {rankChanges} from '../../src/correlate/rank.js'
import type {Change, CloudFact, StepInput} from '../../src/correlate/types.js'

const STEP: StepInput = {
  date: '2014-03-30',
  direction: 'up',
  drivers: ['i-0a1b2c3d'],
  ratio: 2000,
  resourceId: 'i-0a1b2c3d',
  usageType: 'DataTransfer-Out',
}
const knowledge = loadKnowledge()

function ruleChange(spec: {
  protocol?: string
  from?: null | number
  to?: null | number
  peers?: string[]
  direction?: 'egress' | 'ingress'
  action?: CloudFact['action']
  group?: string
  instances?: string[]
  time?: string
  source?: 'aws-config' | 'cloudtrail'
}): Change {
  const fact: CloudFact = {
    action: spec.action ?? 'rule-added',
    instances: spec.instances ?? ['i-0a1b2c3d'],
    operation: 'AuthorizeSecurityGroupIngress',
    region: 'us-east-1',
    related: [],
    resource: spec.group ?? 'sg-0123456789abcdef0',
    resourceType: 'AWS::EC2::SecurityGroup',
    rule: rule(
      spec.direction ?? 'ingress',
      spec.protocol ?? 'udp',
      spec.from === undefined ? 123 : spec.from,
      spec.to === undefined ? 123 : spec.to,
      spec.peers ?? ['0.0.0.0/0'],
    ),
  }
  const time = spec.time ?? '2014-03-29T18:40:12Z'
  return accountChange({
    author: 'arn:aws:iam::123456789012:user/ops',
    facts: [fact],
    origin: `test#${Math.random()}`,
    recordedTime: time,
    source: spec.source ?? 'cloudtrail',
    subject: 'rule',
    time,
  })
}

const score = (change: Change, step: StepInput = STEP) => rankChanges(step, [change], {knowledge, repo: null})[0]!

describe('ranking account changes', () => {
  it('a port names its service: UDP 123 is NTP, TCP 22 SSH, every port less than a known service', () => {
    const ntp = score(ruleChange({}))
    expect(ntp.services).toEqual(['ntp'])
    expect(ntp.reason).toContain('UDP 123 is NTP')
    const ssh = score(ruleChange({from: 22, protocol: 'tcp', to: 22}))
    expect(ssh.reason).toContain('TCP 22 is SSH')
    const all = score(ruleChange({from: 0, protocol: 'tcp', to: 65_535}))
    expect(all.reason).toContain('every TCP port: every service on the instance is reachable')
    expect(ntp.score).toBeGreaterThan(all.score)
    expect(all.score).toBeGreaterThan(ssh.score)
  })

  it("the internet above a private range, ingress above egress, the step's instance above another (property)", () => {
    fc.assert(
      fc.property(fc.constantFrom(53, 80, 123, 443, 1194, 11_211), fc.constantFrom('tcp', 'udp'), (port, protocol) => {
        const base = {from: port, protocol, to: port}
        const world = score(ruleChange(base)).scores.relevance
        expect(score(ruleChange({...base, peers: ['10.0.0.0/8']})).scores.relevance).toBeLessThan(world)
        expect(score(ruleChange({...base, direction: 'egress'})).scores.relevance).toBeLessThan(world)
        expect(score(ruleChange({...base, instances: ['i-0fffffff']})).scores.relevance).toBeLessThan(world)
      }),
    )
  })

  it('for a fall, a revoked rule ranks above an added one', () => {
    const fall = {...STEP, direction: 'down' as const}
    expect(score(ruleChange({action: 'rule-removed'}), fall).score).toBeGreaterThan(score(ruleChange({}), fall).score)
    expect(score(ruleChange({action: 'rule-removed'}), fall).reason).toContain(
      'stopped allowing ingress UDP 123 from the world',
    )
  })

  it("an extra knowledge file can change the cloud weights, and names a bad one's field", () => {
    const dir = mkdtempSync(join(tmpdir(), 'bw-knowledge-'))
    writeFileSync(
      join(dir, 'k.json'),
      JSON.stringify({
        cloud: {actions: {'rule-added': {down: 0.2, summary: 'x', up: 0.1, usage: ['egress']}}, otherInstance: 0.9},
        services: [],
      }),
    )
    const custom = loadKnowledge(join(dir, 'k.json'))
    expect(custom.cloud.actions['rule-added']!.up).toBe(0.1)
    expect(custom.cloud.otherInstance).toBe(0.9)
    expect(custom.cloud.internetIngress).toBe(knowledge.cloud.internetIngress)
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({cloud: {egressRule: 3}, services: []}))
    expect(() => loadKnowledge(join(dir, 'bad.json'))).toThrow(/cloud\.egressRule/)
  })
})

describe('one change from several sources', () => {
  it("merges CloudTrail and Config records of the same rule within hours, not days; not another group's", () => {
    const trail = ruleChange({})
    const config = ruleChange({source: 'aws-config', time: '2014-03-29T18:40:51Z'})
    const merged = mergeCloudChanges([config, trail])
    expect(merged).toHaveLength(1)
    expect(merged[0]!.source).toBe('cloudtrail')
    expect(merged[0]!.alsoIn).toEqual([expect.stringMatching(/^aws-config /)])
    expect(mergeCloudChanges([trail, ruleChange({source: 'aws-config', time: '2014-03-31T18:40:51Z'})])).toHaveLength(2)
    expect(
      mergeCloudChanges([
        trail,
        ruleChange({group: 'sg-0fedcba987654321f', source: 'aws-config', time: '2014-03-29T18:40:51Z'}),
      ]),
    ).toHaveLength(2)
    expect(
      mergeCloudChanges([trail, ruleChange({from: 53, source: 'aws-config', time: '2014-03-29T18:40:51Z', to: 53})]),
    ).toHaveLength(2)
  })
})
