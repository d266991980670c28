import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {analyseCapture, analyseCaptureParallel, servicePort} from '../../src/pcap/analyse.js'
import {IP_PROTOCOL, LINKTYPE} from '../../src/pcap/decode.js'
import {encodeClientRequest} from '../../src/ntp/packet.js'
import {CaptureWriter, ipPacket, linkFrame, udpBody, udpPacket} from '../../src/pcap/writer.js'
import {tempDir} from '../helpers/cli.js'
import {withEnv} from '../helpers/env.js'
import {captureInNamespace} from '../helpers/netns-capture.js'
import {tsharkRows, tsharkSum} from '../helpers/tshark.js'

const {dir, cleanup} = tempDir('billwatch-pcap-attribution-')
afterAll(cleanup)

/**
 * A DNS reflection as the kernel sends it: a resolver (127.0.0.53, fd00::53) answers spoofed ANY
 * queries with ~3 KB responses to a victim's port 22; over a 1280-byte MTU each response leaves as
 * three IP fragments, only the first carrying the UDP header (the shape of the capture, where
 * later fragments were over 60% of the host's bytes). Small answers go too, unfragmented.
 */
const REFLECTION = `
const dgram = require('node:dgram')
function response(id, answers) {
  const name = Buffer.from([7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0])
  const parts = [Buffer.from([id >> 8, id & 255, 0x81, 0x80, 0, 1, 0, answers, 0, 0, 0, 0]), name, Buffer.from([0, 255, 0, 1])]
  for (let i = 0; i < answers; i++) parts.push(Buffer.from([0xc0, 12, 0, 16, 0, 1, 0, 0, 14, 16, 0, 241, 240]), Buffer.alloc(240, 0x61 + i))
  return Buffer.concat(parts)
}
async function send(family, from, to) {
  const socket = dgram.createSocket(family)
  await new Promise((resolve) => socket.bind({address: from, port: 53}, resolve))
  for (let i = 0; i < 4; i++) await new Promise((resolve) => socket.send(response(i, i % 2 === 0 ? 12 : 1), 22, to, resolve))
  socket.close()
}
send('udp4', '127.0.0.53', '127.0.0.1').then(() => send('udp6', 'fd00::53', '::1'))
`

let reflection: string
beforeAll(async () => {
  reflection = await captureInNamespace(
    join(dir, 'dns-reflection.pcap'),
    {addresses: ['fd00::53/128'], mtu: 1280},
    REFLECTION,
  )
}, 60_000)

function bothScans(path: string, host: string) {
  const native = withEnv({BILLWATCH_PCAP_NATIVE: '1'}, () => analyseCapture(path, {host}))
  const javascript = withEnv({BILLWATCH_PCAP_NATIVE: '0'}, () => analyseCapture(path, {host}))
  expect(native).toEqual(javascript)
  return javascript
}

describe('traffic is filed under the service that sends it', () => {
  it.each([
    ['127.0.0.53', 'ip.src==127.0.0.53', 'ip.len', 'ip.frag_offset>0'],
    ['fd00::53', 'ipv6.src==fd00::53', 'ipv6.plen', 'ipv6.fraghdr.offset>0'],
  ])(
    'DNS replies from %s reflected to port 22, fragments included, are udp/53 (tshark sums)',
    (host, fromHost, lengthField, laterFragments) => {
      const analysis = bothScans(reflection, host)
      // ICMP port-unreachable errors quote the reply's header: tshark would match its inner source too.
      const sent = tsharkSum(reflection, `${fromHost} && !icmp && !icmpv6`, lengthField)
      const ipv6 = host.includes(':')
      const billable = sent.sum + (ipv6 ? 40 * sent.frames : 0)
      expect(analysis.outbound.packets).toBe(sent.frames)
      expect(analysis.outbound.billableBytes).toBe(billable)
      const later = tsharkRows(reflection, `${fromHost} && !icmp && !icmpv6 && (${laterFragments})`, [
        'frame.number',
      ]).length
      expect(later).toBeGreaterThanOrEqual(4)
      expect(analysis.fragmentsAttributed).toBe(later)
      expect(analysis.fragmentsUnmatched).toBe(0)
      expect(analysis.byPort).toEqual([
        expect.objectContaining({billableBytes: billable, packets: sent.frames, port: 53, protocol: 'udp'}),
      ])
    },
  )

  it('names a port by rank: well-known over registered over ephemeral; between equals, the host’s own', () => {
    expect(servicePort(53, 22)).toBe(53)
    expect(servicePort(22, 53)).toBe(22)
    expect(servicePort(41_000, 53)).toBe(53)
    expect(servicePort(123, 40_000)).toBe(123)
    expect(servicePort(50_000, 8080)).toBe(8080)
    expect(servicePort(8080, 50_000)).toBe(8080)
    expect(servicePort(123, 123)).toBe(123)
    expect(servicePort(33_001, 60_000)).toBe(33_001)
  })

  it('files the host’s own queries under the port it asks (the request’s destination), and a later fragment with no first one apart', () => {
    const path = join(dir, 'client-and-orphan.pcap')
    const writer = new CaptureWriter(path)
    const host = '10.0.0.5'
    // A query to a resolver from an ephemeral port: DNS, not "udp 41000".
    writer.packet(1, linkFrame(LINKTYPE.ethernet, udpPacket(host, '192.0.2.53', 41_000, 53, new Uint8Array(30))))
    writer.packet(1.1, linkFrame(LINKTYPE.ethernet, udpPacket('192.0.2.53', host, 53, 41_000, new Uint8Array(60))))
    // A later fragment whose first fragment the capture lacks (the capture started mid-datagram).
    writer.packet(
      2,
      linkFrame(
        LINKTYPE.ethernet,
        ipPacket({
          body: new Uint8Array(400),
          dst: '198.51.100.7',
          fragmentOffset: 185,
          protocol: IP_PROTOCOL.udp,
          src: host,
        }),
      ),
    )
    // A whole datagram, fragmented: its later fragment follows the first.
    const body = udpBody(123, 40_000, new Uint8Array(1600))
    writer.packet(
      3,
      linkFrame(
        LINKTYPE.ethernet,
        ipPacket({
          body: body.subarray(0, 1480),
          dst: '198.51.100.8',
          moreFragments: true,
          protocol: IP_PROTOCOL.udp,
          src: host,
        }),
      ),
    )
    writer.packet(
      3,
      linkFrame(
        LINKTYPE.ethernet,
        ipPacket({
          body: body.subarray(1480),
          dst: '198.51.100.8',
          fragmentOffset: 185,
          protocol: IP_PROTOCOL.udp,
          src: host,
        }),
      ),
    )
    writer.close()
    const analysis = bothScans(path, host)
    const rows = Object.fromEntries(analysis.byPort.map((row) => [`${row.protocol} ${row.port ?? '-'}`, row.packets]))
    expect(rows).toEqual({'udp 123': 2, 'udp 53': 1, 'udp fragments -': 1})
    expect(analysis.fragmentsAttributed).toBe(1)
    expect(analysis.fragmentsUnmatched).toBe(1)
  })

  it('a capture read in two halves bills a later fragment whose first fragment is in the other half, as one pass does', async () => {
    const path = join(dir, 'fragments-split.pcap')
    const writer = new CaptureWriter(path)
    const host = '10.0.0.5'
    for (let i = 0; i < 3000; i++) {
      const dst = `198.51.${(i >> 8) & 255}.${i & 255}`
      const body = udpBody(53, 22, new Uint8Array(1600))
      writer.packet(
        1000 + i,
        linkFrame(LINKTYPE.ethernet, udpPacket(dst, host, 40_000, 123, encodeClientRequest({fraction: i, seconds: i}))),
      )
      writer.packet(
        1000 + i,
        linkFrame(
          LINKTYPE.ethernet,
          ipPacket({body: body.subarray(0, 1480), dst, moreFragments: true, protocol: IP_PROTOCOL.udp, src: host}),
        ),
      )
      writer.packet(
        1000 + i,
        linkFrame(
          LINKTYPE.ethernet,
          ipPacket({body: body.subarray(1480), dst, fragmentOffset: 185, protocol: IP_PROTOCOL.udp, src: host}),
        ),
      )
    }
    writer.close()
    const onePass = analyseCapture(path, {host})
    expect([onePass.fragmentsAttributed, onePass.fragmentsUnmatched]).toEqual([3000, 0])
    for (const native of ['1', '0']) {
      const split = await withEnv({BILLWATCH_PCAP_NATIVE: native, BILLWATCH_PCAP_SPLIT_BYTES: '1000'}, () =>
        analyseCaptureParallel(path, {host}),
      )
      expect(split).toEqual(onePass)
    }
  })
})
