import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {encodeClientRequest, encodeNtp, MODE} from '../../src/ntp/packet.js'
import {analyseCapture} from '../../src/pcap/analyse.js'
import {IP_PROTOCOL, LINKTYPE} from '../../src/pcap/decode.js'
import {CaptureWriter, ipPacket, linkFrame, udpBody, udpPacket} from '../../src/pcap/writer.js'
import {tempDir} from '../helpers/cli.js'
import {withEnv} from '../helpers/env.js'
import {tsharkRows} from '../helpers/tshark.js'

const {dir, cleanup} = tempDir('billwatch-pcap-tunnels-')
afterAll(cleanup)

const SERVER = '10.0.0.123'
const CLIENTS = ['203.0.113.5', '198.51.100.9', '192.0.2.77']

/** Inner traffic: each client's NTP request and the server's reply, as Ethernet frames. */
function exchanges(): Uint8Array[] {
  return CLIENTS.flatMap((client, i) => [
    linkFrame(
      LINKTYPE.ethernet,
      udpPacket(client, SERVER, 40_000 + i, 123, encodeClientRequest({fraction: i, seconds: 3_900_000_000 + i})),
    ),
    linkFrame(
      LINKTYPE.ethernet,
      udpPacket(
        SERVER,
        client,
        123,
        40_000 + i,
        encodeNtp({mode: MODE.server, originTime: {fraction: i, seconds: 3_900_000_000 + i}, stratum: 2}),
      ),
    ),
  ])
}

const bytes = (...parts: (number[] | Uint8Array)[]) => Uint8Array.from(parts.flatMap((part) => [...part]))
const u16 = (n: number) => [n >> 8, n & 255]
const u32 = (n: number) => [n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255]
const MACS = [0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]
/** The Ethernet frame's IP packet (after its 14-byte header). */
const ipOf = (frame: Uint8Array) => frame.subarray(14)

/**
 * Each encapsulation as the public specification lays it out, around the same inner frames: AWS VPC
 * Traffic Mirroring (VXLAN, UDP 4789, VNI per session: docs.aws.amazon.com/vpc/latest/mirroring),
 * Linux's VXLAN default port 8472, Geneve (RFC 8926, UDP 6081), GRE (RFC 2784) with IPv4 inside,
 * ERSPAN types I, II and III (draft-foschiano-erspan: GRE 0x88BE without/with sequence number and
 * an 8-byte header; 0x22EB with a 12-byte header), VN-Tag (EtherType 0x8926, IEEE 802.1Qbh) and
 * an MPLS label stack (RFC 3032, two labels).
 */
const TUNNELS: Record<
  string,
  {wrap: (inner: Uint8Array, n: number) => Uint8Array; name: string; options?: {vxlanPort: number}}
> = {
  'vxlan-4789': {
    name: 'VXLAN',
    wrap: (inner) =>
      linkFrame(
        LINKTYPE.ethernet,
        udpPacket('172.31.0.10', '172.31.0.20', 51_000, 4789, bytes([0x08, 0, 0, 0], u32(123 << 8), inner)),
      ),
  },
  'vxlan-8472': {
    name: 'VXLAN',
    options: {vxlanPort: 8472},
    wrap: (inner) =>
      linkFrame(
        LINKTYPE.ethernet,
        udpPacket('172.31.0.10', '172.31.0.20', 51_000, 8472, bytes([0x08, 0, 0, 0], u32(7 << 8), inner)),
      ),
  },
  geneve: {
    name: 'Geneve',
    wrap: (inner) =>
      linkFrame(
        LINKTYPE.ethernet,
        udpPacket('172.31.0.10', '172.31.0.20', 51_000, 6081, bytes([0, 0], u16(0x6558), u32(5 << 8), inner)),
      ),
  },
  'gre-ip': {
    name: 'GRE',
    wrap: (inner) =>
      linkFrame(
        LINKTYPE.ethernet,
        ipPacket({body: bytes([0, 0], u16(0x0800), ipOf(inner)), dst: '172.31.0.20', protocol: 47, src: '172.31.0.10'}),
      ),
  },
  'erspan-i': {
    name: 'ERSPAN type I',
    wrap: (inner) =>
      linkFrame(
        LINKTYPE.ethernet,
        ipPacket({body: bytes([0, 0], u16(0x88be), inner), dst: '172.31.0.20', protocol: 47, src: '172.31.0.10'}),
      ),
  },
  'erspan-ii': {
    name: 'ERSPAN type II',
    wrap: (inner, n) =>
      linkFrame(
        LINKTYPE.ethernet,
        ipPacket({
          body: bytes([0x10, 0], u16(0x88be), u32(n), [0x10, 0x01, 0x00, 0x64], u32(0), inner),
          dst: '172.31.0.20',
          protocol: 47,
          src: '172.31.0.10',
        }),
      ),
  },
  'erspan-iii': {
    name: 'ERSPAN type III',
    wrap: (inner, n) =>
      linkFrame(
        LINKTYPE.ethernet,
        ipPacket({
          body: bytes([0x10, 0], u16(0x22eb), u32(n), [0x20, 0x01, 0x00, 0x64], u32(n * 1000), [0, 0, 0, 0], inner),
          dst: '172.31.0.20',
          protocol: 47,
          src: '172.31.0.10',
        }),
      ),
  },
  'vn-tag': {
    name: 'VN-Tag',
    wrap: (inner) => bytes(MACS, u16(0x8926), [0x80, 0x01, 0x00, 0x02], u16(0x0800), ipOf(inner)),
  },
  mpls: {
    name: 'MPLS',
    wrap: (inner) => bytes(MACS, u16(0x8847), [0x00, 0x01, 0x00, 0x40], [0x00, 0x02, 0x01, 0x40], ipOf(inner)),
  },
}

function write(name: string): string {
  const path = join(dir, `${name}.pcap`)
  const writer = new CaptureWriter(path)
  exchanges().forEach((frame, n) => writer.packet(1_700_000_000 + n, TUNNELS[name]!.wrap(frame, n)))
  // One packet of the mirror's own, not tunnelled: billed as what it is.
  writer.packet(
    1_700_000_100,
    linkFrame(
      LINKTYPE.ethernet,
      ipPacket({
        body: udpBody(22, 50_000, new Uint8Array(40)),
        dst: '172.31.0.99',
        protocol: IP_PROTOCOL.udp,
        src: '172.31.0.10',
      }),
    ),
  )
  writer.close()
  return path
}

describe('tunnels are looked into, and the inner packets billed', () => {
  it.each(Object.keys(TUNNELS))(
    '%s: the inner NTP exchanges, their bytes as tshark sums them, the encapsulation named',
    (name) => {
      const tunnel = TUNNELS[name]!
      const path = write(name)
      const decodeAs = name === 'vxlan-8472' ? ['udp.port==8472,vxlan'] : []
      const options = {host: SERVER, ...tunnel.options}
      const native = withEnv({BILLWATCH_PCAP_NATIVE: '1'}, () => analyseCapture(path, options))
      const analysis = withEnv({BILLWATCH_PCAP_NATIVE: '0'}, () => analyseCapture(path, options))
      expect(native).toEqual(analysis)
      expect(analysis.encapsulations).toEqual({[tunnel.name]: CLIENTS.length * 2})
      expect([analysis.ntp.requests, analysis.ntp.responses, analysis.ntp.unanswered]).toEqual([3, 3, 0])
      expect([...analysis.ntp.log.clients].sort()).toEqual([...CLIENTS].sort())
      // tshark's innermost IP length of the server's replies: what the server sent, not the tunnel's.
      const replies = tsharkRows(path, `ip.src==${SERVER} && ntp`, ['ip.len'], decodeAs, true).map(([length]) =>
        Number(length),
      )
      expect(replies).toHaveLength(3)
      expect(analysis.outbound.billableBytes).toBe(replies.reduce((a, b) => a + b, 0))
      expect(analysis.byPort).toEqual([expect.objectContaining({packets: 3, port: 123, protocol: 'udp'})])
      expect(analysis.packets).toBe(CLIENTS.length * 2 + 1)
    },
  )

  it('a UDP packet to 4789 that is no VXLAN (no I flag) stays a UDP packet', () => {
    const path = join(dir, 'not-vxlan.pcap')
    const writer = new CaptureWriter(path)
    writer.packet(1, linkFrame(LINKTYPE.ethernet, udpPacket(SERVER, '192.0.2.1', 4789, 4789, new Uint8Array(60))))
    writer.close()
    const analysis = analyseCapture(path, {host: SERVER})
    expect(analysis.encapsulations).toEqual({})
    expect(analysis.byPort).toEqual([expect.objectContaining({packets: 1, port: 4789, protocol: 'udp'})])
  })
})
