/**
 * Writes samples/cloudtrail/ and samples/aws-config/ (committed; rerun only to change them): the NTP pool
 * server incident as the account recorded it. On 2014-03-29 at 18:40 UTC arn:…:user/ops opened a new
 * security group to the world on UDP 123 and put it on i-0a1b2c3d, the instance whose egress rose
 * ~2000x from 2014-03-30. Around it, a week of what an account does every day: hundreds of reads,
 * sign-ins, tag changes, alarms, a denied call, a test instance launched and stopped, an SSH rule.
 * samples/scripts/make-terraform-repo.sh tells the same change as a Terraform repository.
 * Deterministic (seeded noise, fixed gzip headers).
 *
 *   node --import tsx samples/scripts/make-cloud-samples.ts
 */
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {gzipSync} from 'node:zlib'

import {
  ACCOUNT, authorize, BASE_GROUP, configHistoryPath, configItem, createSecurityGroup, deliver, groupConfiguration, instanceConfiguration,
  noiseEvents, NTP_GROUP, NTP_INSTANCE, REGION, runInstances, setInstanceGroups, stopInstances, trailRecord,
} from './cloud-records.js'

const SAMPLES = join(import.meta.dirname, '..')
const TEST_INSTANCE = 'i-0b2c3d4e'

/** The account's week: the story's three calls, a few other changes, and 400 that change nothing. */
export function storyEvents() {
  return [
    runInstances('2014-03-25T09:12:40Z', TEST_INSTANCE, 'ami-1f2e3d4c', [BASE_GROUP]),
    authorize({cidr: '203.0.113.0/24', from: 22, group: BASE_GROUP, protocol: 'tcp', time: '2014-03-26T14:05:00Z', to: 22}),
    stopInstances('2014-03-27T10:00:00Z', TEST_INSTANCE),
    createSecurityGroup('2014-03-29T18:38:02Z', NTP_GROUP, 'ntp-server'),
    authorize({cidr: '0.0.0.0/0', from: 123, group: NTP_GROUP, protocol: 'udp', ruleId: 'sgr-0d4c3b2a1f0e9d8c7', time: '2014-03-29T18:40:12Z', to: 123}),
    setInstanceGroups('2014-03-29T18:40:45Z', NTP_INSTANCE, [BASE_GROUP, NTP_GROUP]),
  ]
}

function writeGzipJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), {recursive: true})
  // gzip's header carries no name or time here (mtime 0), so the bytes are the same on every run.
  writeFileSync(path, gzipSync(JSON.stringify(value)))
}

function writeTrail(): void {
  const out = join(SAMPLES, 'cloudtrail')
  rmSync(out, {force: true, recursive: true})
  const since = Date.parse('2014-03-22T00:00:00Z')
  const until = Date.parse('2014-03-31T00:00:00Z')
  const records = [...storyEvents(), ...noiseEvents(400, since, until, 20_140_329)].map(trailRecord)
  records.sort((a, b) => String(a.eventTime).localeCompare(String(b.eventTime)))
  const files = deliver(records)
  // CloudTrail may deliver an event twice: the rule change again, in a later file.
  const rule = records.find((r) => r.eventName === 'AuthorizeSecurityGroupIngress' && (r.requestParameters as any).groupId === NTP_GROUP)!
  const later = [...files.keys()].find((k) => k.includes('20140329T1855Z'))
  if (later) files.get(later)!.push(rule)
  for (const [path, list] of files) writeGzipJson(join(out, path), {Records: list})
  // A digest file, as a trail with log file validation writes every hour: not events, skipped.
  writeGzipJson(join(out, `AWSLogs/${ACCOUNT}/CloudTrail-Digest/${REGION}/2014/03/29/${ACCOUNT}_CloudTrail-Digest_${REGION}_main_${REGION}_20140329T190000Z.json.gz`), {
    awsAccountId: ACCOUNT, digestEndTime: '2014-03-29T19:00:00Z', digestPublicKeyFingerprint: '0123456789abcdef0123456789abcdef', digestS3Bucket: 'example-trail',
    digestS3Object: 'digest', digestSignatureAlgorithm: 'SHA256withRSA', digestStartTime: '2014-03-29T18:00:00Z', logFiles: [], newestEventTime: null, oldestEventTime: null,
    previousDigestS3Bucket: null, previousDigestS3Object: null, previousDigestSignature: null,
  })
}

/** Configuration items of the instance and both groups: the week before as the baseline, then the change. */
export function storyItems() {
  const base = {groupId: BASE_GROUP, groupName: 'base'}
  const ntp = {groupId: NTP_GROUP, groupName: 'ntp-server'}
  const ssh = {cidr: '198.51.100.0/24', from: 22, protocol: 'tcp', to: 22}
  const toInstance = {name: 'Is associated with Instance', resourceId: NTP_INSTANCE, resourceType: 'AWS::EC2::Instance'}
  const toGroup = (g: {groupId: string}) => ({name: 'Is associated with SecurityGroup', resourceId: g.groupId, resourceType: 'AWS::EC2::SecurityGroup'})
  return [
    configItem({configuration: instanceConfiguration(NTP_INSTANCE, 'ami-5c3b2a19', [base]), id: NTP_INSTANCE, relationships: [toGroup(base)], stateId: 10, time: '2014-03-20T08:00:00Z', type: 'AWS::EC2::Instance'}),
    configItem({configuration: groupConfiguration(BASE_GROUP, 'base', [ssh]), id: BASE_GROUP, relationships: [toInstance], stateId: 4, time: '2014-03-20T08:00:00Z', type: 'AWS::EC2::SecurityGroup'}),
    configItem({configuration: groupConfiguration(BASE_GROUP, 'base', [ssh, {...ssh, cidr: '203.0.113.0/24'}]), id: BASE_GROUP, relationships: [toInstance], stateId: 5, time: '2014-03-26T14:05:31Z', type: 'AWS::EC2::SecurityGroup'}),
    configItem({configuration: groupConfiguration(NTP_GROUP, 'ntp-server', []), id: NTP_GROUP, stateId: 1, status: 'ResourceDiscovered', time: '2014-03-29T18:38:30Z', type: 'AWS::EC2::SecurityGroup'}),
    configItem({configuration: groupConfiguration(NTP_GROUP, 'ntp-server', [{cidr: '0.0.0.0/0', from: 123, protocol: 'udp', to: 123}]), id: NTP_GROUP, relationships: [toInstance], stateId: 2, time: '2014-03-29T18:40:51Z', type: 'AWS::EC2::SecurityGroup'}),
    configItem({configuration: instanceConfiguration(NTP_INSTANCE, 'ami-5c3b2a19', [base, ntp]), id: NTP_INSTANCE, relationships: [toGroup(base), toGroup(ntp)], stateId: 11, time: '2014-03-29T18:41:05Z', type: 'AWS::EC2::Instance'}),
  ]
}

function writeConfig(): void {
  const out = join(SAMPLES, 'aws-config')
  rmSync(out, {force: true, recursive: true})
  // Config delivers history per resource type about every six hours, only when something changed.
  const files = new Map<string, Array<Record<string, unknown>>>()
  for (const item of storyItems()) {
    const t = Date.parse(String(item.configurationItemCaptureTime))
    const end = Math.ceil(t / 21_600_000) * 21_600_000
    const path = configHistoryPath(String(item.resourceType), end - 21_600_000, end)
    files.set(path, [...(files.get(path) ?? []), item])
  }
  for (const [path, items] of files) writeGzipJson(join(out, path), {configurationItems: items, fileVersion: '1.0'})
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeTrail()
  writeConfig()
  console.log(`wrote ${join(SAMPLES, 'cloudtrail')} and ${join(SAMPLES, 'aws-config')}`)
}
