import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {encodeClientRequest, encodeNtp, MODE, unixMsToNtp} from '../../src/ntp/packet.js'
import {LINKTYPE} from '../../src/pcap/decode.js'
import {buildReport} from '../../src/pcap/report.js'
import {analyseCapture} from '../../src/pcap/analyse.js'
import {CaptureWriter, ipPacket, linkFrame, tcpBody, udpPacket} from '../../src/pcap/writer.js'
import {summariseCaptureFile, summarisePcapReport} from '../../src/probe/capture.js'
import {tempDir} from '../helpers/cli.js'

const HOST = '192.0.2.10'
const SERVER_PORT = 50_123
const temp = tempDir('billwatch-probe-capture-')
let capture: string
let replyFrameBytes = 0
let sshFrameBytes = 0

beforeAll(() => {
  // An NTP server on a high port: 20 clients poll it from ports below it, one from a port above.
  // Per-port totals credit a flow to its lower port, so only the last client's replies show under 50123.
  capture = join(temp.dir, 'high-port.pcap')
  const writer = new CaptureWriter(capture, {linkType: LINKTYPE.ethernet})
  let t = 1_700_000_000
  const clients = Array.from({length: 21}, (_, i) => ({
    address: `198.51.100.${i + 1}`,
    port: i < 20 ? 40_000 + i : 60_000,
  }))
  for (const {address, port} of clients) {
    for (let i = 0; i < 3; i++) {
      const nonce = unixMsToNtp(t * 1000)
      writer.packet(
        t,
        linkFrame(LINKTYPE.ethernet, udpPacket(address, HOST, port, SERVER_PORT, encodeClientRequest(nonce))),
      )
      const reply = linkFrame(
        LINKTYPE.ethernet,
        udpPacket(
          HOST,
          address,
          SERVER_PORT,
          port,
          encodeNtp({mode: MODE.server, originTime: nonce, receiveTime: nonce, stratum: 2, transmitTime: nonce}),
        ),
      )
      writer.packet(t + 0.001, reply)
      replyFrameBytes = reply.length
      t += 1
    }
  }
  const ssh = linkFrame(
    LINKTYPE.ethernet,
    ipPacket({body: tcpBody(22, 50_000, new Uint8Array(36)), dst: '198.51.100.250', protocol: 6, src: HOST}),
  )
  sshFrameBytes = ssh.length
  writer.packet(t, ssh)
  writer.close()
})
afterAll(() => temp.cleanup())

describe('the probe reading a capture', () => {
  it('counts every reply of a server on a port above its clients, not only the flows credited to that port', () => {
    const summary = summariseCaptureFile(capture, SERVER_PORT, HOST)
    const ntpBytes = 63 * replyFrameBytes
    expect(summary).toMatchObject({host: HOST, ntpBytes, ntpClients: 21, outboundBytes: ntpBytes + sshFrameBytes})
    expect(summary.ntpShare).toBeCloseTo(ntpBytes / (ntpBytes + sshFrameBytes), 12)
  })

  it('reads the per-port row for a port other than the one the capture was analysed for', () => {
    // Analysed for port 123, which nothing here uses: the figures for 50123 come from its byPort row,
    // which holds every reply now that the host's own port names its traffic (not the lower port).
    const report = buildReport(analyseCapture(capture, {host: HOST, ntpPort: 123}), {behaviour: false, top: 0})
    const summary = summarisePcapReport(report, SERVER_PORT, {createdAt: null, file: capture, source: 'file'})
    expect(summary).toMatchObject({ntpBytes: 63 * replyFrameBytes, ntpClients: null})
  })
})
