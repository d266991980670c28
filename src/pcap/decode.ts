import {V4_MAPPED_WORD2} from './addresses.js'

// A module constant, not the imported binding: read for every IPv4 packet.
const MAPPED = V4_MAPPED_WORD2

/** LINKTYPE_* values billwatch decodes (https://www.tcpdump.org/linktypes.html). */
export const LINKTYPE = {
  null: 0,
  ethernet: 1,
  raw: 101,
  loop: 108,
  linuxSll: 113,
  ipv4: 228,
  ipv6: 229,
  linuxSll2: 276,
} as const

export const LINKTYPE_NAMES: Record<number, string> = {
  0: 'BSD loopback (NULL)',
  1: 'Ethernet',
  101: 'raw IP',
  108: 'OpenBSD loopback (LOOP)',
  113: 'Linux cooked (SLL)',
  228: 'raw IPv4',
  229: 'raw IPv6',
  276: 'Linux cooked v2 (SLL2)',
}

export const IP_PROTOCOL = {icmp: 1, tcp: 6, udp: 17, icmpv6: 58} as const

const ETHERTYPE_IPV4 = 0x0800
const ETHERTYPE_IPV6 = 0x86dd
const ETHERTYPE_VLAN = 0x8100
const ETHERTYPE_QINQ = 0x88a8
const ETHERTYPE_QINQ_OLD = 0x9100
const ETHERTYPE_VNTAG = 0x8926
const ETHERTYPE_MPLS = 0x8847
const ETHERTYPE_MPLS_MULTICAST = 0x8848
const ETHERTYPE_TRANSPARENT_ETHERNET = 0x6558
const GRE_ERSPAN_I_II = 0x88be
const GRE_ERSPAN_III = 0x22eb
const IP_PROTOCOL_GRE = 47
/** IANA ports of the UDP tunnels (RFC 7348 VXLAN, RFC 8926 Geneve). */
export const VXLAN_PORT = 4789
export const GENEVE_PORT = 6081
/** Tunnels inside tunnels are followed this deep. */
const MAX_TUNNEL_DEPTH = 4

/** Encapsulations the decoder looks through, as bits of `PacketDecoder.encapsulation` (the report names them). */
export const ENCAPSULATION = {
  vnTag: 1,
  mpls: 2,
  vxlan: 4,
  geneve: 8,
  gre: 16,
  erspanI: 32,
  erspanII: 64,
  erspanIII: 128,
} as const
export const ENCAPSULATION_NAMES: Record<number, string> = {
  1: 'VN-Tag',
  2: 'MPLS',
  4: 'VXLAN',
  8: 'Geneve',
  16: 'GRE',
  32: 'ERSPAN type I',
  64: 'ERSPAN type II',
  128: 'ERSPAN type III',
}

/**
 * Decodes one captured frame down to the transport ports, into its own fields (one decoder is reused
 * for every packet: nothing is allocated per packet). Addresses are four 32-bit words each, IPv4
 * mapped into ::ffff:0:0/96 (see addresses.ts).
 */
export class PacketDecoder {
  /** 0 = not IP (or not decodable), 4 or 6. */
  ipVersion = 0
  /** Billable bytes: the IP total length (IPv4) or 40 + payload length (IPv6). */
  ipBytes = 0
  /** IP protocol of the transport header (after IPv6 extension headers); -1 if unknown. */
  protocol = -1
  /** An IPv4 or IPv6 fragment (first or later). */
  fragment = false
  /** A fragment other than the first: it carries no transport header. */
  laterFragment = false
  /**
   * The fragment's identification (IPv4: 16 bits, IPv6: 32), with source, destination and protocol its datagram's key.
   */
  fragmentId = 0
  src0 = 0
  src1 = 0
  src2 = 0
  src3 = 0
  dst0 = 0
  dst1 = 0
  dst2 = 0
  dst3 = 0
  /** Transport ports, -1 when the transport header is absent or not captured. */
  srcPort = -1
  dstPort = -1
  /** Offset (into the frame's buffer) and captured length of the UDP/TCP payload. */
  payloadOffset = 0
  payloadLength = 0
  /**
   * Tunnels and tags looked through to reach the packet above (ENCAPSULATION bits; 0: none). The fields
   * above are then the innermost packet's: a mirrored copy (AWS Traffic Mirroring sends VXLAN) bills
   * as the packet it copies, not as the mirror session's UDP.
   */
  encapsulation = 0
  private depth = 0

  /** `vxlanPort`: a VXLAN port besides IANA's 4789 (--vxlan-port). */
  constructor(readonly vxlanPort = VXLAN_PORT) {}

  /** Decodes `caplen` bytes at `offset` of `data`; returns false for non-IP frames. */
  decode(data: Uint8Array, offset: number, caplen: number, origlen: number, linkType: number): boolean {
    this.encapsulation = 0
    this.depth = 0
    return this.decodeFrame(data, offset, caplen, origlen, linkType)
  }

  private decodeFrame(data: Uint8Array, offset: number, caplen: number, origlen: number, linkType: number): boolean {
    this.ipVersion = 0
    this.protocol = -1
    this.fragment = false
    this.laterFragment = false
    this.srcPort = -1
    this.dstPort = -1
    this.payloadLength = 0
    const end = offset + caplen
    let at = offset
    let etherType: number
    switch (linkType) {
      case LINKTYPE.ethernet: {
        if (caplen < 14) return false
        etherType = (data[at + 12]! << 8) | data[at + 13]!
        at += 14
        break
      }
      case LINKTYPE.linuxSll: {
        if (caplen < 16) return false
        etherType = (data[at + 14]! << 8) | data[at + 15]!
        at += 16
        break
      }
      case LINKTYPE.linuxSll2: {
        if (caplen < 20) return false
        etherType = (data[at]! << 8) | data[at + 1]!
        at += 20
        break
      }
      case LINKTYPE.null:
      case LINKTYPE.loop: {
        if (caplen < 5) return false
        // The address family is in the writer's byte order (NULL) or network order (LOOP); accept either.
        const le = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24)
        const be = (data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!
        const family = le >>> 0 < 0x100 ? le : be
        if (family === 2) etherType = ETHERTYPE_IPV4
        else if (family === 10 || family === 24 || family === 28 || family === 30) etherType = ETHERTYPE_IPV6
        else return false
        at += 4
        break
      }
      case LINKTYPE.raw:
      case LINKTYPE.ipv4:
      case LINKTYPE.ipv6: {
        if (caplen < 1) return false
        const version = data[at]! >> 4
        // LINKTYPE_IPV4 and _IPV6 name the version: a packet of the other is not IP there (tcpdump prints "wrong
        // link-layer encapsulation" and decodes nothing).
        const named = linkType === LINKTYPE.ipv4 ? 4 : linkType === LINKTYPE.ipv6 ? 6 : version
        etherType = version !== named ? 0 : version === 4 ? ETHERTYPE_IPV4 : version === 6 ? ETHERTYPE_IPV6 : 0
        break
      }
      default:
        return false
    }
    // 802.1Q and QinQ tags (any depth): each adds 4 bytes before the real EtherType; a VN-Tag, 6.
    for (;;) {
      if (
        (etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ || etherType === ETHERTYPE_QINQ_OLD) &&
        at + 4 <= end
      ) {
        etherType = (data[at + 2]! << 8) | data[at + 3]!
        at += 4
      } else if (etherType === ETHERTYPE_VNTAG && at + 6 <= end) {
        this.encapsulation |= ENCAPSULATION.vnTag
        etherType = (data[at + 4]! << 8) | data[at + 5]!
        at += 6
      } else {
        break
      }
    }
    if (etherType === ETHERTYPE_MPLS || etherType === ETHERTYPE_MPLS_MULTICAST) {
      // Labels until the bottom of the stack; then IP by its version nibble (a pseudowire's control word is not
      // followed).
      this.encapsulation |= ENCAPSULATION.mpls
      while (at + 4 <= end && (data[at + 2]! & 1) === 0) at += 4
      at += 4
      if (at >= end) return false
      const version = data[at]! >> 4
      etherType = version === 4 ? ETHERTYPE_IPV4 : version === 6 ? ETHERTYPE_IPV6 : 0
    }
    const linkBytes = at - offset
    if (etherType === ETHERTYPE_IPV4) return this.decodeIpv4(data, at, end, origlen - linkBytes)
    if (etherType === ETHERTYPE_IPV6) return this.decodeIpv6(data, at, end, origlen - linkBytes)
    return false
  }

  private decodeIpv4(data: Uint8Array, at: number, end: number, wireIpBytes: number): boolean {
    if (at + 20 > end || data[at]! >> 4 !== 4) return false
    const headerBytes = (data[at]! & 0x0f) * 4
    if (headerBytes < 20) return false
    const totalLength = (data[at + 2]! << 8) | data[at + 3]!
    // Segmentation offload writes 0 (or a too-small value) here; then the frame length is all we have.
    this.ipBytes = totalLength >= headerBytes ? totalLength : Math.max(0, wireIpBytes)
    this.ipVersion = 4
    this.protocol = data[at + 9]!
    const flagsAndOffset = (data[at + 6]! << 8) | data[at + 7]!
    const fragmentOffset = flagsAndOffset & 0x1fff
    this.fragment = fragmentOffset !== 0 || (flagsAndOffset & 0x2000) !== 0
    this.laterFragment = fragmentOffset !== 0
    this.fragmentId = (data[at + 4]! << 8) | data[at + 5]!
    this.src0 = 0
    this.src1 = 0
    this.src2 = MAPPED
    this.src3 = word(data, at + 12)
    this.dst0 = 0
    this.dst1 = 0
    this.dst2 = MAPPED
    this.dst3 = word(data, at + 16)
    // A fragment other than the first carries no transport header.
    if (fragmentOffset !== 0) return true
    const ipEnd = Math.min(end, at + Math.max(this.ipBytes, headerBytes))
    this.decodeTransport(data, at + headerBytes, ipEnd)
    // A tunnel whose inner frame is not IP (a mirrored ARP, say) bills as no IP packet.
    return this.fragment || this.decodeTunnel(data, at + headerBytes, ipEnd, wireIpBytes - headerBytes)
  }

  /**
   * A tunnel in this packet (VXLAN or Geneve over UDP, GRE with Ethernet, IP or ERSPAN inside): decodes
   * the inner packet into this decoder instead, and notes the encapsulation. A packet that only looks
   * like one (a VXLAN header without its I flag, say) stays what it is. `wireBytes`: the payload's wire length.
   */
  private decodeTunnel(data: Uint8Array, transport: number, ipEnd: number, wireBytes: number): boolean {
    if (this.depth >= MAX_TUNNEL_DEPTH) return true
    let inner = -1
    let linkType: number = LINKTYPE.ethernet
    let kind = 0
    if (this.protocol === 17 && this.payloadLength >= 8) {
      const p = this.payloadOffset
      if ((this.dstPort === this.vxlanPort || this.dstPort === VXLAN_PORT) && (data[p]! & 0x08) !== 0) {
        inner = p + 8
        kind = ENCAPSULATION.vxlan
      } else if (this.dstPort === GENEVE_PORT && data[p]! >> 6 === 0) {
        const type = (data[p + 2]! << 8) | data[p + 3]!
        inner = p + 8 + (data[p]! & 0x3f) * 4
        kind = ENCAPSULATION.geneve
        linkType =
          type === ETHERTYPE_TRANSPARENT_ETHERNET
            ? LINKTYPE.ethernet
            : type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6
              ? LINKTYPE.raw
              : -1
      }
    } else if (this.protocol === IP_PROTOCOL_GRE && transport + 4 <= ipEnd && (data[transport + 1]! & 7) === 0) {
      const flags = data[transport]!
      const type = (data[transport + 2]! << 8) | data[transport + 3]!
      // Checksum (C), key (K) and sequence number (S) each add 4 bytes (RFC 2784, RFC 2890).
      const sequenced = (flags & 0x10) !== 0
      inner = transport + 4 + ((flags & 0x80) !== 0 ? 4 : 0) + ((flags & 0x20) !== 0 ? 4 : 0) + (sequenced ? 4 : 0)
      kind = ENCAPSULATION.gre
      if (type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6) linkType = LINKTYPE.raw
      else if (type === GRE_ERSPAN_I_II) {
        // ERSPAN type II has a sequence number and an 8-byte header; type I neither.
        kind = sequenced ? ENCAPSULATION.erspanII : ENCAPSULATION.erspanI
        if (sequenced) inner += 8
      } else if (type === GRE_ERSPAN_III) {
        kind = ENCAPSULATION.erspanIII
        // A 12-byte header, and an 8-byte platform subheader when its O flag (bit 0 of byte 11) is set.
        inner += inner + 12 <= ipEnd && (data[inner + 11]! & 1) !== 0 ? 20 : 12
      } else if (type !== ETHERTYPE_TRANSPARENT_ETHERNET) linkType = -1
    }
    if (inner < 0 || linkType < 0 || inner >= ipEnd) return true
    // The outer packet is the tunnel's; what it carries is the packet to bill.
    this.encapsulation |= kind
    this.depth++
    return this.decodeFrame(data, inner, ipEnd - inner, Math.max(0, wireBytes - (inner - transport)), linkType)
  }

  private decodeIpv6(data: Uint8Array, at: number, end: number, wireIpBytes: number): boolean {
    if (at + 40 > end || data[at]! >> 4 !== 6) return false
    const payloadLength = (data[at + 4]! << 8) | data[at + 5]!
    // Payload length 0 means a jumbogram or offloaded segment: fall back to the frame length.
    this.ipBytes = payloadLength > 0 ? 40 + payloadLength : Math.max(40, wireIpBytes)
    this.ipVersion = 6
    this.src0 = word(data, at + 8)
    this.src1 = word(data, at + 12)
    this.src2 = word(data, at + 16)
    this.src3 = word(data, at + 20)
    this.dst0 = word(data, at + 24)
    this.dst1 = word(data, at + 28)
    this.dst2 = word(data, at + 32)
    this.dst3 = word(data, at + 36)
    let next = data[at + 6]!
    let header = at + 40
    const ipEnd = Math.min(end, at + this.ipBytes)
    // Walk extension headers (RFC 8200 §4): hop-by-hop 0, routing 43, fragment 44, ESP 50, AH 51,
    // destination options 60, mobility 135, HIP 139, shim6 140; at most 16 of them.
    for (let hops = 0; hops < 16; hops++) {
      if (next === 44) {
        if (header + 8 > ipEnd) break
        this.fragment = true
        const fragmentOffset = ((data[header + 2]! << 8) | data[header + 3]!) >> 3
        this.fragmentId = word(data, header + 4)
        next = data[header]!
        header += 8
        if (fragmentOffset !== 0) {
          // A later fragment: it carries no transport header.
          this.laterFragment = true
          this.protocol = next
          return true
        }
        continue
      }
      if (next === 0 || next === 43 || next === 60 || next === 135 || next === 139 || next === 140 || next === 51) {
        if (header + 2 > ipEnd) break
        const length = next === 51 ? (data[header + 1]! + 2) * 4 : (data[header + 1]! + 1) * 8
        next = data[header]!
        header += length
        continue
      }
      break
    }
    this.protocol = next
    this.decodeTransport(data, header, ipEnd)
    return this.fragment || this.decodeTunnel(data, header, ipEnd, wireIpBytes - (header - at))
  }

  private decodeTransport(data: Uint8Array, at: number, end: number): void {
    const protocol = this.protocol
    if ((protocol !== 17 && protocol !== 6) || at + 4 > end) return
    this.srcPort = (data[at]! << 8) | data[at + 1]!
    this.dstPort = (data[at + 2]! << 8) | data[at + 3]!
    if (protocol === 17) {
      if (at + 8 > end) return
      this.payloadOffset = at + 8
      this.payloadLength = end - at - 8
    } else {
      if (at + 13 > end) return
      const headerBytes = (data[at + 12]! >> 4) * 4
      if (headerBytes < 20 || at + headerBytes > end) return
      this.payloadOffset = at + headerBytes
      this.payloadLength = end - at - headerBytes
    }
  }
}

/** The big-endian 32-bit word at `at`, unsigned. */
export function word(data: Uint8Array, at: number): number {
  return ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0
}
