/**
 * The real @aws-sdk/client-cloudtrail and @aws-sdk/client-config-service against a local endpoint that
 * speaks their AWS JSON 1.1 protocols: pagination tokens, the 2 requests per second LookupEvents allows,
 * throttling, and access denied naming the IAM action.
 */
import {afterEach, describe, expect, it} from 'vitest'

import {configHistoryFromApi} from '../../src/correlate/aws-config.js'
import {correlate} from '../../src/correlate/index.js'
import {loadKnowledge} from '../../src/correlate/knowledge.js'
import {lookupTrailEvents} from '../../src/correlate/cloudtrail.js'
import {isBillwatchError} from '../../src/errors.js'
import {authorize, noiseEvents, NTP_GROUP, NTP_INSTANCE, trailRecord} from '../../samples/scripts/cloud-records.js'
import {storyEvents, storyItems} from '../../samples/scripts/make-cloud-samples.js'
import {type AwsEndpoint, type AwsEndpointOptions, startAwsEndpoint} from '../helpers/aws-endpoint.js'

const WINDOW = {since: Date.parse('2014-03-23T00:00:00Z'), until: Date.parse('2014-03-31T00:00:00Z')}
const STEP = {
  date: '2014-03-30',
  direction: 'up' as const,
  drivers: [NTP_INSTANCE],
  ratio: 2274,
  regions: ['us-east-1'],
  resourceId: NTP_INSTANCE,
  usageType: 'DataTransfer-Out',
}

let endpoint: AwsEndpoint | undefined
afterEach(async () => {
  await endpoint?.close()
  endpoint = undefined
})

async function start(options: AwsEndpointOptions) {
  endpoint = await startAwsEndpoint(options)
  return {
    connection: {credentials: endpoint.credentials, endpoint: endpoint.url, maxAttempts: 4, region: 'us-east-1'},
    endpoint,
  }
}

const story = [...storyEvents(), ...noiseEvents(300, WINDOW.since, WINDOW.until, 7)].map(trailRecord)

/** The most requests of one region that arrived within any one second. */
function busiestSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b)
  let best = 0
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= 1000) j++
    best = Math.max(best, i - j + 1)
  }
  return best
}

describe('LookupEvents', () => {
  it('pages through the write events of the window and ranks the UDP 123 rule first', async () => {
    const {connection, endpoint} = await start({trail: {'us-east-1': story}, trailEventsPerPage: 20})
    const result = await lookupTrailEvents(WINDOW, {connection, regions: ['us-east-1']})
    const calls = endpoint.callsOf('LookupEvents')
    const writes = story.filter((r) => r.readOnly === false)
    expect(calls.length).toBe(Math.ceil(writes.length / 20))
    expect(calls[0]!.headers['x-amz-target']).toBe('CloudTrail_20131101.LookupEvents')
    expect(calls[0]!.body).toMatchObject({
      EndTime: WINDOW.until / 1000,
      LookupAttributes: [{AttributeKey: 'ReadOnly', AttributeValue: 'false'}],
      MaxResults: 50,
      StartTime: WINDOW.since / 1000,
    })
    expect(calls.slice(1).every((c) => typeof c.body.NextToken === 'string')).toBe(true)
    expect(result.eventsRead).toBe(writes.length)
    // A window from 2014 is older than the 90 days event history keeps: said, with where to look instead.
    expect(result.notes).toEqual([
      expect.stringMatching(/^LookupEvents keeps 90 days: before \d{4}-\d\d-\d\d read the trail's log files/),
    ])
    expect(
      (await lookupTrailEvents(WINDOW, {connection, now: WINDOW.until + 86_400_000, regions: ['us-east-1']})).notes,
    ).toEqual([])
    const ranked = await correlate({
      aptLogs: [],
      cloudtrail: {connection, regions: ['us-east-1']},
      daysAfter: 1,
      daysBefore: 7,
      dpkgLogs: [],
      knowledge: loadKnowledge(),
      limit: 5,
      logZone: 'UTC',
      repo: null,
      steps: [STEP],
    })
    const top = ranked.steps[0]!.candidates[0]!
    expect(top.cloud?.[0]).toMatchObject({
      action: 'rule-added',
      instances: [NTP_INSTANCE],
      resource: NTP_GROUP,
      rule: {direction: 'ingress', fromPort: 123, peers: ['0.0.0.0/0'], protocol: 'udp'},
    })
    expect(top.reason).toContain(
      'was opened to the world on UDP 123 by arn:aws:iam::123456789012:user/ops at 2014-03-29 18:40 UTC',
    )
  })

  it('asks each region for itself, never above 2 requests per second per region', async () => {
    const other = [
      authorize({
        cidr: '0.0.0.0/0',
        from: 53,
        group: 'sg-0eeeeeee22223333',
        protocol: 'udp',
        time: '2014-03-28T12:00:00Z',
        to: 53,
      }),
    ].map((e) => trailRecord({...e, region: 'eu-west-1'}))
    // The endpoint throttles as the service does past 2 a second: any throttled request would be seen.
    const {connection, endpoint} = await start({
      lookupEventsPerSecond: 2,
      trail: {'eu-west-1': other, 'us-east-1': story},
      trailEventsPerPage: 10,
    })
    const started = Date.now()
    const result = await lookupTrailEvents(WINDOW, {connection, regions: ['us-east-1', 'eu-west-1']})
    const calls = endpoint.callsOf('LookupEvents')
    expect(calls.every((c) => c.status === 200)).toBe(true)
    const east = calls.filter((c) => c.region === 'us-east-1')
    expect(east.length).toBeGreaterThan(4)
    expect(calls.filter((c) => c.region === 'eu-west-1')).toHaveLength(1)
    expect(busiestSecond(east.map((c) => c.at))).toBeLessThanOrEqual(2)
    // Paced, not bunched: n requests take at least (n - 1) / 2 seconds.
    expect(Date.now() - started).toBeGreaterThanOrEqual(((east.length - 1) / 2) * 1000 - 50)
    expect(result.regions).toEqual(['eu-west-1', 'us-east-1'])
    expect(result.changes.some((c) => c.cloud?.[0]?.region === 'eu-west-1' && c.cloud[0].rule?.fromPort === 53)).toBe(
      true,
    )
  }, 30_000)

  it('rides out ThrottlingException with the SDK backoff, each retry paced too', async () => {
    const {connection, endpoint} = await start({
      faults: [{action: 'LookupEvents', kind: 'throttle', times: 2}],
      trail: {'us-east-1': story},
    })
    const result = await lookupTrailEvents(WINDOW, {connection, regions: ['us-east-1']})
    const calls = endpoint.callsOf('LookupEvents')
    expect(calls.filter((c) => c.status === 400)).toHaveLength(2)
    expect(busiestSecond(calls.map((c) => c.at))).toBeLessThanOrEqual(2)
    expect(result.changes.length).toBeGreaterThan(0)
  }, 30_000)

  it('access denied names the IAM action to add', async () => {
    const {connection} = await start({faults: [{action: 'LookupEvents', kind: 'deny', times: Infinity}], trail: {}})
    const error = await lookupTrailEvents(WINDOW, {connection, regions: ['us-east-1']}).catch((e: unknown) => e)
    expect(isBillwatchError(error)).toBe(true)
    expect((error as Error).message).toContain('cloudtrail:LookupEvents')
    expect((error as {suggestions: string[]}).suggestions.join(' ')).toContain('"Action": "cloudtrail:LookupEvents"')
  })
})

describe('GetResourceConfigHistory', () => {
  it('reads the step instance, follows its security groups, pages, and finds the rule with its instance', async () => {
    const {connection, endpoint} = await start({configItems: storyItems(), configItemsPerPage: 1})
    const result = await configHistoryFromApi(WINDOW, {connection, resources: [NTP_INSTANCE]})
    const calls = endpoint.callsOf('GetResourceConfigHistory')
    expect(calls[0]!.headers['x-amz-target']).toBe('StarlingDoveService.GetResourceConfigHistory')
    expect(new Set(calls.map((c) => c.body.resourceId))).toEqual(
      new Set([NTP_INSTANCE, NTP_GROUP, 'sg-0a0a0a0a11112222']),
    )
    expect(calls.some((c) => typeof c.body.nextToken === 'string')).toBe(true)
    // The 8-day window is asked a week at a time: no call spans more than seven days.
    expect(
      calls.every((c) => c.body.earlierTime === undefined || c.body.laterTime - c.body.earlierTime <= 7 * 86_400),
    ).toBe(true)
    const opened = result.changes.flatMap((c) => c.cloud ?? []).find((f) => f.rule?.fromPort === 123)
    expect(opened).toMatchObject({
      action: 'rule-added',
      instances: [NTP_INSTANCE],
      resource: NTP_GROUP,
      rule: {peers: ['0.0.0.0/0'], protocol: 'udp'},
    })
  })

  it('access denied names config:GetResourceConfigHistory', async () => {
    const {connection} = await start({
      configItems: storyItems(),
      faults: [{action: 'GetResourceConfigHistory', kind: 'deny', times: Infinity}],
    })
    const error = await configHistoryFromApi(WINDOW, {connection, resources: [NTP_INSTANCE]}).catch((e: unknown) => e)
    expect((error as Error).message).toContain('config:GetResourceConfigHistory')
  })
})
