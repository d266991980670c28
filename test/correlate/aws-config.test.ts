/** AWS Config configuration history files as a source of changes (format: cloud-records.ts). */
import {mkdtempSync, mkdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'

import {describe, expect, it} from 'vitest'

import {itemFromApi, readConfigFiles} from '../../src/correlate/aws-config.js'
import {correlate} from '../../src/correlate/index.js'
import {loadKnowledge} from '../../src/correlate/knowledge.js'
import {
  configHistoryPath,
  configItem,
  groupConfiguration,
  NTP_GROUP,
  NTP_INSTANCE,
} from '../../samples/scripts/cloud-records.js'
import {SAMPLES} from '../helpers/cli.js'

const WINDOW = {since: Date.parse('2014-03-23T00:00:00Z'), until: Date.parse('2014-03-31T00:00:00Z')}
const STEP = {
  date: '2014-03-30',
  direction: 'up' as const,
  drivers: [NTP_INSTANCE],
  ratio: 2274,
  resourceId: NTP_INSTANCE,
  usageType: 'DataTransfer-Out',
}

describe('AWS Config history files', () => {
  it('the sample folder alone ranks the UDP 123 rule first, with the instance Config relates the group to', async () => {
    const result = await correlate({
      aptLogs: [],
      awsConfig: {path: join(SAMPLES, 'aws-config')},
      daysAfter: 1,
      daysBefore: 7,
      dpkgLogs: [],
      knowledge: loadKnowledge(),
      limit: 5,
      logZone: 'UTC',
      repo: null,
      steps: [STEP],
    })
    const [top] = result.steps[0]!.candidates
    expect(top).toMatchObject({author: null, source: 'aws-config', time: '2014-03-29T18:40:51Z'})
    expect(top!.cloud).toEqual([
      expect.objectContaining({
        action: 'rule-added',
        instances: [NTP_INSTANCE],
        resource: NTP_GROUP,
        rule: expect.objectContaining({fromPort: 123, peers: ['0.0.0.0/0'], protocol: 'udp'}),
      }),
    ])
    expect(top!.reason).toMatch(
      /^sg-0f1e2d3c4b5a69788 was opened to the world on UDP 123 at 2014-03-29 18:40 UTC, 0\.2 days before egress rose 2274x on i-0a1b2c3d, which this security group protects/,
    )
    // A new group's default allow-all egress rule is not a change anyone made.
    expect(result.steps[0]!.candidates.flatMap((c) => c.cloud ?? []).some((f) => f.rule?.direction === 'egress')).toBe(
      false,
    )
    expect(result.awsConfig).toMatchObject({itemsRead: 6, resources: ['i-0a1b2c3d', 'sg-0a0a0a0a11112222', NTP_GROUP]})
  })

  it('compares a removed rule against the item before the window, and reads the API item shape', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bw-config-'))
    const open = [{cidr: '0.0.0.0/0', from: 123, protocol: 'udp', to: 123}]
    const items = [
      configItem({
        configuration: groupConfiguration(NTP_GROUP, 'ntp', open),
        id: NTP_GROUP,
        stateId: 1,
        time: '2014-03-01T00:00:00Z',
        type: 'AWS::EC2::SecurityGroup',
      }),
      configItem({
        configuration: groupConfiguration(NTP_GROUP, 'ntp', []),
        id: NTP_GROUP,
        stateId: 2,
        time: '2014-03-28T00:00:00Z',
        type: 'AWS::EC2::SecurityGroup',
      }),
    ]
    for (const [i, item] of items.entries()) {
      const t = Date.parse(String(item.configurationItemCaptureTime))
      const path = join(dir, configHistoryPath('AWS::EC2::SecurityGroup', t - 3_600_000, t, i))
      mkdirSync(join(path, '..'), {recursive: true})
      writeFileSync(path, gzipSync(JSON.stringify({configurationItems: [item], fileVersion: '1.0'})))
    }
    const result = readConfigFiles(dir, WINDOW)
    expect(result.changes.map((c) => c.cloud)).toEqual([
      [expect.objectContaining({action: 'rule-removed', rule: expect.objectContaining({fromPort: 123})})],
    ])
    const api = itemFromApi({
      configuration: JSON.stringify(groupConfiguration(NTP_GROUP, 'ntp', open)),
      configurationItemCaptureTime: new Date('2014-03-29T18:40:51Z'),
      configurationItemStatus: 'OK',
      configurationStateId: '7',
      relationships: [
        {relationshipName: 'Is associated with Instance', resourceId: NTP_INSTANCE, resourceType: 'AWS::EC2::Instance'},
      ],
      resourceId: NTP_GROUP,
      resourceType: 'AWS::EC2::SecurityGroup',
    })
    expect(api).toMatchObject({
      captureTime: '2014-03-29T18:40:51.000Z',
      configuration: {groupId: NTP_GROUP},
      relationships: [{name: 'Is associated with Instance', resourceId: NTP_INSTANCE}],
      stateId: 7,
    })
  })

  it('names the file and the field for input that is not Config history', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bw-config-bad-'))
    writeFileSync(join(dir, 'x.json'), '{"Records": []}')
    expect(() => readConfigFiles(join(dir, 'x.json'), WINDOW)).toThrow(/x\.json.*configurationItems/)
    writeFileSync(join(dir, 'y.json'), '{"configurationItems": ')
    expect(() => readConfigFiles(join(dir, 'y.json'), WINDOW)).toThrow(/y\.json.*not JSON/)
  })
})
