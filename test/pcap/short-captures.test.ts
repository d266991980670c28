import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {analyseCapture} from '../../src/pcap/analyse.js'
import {capturePackets} from '../../src/pcap/reader.js'
import {renderPcapReport} from '../../src/pcap/render.js'
import {buildReport, RATE_RULE} from '../../src/pcap/report.js'
import {CaptureWriter} from '../../src/pcap/writer.js'
import {captureOverview} from '../../src/report/tables.js'
import {ROOT, tempDir} from '../helpers/cli.js'
import {captureInNamespace} from '../helpers/netns-capture.js'

const {dir, cleanup} = tempDir('billwatch-pcap-short-')
afterAll(cleanup)

/** One NTP exchange on a loopback, as the 4.5 ms, two-packet capture: a request and its reply. */
const ONE_EXCHANGE = `
const dgram = require('node:dgram')
const server = dgram.createSocket('udp4')
server.on('message', (request, from) => {
  const reply = Buffer.alloc(48)
  reply[0] = 0x24; reply[1] = 2; reply[2] = 6; reply[3] = 0xec
  request.copy(reply, 24, 40, 48)
  reply.writeUInt32BE(Math.floor(Date.now() / 1000) + 2208988800, 40)
  server.send(reply, from.port, from.address, () => server.close())
})
server.bind({address: '127.0.0.123', port: 123}, () => {
  const client = dgram.createSocket('udp4')
  const request = Buffer.alloc(48)
  request[0] = 0x23
  request.writeUInt32BE(0x12345678, 40)
  client.on('message', () => client.close())
  client.send(request, 123, '127.0.0.123')
})
`

let exchange: string
beforeAll(async () => {
  exchange = await captureInNamespace(join(dir, 'one-exchange.pcap'), {mtu: 1500}, ONE_EXCHANGE)
}, 60_000)

describe('rates only where the capture supports them', () => {
  it('a capture of one exchange (milliseconds, two packets) gives counts but no rate, monthly or yearly figure', () => {
    const analysis = analyseCapture(exchange, {host: '127.0.0.123'})
    expect(analysis.packets).toBe(2)
    expect(analysis.durationSec).toBeLessThan(1)
    const report = buildReport(analysis)
    // The warning heads `pcap --json`.
    expect(Object.keys(JSON.parse(JSON.stringify(report)))[0]).toBe('warnings')
    expect(report.warnings).toEqual([
      {
        code: 'thin-capture',
        message: expect.stringContaining(`at least ${RATE_RULE.minSeconds} s and ${RATE_RULE.minPackets} packets`),
      },
    ])
    expect(report.outbound.kbitPerSec).toBeNull()
    expect(report.inbound.billableKbitPerSec).toBeNull()
    expect(report.cost.outbound).toEqual({bytesPerSec: null, gbPerMonth: null, monthlyUsd: null, yearlyUsd: null})
    expect(report.cost.ntp.yearlyUsd).toBeNull()
    expect(report.ntp.topTalkers[0]!.qps).toBeNull()
    expect(report.ntp.thresholds.every((row) => row.annualCost === null)).toBe(true)
    expect(report.ntp.rateLimiting).toBeUndefined()
    // Counts are still counts.
    expect([report.ntp.requests, report.ntp.responses, report.outbound.billableBytes]).toEqual([1, 1, 76])
    // People reading it see why, in the pcap output and in the HTML report's overview.
    expect(renderPcapReport(report)).toContain('warning (thin-capture)')
    expect(renderPcapReport(report)).toContain(
      'outbound withheld/month = withheld/month, withheld/year; NTP alone withheld/year',
    )
    expect(captureOverview(report)).toContain('caution (thin-capture)')
  })

  it('a capture under a minute keeps its rates and says how long a capture would give ±10%', () => {
    // The first 30 s of a busy NTP server's capture (the sample: 4 minutes).
    const path = join(dir, 'thirty-seconds.pcap')
    const writer = new CaptureWriter(path)
    let first: number | undefined
    for (const packet of capturePackets(join(ROOT, 'samples/captures/ntp-server.pcap'))) {
      first ??= packet.timeSec
      if (packet.timeSec - first <= 30) writer.packet(packet.timeSec, packet.frame, {origlen: packet.origlen})
    }
    writer.close()
    const analysis = analyseCapture(path)
    const report = buildReport(analysis)
    const packets = analysis.outbound.packets + analysis.inbound.packets
    expect(packets).toBeGreaterThan(RATE_RULE.packetsForTenPercent)
    expect(report.warnings.map((w) => w.code)).toEqual(['short-capture'])
    // Enough packets for ±10% already: the advice is the one-minute floor.
    expect(report.warnings[0]!.message).toContain('a capture of about 60 s')
    expect(report.outbound.kbitPerSec).toBeCloseTo((analysis.outbound.bytes * 8) / 1000 / analysis.durationSec, 9)
    expect(report.cost.ntp.gbPerMonth).toBeGreaterThan(0)
    expect(report.cost.ntp.yearlyUsd).not.toBeNull()
  })

  it('a full capture carries no warning', () => {
    expect(buildReport(analyseCapture(join(ROOT, 'samples/captures/ntp-server.pcap'))).warnings).toEqual([])
  })
})
