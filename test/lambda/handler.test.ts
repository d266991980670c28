import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {addDays} from '../../src/aws/window.js'
import {createHandler, ENV} from '../../src/lambda/handler.js'
import type {WatchReport} from '../../src/lambda/watch.js'
import {type AwsEndpoint, startAwsEndpoint} from '../helpers/aws-endpoint.js'
import {costsFromUsageReport, metricSeries} from '../aws/fixtures.js'
import {noiseEvents, trailRecord} from '../../samples/scripts/cloud-records.js'
import {storyEvents} from '../../samples/scripts/make-cloud-samples.js'

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:billwatch-alerts'
const NTP_SERVER = 'i-0a1b2c3d'

const costs = await costsFromUsageReport()
const ntpOut = metricSeries(costs, {instanceId: NTP_SERVER, metric: 'NetworkOut', usageType: 'DataTransfer-Out-Bytes'})

let endpoint: AwsEndpoint
const lines: string[] = []

beforeEach(async () => {
  endpoint = await startAwsEndpoint({costs, metrics: [ntpOut], topics: [TOPIC]})
  lines.length = 0
  // The handler gets endpoint, region and credentials the way it does in AWS: from the SDK's chain.
  vi.stubEnv('AWS_ENDPOINT_URL', endpoint.url)
  vi.stubEnv('AWS_ACCESS_KEY_ID', endpoint.credentials.accessKeyId)
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', endpoint.credentials.secretAccessKey)
  vi.stubEnv('AWS_REGION', 'us-east-1')
})

afterEach(async () => {
  vi.unstubAllEnvs()
  await endpoint.close()
})

/** The scheduled run of one day, as EventBridge invokes it. */
function scheduled(day: string) {
  return {'detail-type': 'Scheduled Event', time: `${day}T13:47:00Z`}
}

const handler = (env: Record<string, string> = {}) =>
  createHandler({env: {[ENV.topicArn]: TOPIC, [ENV.instances]: NTP_SERVER, ...env}, log: (line) => lines.push(line)})

describe('the Lambda handler', () => {
  it("alerts once for Cunnie's March 30 step, the first day it shows, and not on the next days' runs", async () => {
    const watch = handler()
    const reports: WatchReport[] = []
    for (let day = '2014-03-27'; day <= '2014-04-04'; day = addDays(day, 1)) reports.push(await watch(scheduled(day)))

    const alerting = reports.filter((r) => r.alerts.length > 0)
    expect(alerting).toHaveLength(1)
    expect(alerting[0]!.window.end).toBe('2014-03-31')
    expect(alerting[0]!.newestDay).toBe('2014-03-30')
    // The egress total's step, named after the instance whose NetworkOut stepped the same day.
    expect(alerting[0]!.alerts.map((a) => [a.usageType, a.resourceId, a.date])).toEqual([
      ['DataTransfer-Out', NTP_SERVER, '2014-03-30'],
    ])
    expect(endpoint.published).toHaveLength(1)
    const [sent] = endpoint.published
    expect(sent!.topicArn).toBe(TOPIC)
    // The instance first, with its own levels and ratio; then the account's egress.
    expect(sent!.subject).toMatch(
      new RegExp(`^billwatch: ${NTP_SERVER} \\d{4}x from 2014-03-30; DataTransfer-Out up \\d{3,4}x$`),
    )
    expect(sent!.message).toMatch(
      new RegExp(
        `From 2014-03-30: ${NTP_SERVER} went from 4\\.\\d+ MB to 8\\.29 GB a day, \\d{4}x; the account's egress rose \\d{3,4}x`,
      ),
    )

    // One structured JSON line per run; 60 days of Cost Explorer at the endpoint's 31 days per page: 2 requests.
    expect(lines).toHaveLength(reports.length)
    const logged = lines.map((l) => JSON.parse(l))
    expect(logged.every((l) => l.level === 'info' && l.msg === 'billwatch watch')).toBe(true)
    expect(logged[4]).toMatchObject({
      alerts: [{date: '2014-03-30', resourceId: NTP_SERVER}],
      requests: {cloudWatch: 1, costExplorer: 2},
    })
  })

  it('with BILLWATCH_CLOUDTRAIL=1 names the top cloud change of the week before the step, from LookupEvents', async () => {
    const records = [
      ...storyEvents(),
      ...noiseEvents(120, Date.parse('2014-03-23T00:00:00Z'), Date.parse('2014-03-31T00:00:00Z'), 5),
    ].map(trailRecord)
    endpoint.setData({trail: {'us-east-1': records}})
    const report = await handler({[ENV.cloudtrail]: '1'})(scheduled('2014-03-31'))
    expect(report.alerts).toHaveLength(1)
    expect(report.alerts[0]!.topChange).toMatch(
      /^sg-0f1e2d3c4b5a69788 was opened to the world on UDP 123 by arn:aws:iam::123456789012:user\/ops at 2014-03-29 18:40 UTC/,
    )
    expect(endpoint.published[0]!.message).toContain('Most likely change (CloudTrail')
    expect(endpoint.published[0]!.message).toContain('which this security group protects')
    const lookups = endpoint.callsOf('LookupEvents')
    expect(lookups.length).toBeGreaterThan(0)
    expect(lookups[0]!.body.LookupAttributes).toEqual([{AttributeKey: 'ReadOnly', AttributeValue: 'false'}])
  }, 60_000)

  it('does not alert for an old step it meets for the first time', async () => {
    const report = await handler()(scheduled('2014-05-20'))
    expect(report.steps).toBeGreaterThan(0)
    expect(report.alerts).toEqual([])
    expect(endpoint.published).toEqual([])
  })

  it('logs one error line naming sns:Publish when the topic refuses, and fails the invocation', async () => {
    endpoint.addFault({action: 'Publish', kind: 'deny', times: 1})
    await expect(handler()(scheduled('2014-03-31'))).rejects.toThrow('lacks permission sns:Publish')
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!)).toMatchObject({error: {code: 'E_AWS'}, level: 'error'})
  })

  it('refuses to run without a topic', async () => {
    const run = createHandler({env: {}, log: (line) => lines.push(line)})
    await expect(run(scheduled('2014-03-31'))).rejects.toThrow('BILLWATCH_TOPIC_ARN is not set')
    expect(endpoint.calls).toEqual([])
  })
})
