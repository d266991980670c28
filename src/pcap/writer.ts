import {closeSync, openSync, writeSync} from 'node:fs'

import {parseAddressWords, V4_MAPPED_WORD2} from './addresses.js'
import {IP_PROTOCOL, LINKTYPE} from './decode.js'

/**
 * Writes pcap/pcapng files: the sample and bench generator (bench/pcap) and the tests' edge-case
 * captures use it. Every layout choice mirrors what reader.ts accepts, so tests can write a file
 * in each format variant and check the reader — and tshark — against it.
 */

export interface InterfaceSpec {
  linkType: number
  snaplen?: number
  /** if_tsresol byte: 6 = µs (default), 9 = ns, 0x80 | n = 2^-n. */
  tsresol?: number
  /** if_tsoffset, seconds added to every timestamp. */
  tsoffset?: number
}

export interface CaptureWriterOptions {
  format?: 'pcap' | 'pcapng'
  /** pcap only: nanosecond timestamps (magic a1b23c4d). */
  nanoseconds?: boolean
  bigEndian?: boolean
  /** pcap link type, or the single pcapng interface's when `interfaces` is not given. */
  linkType?: number
  snaplen?: number
  /** pcapng interfaces, in IDB order. */
  interfaces?: InterfaceSpec[] | undefined
}

export interface PacketOptions {
  interfaceId?: number
  /** Wire length when the frame was cut by a snaplen (default: the frame's length). */
  origlen?: number
  /** pcapng: write a Simple Packet Block (no timestamp, interface 0). */
  simple?: boolean
  /** pcapng: the obsolete Packet Block (type 2). */
  obsolete?: boolean
}

const FLUSH_BYTES = 4 * 1024 * 1024

export class CaptureWriter {
  private chunk = Buffer.alloc(FLUSH_BYTES + 65_536 + 64)
  private used = 0
  private readonly parts: Buffer[] = []
  private readonly le: boolean
  private readonly options: CaptureWriterOptions
  /** The current section's interfaces (packets are written in their timestamp resolution). */
  private interfaces: InterfaceSpec[]

  /** `path` writes a file; undefined keeps the bytes in memory (read them with `bytes()`). */
  constructor(path: string | undefined, options: CaptureWriterOptions = {}) {
    this.options = options
    this.le = !options.bigEndian
    this.interfaces = options.interfaces ?? [
      {linkType: options.linkType ?? LINKTYPE.ethernet, snaplen: options.snaplen ?? 262_144},
    ]
    this.fd = path === undefined ? -1 : openSync(path, 'w')
    if ((options.format ?? 'pcap') === 'pcap') this.pcapHeader()
    else this.section()
  }

  private readonly fd: number

  /** Starts a new pcapng section (interfaces restart at 0), optionally with the other byte order. */
  section(interfaces: InterfaceSpec[] = this.interfaces): void {
    this.interfaces = [...interfaces]
    const length = 28
    this.u32(0x0a0d_0d0a)
    this.u32(length)
    this.u32(0x1a2b_3c4d)
    this.u16(1)
    this.u16(0)
    this.u32(0xffff_ffff)
    this.u32(0xffff_ffff)
    this.u32(length)
    for (const iface of interfaces) this.interfaceBlock(iface)
  }

  /**
   * pcapng: describes one more interface in the current section, as dumpcap does for one added mid-capture; returns its
   * id.
   */
  addInterface(iface: InterfaceSpec): number {
    this.interfaces.push(iface)
    this.interfaceBlock(iface)
    return this.interfaces.length - 1
  }

  packet(timeSec: number, frame: Uint8Array, options: PacketOptions = {}): void {
    const caplen = frame.length
    const origlen = options.origlen ?? caplen
    if (this.used + caplen + 64 > this.chunk.length) this.flush()
    if ((this.options.format ?? 'pcap') === 'pcap') {
      const seconds = Math.floor(timeSec)
      const perSecond = this.options.nanoseconds ? 1e9 : 1e6
      this.u32(seconds)
      this.u32(Math.min(perSecond - 1, Math.round((timeSec - seconds) * perSecond)))
      this.u32(caplen)
      this.u32(origlen)
      this.bytesOut(frame)
      return
    }
    const padded = (caplen + 3) & ~3
    if (options.simple) {
      this.u32(3)
      this.u32(16 + padded)
      this.u32(origlen)
      this.bytesOut(frame)
      this.pad(padded - caplen)
      this.u32(16 + padded)
      return
    }
    const interfaceId = options.interfaceId ?? 0
    const iface = this.interfaces[interfaceId] ?? this.interfaces[0]!
    const resolution = iface.tsresol ?? 6
    const unitsPerSecond = resolution & 0x80 ? 2 ** (resolution & 0x7f) : 10 ** resolution
    const units = BigInt(Math.round((timeSec - (iface.tsoffset ?? 0)) * unitsPerSecond))
    const length = 32 + padded
    this.u32(options.obsolete ? 2 : 6)
    this.u32(length)
    if (options.obsolete) {
      this.u16(interfaceId)
      this.u16(0)
    } else {
      this.u32(interfaceId)
    }
    this.u32(Number(units >> 32n))
    this.u32(Number(units & 0xffff_ffffn))
    this.u32(caplen)
    this.u32(origlen)
    this.bytesOut(frame)
    this.pad(padded - caplen)
    this.u32(length)
  }

  /** Raw bytes, e.g. an unknown block type or a deliberately broken record. */
  raw(bytes: Uint8Array): void {
    if (this.used + bytes.length > this.chunk.length) this.flush()
    if (bytes.length > this.chunk.length) {
      this.parts.push(Buffer.from(bytes))
      if (this.fd >= 0) writeSync(this.fd, bytes)
      return
    }
    this.bytesOut(bytes)
  }

  /** The whole capture (in-memory writers). */
  bytes(): Buffer {
    this.flush()
    return Buffer.concat(this.parts)
  }

  close(): void {
    this.flush()
    if (this.fd >= 0) closeSync(this.fd)
  }

  private pcapHeader(): void {
    this.u32(this.options.nanoseconds ? 0xa1b2_3c4d : 0xa1b2_c3d4)
    this.u16(2)
    this.u16(4)
    this.u32(0)
    this.u32(0)
    this.u32(this.options.snaplen ?? 262_144)
    this.u32(this.options.linkType ?? LINKTYPE.ethernet)
  }

  private interfaceBlock(iface: InterfaceSpec): void {
    const options: [number, number[]][] = []
    if (iface.tsresol !== undefined) options.push([9, [iface.tsresol]])
    if (iface.tsoffset !== undefined) {
      const value = Buffer.alloc(8)
      if (this.le) value.writeBigInt64LE(BigInt(iface.tsoffset))
      else value.writeBigInt64BE(BigInt(iface.tsoffset))
      options.push([14, [...value]])
    }
    const optionBytes =
      options.reduce((sum, [, value]) => sum + 4 + ((value.length + 3) & ~3), 0) + (options.length > 0 ? 4 : 0)
    const length = 20 + optionBytes
    this.u32(1)
    this.u32(length)
    this.u16(iface.linkType)
    this.u16(0)
    this.u32(iface.snaplen ?? 262_144)
    for (const [code, value] of options) {
      this.u16(code)
      this.u16(value.length)
      this.bytesOut(Uint8Array.from(value))
      this.pad(((value.length + 3) & ~3) - value.length)
    }
    if (options.length > 0) this.u32(0)
    this.u32(length)
  }

  private flush(): void {
    if (this.used === 0) return
    const filled = this.chunk.subarray(0, this.used)
    if (this.fd >= 0) writeSync(this.fd, filled)
    else this.parts.push(Buffer.from(filled))
    this.used = 0
  }

  private u32(value: number): void {
    if (this.le) this.chunk.writeUInt32LE(value >>> 0, this.used)
    else this.chunk.writeUInt32BE(value >>> 0, this.used)
    this.used += 4
  }

  private u16(value: number): void {
    if (this.le) this.chunk.writeUInt16LE(value & 0xffff, this.used)
    else this.chunk.writeUInt16BE(value & 0xffff, this.used)
    this.used += 2
  }

  private bytesOut(bytes: Uint8Array): void {
    this.chunk.set(bytes, this.used)
    this.used += bytes.length
  }

  private pad(count: number): void {
    this.chunk.fill(0, this.used, this.used + count)
    this.used += count
  }
}

export interface IpPacketSpec {
  src: string
  dst: string
  protocol: number
  /** Transport header + payload. */
  body: Uint8Array
  ttl?: number
  /** IPv4: fragment offset in 8-byte units and the More Fragments flag. */
  fragmentOffset?: number
  moreFragments?: boolean
  /** IPv6: extension headers to put before the transport header (0, 43, 44, 60). */
  extensionHeaders?: number[]
}

/** An IPv4 or IPv6 packet (family from the addresses) around `body`. */
export function ipPacket(spec: IpPacketSpec): Uint8Array {
  const src = parseAddressWords(spec.src, 'src')
  const dst = parseAddressWords(spec.dst, 'dst')
  if (src[2] === V4_MAPPED_WORD2 && src[0] === 0) {
    const packet = new Uint8Array(20 + spec.body.length)
    const view = new DataView(packet.buffer)
    view.setUint8(0, 0x45)
    view.setUint16(2, packet.length)
    view.setUint16(4, 0x1234)
    view.setUint16(6, ((spec.moreFragments ? 0x2000 : 0) | (spec.fragmentOffset ?? 0)) & 0xffff)
    view.setUint8(8, spec.ttl ?? 64)
    view.setUint8(9, spec.protocol)
    view.setUint32(12, src[3])
    view.setUint32(16, dst[3])
    view.setUint16(10, ipv4Checksum(packet))
    packet.set(spec.body, 20)
    return packet
  }
  const extensions = spec.extensionHeaders ?? []
  const packet = new Uint8Array(40 + extensions.length * 8 + spec.body.length)
  const view = new DataView(packet.buffer)
  view.setUint32(0, 0x6000_0000)
  view.setUint16(4, packet.length - 40)
  view.setUint8(6, extensions[0] ?? spec.protocol)
  view.setUint8(7, spec.ttl ?? 64)
  for (let i = 0; i < 4; i++) {
    view.setUint32(8 + i * 4, src[i]!)
    view.setUint32(24 + i * 4, dst[i]!)
  }
  extensions.forEach((type, i) => {
    const at = 40 + i * 8
    view.setUint8(at, extensions[i + 1] ?? spec.protocol)
    // Every extension here is 8 bytes: length field 0 (units of 8 beyond the first 8); fragment offset 0.
    if (type === 43) view.setUint8(at + 2, 0)
  })
  packet.set(spec.body, 40 + extensions.length * 8)
  return packet
}

export function udpBody(srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const body = transportBody(8, srcPort, dstPort, payload)
  new DataView(body.buffer).setUint16(4, body.length)
  return body
}

/** A TCP segment with a 20-byte header (ACK|PSH) and `payload`. */
export function tcpBody(srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const body = transportBody(20, srcPort, dstPort, payload)
  const view = new DataView(body.buffer)
  view.setUint32(4, 1)
  view.setUint32(8, 1)
  view.setUint8(12, 5 << 4)
  view.setUint8(13, 0x18)
  view.setUint16(14, 65_535)
  return body
}

/** A transport header of `headerBytes` starting with the two ports, then `payload`. */
function transportBody(headerBytes: number, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const body = new Uint8Array(headerBytes + payload.length)
  const view = new DataView(body.buffer)
  view.setUint16(0, srcPort)
  view.setUint16(2, dstPort)
  body.set(payload, headerBytes)
  return body
}

export function udpPacket(src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  return ipPacket({body: udpBody(srcPort, dstPort, payload), dst, protocol: IP_PROTOCOL.udp, src})
}

export interface FrameOptions {
  /** Ethernet: 802.1Q tags (VLAN ids), outermost first; `qinq` makes the outer one 0x88a8. */
  vlans?: number[]
  qinq?: boolean
  /** SLL/SLL2 packet type (4 = outgoing). */
  packetType?: number
  /** NULL: write the address family big-endian (as a big-endian writer would). */
  bigEndianFamily?: boolean
}

/** Wraps an IP packet in the link-layer header of `linkType`. */
export function linkFrame(linkType: number, ip: Uint8Array, options: FrameOptions = {}): Uint8Array {
  const v6 = ip[0]! >> 4 === 6
  const etherType = v6 ? 0x86dd : 0x0800
  let header: Uint8Array
  switch (linkType) {
    case LINKTYPE.ethernet: {
      const vlans = options.vlans ?? []
      header = new Uint8Array(14 + vlans.length * 4)
      const view = new DataView(header.buffer)
      header.set([0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02])
      let at = 12
      vlans.forEach((vlan, i) => {
        view.setUint16(at, i === 0 && options.qinq ? 0x88a8 : 0x8100)
        view.setUint16(at + 2, vlan & 0x0fff)
        at += 4
      })
      view.setUint16(at, etherType)
      break
    }
    case LINKTYPE.linuxSll: {
      header = new Uint8Array(16)
      const view = new DataView(header.buffer)
      view.setUint16(0, options.packetType ?? 0)
      view.setUint16(2, 1)
      view.setUint16(4, 6)
      view.setUint16(14, etherType)
      break
    }
    case LINKTYPE.linuxSll2: {
      header = new Uint8Array(20)
      const view = new DataView(header.buffer)
      view.setUint16(0, etherType)
      view.setUint32(4, 1)
      view.setUint16(8, 1)
      view.setUint8(10, options.packetType ?? 0)
      view.setUint8(11, 6)
      break
    }
    case LINKTYPE.null:
    case LINKTYPE.loop: {
      header = new Uint8Array(4)
      // AF_INET 2; AF_INET6 is 24 on NetBSD/OpenBSD, 28 FreeBSD, 30 macOS: write the BSD one.
      new DataView(header.buffer).setUint32(0, v6 ? 24 : 2, linkType === LINKTYPE.null && !options.bigEndianFamily)
      break
    }
    default:
      header = new Uint8Array(0)
  }
  const frame = new Uint8Array(header.length + ip.length)
  frame.set(header)
  frame.set(ip, header.length)
  return frame
}

function ipv4Checksum(packet: Uint8Array): number {
  let sum = 0
  for (let i = 0; i < 20; i += 2) sum += (packet[i]! << 8) | packet[i + 1]!
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}
