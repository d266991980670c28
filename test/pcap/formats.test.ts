import {spawnSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {encodeClientRequest, encodeNtp, MODE} from '../../src/ntp/packet.js'
import {analyseCapture} from '../../src/pcap/analyse.js'
import {IP_PROTOCOL, LINKTYPE} from '../../src/pcap/decode.js'
import {
  CaptureWriter,
  type CaptureWriterOptions,
  ipPacket,
  linkFrame,
  type FrameOptions,
  udpBody,
  udpPacket,
} from '../../src/pcap/writer.js'
import {tempDir} from '../helpers/cli.js'
import {requireTool} from '../helpers/tools.js'

const {dir, cleanup} = tempDir('billwatch-pcap-formats-')
afterAll(cleanup)

const SERVER = '10.206.10.174'
const SERVER6 = '2001:db8::123'
const T0 = 1_402_256_000 // 2014-06-08T19:33:20Z

function request(seconds: number): Uint8Array {
  return encodeClientRequest({fraction: 0x1234_5678, seconds})
}

function reply(originSeconds: number, stratum = 2): Uint8Array {
  return encodeNtp({mode: MODE.server, originTime: {fraction: 0x1234_5678, seconds: originSeconds}, stratum})
}

/** Three NTP exchanges with two clients, one IPv6, wrapped in `linkType`. */
function exchangeFrames(linkType: number, frame: FrameOptions = {}): [number, Uint8Array][] {
  const v6 = linkType === LINKTYPE.ipv6
  const server = v6 ? SERVER6 : SERVER
  const clients = v6 ? ['2001:db8::1:1', '2001:db8::1:2'] : ['203.0.113.5', '198.51.100.9']
  const frames: [number, Uint8Array][] = []
  clients.forEach((client, c) => {
    for (let i = 0; i < 2 - c; i++) {
      const t = T0 + c * 10 + i
      frames.push([t, linkFrame(linkType, udpPacket(client, server, 40_000 + i, 123, request(t)), frame)])
      frames.push([t + 0.000_5, linkFrame(linkType, udpPacket(server, client, 123, 40_000 + i, reply(t)), frame)])
    }
  })
  return frames
}

function write(
  name: string,
  options: CaptureWriterOptions,
  frames: [number, Uint8Array][],
  interfaceOf: (i: number) => number = () => 0,
): string {
  const path = join(dir, name)
  const writer = new CaptureWriter(path, options)
  frames.forEach(([t, frame], i) => writer.packet(t, frame, {interfaceId: interfaceOf(i)}))
  writer.close()
  return path
}

/** What tshark reads: frame count, Σ frame.len, Σ frame.cap_len, Σ IP lengths, UDP/123 packets. */
function tshark(path: string): {
  frames: number
  wire: number
  captured: number
  ip: number
  ntp: number
  times: number[]
} {
  // spawnSync: tshark exits non-zero on a cut last record but still prints the whole ones.
  const out = spawnSync(
    requireTool('tshark'),
    [
      '-n',
      '-r',
      path,
      '-T',
      'fields',
      '-E',
      'separator=,',
      '-e',
      'frame.len',
      '-e',
      'frame.cap_len',
      '-e',
      'ip.len',
      '-e',
      'ipv6.plen',
      '-e',
      'udp.port',
      '-e',
      'frame.time_epoch',
    ],
    {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']},
  ).stdout
  const rows = out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(','))
  const sum = (i: number) => rows.reduce((s, r) => s + Number(r[i] ?? 0), 0)
  return {
    captured: sum(1),
    frames: rows.length,
    ip: rows.reduce((s, r) => s + (r[2] ? Number(r[2]) : r[3] ? 40 + Number(r[3]) : 0), 0),
    ntp: rows.filter((r) => r.slice(4, 6).includes('123')).length,
    times: rows.map((r) => Number(r.at(-1))),
    wire: sum(0),
  }
}

function expectSameAsTshark(path: string): ReturnType<typeof analyseCapture> {
  const analysis = analyseCapture(path)
  const reference = tshark(path)
  expect(analysis.packets).toBe(reference.frames)
  expect(analysis.bytes).toBe(reference.wire)
  expect(analysis.capturedBytes).toBe(reference.captured)
  expect(analysis.billableBytes).toBe(reference.ip)
  expect(analysis.ntp.requests + analysis.ntp.responses).toBe(reference.ntp)
  return analysis
}

describe('pcap byte orders and timestamp precision', () => {
  for (const [name, options] of [
    ['µs little-endian', {}],
    ['µs big-endian', {bigEndian: true}],
    ['ns little-endian', {nanoseconds: true}],
    ['ns big-endian', {bigEndian: true, nanoseconds: true}],
  ] as [string, CaptureWriterOptions][]) {
    it(`reads ${name} like tshark, with exact timestamps and matched replies`, () => {
      const path = write(`${name.replace(/\W+/g, '-')}.pcap`, options, exchangeFrames(LINKTYPE.ethernet))
      const analysis = expectSameAsTshark(path)
      expect(analysis.host?.address).toBe(SERVER)
      expect(analysis.firstSec).toBe(T0)
      expect(analysis.lastSec).toBeCloseTo(T0 + 10.0005, 6)
      expect(analysis.ntp.requests).toBe(3)
      expect(analysis.ntp.responses).toBe(3)
      expect(analysis.ntp.unanswered).toBe(0)
      expect([...analysis.ntp.log.reply]).toEqual([1, 1, 1])
      expect([...analysis.ntp.log.clients]).toEqual(['203.0.113.5', '198.51.100.9'])
      // 90-byte frames, 76-byte IP packets: the NTP pool server incident's numbers.
      expect(analysis.bytes).toBe(6 * 90)
      expect(analysis.billableBytes).toBe(6 * 76)
      // pcap file size = 24 + Σ(16 + caplen)
      expect(analysis.fileBytes).toBe(24 + 16 * analysis.packets + analysis.capturedBytes)
    })
  }
})

describe('link types', () => {
  const cases: [string, number, FrameOptions][] = [
    ['Ethernet', LINKTYPE.ethernet, {}],
    ['Ethernet 802.1Q', LINKTYPE.ethernet, {vlans: [42]}],
    ['Ethernet QinQ', LINKTYPE.ethernet, {qinq: true, vlans: [100, 42]}],
    ['Linux SLL', LINKTYPE.linuxSll, {packetType: 4}],
    ['Linux SLL2', LINKTYPE.linuxSll2, {packetType: 4}],
    ['raw IP (101)', LINKTYPE.raw, {}],
    ['raw IPv4 (228)', LINKTYPE.ipv4, {}],
    ['raw IPv6 (229)', LINKTYPE.ipv6, {}],
    ['BSD NULL', LINKTYPE.null, {}],
    ['OpenBSD LOOP', LINKTYPE.loop, {}],
  ]
  for (const [name, linkType, frame] of cases) {
    it(`decodes ${name} down to the NTP ports, like tshark`, () => {
      const path = write(
        `link-${linkType}-${name.replace(/\W+/g, '-')}.pcap`,
        {linkType},
        exchangeFrames(linkType, frame),
      )
      const analysis = expectSameAsTshark(path)
      expect(analysis.nonIpPackets).toBe(0)
      expect(analysis.ntp.requests).toBe(3)
      expect(analysis.ntp.answeredClients).toBe(2)
      expect(analysis.outbound.packets).toBe(3)
    })
  }
})

describe('pcapng', () => {
  it('reads several interfaces with their own link type, resolution and offset, SPB, obsolete PB and unknown blocks', () => {
    const path = join(dir, 'multi.pcapng')
    const writer = new CaptureWriter(path, {
      format: 'pcapng',
      interfaces: [
        {linkType: LINKTYPE.ethernet},
        {linkType: LINKTYPE.linuxSll2, tsresol: 9},
        {linkType: LINKTYPE.raw, tsoffset: 1_000_000, tsresol: 0x80 | 20},
      ],
    })
    const frames = exchangeFrames(LINKTYPE.ethernet)
    writer.packet(T0, frames[0]![1], {interfaceId: 0})
    writer.packet(
      T0 + 0.000_5,
      linkFrame(LINKTYPE.linuxSll2, udpPacket(SERVER, '203.0.113.5', 123, 40_000, reply(T0))),
      {interfaceId: 1},
    )
    // A Name Resolution Block (type 4, just its end-of-records) that readers skip by its length.
    const nameResolution = Buffer.alloc(16)
    nameResolution.writeUInt32LE(4, 0)
    nameResolution.writeUInt32LE(16, 4)
    nameResolution.writeUInt32LE(16, 12)
    writer.raw(nameResolution)
    writer.packet(T0 + 1, linkFrame(LINKTYPE.raw, udpPacket('198.51.100.9', SERVER, 5000, 123, request(T0 + 1))), {
      interfaceId: 2,
    })
    writer.packet(T0 + 2, frames[0]![1], {interfaceId: 0, obsolete: true})
    writer.close()
    const analysis = expectSameAsTshark(path)
    expect(analysis.format).toBe('pcapng')
    expect(analysis.linkTypes).toEqual([LINKTYPE.ethernet, LINKTYPE.linuxSll2, LINKTYPE.raw])
    expect(analysis.ntp.requests).toBe(3)
    expect(analysis.ntp.responses).toBe(1)
    expect(analysis.firstSec).toBe(T0)
    expect(analysis.lastSec).toBeCloseTo(T0 + 2, 5)
    expect([...analysis.ntp.log.timeSec].map((t) => Math.round(t * 1000) / 1000)).toEqual([T0, T0 + 1, T0 + 2])
  })

  it('reads a big-endian section followed by a little-endian one, and simple packet blocks', () => {
    const first = new CaptureWriter(undefined, {
      bigEndian: true,
      format: 'pcapng',
      interfaces: [{linkType: LINKTYPE.ethernet, snaplen: 0}],
    })
    const frames = exchangeFrames(LINKTYPE.ethernet)
    first.packet(frames[0]![0], frames[0]![1])
    first.packet(0, frames[1]![1], {simple: true})
    const second = new CaptureWriter(undefined, {format: 'pcapng', interfaces: [{linkType: LINKTYPE.raw, tsresol: 9}]})
    second.packet(frames[2]![0], udpPacket('198.51.100.9', SERVER, 40_000, 123, request(T0 + 10)))
    const path = join(dir, 'two-sections.pcapng')
    writeFileSync(path, Buffer.concat([first.bytes(), second.bytes()]))
    const analysis = expectSameAsTshark(path)
    expect(analysis.ntp.requests).toBe(2)
    expect(analysis.ntp.responses).toBe(1)
    // The simple packet has no timestamp: the span comes from the others.
    expect(analysis.firstSec).toBe(T0)
  })
})

describe('IP edge cases', () => {
  it('walks IPv6 extension headers to the UDP header and counts IPv6 and IPv4 fragments without parsing later ones', () => {
    const frames: [number, Uint8Array][] = []
    const eth = (ip: Uint8Array) => linkFrame(LINKTYPE.ethernet, ip)
    frames.push([
      T0,
      eth(
        ipPacket({
          body: udpBody(40_000, 123, request(T0)),
          dst: SERVER6,
          extensionHeaders: [0, 60],
          protocol: IP_PROTOCOL.udp,
          src: '2001:db8::7',
        }),
      ),
    ])
    frames.push([
      T0 + 0.001,
      eth(
        ipPacket({
          body: udpBody(123, 40_000, reply(T0)),
          dst: '2001:db8::7',
          extensionHeaders: [43],
          protocol: IP_PROTOCOL.udp,
          src: SERVER6,
        }),
      ),
    ])
    // A large UDP datagram in two IPv4 fragments: the first has ports, the second only payload.
    const big = udpBody(123, 40_001, new Uint8Array(1600))
    frames.push([
      T0 + 1,
      eth(
        ipPacket({
          body: big.subarray(0, 1480),
          dst: '203.0.113.5',
          moreFragments: true,
          protocol: IP_PROTOCOL.udp,
          src: '10.206.10.174',
        }),
      ),
    ])
    frames.push([
      T0 + 1,
      eth(
        ipPacket({
          body: big.subarray(1480),
          dst: '203.0.113.5',
          fragmentOffset: 185,
          protocol: IP_PROTOCOL.udp,
          src: '10.206.10.174',
        }),
      ),
    ])
    const path = write('ip-edges.pcap', {}, frames)
    const analysis = analyseCapture(path, {host: SERVER6})
    const reference = tshark(path)
    expect(analysis.packets).toBe(reference.frames)
    expect(analysis.billableBytes).toBe(reference.ip)
    expect(analysis.ipv6Packets).toBe(2)
    expect(analysis.fragments).toBe(2)
    expect(analysis.ntp.requests).toBe(1)
    expect(analysis.ntp.responses).toBe(1)
    expect([...analysis.ntp.log.clients]).toEqual(['2001:db8::7'])
    expect(analysis.ntp.log.replyIpBytes[0]).toBe(40 + 8 + 8 + 48)
    const v4 = analyseCapture(path, {host: '10.206.10.174'})
    // The later fragment is billed to its datagram's port, by reassembly key (issue 22).
    expect(v4.byPort.map((p) => [p.protocol, p.port, p.packets])).toEqual([['udp', 123, 2]])
    expect([v4.fragmentsAttributed, v4.fragmentsUnmatched]).toEqual([1, 0])
  })

  it('counts a snapped frame by its wire length and IP length, and non-IP frames as such', () => {
    const frames = exchangeFrames(LINKTYPE.ethernet)
    const path = join(dir, 'snap.pcap')
    const writer = new CaptureWriter(path, {snaplen: 64})
    for (const [t, frame] of frames) writer.packet(t, frame.subarray(0, 64), {origlen: frame.length})
    const arp = new Uint8Array(42)
    arp.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06])
    writer.packet(T0 + 20, arp)
    writer.close()
    const analysis = expectSameAsTshark(path)
    expect(analysis.snappedPackets).toBe(6)
    expect(analysis.bytes).toBe(6 * 90 + 42)
    expect(analysis.capturedBytes).toBe(6 * 64 + 42)
    expect(analysis.billableBytes).toBe(6 * 76)
    expect(analysis.nonIpPackets).toBe(1)
    // 64 captured bytes end inside the NTP header: requests still count, replies still match by port.
    expect(analysis.ntp.requests).toBe(3)
    expect(analysis.ntp.unanswered).toBe(0)
  })

  it('reports a truncated last record instead of failing', () => {
    const path = write('whole.pcap', {}, exchangeFrames(LINKTYPE.ethernet))
    const bytes = readFileSync(path)
    const cut = join(dir, 'cut.pcap')
    writeFileSync(cut, bytes.subarray(0, bytes.length - 30))
    const analysis = analyseCapture(cut)
    expect(analysis.packets).toBe(5)
    expect(analysis.truncated).toEqual({available: 16 + 60, needed: 16 + 90, offset: bytes.length - 106, record: 6})
    // tshark agrees on the five whole packets (it reports the cut one as an error).
    expect(tshark(cut).frames).toBe(5)
  })
})
