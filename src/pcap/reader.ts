import {closeSync, fstatSync, openSync, readSync} from 'node:fs'

import {Gunzip} from 'fflate'
import {Decompress as ZstdDecompress} from 'fzstd'

import {BillwatchError} from '../errors.js'
import {checkInputFile, unopenableFile} from '../util/files.js'

/**
 * A streaming reader for pcap (µs and ns, either byte order) and pcapng (several sections,
 * interfaces, per-interface timestamp resolution and offset). It reads the file in large chunks and
 * exposes one packet at a time as a cursor — `data`/`offset`/`caplen` point into the chunk — so a
 * capture larger than memory streams through and the hot loop allocates nothing.
 * Layouts: ../shared/research/formats.md §8 and the pcapng draft (IETF opsawg-pcapng).
 */

export type CaptureFormat = 'pcap' | 'pcapng'

/** How the capture file is compressed (tcpdump -z gzip, or a .pcap.gz / .pcapng.zst someone sent). */
export type CaptureCompression = 'none' | 'gzip' | 'zstd'

/** The compression a file's first bytes announce: gzip 1f 8b, zstd 28 b5 2f fd. */
export function compressionOf(head: Uint8Array): CaptureCompression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip'
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd'
  return 'none'
}

/** The compression of the file at `path`, from its first bytes ('none' when it cannot be read: open() reports that). */
export function fileCompression(path: string): CaptureCompression {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    const head = Buffer.alloc(4)
    readSync(fd, head, 0, 4, 0)
    return compressionOf(head)
  } catch {
    return 'none'
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/** Compressed bytes read from the file per step of a decompressing read. */
const COMPRESSED_CHUNK_BYTES = 256 * 1024

/**
 * A compressed file read as a stream of its decompressed bytes, in order (fflate's and fzstd's
 * streaming decompressors: constant memory, whatever the file's size).
 */
class DecompressedSource {
  /** Decompressed chunks not yet handed out, and how far into the first one. */
  private readonly queue: Uint8Array[] = []
  private head = 0
  /** Compressed bytes read so far. */
  compressedRead = 0
  private finished = false
  private readonly stream: {push(chunk: Uint8Array, final?: boolean): unknown}

  constructor(
    private readonly fd: number,
    private readonly fileBytes: number,
    readonly compression: 'gzip' | 'zstd',
    private readonly path: string,
  ) {
    const take = (chunk: Uint8Array) => chunk.length > 0 && this.queue.push(chunk)
    this.stream = compression === 'gzip' ? new Gunzip(take) : new ZstdDecompress(take)
  }

  /** Fills target[at, at + length) as far as the stream goes; returns the bytes written (0 at its end). */
  read(target: Uint8Array, at: number, length: number): number {
    let written = 0
    while (written < length) {
      const chunk = this.queue[0]
      if (!chunk) {
        if (this.finished) break
        this.pull()
        continue
      }
      const n = Math.min(length - written, chunk.length - this.head)
      target.set(chunk.subarray(this.head, this.head + n), at + written)
      written += n
      this.head += n
      if (this.head === chunk.length) {
        this.queue.shift()
        this.head = 0
      }
    }
    return written
  }

  private pull(): void {
    const compressed = Buffer.allocUnsafe(Math.min(COMPRESSED_CHUNK_BYTES, Math.max(0, this.fileBytes - this.compressedRead)))
    const read = compressed.length > 0 ? readSync(this.fd, compressed, 0, compressed.length, this.compressedRead) : 0
    this.compressedRead += read
    const final = this.compressedRead >= this.fileBytes || read === 0
    try {
      this.stream.push(compressed.subarray(0, read), final)
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error)
      throw new BillwatchError('E_PCAP', `the ${this.compression} stream is damaged or cut near compressed byte ${this.compressedRead} (${detail})`, {
        expected: `a whole ${this.compression}-compressed pcap or pcapng file`,
        file: this.path,
      })
    }
    if (final) this.finished = true
  }
}

/** How the capture ended when it did not end on a record boundary. */
export interface Truncation {
  /** 1-based number of the record that was cut. */
  record: number
  /** File offset where that record starts. */
  offset: number
  /** Bytes the record needed and bytes the file still had. */
  needed: number
  available: number
}

const CHUNK_BYTES = 1024 * 1024
const CAPTURE_EXPECTED = 'a pcap or pcapng file'
/** A pcapng block or pcap record above this is corrupt framing, not a packet. */
const MAX_RECORD_BYTES = 64 * 1024 * 1024
/** libpcap's MAXIMUM_SNAPLEN; a pcap record above max(this, snaplen) is corrupt. */
const PCAP_MAX_SNAPLEN = 262_144

const PCAPNG_SHB = 0x0a0d_0d0a
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b_3c4d
const PCAPNG_IDB = 1
const PCAPNG_PB = 2
const PCAPNG_SPB = 3
const PCAPNG_NRB = 4
const PCAPNG_ISB = 5
const PCAPNG_EPB = 6

/** EPB and the obsolete PB: a 28-byte header before the packet data, and the block length repeated after it. */
const TIMED_PACKET_FRAMING_BYTES = 32

function isPacketBlock(type: number): boolean {
  return type === PCAPNG_EPB || type === PCAPNG_PB || type === PCAPNG_SPB
}

/** A pcapng block length the reader accepts: a multiple of 4 from 12 to MAX_RECORD_BYTES. */
function plausibleBlockLength(length: number): boolean {
  return length >= 12 && length % 4 === 0 && length <= MAX_RECORD_BYTES
}

export interface ByteRange {
  from: number
  to: number
}

interface PcapngInterface {
  linkType: number
  snaplen: number
  /** Timestamp units per second (10^6 unless if_tsresol says otherwise). */
  unitsPerSecond: number
  offsetSeconds: number
}

export class CaptureReader {
  // The current packet (valid after next() returned true).
  data: Uint8Array
  offset = 0
  caplen = 0
  origlen = 0
  /** Unix seconds, fractional; NaN for pcapng simple packets, which carry no timestamp. */
  timeSec = Number.NaN
  linkType = 0

  readonly format: CaptureFormat
  readonly compression: CaptureCompression
  /** The file's size on disk (compressed, for a compressed capture). */
  readonly fileBytes: number
  /** pcap: the header's snaplen; pcapng: the largest IDB snaplen. */
  snaplen = 0
  /** Link types in the order first seen. */
  readonly linkTypes: number[] = []
  /** pcap: 'microseconds' | 'nanoseconds'; pcapng: per interface, as units per second. */
  readonly timestampUnitsPerSecond: number[] = []
  littleEndian = true
  truncation: Truncation | undefined
  /** Records read so far (packets, plus pcapng blocks of every kind). */
  records = 0
  /** File offset of the first record after the pcap header or pcapng's leading section and interface blocks. */
  readonly firstRecordOffset: number
  /**
   * pcapng: a section header or interface block came after a packet. A later part of the file, read
   * with only the leading blocks' interfaces, may then misread its packets' interfaces.
   */
  interfacesChangedAfterPackets = false
  private sawPacket = false

  private readonly fd: number
  private buffer: Buffer
  private view: DataView
  /** Unread data is buffer[start, end); `bufferFileOffset` is the file offset of buffer[0]. */
  private start = 0
  private end = 0
  private bufferFileOffset = 0
  private eof = false
  private pcapUnitsPerSecond = 1e6
  /** pcap: a record claiming more captured bytes than this is corrupt (the snaplen, or libpcap's maximum if larger). */
  pcapMaxCaplen = PCAP_MAX_SNAPLEN
  private interfaces: PcapngInterface[] = []

  /** File offset where reading stops (a record boundary, or the end of the file). */
  private limit: number
  /** A compressed file's decompressed bytes; offsets and `position` then count decompressed bytes. */
  private readonly source: DecompressedSource | undefined

  private constructor(
    readonly path: string,
    fd: number,
    fileBytes: number,
    range?: ByteRange,
    compression: CaptureCompression = 'none',
  ) {
    this.fd = fd
    this.fileBytes = fileBytes
    this.source = compression === 'none' ? undefined : new DecompressedSource(fd, fileBytes, compression, path)
    this.compression = compression
    // The decompressed size is known only at the end.
    this.limit = this.source ? Number.POSITIVE_INFINITY : fileBytes
    this.buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(4096, fileBytes)))
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength)
    this.data = this.buffer
    this.format = this.readFileHeader()
    if (this.format === 'pcapng') this.readPcapngBlocks(true)
    this.firstRecordOffset = this.position
    if (range) {
      // Records from `from` (a record boundary; 0 for the first) up to `to`; the header (pcap) or the
      // leading blocks (pcapng: section header, interfaces) read above set byte order, units, link types.
      this.bufferFileOffset = Math.max(range.from, this.firstRecordOffset)
      // A later part numbers its records from its own start (the leading blocks are the first part's).
      if (range.from > this.firstRecordOffset) this.records = 0
      this.start = 0
      this.end = 0
      this.eof = false
      this.limit = Math.min(range.to, fileBytes)
    }
  }

  /**
   * Opens a capture and reads its file header; throws E_NOT_FOUND / E_EMPTY / E_PCAP. With `range`,
   * reads just the records in [from, to): parts of one file scanned side by side.
   */
  static open(path: string, range?: ByteRange): CaptureReader {
    // A pipe, device or directory is refused before the open (a FIFO's open would wait for a writer).
    checkInputFile(path, {expected: CAPTURE_EXPECTED})
    let fd: number
    try {
      fd = openSync(path, 'r')
    } catch (error) {
      throw unopenableFile(path, error, CAPTURE_EXPECTED)
    }
    const stat = fstatSync(fd)
    // Linux opens a directory for reading; only its first read fails (EISDIR).
    if (stat.isDirectory()) {
      closeSync(fd)
      throw unopenableFile(path, 'EISDIR', CAPTURE_EXPECTED)
    }
    const size = stat.size
    if (size === 0) {
      closeSync(fd)
      throw new BillwatchError('E_EMPTY', 'the capture file is empty', {expected: CAPTURE_EXPECTED, file: path})
    }
    try {
      const head = Buffer.alloc(4)
      readSync(fd, head, 0, 4, 0)
      const compression = compressionOf(head)
      if (compression !== 'none' && range) throw new BillwatchError('E_INTERNAL', 'a compressed capture is read in one pass, not in parts')
      return new CaptureReader(path, fd, size, range, compression)
    } catch (error) {
      closeSync(fd)
      throw error
    }
  }

  /** Bytes of the capture consumed so far (decompressed bytes for a compressed file). */
  get position(): number {
    return this.bufferFileOffset + this.start
  }

  /** Bytes of the file on disk consumed so far, for progress against `fileBytes`. */
  get progressPosition(): number {
    return this.source ? this.source.compressedRead : this.position
  }

  close(): void {
    closeSync(this.fd)
  }

  /** Advances to the next packet; false at the end of the capture (check `truncation`). */
  next(): boolean {
    return this.format === 'pcap' ? this.nextPcap() : this.nextPcapng()
  }

  private nextPcap(): boolean {
    // The common case, kept small enough to inline into the scan loop: the whole record is buffered.
    const at = this.start
    const buffered = this.end - at
    if (buffered >= 16) {
      const view = this.view
      const le = this.littleEndian
      const caplen = view.getUint32(at + 8, le)
      if (buffered >= 16 + caplen && caplen <= this.pcapMaxCaplen) return this.takePcapRecord(at, caplen)
    }
    return this.nextPcapRefilling()
  }

  /** nextPcap when the record is not all in the buffer yet (or is damaged). */
  private nextPcapRefilling(): boolean {
    if (!this.ensure(16)) return this.endOfRecords(16)
    const view = this.view
    const at = this.start
    const le = this.littleEndian
    const caplen = view.getUint32(at + 8, le)
    if (caplen > this.pcapMaxCaplen) {
      this.damaged(`record ${this.records + 1} claims ${caplen} captured bytes, more than the snaplen ${this.snaplen}`)
    }
    if (!this.ensure(16 + caplen)) return this.endOfRecords(16 + caplen)
    // ensure() may have moved the data to the front of the buffer.
    return this.takePcapRecord(this.start, caplen)
  }

  /** Makes the buffered pcap record at `at` the current packet. */
  private takePcapRecord(at: number, caplen: number): true {
    const view = this.view
    const le = this.littleEndian
    this.timeSec = view.getUint32(at, le) + view.getUint32(at + 4, le) / this.pcapUnitsPerSecond
    // A frame was at least as long as what was captured of it, whatever a damaged header says (scan.c alike).
    this.origlen = Math.max(view.getUint32(at + 12, le), caplen)
    this.caplen = caplen
    this.data = this.buffer
    this.offset = at + 16
    this.start = at + 16 + caplen
    this.records++
    return true
  }

  /**
   * The buffer and its unread bytes [start, end) from the next record on, and (pcapng) the current
   * section's interfaces as link type, timestamp units per second and offset, 3 numbers each: what
   * the native scan reads records with.
   */
  unreadRecords(): {buffer: Buffer; interfaces: Float64Array; start: number; end: number} {
    const interfaces = new Float64Array(this.interfaces.length * 3)
    this.interfaces.forEach((iface, i) => interfaces.set([iface.linkType, iface.unitsPerSecond, iface.offsetSeconds], i * 3))
    return {buffer: this.buffer, end: this.end, interfaces, start: this.start}
  }

  /** Moves past `packets` whole packet records that were read from `unreadRecords()`, up to buffer offset `start`. */
  skipRecords(start: number, packets: number): void {
    this.start = start
    this.records += packets
    if (packets > 0) this.sawPacket = true
  }

  private nextPcapng(): boolean {
    return this.readPcapngBlocks(false)
  }

  /**
   * Reads pcapng blocks up to the next packet (true) or the end (false). With `leadingOnly` it stops
   * before the first packet block instead, having read what a part of the file read from a later
   * offset needs: the section header and the interfaces.
   */
  private readPcapngBlocks(leadingOnly: boolean): boolean {
    for (;;) {
      // Leading blocks cut short are left for next() to report.
      if (!this.ensure(12)) return leadingOnly ? false : this.endOfRecords(12)
      let type = this.view.getUint32(this.start, this.littleEndian)
      if (leadingOnly && isPacketBlock(type)) return false
      if (type === PCAPNG_SHB) this.readSectionByteOrder()
      const blockLength = this.view.getUint32(this.start + 4, this.littleEndian)
      if (!plausibleBlockLength(blockLength)) {
        this.damaged(`block ${this.records + 1} has length ${blockLength}, expected a multiple of 4 between 12 and ${MAX_RECORD_BYTES}`)
      }
      if (!this.ensure(blockLength)) return leadingOnly ? false : this.endOfRecords(blockLength)
      const at = this.start
      type = this.view.getUint32(at, this.littleEndian)
      this.start = at + blockLength
      this.records++
      if (type === PCAPNG_EPB || type === PCAPNG_PB) {
        this.sawPacket = true
        if (this.readTimedPacket(at, blockLength, type === PCAPNG_PB)) return true
      } else if (type === PCAPNG_SPB) {
        this.sawPacket = true
        if (this.readSimplePacket(at, blockLength)) return true
      } else if (type === PCAPNG_IDB) {
        if (this.sawPacket) this.interfacesChangedAfterPackets = true
        this.readInterface(at, blockLength)
      } else if (type === PCAPNG_SHB) {
        if (this.sawPacket) this.interfacesChangedAfterPackets = true
        this.interfaces = []
      }
      // Name resolution, statistics, custom and unknown blocks are skipped by length.
    }
  }

  /** EPB (and the obsolete PB, whose interface id is 16 bits): +8 iface, +12/+16 ts, +20 caplen, +24 len. */
  private readTimedPacket(at: number, blockLength: number, obsolete: boolean): boolean {
    const le = this.littleEndian
    if (blockLength < TIMED_PACKET_FRAMING_BYTES) this.damaged(`packet block ${this.records} is ${blockLength} bytes, shorter than its ${TIMED_PACKET_FRAMING_BYTES}-byte header`)
    const interfaceId = obsolete ? this.view.getUint16(at + 8, le) : this.view.getUint32(at + 8, le)
    const iface = this.interfaces[interfaceId]
    if (!iface) this.damaged(`packet block ${this.records} names interface ${interfaceId}, but the section describes ${this.interfaces.length}`)
    const caplen = this.view.getUint32(at + 20, le)
    if (caplen > blockLength - TIMED_PACKET_FRAMING_BYTES) this.damaged(`packet block ${this.records} claims ${caplen} captured bytes in a ${blockLength}-byte block`)
    const high = this.view.getUint32(at + 12, le)
    const low = this.view.getUint32(at + 16, le)
    this.timeSec = (high * 4_294_967_296 + low) / iface.unitsPerSecond + iface.offsetSeconds
    this.caplen = caplen
    this.origlen = Math.max(this.view.getUint32(at + 24, le), caplen)
    this.linkType = iface.linkType
    this.data = this.buffer
    this.offset = at + 28
    return true
  }

  /** SPB: +8 original length, data at +12; no timestamp, interface 0. */
  private readSimplePacket(at: number, blockLength: number): boolean {
    const iface = this.interfaces[0]
    if (!iface) this.damaged(`simple packet block ${this.records} comes before any interface description`)
    const origlen = this.view.getUint32(at + 8, this.littleEndian)
    let caplen = Math.min(origlen, blockLength - 16)
    if (iface.snaplen > 0) caplen = Math.min(caplen, iface.snaplen)
    this.timeSec = Number.NaN
    this.caplen = caplen
    this.origlen = origlen
    this.linkType = iface.linkType
    this.data = this.buffer
    this.offset = at + 12
    return true
  }

  private readInterface(at: number, blockLength: number): void {
    const le = this.littleEndian
    if (blockLength < 20) this.damaged(`interface block ${this.records} is ${blockLength} bytes, shorter than 20`)
    const iface: PcapngInterface = {
      linkType: this.view.getUint16(at + 8, le),
      offsetSeconds: 0,
      snaplen: this.view.getUint32(at + 12, le),
      unitsPerSecond: 1e6,
    }
    // Options: code(2) length(2) value padded to 4, until opt_endofopt or the trailing length.
    let option = at + 16
    const optionsEnd = at + blockLength - 4
    while (option + 4 <= optionsEnd) {
      const code = this.view.getUint16(option, le)
      const length = this.view.getUint16(option + 2, le)
      if (code === 0 || option + 4 + length > optionsEnd) break
      if (code === 9 && length >= 1) {
        const resolution = this.buffer[option + 4]!
        const exponent = resolution & 0x7f
        iface.unitsPerSecond = resolution & 0x80 ? 2 ** exponent : 10 ** exponent
      } else if (code === 14 && length >= 8) {
        iface.offsetSeconds = Number(this.view.getBigInt64(option + 4, le))
      }
      option += 4 + ((length + 3) & ~3)
    }
    this.interfaces.push(iface)
    this.snaplen = Math.max(this.snaplen, iface.snaplen)
    this.noteLinkType(iface.linkType)
    this.timestampUnitsPerSecond.push(iface.unitsPerSecond)
  }

  /** Every section header states its own byte order; read it before trusting the block length. */
  private readSectionByteOrder(): void {
    if (!this.ensure(12)) return
    const magic = this.view.getUint32(this.start + 8, true)
    if (magic === PCAPNG_BYTE_ORDER_MAGIC) this.littleEndian = true
    else if (magic === 0x4d3c_2b1a) this.littleEndian = false
    else this.damaged(`section header ${this.records + 1} has byte-order magic 0x${magic.toString(16)}, expected 0x1a2b3c4d`)
  }

  private readFileHeader(): CaptureFormat {
    this.ensure(24)
    const available = this.end - this.start
    if (available < 4) this.badHeader('the file is shorter than any capture header', 'a pcap or pcapng file')
    const magic = this.view.getUint32(0, true)
    if (magic === PCAPNG_SHB) return 'pcapng'
    const pcapMagic: Record<number, [boolean, number]> = {
      0xa1b2_3c4d: [true, 1e9],
      0xa1b2_c3d4: [true, 1e6],
      0x4d3c_b2a1: [false, 1e9],
      0xd4c3_b2a1: [false, 1e6],
    }
    const known = pcapMagic[magic]
    if (!known) {
      const inside = this.source ? ` inside the ${this.source.compression} stream` : ''
      this.badHeader(`unknown magic number 0x${magic.toString(16).padStart(8, '0')}${inside}`, 'a pcap (a1b2c3d4 / a1b23c4d) or pcapng (0a0d0d0a) file, plain or gzip/zstd-compressed')
    }
    if (available < 24) this.badHeader(`the pcap file header is cut after ${available} of 24 bytes`, 'a 24-byte pcap header')
    this.littleEndian = known[0]
    this.pcapUnitsPerSecond = known[1]
    const major = this.view.getUint16(4, this.littleEndian)
    if (major !== 2) this.badHeader(`pcap version ${major}.${this.view.getUint16(6, this.littleEndian)}`, 'version 2.4')
    this.snaplen = this.view.getUint32(16, this.littleEndian)
    this.pcapMaxCaplen = Math.max(this.snaplen, PCAP_MAX_SNAPLEN)
    // Bits 28–31 of the link-type word carry FCS information; the link type is the low 16 bits.
    this.linkType = this.view.getUint32(20, this.littleEndian) & 0xffff
    this.noteLinkType(this.linkType)
    this.timestampUnitsPerSecond.push(this.pcapUnitsPerSecond)
    this.start = 24
    return 'pcap'
  }

  private noteLinkType(linkType: number): void {
    if (!this.linkTypes.includes(linkType)) this.linkTypes.push(linkType)
  }

  /** Makes `bytes` unread bytes available from `start`; false when the file ends first. */
  private ensure(bytes: number): boolean {
    if (this.end - this.start >= bytes) return true
    if (this.eof) return false
    if (bytes > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(bytes, this.buffer.length * 2))
      this.buffer.copy(grown, 0, this.start, this.end)
      this.setBuffer(grown)
    } else if (this.start > 0) {
      this.buffer.copy(this.buffer, 0, this.start, this.end)
    }
    this.bufferFileOffset += this.start
    this.end -= this.start
    this.start = 0
    while (this.end < this.buffer.length) {
      const room = Math.min(this.buffer.length - this.end, this.limit - (this.bufferFileOffset + this.end))
      const read = room <= 0 ? 0 : this.source ? this.source.read(this.buffer, this.end, room) : readSync(this.fd, this.buffer, this.end, room, this.bufferFileOffset + this.end)
      if (read === 0) {
        this.eof = true
        break
      }
      this.end += read
      if (this.end >= bytes) break
    }
    return this.end - this.start >= bytes
  }

  private setBuffer(buffer: Buffer): void {
    this.buffer = buffer
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  }

  /** End of data: clean at a record boundary, otherwise the last record was cut (reported, not fatal). */
  private endOfRecords(needed: number): false {
    const available = this.end - this.start
    if (available > 0 && !this.truncation) {
      this.truncation = {available, needed, offset: this.position, record: this.records + 1}
    }
    this.start = this.end
    return false
  }

  private damaged(detail: string): never {
    throw new BillwatchError('E_PCAP', `damaged capture at byte ${this.position}: ${detail}`, {file: this.path})
  }

  private badHeader(detail: string, expected: string): never {
    throw new BillwatchError('E_PCAP', `not a readable capture: ${detail}`, {expected, file: this.path})
  }
}

/** One packet of `capturePackets`; `frame` is valid until the next packet is read. */
export interface CapturedPacket {
  timeSec: number
  frame: Uint8Array
  origlen: number
  /** File offset just past the packet's record. */
  position: number
}

/** Every packet of a capture, for tools and tests that rewrite captures (the scan reads the cursor directly). */
export function* capturePackets(path: string): Generator<CapturedPacket> {
  const reader = CaptureReader.open(path)
  try {
    while (reader.next()) {
      yield {frame: reader.data.subarray(reader.offset, reader.offset + reader.caplen), origlen: reader.origlen, position: reader.position, timeSec: reader.timeSec}
    }
  } finally {
    reader.close()
  }
}

/** Consecutive records that must look right before an offset counts as a record boundary. */
const BOUNDARY_CHAIN = 64
/** How far past `near` a boundary is looked for. */
const BOUNDARY_WINDOW_BYTES = 4 * 1024 * 1024

/**
 * A record boundary near `near`, found without reading the file up to it: the first offset in a
 * window from which BOUNDARY_CHAIN consecutive records look right — pcap: lengths within the snaplen,
 * sub-second fraction in range, timestamps within an hour of each other; pcapng: packet blocks whose
 * length is repeated at their end. Undefined for small files, or when no offset qualifies: the caller
 * then reads the file in one pass.
 */
export function findRecordBoundary(path: string, near: number): number | undefined {
  const reader = CaptureReader.open(path)
  try {
    if (!reader.next()) return undefined
    // pcapng blocks are 32-bit aligned from the start of the file; a boundary must lie past the first record.
    const pcapng = reader.format === 'pcapng'
    const from = Math.max(pcapng ? near - (near % 4) : near, reader.firstRecordOffset + (pcapng ? 4 : 1))
    const window = Buffer.allocUnsafe(Math.max(0, Math.min(BOUNDARY_WINDOW_BYTES, reader.fileBytes - from)))
    const fd = openSync(path, 'r')
    try {
      const read = window.length > 0 ? readSync(fd, window, 0, window.length, from) : 0
      const view = new DataView(window.buffer, window.byteOffset, read)
      const plausibleFrom = pcapng ? pcapngChain(view, reader.littleEndian) : pcapChain(view, reader)
      const [step, header] = pcapng ? [4, 12] : [1, 16]
      for (let at = 0; at + header <= read; at += step) if (plausibleFrom(at)) return from + at
      return undefined
    } finally {
      closeSync(fd)
    }
  } finally {
    reader.close()
  }
}

/** Whether BOUNDARY_CHAIN pcap record headers from `at` look right (the window's end may cut the chain). */
function pcapChain(view: DataView, reader: CaptureReader): (at: number) => boolean {
  const firstSec = reader.timeSec
  const snap = reader.pcapMaxCaplen
  const unitsPerSecond = reader.timestampUnitsPerSecond[0] ?? 1e6
  const le = reader.littleEndian
  return (start) => {
    let at = start
    let previous = Number.NaN
    for (let n = 0; n < BOUNDARY_CHAIN; n++) {
      if (at + 16 > view.byteLength) return n >= BOUNDARY_CHAIN / 4
      const seconds = view.getUint32(at, le)
      const fraction = view.getUint32(at + 4, le)
      const caplen = view.getUint32(at + 8, le)
      const origlen = view.getUint32(at + 12, le)
      if (fraction >= unitsPerSecond || caplen > snap || caplen > origlen || origlen > PCAP_MAX_SNAPLEN || caplen < 14) return false
      if (seconds + 1 < firstSec || (previous === previous && Math.abs(seconds - previous) > 3600)) return false
      previous = seconds
      at += 16 + caplen
    }
    return true
  }
}

/**
 * Whether BOUNDARY_CHAIN pcapng blocks from `at` look right: packet, statistics or name-resolution
 * blocks, each with its length repeated at its end. A section header or interface block is not taken:
 * a part must start where the leading blocks' interfaces still hold.
 */
function pcapngChain(view: DataView, le: boolean): (at: number) => boolean {
  return (start) => {
    let at = start
    let packets = 0
    for (let n = 0; n < BOUNDARY_CHAIN; n++) {
      if (at + 12 > view.byteLength) return packets >= BOUNDARY_CHAIN / 4
      const type = view.getUint32(at, le)
      const length = view.getUint32(at + 4, le)
      const packet = isPacketBlock(type)
      if (!packet && type !== PCAPNG_ISB && type !== PCAPNG_NRB) return false
      if (!plausibleBlockLength(length)) return false
      if (at + length > view.byteLength) return packets >= BOUNDARY_CHAIN / 4
      if (view.getUint32(at + length - 4, le) !== length) return false
      if ((type === PCAPNG_EPB || type === PCAPNG_PB) && (length < TIMED_PACKET_FRAMING_BYTES || view.getUint32(at + 20, le) > length - TIMED_PACKET_FRAMING_BYTES)) return false
      if (packet) packets++
      at += length
    }
    return true
  }
}
