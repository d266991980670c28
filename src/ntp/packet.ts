/**
 * The one NTP packet codec of billwatch, shared by `pcap` (decoding captured traffic) and `probe`
 * (building requests, validating replies). RFC 5905 §7.3: a 48-byte big-endian header, optional
 * extension fields and MAC after it. Mode 6 (control, ntpq) and mode 7 (private, ntpdc monlist)
 * have their own 12-/8-byte headers (RFC 9327, ntp 4.2.8 ntp_request.h).
 */

export const NTP_HEADER_BYTES = 48
export const NTP_PORT = 123
/** Seconds from the NTP prime epoch (1900-01-01) to the Unix epoch. */
export const NTP_UNIX_OFFSET_SECONDS = 2_208_988_800
const ERA_SECONDS = 2 ** 32

export const MODE = {
  symmetricActive: 1,
  symmetricPassive: 2,
  client: 3,
  server: 4,
  broadcast: 5,
  control: 6,
  private: 7,
} as const

/** A raw 32.32 NTP timestamp: seconds and fraction, both unsigned 32-bit. Era is unknown on the wire. */
export interface NtpTimestamp {
  seconds: number
  fraction: number
}

export interface NtpHeader {
  /** Leap indicator; 3 = clock unsynchronized (alarm). */
  leap: number
  version: number
  mode: number
  /** 0 = kiss-o'-death, 1 primary, 2–15 secondary, 16 unsynchronized. */
  stratum: number
  /** log2 seconds, signed. */
  poll: number
  /** log2 seconds, signed. */
  precision: number
  /** Seconds (16.16 on the wire). */
  rootDelay: number
  /** Seconds (16.16 on the wire). */
  rootDispersion: number
  /** The 4 raw reference-id bytes. */
  referenceId: Uint8Array
  referenceTime: NtpTimestamp
  originTime: NtpTimestamp
  receiveTime: NtpTimestamp
  transmitTime: NtpTimestamp
  /** Bytes after the 48-byte header (extension fields, MAC). */
  trailingBytes: number
}

const ZERO_TS: NtpTimestamp = {seconds: 0, fraction: 0}

/** The first byte of any NTP packet: LI(2) | VN(3) | Mode(3). */
export function decodeFirstByte(byte: number): {leap: number; version: number; mode: number} {
  return {leap: (byte >> 6) & 0x3, version: ntpVersionOf(byte), mode: ntpModeOf(byte)}
}

// Allocation-free field readers for hot loops (pcap reads millions of packets in place).
/** VN of a first byte. */
export function ntpVersionOf(firstByte: number): number {
  return (firstByte >> 3) & 0x7
}

/** Mode of a first byte. */
export function ntpModeOf(firstByte: number): number {
  return firstByte & 0x7
}

/** Byte offsets of the mode 1–5 header fields (RFC 5905 §7.3). */
export const NTP_FIELD_OFFSET = {
  stratum: 1,
  poll: 2,
  precision: 3,
  referenceId: 12,
  originTime: 24,
  receiveTime: 32,
  transmitTime: 40,
} as const

/**
 * The kiss code of a stratum-0 packet's reference id read as a big-endian 32-bit word (RFC 5905
 * §7.4: four ASCII characters, left-justified, NUL-padded), or undefined when the id is no such code:
 * zero (an unsynchronised server, RFC 5905 Fig. 11) or bytes that are not printable ASCII.
 */
export function kissCodeOfWord(referenceIdWord: number): string | undefined {
  const bytes = new Uint8Array([
    referenceIdWord >>> 24,
    (referenceIdWord >>> 16) & 255,
    (referenceIdWord >>> 8) & 255,
    referenceIdWord & 255,
  ])
  return asciiRefId(bytes)
}

/** What a client does on a kiss code (RFC 5905 §7.4 a–d; RFC 4330 §8). */
export type KissAction = 'reduce-rate' | 'stop' | 'discard'

/** RATE asks the client to slow down; DENY and RSTR to stop; every other code is discarded after inspection. */
export function kissAction(code: string): KissAction {
  if (code === 'RATE') return 'reduce-rate'
  if (code === 'DENY' || code === 'RSTR') return 'stop'
  return 'discard'
}

/**
 * What a mode-4 (or mode-2) reply means to the client that asked:
 * - `time`: a synchronised answer (LI ≠ 3, stratum 1–15);
 * - `unsynchronised`: the server answers but its clock is not synchronised: LI 3 or stratum 16, or
 *   stratum 0 with a zero or non-ASCII reference id, INIT or STEP (ntpd and ntpsec answer every
 *   request so while starting) — it still serves, and its replies still cost egress;
 * - `kiss`: a Kiss-o'-Death; only RATE, DENY and RSTR ask the client to act (`action`).
 * The one place billwatch decides this (pcap counts, probe verdicts).
 */
export type ReplyMeaning =
  {kind: 'time'} | {kind: 'unsynchronised'; code: string | undefined} | {kind: 'kiss'; code: string; action: KissAction}

/** Kiss codes that mean "not synchronised yet", not "go away" (RFC 5905 Fig. 13: INIT, STEP). */
const UNSYNCHRONISED_CODES = new Set(['INIT', 'STEP'])

export function replyMeaningOf(leap: number, stratum: number, referenceIdWord: number): ReplyMeaning {
  if (stratum === 0) {
    const code = kissCodeOfWord(referenceIdWord)
    if (code === undefined || UNSYNCHRONISED_CODES.has(code)) return {code, kind: 'unsynchronised'}
    return {action: kissAction(code), code, kind: 'kiss'}
  }
  if (leap === 3 || stratum >= 16) return {code: undefined, kind: 'unsynchronised'}
  return {kind: 'time'}
}

export function replyMeaning(header: NtpHeader): ReplyMeaning {
  const id = header.referenceId
  return replyMeaningOf(header.leap, header.stratum, ((id[0]! << 24) | (id[1]! << 16) | (id[2]! << 8) | id[3]!) >>> 0)
}

/** Whether a packet of this mode is a reply a server (4) or a symmetric passive peer (2) sends. */
export function isReplyMode(mode: number): boolean {
  return mode === MODE.server || mode === MODE.symmetricPassive
}

/**
 * Decodes a mode 1–5 header. Returns undefined for anything shorter than 48 bytes or for modes 0, 6
 * and 7, whose layout differs; never throws, whatever the bytes.
 */
export function decodeNtp(bytes: Uint8Array): NtpHeader | undefined {
  if (bytes.length < NTP_HEADER_BYTES) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const {leap, version, mode} = decodeFirstByte(view.getUint8(0))
  if (mode === 0 || mode >= MODE.control) return undefined
  return {
    leap,
    version,
    mode,
    stratum: view.getUint8(1),
    poll: view.getInt8(2),
    precision: view.getInt8(3),
    rootDelay: view.getUint32(4) / 65_536,
    rootDispersion: view.getUint32(8) / 65_536,
    referenceId: bytes.slice(12, 16),
    referenceTime: readTimestamp(view, 16),
    originTime: readTimestamp(view, 24),
    receiveTime: readTimestamp(view, 32),
    transmitTime: readTimestamp(view, 40),
    trailingBytes: bytes.length - NTP_HEADER_BYTES,
  }
}

/** Encodes a header (48 bytes; fields left out are zero). */
/** Header fields to encode; a field left out or undefined is written as zero. */
export type NtpFields = {[K in keyof NtpHeader]?: NtpHeader[K] | undefined}

export function encodeNtp(fields: NtpFields): Uint8Array {
  const bytes = new Uint8Array(NTP_HEADER_BYTES)
  const view = new DataView(bytes.buffer)
  const leap = fields.leap ?? 0
  const version = fields.version ?? 4
  const mode = fields.mode ?? MODE.client
  view.setUint8(0, ((leap & 0x3) << 6) | ((version & 0x7) << 3) | (mode & 0x7))
  view.setUint8(1, fields.stratum ?? 0)
  view.setInt8(2, fields.poll ?? 0)
  view.setInt8(3, fields.precision ?? 0)
  view.setUint32(4, toShortFormat(fields.rootDelay ?? 0))
  view.setUint32(8, toShortFormat(fields.rootDispersion ?? 0))
  if (fields.referenceId) bytes.set(fields.referenceId.subarray(0, 4), 12)
  writeTimestamp(view, 16, fields.referenceTime ?? ZERO_TS)
  writeTimestamp(view, 24, fields.originTime ?? ZERO_TS)
  writeTimestamp(view, 32, fields.receiveTime ?? ZERO_TS)
  writeTimestamp(view, 40, fields.transmitTime ?? ZERO_TS)
  return bytes
}

/**
 * A data-minimised SNTPv4 client request (RFC 8633 §5.2, RFC 4330 §5): first byte 0x23, every field
 * zero except the transmit timestamp, which carries a random nonce instead of our clock.
 */
export function encodeClientRequest(transmitNonce: NtpTimestamp): Uint8Array {
  return encodeNtp({leap: 0, version: 4, mode: MODE.client, transmitTime: transmitNonce})
}

/**
 * The kiss code of a Kiss-o'-Death (`RATE`, `DENY`, `RSTR`, `AUTH` …), else undefined (INIT/STEP: see replyMeaning).
 */
export function kissCode(header: NtpHeader): string | undefined {
  const meaning = replyMeaning(header)
  return meaning.kind === 'kiss' ? meaning.code : undefined
}

/**
 * The reference id as people read it: ASCII for stratum 0–1 (`GPS`, `RATE`), dotted quad for
 * IPv4 upstreams, hex otherwise (an IPv6 upstream's hash).
 */
export function referenceIdText(header: NtpHeader): string {
  if (header.stratum <= 1) return asciiRefId(header.referenceId) ?? hex(header.referenceId)
  return Array.from(header.referenceId).join('.')
}

export function timestampsEqual(a: NtpTimestamp, b: NtpTimestamp): boolean {
  return a.seconds === b.seconds && a.fraction === b.fraction
}

export function isZeroTimestamp(ts: NtpTimestamp): boolean {
  return ts.seconds === 0 && ts.fraction === 0
}

/**
 * Converts a wire timestamp to Unix milliseconds, choosing the NTP era (136-year wrap, first in
 * 2036) that puts it nearest the pivot, as RFC 4330 §3 and RFC 5905 §6 require.
 */
export function ntpToUnixMs(ts: NtpTimestamp, pivotUnixMs = Date.now()): number {
  const pivotNtpSeconds = pivotUnixMs / 1000 + NTP_UNIX_OFFSET_SECONDS
  const wire = ts.seconds + ts.fraction / ERA_SECONDS
  const era = Math.round((pivotNtpSeconds - wire) / ERA_SECONDS)
  return (wire + era * ERA_SECONDS - NTP_UNIX_OFFSET_SECONDS) * 1000
}

/** Converts Unix milliseconds to a wire timestamp (era folded away). */
export function unixMsToNtp(unixMs: number): NtpTimestamp {
  const total = unixMs / 1000 + NTP_UNIX_OFFSET_SECONDS
  const whole = Math.floor(total)
  const seconds = ((whole % ERA_SECONDS) + ERA_SECONDS) % ERA_SECONDS
  const fraction = Math.min(ERA_SECONDS - 1, Math.floor((total - whole) * ERA_SECONDS))
  return {seconds, fraction}
}

/**
 * Clock offset and round-trip delay (RFC 5905 §8) from T1 (our send), T2 (server receive),
 * T3 (server transmit), T4 (our receive), all Unix ms.
 */
export function offsetAndDelay(t1: number, t2: number, t3: number, t4: number): {offsetMs: number; delayMs: number} {
  return {offsetMs: (t2 - t1 + (t3 - t4)) / 2, delayMs: t4 - t1 - (t3 - t2)}
}

// Mode 6 (control messages, RFC 9327): 12-byte header, then data.
export const CONTROL_HEADER_BYTES = 12
export const CONTROL_OP = {readStatus: 1, readVariables: 2} as const

export interface ControlHeader {
  version: number
  response: boolean
  error: boolean
  more: boolean
  opcode: number
  sequence: number
  status: number
  associationId: number
  offset: number
  count: number
  /** The data bytes actually present (count may claim more than arrived). */
  data: Uint8Array
}

export function encodeControlRequest(opcode: number, sequence: number, version = 2): Uint8Array {
  const bytes = new Uint8Array(CONTROL_HEADER_BYTES)
  const view = new DataView(bytes.buffer)
  view.setUint8(0, ((version & 0x7) << 3) | MODE.control)
  view.setUint8(1, opcode & 0x1f)
  view.setUint16(2, sequence & 0xffff)
  return bytes
}

export function decodeControl(bytes: Uint8Array): ControlHeader | undefined {
  if (bytes.length < CONTROL_HEADER_BYTES) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const first = decodeFirstByte(view.getUint8(0))
  if (first.mode !== MODE.control) return undefined
  const second = view.getUint8(1)
  const count = view.getUint16(10)
  return {
    version: first.version,
    response: (second & 0x80) !== 0,
    error: (second & 0x40) !== 0,
    more: (second & 0x20) !== 0,
    opcode: second & 0x1f,
    sequence: view.getUint16(2),
    status: view.getUint16(4),
    associationId: view.getUint16(6),
    offset: view.getUint16(8),
    count,
    data: bytes.slice(
      CONTROL_HEADER_BYTES,
      CONTROL_HEADER_BYTES + Math.min(count, bytes.length - CONTROL_HEADER_BYTES),
    ),
  }
}

// Mode 7 (ntpdc private messages, ntp 4.2.8 ntp_request.h): implementation 3 = XNTPD, request 42 = MON_GETLIST_1.
export const MODE7_IMPL_XNTPD = 3
export const MODE7_REQ_MON_GETLIST_1 = 42
/** A classic ntpdc request is padded to 48 bytes of header + data area (as nmap's ntp-monlist sends). */
export const MODE7_REQUEST_BYTES = 48

export interface Mode7Header {
  response: boolean
  more: boolean
  version: number
  sequence: number
  implementation: number
  request: number
  error: number
  itemCount: number
  itemSize: number
}

export function encodeMonlistRequest(version = 2): Uint8Array {
  const bytes = new Uint8Array(MODE7_REQUEST_BYTES)
  bytes[0] = ((version & 0x7) << 3) | MODE.private
  bytes[2] = MODE7_IMPL_XNTPD
  bytes[3] = MODE7_REQ_MON_GETLIST_1
  return bytes
}

export function decodeMode7(bytes: Uint8Array): Mode7Header | undefined {
  if (bytes.length < 8) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const first = view.getUint8(0)
  if (ntpModeOf(first) !== MODE.private) return undefined
  return {
    response: (first & 0x80) !== 0,
    more: (first & 0x40) !== 0,
    version: ntpVersionOf(first),
    sequence: view.getUint8(1) & 0x7f,
    implementation: view.getUint8(2),
    request: view.getUint8(3),
    error: view.getUint8(4) >> 4,
    itemCount: view.getUint16(4) & 0x0fff,
    itemSize: view.getUint16(6) & 0x0fff,
  }
}

function readTimestamp(view: DataView, offset: number): NtpTimestamp {
  return {seconds: view.getUint32(offset), fraction: view.getUint32(offset + 4)}
}

function writeTimestamp(view: DataView, offset: number, ts: NtpTimestamp): void {
  view.setUint32(offset, ts.seconds >>> 0)
  view.setUint32(offset + 4, ts.fraction >>> 0)
}

function toShortFormat(seconds: number): number {
  return Math.max(0, Math.min(0xffff_ffff, Math.round(seconds * 65_536)))
}

function asciiRefId(id: Uint8Array): string | undefined {
  let text = ''
  for (const byte of id) {
    if (byte === 0) break
    if (byte < 0x20 || byte > 0x7e) return undefined
    text += String.fromCharCode(byte)
  }
  return text.length > 0 ? text : undefined
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
