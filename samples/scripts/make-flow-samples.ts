/**
 * Writes the VPC Flow Logs samples (committed; rerun only to change them). Deterministic.
 *
 *   node --import tsx samples/scripts/make-flow-samples.ts
 *
 * 1. samples/captures/ntp-server.vpcflow.log: the packets of samples/captures/ntp-server.pcap as the
 *    NTP server's interface would have logged them — one record per 5-tuple and 60-second
 *    aggregation window, `bytes` the sum of IP total lengths (AWS counts IP bytes, as the bill does),
 *    in a custom version-5 format (fields in a non-default order, flow-direction included). Its
 *    egress bytes by port equal `billwatch pcap`'s billable outbound bytes on the same packets.
 * 2. samples/flows/AWSLogs/123456789012/vpcflowlogs/us-east-1/2014/MM/DD/…log.gz: the interface's flow
 *    logs from 2014-03-23 to 2014-04-05, around the bill's step, in the default format with the
 *    header line S3 delivery writes (one file per day here; AWS writes one per 5 minutes). Each day's
 *    accepted egress equals that day's DataTransfer-Out-Bytes in the sample usage report: SSH (tcp/22)
 *    carries the pre-step level, and from 2014-03-30 NTP replies (udp/123, 76 bytes each) to the
 *    capture's four busiest clients carry the rest, spread over 144 ten-minute windows. Each day also
 *    has a NODATA window, a REJECTed RDP probe, and one day a SKIPDATA record: none of them traffic.
 *
 * Sources: AWS VPC user guide, "Flow log records" and "Flow log record examples" (field names,
 * default order, NODATA/SKIPDATA layout) and "Publish flow logs to Amazon S3" (folder layout, file
 * name, header line).
 */
import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createHash} from 'node:crypto'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'

import {formatAddressWords} from '../../src/pcap/addresses.js'
import {PacketDecoder} from '../../src/pcap/decode.js'
import {CaptureReader} from '../../src/pcap/reader.js'
import {seededRandom} from '../../src/ratelimit/index.js'

const SAMPLES = join(import.meta.dirname, '..')
const ACCOUNT = '123456789012'
const ENI = 'eni-0a1b2c3d4e5f60718'
const INSTANCE = 'i-0a1b2c3d'
const VPC = 'vpc-0b1c2d3e4f5061728'
const SUBNET = 'subnet-0c1d2e3f405162738'
const FLOW_LOG = 'fl-0d1e2f3a4b5c6d7e8'
const NTP_BYTES = 76

interface Flow {
  src: string
  dst: string
  sp: number
  dp: number
  proto: number
  packets: number
  bytes: number
  start: number
  end: number
}

/** The capture's packets as 60-second flow records, and the server's address (the busiest). */
function captureFlows(path: string): {flows: Flow[]; host: string} {
  const reader = CaptureReader.open(path)
  const decoder = new PacketDecoder()
  const flows = new Map<string, Flow>()
  const seen = new Map<string, number>()
  try {
    while (reader.next()) {
      if (!decoder.decode(reader.data, reader.offset, reader.caplen, reader.origlen, reader.linkType)) continue
      const src = formatAddressWords(decoder.src0, decoder.src1, decoder.src2, decoder.src3)
      const dst = formatAddressWords(decoder.dst0, decoder.dst1, decoder.dst2, decoder.dst3)
      const sp = Math.max(0, decoder.srcPort)
      const dp = Math.max(0, decoder.dstPort)
      const second = Math.floor(reader.timeSec)
      const window = Math.floor(second / 60)
      const key = `${window}|${src}|${dst}|${sp}|${dp}|${decoder.protocol}`
      const flow = flows.get(key)
      if (flow) {
        flow.packets++
        flow.bytes += decoder.ipBytes
        flow.end = second
      } else {
        flows.set(key, {bytes: decoder.ipBytes, dp, dst, end: second, packets: 1, proto: decoder.protocol, sp, src, start: second})
      }
      seen.set(src, (seen.get(src) ?? 0) + 1)
      seen.set(dst, (seen.get(dst) ?? 0) + 1)
    }
  } finally {
    reader.close()
  }
  const host = [...seen.entries()].sort((a, b) => b[1] - a[1])[0]![0]
  return {flows: [...flows.values()], host}
}

function writeCaptureFlowLog(): {host: string; clients: string[]} {
  const {flows, host} = captureFlows(join(SAMPLES, 'captures', 'ntp-server.pcap'))
  const format = ['version', 'account-id', 'interface-id', 'instance-id', 'vpc-id', 'subnet-id', 'flow-direction', 'srcaddr', 'dstaddr', 'srcport', 'dstport',
    'protocol', 'packets', 'bytes', 'start', 'end', 'action', 'log-status', 'pkt-srcaddr', 'pkt-dstaddr', 'traffic-path']
  const lines = [format.join(' ')]
  for (const f of flows) {
    const egress = f.src === host
    lines.push([5, ACCOUNT, ENI, INSTANCE, VPC, SUBNET, egress ? 'egress' : 'ingress', f.src, f.dst, f.sp, f.dp, f.proto, f.packets, f.bytes, f.start, f.end,
      'ACCEPT', 'OK', f.src, f.dst, egress ? 8 : '-'].join(' '))
  }
  writeFileSync(join(SAMPLES, 'captures', 'ntp-server.vpcflow.log'), `${lines.join('\n')}\n`)
  // The capture's busiest NTP clients, by replies received.
  const replies = new Map<string, number>()
  for (const f of flows) if (f.src === host && f.sp === 123) replies.set(f.dst, (replies.get(f.dst) ?? 0) + f.packets)
  const clients = [...replies.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 4).map(([address]) => address)
  return {clients, host}
}

/** Daily DataTransfer-Out-Bytes of the sample usage report. */
function billedEgress(): Map<string, number> {
  const text = readFileSync(join(SAMPLES, 'billing', 'usage-report-ec2-2013-06-01_2014-06-01.csv'), 'utf8')
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const fields = line.split(',')
    if (fields[2] !== 'DataTransfer-Out-Bytes') continue
    const [mm, dd, yy] = (fields[4] ?? '').slice(0, 8).split('/')
    out.set(`20${yy}-${mm}-${dd}`, Number(fields[6]))
  }
  return out
}

function writeStoryFlowLogs(host: string, clients: string[]): void {
  const random = seededRandom(20_140_330)
  const egress = billedEgress()
  const root = join(SAMPLES, 'flows')
  rmSync(root, {force: true, recursive: true})
  const days: string[] = []
  for (let t = Date.UTC(2014, 2, 23); t <= Date.UTC(2014, 3, 5); t += 86_400_000) days.push(new Date(t).toISOString().slice(0, 10))
  const before = days.filter((d) => d < '2014-03-30').map((d) => egress.get(d)!)
  const sshLevel = Math.round(before.reduce((a, b) => a + b, 0) / before.length)
  const admin = '198.51.100.23'
  for (const day of days) {
    const dayStart = Date.parse(`${day}T00:00:00Z`) / 1000
    const total = egress.get(day)
    if (total === undefined) throw new Error(`no billed egress on ${day}`)
    const records: string[] = []
    const record = (src: string, dst: string, sp: number, dp: number, proto: number, packets: number, bytes: number, start: number, action = 'ACCEPT') =>
      records.push(`2 ${ACCOUNT} ${ENI} ${src} ${dst} ${sp} ${dp} ${proto} ${packets} ${bytes} ${start} ${start + 59} ${action} OK`)
    // NTP: whole 76-byte replies; SSH carries the rest of the day's billed egress.
    const ntpPackets = day < '2014-03-30' ? 0 : Math.floor((total - sshLevel) / NTP_BYTES)
    const sshBytes = total - ntpPackets * NTP_BYTES
    // SSH: one session a day, split over 12 windows (records of whole packets of about 1 KB).
    const sshPackets = Math.max(12, Math.round(sshBytes / 1052))
    let sshLeft = sshBytes
    let sshPacketsLeft = sshPackets
    for (let w = 0; w < 12; w++) {
      const start = dayStart + 9 * 3600 + w * 600
      const share = w === 11 ? sshLeft : Math.round(sshBytes / 12)
      const packets = w === 11 ? sshPacketsLeft : Math.round(sshPackets / 12)
      record(host, admin, 22, 50_022, 6, packets, share, start)
      record(admin, host, 50_022, 22, 6, Math.max(1, Math.round(packets / 2)), Math.max(52, Math.round(share / 20)), start)
      sshLeft -= share
      sshPacketsLeft -= packets
    }
    if (ntpPackets > 0) {
      // 144 ten-minute windows × the busiest clients; weights differ per client, as in the capture.
      const weights = clients.map((_, k) => 1 / (k + 1))
      const cells = 144 * clients.length
      let left = ntpPackets
      let cell = 0
      for (let w = 0; w < 144; w++) {
        const start = dayStart + w * 600
        clients.forEach((client, k) => {
          cell++
          const weight = weights[k]! / weights.reduce((a, b) => a + b, 0)
          const packets = cell === cells ? left : Math.min(left, Math.round((ntpPackets / 144) * weight * (0.9 + 0.2 * random())))
          left -= packets
          if (packets <= 0) return
          const port = 1024 + ((k * 7919 + w) % 60_000)
          record(host, client, 123, port, 17, packets, packets * NTP_BYTES, start + 1)
          record(client, host, port, 123, 17, packets, packets * NTP_BYTES, start)
        })
      }
    }
    // Not traffic: a window with no packets, a rejected probe, and (one day) records AWS skipped.
    records.push(`2 ${ACCOUNT} ${ENI} - - - - - - - ${dayStart + 3 * 3600} ${dayStart + 3 * 3600 + 600} - NODATA`)
    record('203.0.113.66', host, 40_000 + Math.floor(random() * 20_000), 3389, 6, 1, 40, dayStart + 14 * 3600, 'REJECT')
    if (day === '2014-04-02') records.push(`2 ${ACCOUNT} ${ENI} - - - - - - - ${dayStart + 5 * 3600} ${dayStart + 5 * 3600 + 600} - SKIPDATA`)
    const text = `version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n${records.join('\n')}\n`
    const [y, m, d] = day.split('-')
    const dir = join(root, 'AWSLogs', ACCOUNT, 'vpcflowlogs', 'us-east-1', y!, m!, d!)
    mkdirSync(dir, {recursive: true})
    const hash = createHash('sha256').update(text).digest('hex').slice(0, 8)
    writeFileSync(join(dir, `${ACCOUNT}_vpcflowlogs_us-east-1_${FLOW_LOG}_${y}${m}${d}T2355Z_${hash}.log.gz`), gzipSync(text, {level: 9}))
  }
}

const {clients, host} = writeCaptureFlowLog()
writeStoryFlowLogs(host, clients)
console.log(`wrote samples/captures/ntp-server.vpcflow.log and samples/flows/ (host ${host}, clients ${clients.join(', ')})`)
