import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import fc from 'fast-check'
import {afterAll, describe, expect, it} from 'vitest'

import {type ClientGroups, groupByClient} from '../../src/behaviour/group.js'
import {encodeNtp, MODE} from '../../src/ntp/packet.js'
import {analyseCapture, analyseCaptureParallel, probeCapture, scanPart} from '../../src/pcap/analyse.js'
import {IP_PROTOCOL, LINKTYPE} from '../../src/pcap/decode.js'
import {groupLog, type NativeScanner, nativeScanner} from '../../src/pcap/native.js'
import type {RequestLog} from '../../src/pcap/request-log.js'
import {capturePackets} from '../../src/pcap/reader.js'
import {
  CaptureWriter,
  type FrameOptions,
  ipPacket,
  linkFrame,
  tcpBody,
  udpBody,
  udpPacket,
} from '../../src/pcap/writer.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'
import {withEnv} from '../helpers/env.js'

const {dir, cleanup} = tempDir('billwatch-pcap-native-')
afterAll(cleanup)

const SERVER = '10.206.10.174'

/** The loaded addon, with its calls counted: how many records the native path took. */
function countingScanner(): {scanner: NativeScanner; taken: () => number; restore: () => void} {
  const scanner = nativeScanner()
  if (!scanner) throw new Error('the native pcap scanner is not built: run npm run build:native')
  const original = scanner.scanRecords.bind(scanner)
  let records = 0
  scanner.scanRecords = (...args) => {
    original(...args)
    records += args[0][scanner.io.records]!
  }
  return {restore: () => (scanner.scanRecords = original), scanner, taken: () => records}
}

function withNative<T>(on: boolean, fn: () => T): T {
  return withEnv({BILLWATCH_PCAP_NATIVE: on ? '1' : '0'}, fn)
}

/** What `fn` returns, or the error it throws as {code, message}: both scans must fail alike too. */
function outcome(fn: () => unknown): unknown {
  try {
    return fn()
  } catch (error) {
    return {error: error instanceof Error ? [(error as {code?: string}).code, error.message] : error}
  }
}

/** The analysis both ways; the native one also says how many records the native path took. */
function bothWays(path: string, host?: string): {native: unknown; javascript: unknown; taken: number} {
  const counting = countingScanner()
  try {
    const native = withNative(true, () => outcome(() => analyseCapture(path, {host})))
    return {
      javascript: withNative(false, () => outcome(() => analyseCapture(path, {host}))),
      native,
      taken: counting.taken(),
    }
  } finally {
    counting.restore()
  }
}

describe('the native pcap scanner', () => {
  it('is built and loads (npm install and npm test build it)', () => {
    expect(withNative(true, () => nativeScanner())).toBeDefined()
    expect(withNative(false, () => nativeScanner())).toBeUndefined()
  })

  it('takes nearly every packet of an NTP server capture, pcap or pcapng, and gives the JavaScript scan result, count for count', () => {
    const path = join(SAMPLES, 'captures', 'ntp-server.pcap')
    // The same packets as pcapng, in nanoseconds, from two interfaces (dumpcap's default format).
    const pcapng = join(dir, 'ntp-server.pcapng')
    const writer = new CaptureWriter(pcapng, {
      format: 'pcapng',
      interfaces: [{linkType: LINKTYPE.ethernet, tsresol: 9}, {linkType: LINKTYPE.ethernet}],
    })
    let n = 0
    for (const packet of capturePackets(path))
      writer.packet(packet.timeSec, packet.frame, {interfaceId: n++ % 2, origlen: packet.origlen})
    writer.close()
    for (const file of [path, pcapng]) {
      const {javascript, native, taken} = bothWays(file)
      expect(native).toEqual(javascript)
      const packets = (javascript as {packets: number}).packets
      // The packets it leaves: KoD replies (counted by kiss code) and those that grow a table.
      expect(taken).toBeGreaterThan(packets * 0.95)
    }
  })

  it('gives the same `billwatch pcap --json` on both samples', async () => {
    for (const name of ['ntp-server.pcap', 'ntp-control.pcap']) {
      const path = join(SAMPLES, 'captures', name)
      const [on, off] = await Promise.all(
        ['1', '0'].map((native) =>
          runCli(['pcap', path, '--json', '--db', join(dir, `cli-${name}-${native}.duckdb`)], {
            env: {BILLWATCH_PCAP_NATIVE: native},
          }),
        ),
      )
      expect(on!.code).toBe(0)
      expect(on!.stdout).toBe(off!.stdout)
    }
  })

  it('grows the address table, client list and request log as the JavaScript scan does', () => {
    // ~30k clients and only requests in a ~3 MB file: the scan sizes its table for ~1.9k clients and
    // its log for ~15k rows, so the native path stops at each growth and hands that packet over.
    const path = join(dir, 'growth.pcap')
    const writer = new CaptureWriter(path)
    const request = encodeNtp({mode: MODE.client, transmitTime: {fraction: 7, seconds: 3_600_000_000}, version: 4})
    for (let i = 0; i < 30_000; i++) {
      const client = `100.${64 + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}`
      writer.packet(
        1_402_000_000 + i / 100,
        linkFrame(
          LINKTYPE.ethernet,
          ipPacket({
            body: udpBody(40_000 + (i % 7), 123, request),
            dst: SERVER,
            protocol: IP_PROTOCOL.udp,
            src: client,
          }),
        ),
      )
    }
    writer.close()
    const {javascript, native, taken} = bothWays(path, SERVER)
    expect(native).toEqual(javascript)
    expect((native as {ntp: {requestingClients: number}}).ntp.requestingClients).toBe(30_000)
    expect(taken).toBeGreaterThan(29_000)
    expect(taken).toBeLessThan(30_000)
  })

  it('decodes nothing of the other IP version on a raw IPv4 (228) or raw IPv6 (229) link, as tcpdump does', () => {
    const v4 = udpPacket('203.0.113.5', '10.206.10.174', 40_000, 123, new Uint8Array(48))
    const v6 = udpPacket('2001:db8::1:1', '2001:db8::123', 40_000, 123, new Uint8Array(48))
    for (const [linkType, right, wrong] of [
      [LINKTYPE.ipv4, v4, v6],
      [LINKTYPE.ipv6, v6, v4],
    ] as const) {
      const path = join(dir, `wrong-version-${linkType}.pcap`)
      const writer = new CaptureWriter(path, {linkType})
      writer.packet(1_402_256_000, linkFrame(linkType, right))
      for (let i = 1; i <= 3; i++) writer.packet(1_402_256_000 + i, linkFrame(linkType, wrong))
      writer.close()
      const {native, javascript} = bothWays(path)
      expect(native).toEqual(javascript)
      const analysis = javascript as {ipv4Packets: number; ipv6Packets: number; nonIpPackets: number; packets: number}
      expect(analysis.packets).toBe(4)
      expect(analysis.nonIpPackets).toBe(3)
      expect(analysis.ipv4Packets + analysis.ipv6Packets).toBe(1)
      expect(linkType === LINKTYPE.ipv4 ? analysis.ipv4Packets : analysis.ipv6Packets).toBe(1)
    }
  })

  it('grows the table of IPv6 addresses as the JavaScript scan does, taking IPv6 packets itself', () => {
    // 20k IPv6 clients asking an IPv6 server, with replies: the table of other
    // addresses starts at 16 slots, so the native path hands over each packet that would grow it.
    const path = join(dir, 'growth-v6.pcap')
    const writer = new CaptureWriter(path)
    const server = '2001:db8:7b::123'
    for (let i = 0; i < 20_000; i++) {
      const client = `2a00:${(i >> 12).toString(16)}:${(i & 0xfff).toString(16)}::1`
      const transmitTime = {fraction: i, seconds: 3_600_000_000}
      const request = encodeNtp({mode: MODE.client, transmitTime, version: 4})
      const reply = encodeNtp({mode: MODE.server, originTime: transmitTime, stratum: 2, version: 4})
      writer.packet(
        1_402_000_000 + i / 100,
        linkFrame(
          LINKTYPE.ethernet,
          ipPacket({
            body: udpBody(40_000 + (i % 7), 123, request),
            dst: server,
            protocol: IP_PROTOCOL.udp,
            src: client,
          }),
        ),
      )
      if (i % 5 !== 0)
        writer.packet(
          1_402_000_000 + i / 100 + 0.001,
          linkFrame(
            LINKTYPE.ethernet,
            ipPacket({
              body: udpBody(123, 40_000 + (i % 7), reply),
              dst: client,
              protocol: IP_PROTOCOL.udp,
              src: server,
            }),
          ),
        )
    }
    writer.close()
    const {javascript, native, taken} = bothWays(path, server)
    expect(native).toEqual(javascript)
    const result = native as {ipv6Packets: number; packets: number; ntp: {requestingClients: number; responses: number}}
    expect(result.ntp.requestingClients).toBe(20_000)
    expect(result.ntp.responses).toBe(16_000)
    expect(result.ipv6Packets).toBe(result.packets)
    expect(taken).toBeGreaterThan(result.packets * 0.95)
    expect(taken).toBeLessThan(result.packets)
  })

  it('reads a split part (replies whose request is in the earlier part kept for the merge) as the JavaScript scan does', () => {
    const path = join(SAMPLES, 'captures', 'ntp-server.pcap')
    const bytes = readFileSync(path)
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    let middle = 24
    while (middle < bytes.length / 2) middle += 16 + view.getUint32(middle + 8, true)
    const host = [0, 0, 0xffff, 0x0ace_0aae] as [number, number, number, number]
    for (const [from, to] of [
      [0, middle],
      [middle, bytes.length],
    ]) {
      const input = {from: from!, host, ntpPort: 123, path, to: to!}
      expect(withNative(true, () => scanPart(input))).toEqual(withNative(false, () => scanPart(input)))
    }
  })

  it('agrees with the JavaScript scan on random pcap and pcapng captures of every link type, byte order and packet kind', () => {
    // IPv6 among them, and an IPv4 address inside IPv6 packets (::ffff:a.b.c.d), which the table keeps with IPv4's.
    const ADDRESSES = [
      SERVER,
      '203.0.113.5',
      '203.0.113.6',
      '198.51.100.7',
      '2001:db8::1',
      '2001:db8::2',
      '::ffff:203.0.113.6',
    ]
    const linkTypes = [
      LINKTYPE.ethernet,
      LINKTYPE.linuxSll,
      LINKTYPE.linuxSll2,
      LINKTYPE.null,
      LINKTYPE.loop,
      LINKTYPE.raw,
      LINKTYPE.ipv4,
    ]
    const timestamp = fc.record({fraction: fc.constantFrom(0, 1, 99), seconds: fc.constantFrom(0, 3_600_000_000)})
    const ntp = fc.record({
      mode: fc.integer({max: 7, min: 0}),
      originTime: timestamp,
      stratum: fc.constantFrom(0, 2),
      transmitTime: timestamp,
      version: fc.integer({max: 4, min: 1}),
    })
    const packet = fc.record({
      cutTo: fc.option(fc.integer({max: 80, min: 0}), {freq: 8}),
      dst: fc.constantFrom(...ADDRESSES),
      dstPort: fc.constantFrom(123, 40_000, 53),
      fragment: fc.constantFrom(0, 0, 0, 0, 1, 2),
      ntp,
      payloadBytes: fc.constantFrom(48, 48, 48, 0, 10, 68),
      protocol: fc.constantFrom(IP_PROTOCOL.udp, IP_PROTOCOL.udp, IP_PROTOCOL.udp, IP_PROTOCOL.tcp, IP_PROTOCOL.icmp),
      src: fc.constantFrom(...ADDRESSES),
      srcPort: fc.constantFrom(123, 40_000, 40_001),
      vlans: fc.constantFrom([], [], [7], [7, 8]),
      zeroTotalLength: fc.boolean(),
    })
    const capture = fc.record({
      bigEndian: fc.boolean(),
      // pcapng: a second interface (another link type, binary-fraction timestamps, an offset); packets
      // in simple or obsolete blocks, and a new section partway (interfaces restart at 0).
      format: fc.constantFrom('pcap', 'pcapng'),
      host: fc.constantFrom(undefined, SERVER, '203.0.113.5', '2001:db8::1', '::ffff:203.0.113.6'),
      linkType: fc.constantFrom(...linkTypes),
      nanoseconds: fc.boolean(),
      packets: fc.array(
        fc.record({
          block: fc.constantFrom('epb', 'epb', 'epb', 'epb', 'epb', 'simple', 'obsolete', 'section'),
          iface: fc.constantFrom(0, 1),
          packet,
        }),
        {maxLength: 60},
      ),
      secondLinkType: fc.constantFrom(...linkTypes),
    })
    let n = 0
    let taken = 0
    let packets = 0
    fc.assert(
      fc.property(capture, (spec) => {
        const path = join(dir, `random-${n++}.${spec.format}`)
        const interfaces = [
          {linkType: spec.linkType, tsresol: spec.nanoseconds ? 9 : 6},
          {linkType: spec.secondLinkType, tsoffset: 1_000, tsresol: 0x80 | 20},
        ]
        const writer = new CaptureWriter(path, {
          bigEndian: spec.bigEndian,
          format: spec.format,
          interfaces: spec.format === 'pcapng' ? interfaces : undefined,
          linkType: spec.linkType,
          nanoseconds: spec.nanoseconds,
        })
        spec.packets.forEach(({block, iface: pcapngIface, packet: p}, i) => {
          const iface = spec.format === 'pcapng' && block !== 'simple' ? pcapngIface : 0
          const linkType = iface === 1 ? spec.secondLinkType : spec.linkType
          if (spec.format === 'pcapng' && block === 'section') writer.section(interfaces)
          const v6 = p.src.includes(':') !== p.dst.includes(':') ? false : p.src.includes(':')
          const payload = new Uint8Array(p.payloadBytes)
          payload.set(encodeNtp(p.ntp).subarray(0, p.payloadBytes))
          const body =
            p.protocol === IP_PROTOCOL.udp
              ? udpBody(p.srcPort, p.dstPort, payload)
              : p.protocol === IP_PROTOCOL.tcp
                ? tcpBody(p.srcPort, p.dstPort, payload)
                : payload
          const ip = ipPacket({
            body,
            dst: v6 ? p.dst : p.dst.includes(':') ? SERVER : p.dst,
            fragmentOffset: p.fragment === 2 ? 4 : 0,
            moreFragments: p.fragment === 1,
            protocol: p.protocol,
            src: v6 ? p.src : p.src.includes(':') ? '203.0.113.9' : p.src,
          })
          // Segmentation offload leaves 0 in the IPv4 total length.
          if (p.zeroTotalLength && !v6) ip[2] = ip[3] = 0
          const options: FrameOptions = linkType === LINKTYPE.ethernet ? {vlans: [...p.vlans]} : {}
          const frame = linkFrame(v6 && linkType === LINKTYPE.ipv4 ? LINKTYPE.raw : linkType, ip, options)
          const cut = p.cutTo === null ? frame : frame.subarray(0, Math.min(frame.length, p.cutTo))
          writer.packet(1_402_000_000 + i * 0.25, cut, {
            interfaceId: iface,
            obsolete: block === 'obsolete',
            origlen: frame.length,
            simple: block === 'simple',
          })
        })
        writer.close()
        const both = bothWays(path, spec.host)
        expect(both.native).toEqual(both.javascript)
        // The host probe: the same busiest address (ties among these few addresses are common), over all packets and
        // over a few, which the native scanner stops at.
        for (const limit of [7, 50_000])
          expect(withNative(true, () => outcome(() => probeCapture(path, limit, true)))).toEqual(
            withNative(false, () => outcome(() => probeCapture(path, limit, true))),
          )
        taken += both.taken
        packets += spec.packets.length
      }),
      {numRuns: 250},
    )
    // Most packets are ones it takes (IPv4, not fragments, nothing that is counted by name).
    expect(taken).toBeGreaterThan(packets * 0.2)
  })

  it('reads a capture of mostly fragments in two halves side by side, and an IPv6 or IPv4 one in one pass', async () => {
    // The probe's share of plain packets, IPv4 or IPv6 (no fragments, no tunnels), decides (NATIVE_ONE_PASS_SHARE).
    const request = encodeNtp({mode: MODE.client, transmitTime: {fraction: 3, seconds: 3_600_000_000}, version: 4})
    const write = (name: string, packet: (i: number) => Uint8Array) => {
      const path = join(dir, name)
      const writer = new CaptureWriter(path)
      for (let i = 0; i < 4000; i++) writer.packet(1_402_000_000 + i / 10, linkFrame(LINKTYPE.ethernet, packet(i)))
      writer.close()
      return path
    }
    const ipv6 = write('ipv6.pcap', (i) => {
      const client = i % 10 === 0 ? `203.0.113.${i % 200}` : `2001:db8::${(i % 300).toString(16)}`
      const server = client.includes(':') ? '2001:db8::123' : SERVER
      return ipPacket({body: udpBody(40_000, 123, request), dst: server, protocol: IP_PROTOCOL.udp, src: client})
    })
    const fragments = write('fragments.pcap', (i) =>
      ipPacket({
        body: udpBody(40_000, 123, request),
        dst: SERVER,
        fragmentOffset: i % 10 === 0 ? 0 : 4,
        moreFragments: i % 10 === 0 ? false : i % 2 === 0,
        protocol: IP_PROTOCOL.udp,
        src: `203.0.113.${i % 200}`,
      }),
    )
    const v6 = probeCapture(ipv6, 50_000, true)
    expect(v6.plainIpv4 / v6.records).toBeCloseTo(0.1, 2)
    expect((v6.plainIpv4 + v6.plainIpv6) / v6.records).toBe(1)
    const fragmented = probeCapture(fragments, 50_000, true)
    expect((fragmented.plainIpv4 + fragmented.plainIpv6) / fragmented.records).toBeCloseTo(0.1, 2)
    const sample = probeCapture(join(SAMPLES, 'captures', 'ntp-server.pcap'), 50_000, false)
    expect(sample.plainIpv4 / sample.records).toBe(1)
    // Either way the result is the one pass's.
    for (const path of [ipv6, fragments]) {
      const parallel = await withEnv({BILLWATCH_PCAP_NATIVE: '1', BILLWATCH_PCAP_SPLIT_BYTES: '0'}, () =>
        analyseCaptureParallel(path),
      )
      expect(parallel).toEqual(withNative(false, () => analyseCapture(path)))
    }
  })

  it('stops at a damaged or cut record as the JavaScript scan does', () => {
    const writer = new CaptureWriter(undefined)
    const request = encodeNtp({mode: MODE.client, transmitTime: {fraction: 1, seconds: 1}, version: 4})
    for (let i = 0; i < 50; i++)
      writer.packet(
        1_402_000_000 + i,
        linkFrame(
          LINKTYPE.ethernet,
          ipPacket({body: udpBody(40_000, 123, request), dst: SERVER, protocol: IP_PROTOCOL.udp, src: '203.0.113.5'}),
        ),
      )
    const whole = writer.bytes()
    const damaged = Buffer.from(whole)
    // Record 20's captured length: far beyond the snaplen.
    damaged.writeUInt32LE(0x7fff_ffff, 24 + 19 * (16 + 90) + 8)
    // The same as pcapng: block 20 (after the section header and interface block) claims more
    // captured bytes than it holds.
    const pcapngWriter = new CaptureWriter(undefined, {format: 'pcapng'})
    for (let i = 0; i < 50; i++)
      pcapngWriter.packet(
        1_402_000_000 + i,
        linkFrame(
          LINKTYPE.ethernet,
          ipPacket({body: udpBody(40_000, 123, request), dst: SERVER, protocol: IP_PROTOCOL.udp, src: '203.0.113.5'}),
        ),
      )
    const pcapng = pcapngWriter.bytes()
    const damagedPcapng = Buffer.from(pcapng)
    const blockAt = (k: number) => {
      let at = 0
      for (let block = 0; block < k; block++) at += damagedPcapng.readUInt32LE(at + 4)
      return at
    }
    damagedPcapng.writeUInt32LE(200, blockAt(21) + 20)
    const cases = {
      'cut.pcap': whole.subarray(0, whole.length - 30),
      'cut.pcapng': pcapng.subarray(0, pcapng.length - 30),
      'damaged.pcap': damaged,
      'damaged.pcapng': damagedPcapng,
    }
    for (const [name, bytes] of Object.entries(cases)) {
      const path = join(dir, name)
      writeFileSync(path, bytes)
      const {javascript, native, taken} = bothWays(path, SERVER)
      expect(native).toEqual(javascript)
      expect(taken).toBeGreaterThan(0)
      if (name.startsWith('damaged')) expect(JSON.stringify(native)).toContain('E_PCAP')
    }
  })
})

describe('the native grouping of the request log by client', () => {
  it('gives the JavaScript grouping, group for group, on random logs (clients without requests among them)', () => {
    fc.assert(
      fc.property(
        fc.integer({max: 40, min: 1}),
        fc.array(fc.tuple(fc.nat(), fc.double({noNaN: true}), fc.nat(0xffff), fc.nat(2), fc.nat(7)), {maxLength: 300}),
        fc.boolean(),
        (clientCount, rows, shared) => {
          const count = rows.length
          // The log's columns are longer than its rows, as the scan's are.
          const log: RequestLog = {
            client: Uint32Array.from([...rows.map(([c]) => c % clientCount), 0, 0]),
            clients: Array.from({length: clientCount}, (_, c) => `192.0.2.${c}`),
            count,
            mode: Uint8Array.from([...rows.map(([, , , , m]) => m), 9]),
            reply: Uint8Array.from([...rows.map(([, , , r]) => r), 9]),
            replyIpBytes: Uint16Array.from([...rows.map(([, , p]) => p ^ 0x5555), 9]),
            srcPort: Uint16Array.from([...rows.map(([, , p]) => p), 9]),
            timeSec: Float64Array.from([...rows.map(([, t]) => t), 9]),
            version: Uint8Array.from([...rows.map(([, , , , m]) => 7 - m), 9]),
          }
          const native = withNative(true, () => groupLog(log, {shared}))
          expect(native.timeSec.buffer instanceof SharedArrayBuffer).toBe(shared)
          const javascript = groupByClient(log)
          for (const key of Object.keys(javascript) as (keyof ClientGroups)[])
            expect([...native[key]], key).toEqual([...javascript[key]])
        },
      ),
      {numRuns: 200},
    )
  })

  it('gives the JavaScript grouping on a log long enough to be scattered on two threads', () => {
    const count = 300_000
    const clientCount = 5_000
    let state = 1
    const random = () => (state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0)
    const log: RequestLog = {
      client: new Uint32Array(count + 7),
      clients: Array.from({length: clientCount}, (_, c) => `192.0.2.${c}`),
      count,
      mode: new Uint8Array(count + 7),
      reply: new Uint8Array(count + 7),
      replyIpBytes: new Uint16Array(count + 7),
      srcPort: new Uint16Array(count + 7),
      timeSec: new Float64Array(count + 7),
      version: new Uint8Array(count + 7),
    }
    for (let row = 0; row < count; row++) {
      // A heavy tail: a few clients send most rows, and clients near the end send none.
      log.client[row] = random() % (random() % 2 === 0 ? 16 : clientCount - 100)
      log.timeSec[row] = 1_400_000_000 + row / 1000 + (random() % 1000) / 1e6
      log.srcPort[row] = random() & 0xffff
      log.replyIpBytes[row] = random() & 0xffff
      log.reply[row] = random() % 3
      log.mode[row] = random() % 8
      log.version[row] = random() % 8
    }
    for (const shared of [false, true]) {
      const native = withNative(true, () => groupLog(log, {shared}))
      const javascript = groupByClient(log)
      for (const key of Object.keys(javascript) as (keyof ClientGroups)[])
        expect(
          Buffer.compare(
            Buffer.from(native[key].buffer, native[key].byteOffset, native[key].byteLength),
            Buffer.from(javascript[key].buffer, javascript[key].byteOffset, javascript[key].byteLength),
          ),
          key,
        ).toBe(0)
    }
  })
})
