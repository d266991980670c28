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

/**
 * Compressed bytes read per step of a decompressing read, and the fewest handed to the decompressor at once (but at the
 * end).
 */
const COMPRESSED_CHUNK_BYTES = 256 * 1024
const MIN_PUSH_BYTES = 64

/**
 * Where a capture's bytes come from: a file on disk, a compressed file, or a stream (stdin, a tcpdump
 * subprocess). `read` fills target[at, at + length) from capture offset `position` as far as it can
 * and returns the bytes written (0 at the end); a compressed file and a stream are read in order.
 */
export interface ByteSource {
  readonly compression: CaptureCompression
  /** Bytes of the file or stream consumed so far (compressed bytes when it is compressed), for progress. */
  readonly consumed: number
  /** The size on disk, or Infinity while a stream goes on. */
  readonly size: number
  read(target: Uint8Array, at: number, length: number, position: number): number
  close(): void
}

/**
 * Reads the next raw bytes of a file or stream into target[at, at + length); 0 at its end, -1 when none came in time.
 */
type RawRead = (target: Uint8Array, at: number, length: number) => number

/**
 * A compressed byte stream read as its decompressed bytes, in order (fflate's and fzstd's streaming
 * decompressors: constant memory, whatever the size).
 */
class Decompressor {
  /** Decompressed chunks not yet handed out, and how far into the first one. */
  private readonly queue: Uint8Array[] = []
  private head = 0
  /** Compressed bytes read so far. */
  compressedRead = 0
  private finished = false
  private readonly stream: {push(chunk: Uint8Array, final?: boolean): unknown}
  private readonly chunk = Buffer.allocUnsafe(COMPRESSED_CHUNK_BYTES)

  constructor(
    private readonly rawRead: RawRead,
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
        if (this.finished || !this.pull()) break
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

  /** Feeds the decompressor the next compressed bytes; false when none came in time. */
  private pull(): boolean {
    let read = this.rawRead(this.chunk, 0, this.chunk.length)
    if (read < 0) return false
    // fflate's gunzip cannot start on a push shorter than the gzip header: a stream's tiny reads are gathered.
    for (let more = read; more > 0 && read < MIN_PUSH_BYTES; read += Math.max(0, more))
      more = this.rawRead(this.chunk, read, this.chunk.length - read)
    this.compressedRead += read
    const final = read === 0
    try {
      // fflate may keep the chunk it is given: hand it a copy.
      this.stream.push(this.chunk.slice(0, read), final)
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error)
      throw new BillwatchError(
        'E_PCAP',
        `the ${this.compression} stream is damaged or cut near compressed byte ${this.compressedRead} (${detail})`,
        {
          expected: `a whole ${this.compression}-compressed pcap or pcapng file`,
          file: this.path,
        },
      )
    }
    if (final) this.finished = true
    return true
  }
}

/** A capture file on disk, plain (read anywhere) or compressed (read in order). */
class FileSource implements ByteSource {
  private readonly decompressor: Decompressor | undefined
  private rawRead = 0

  constructor(
    private readonly fd: number,
    readonly size: number,
    readonly compression: CaptureCompression,
    path: string,
  ) {
    this.decompressor =
      compression === 'none'
        ? undefined
        : new Decompressor(
            (target, at, length) => {
              const n = readSync(
                this.fd,
                target,
                at,
                Math.min(length, Math.max(0, this.size - this.rawRead)),
                this.rawRead,
              )
              this.rawRead += n
              return n
            },
            compression,
            path,
          )
  }

  get consumed(): number {
    return this.decompressor ? this.decompressor.compressedRead : 0
  }

  read(target: Uint8Array, at: number, length: number, position: number): number {
    return this.decompressor
      ? this.decompressor.read(target, at, length)
      : readSync(this.fd, target, at, length, position)
  }

  close(): void {
    closeSync(this.fd)
  }
}

/**
 * The most of a stream's leading bytes kept in memory, so the host probe can read them before the scan reads them
 * again.
 */
export const STREAM_HEAD_BYTES = 64 * 1024 * 1024

/**
 * Fills `target` with a stream's next bytes: returns how many (> 0), null at its end, or undefined
 * when `deadline` (a Date.now() time) passed before any came.
 */
export type StreamFill = (target: Uint8Array, deadline?: number) => null | number | undefined

/**
 * A capture arriving as a stream (stdin, a tcpdump subprocess), read through `fill` straight into
 * the reader's buffer (nothing allocated per chunk). gzip and zstd are recognised by their first
 * bytes. Its first STREAM_HEAD_BYTES of capture are kept, so a reader can start again from the
 * beginning as long as it has not gone past them; past them, the stream is read once, in order.
 */
export class StreamSource implements ByteSource {
  compression: CaptureCompression = 'none'
  consumed = 0
  /** Capture bytes handed out from the stream so far (the head's copies not counted). */
  private frontier = 0
  private head = Buffer.allocUnsafe(1024 * 1024)
  private headLength = 0
  /** The head stopped growing: it no longer covers the stream up to the frontier. */
  private headClosed = false
  private ended = false
  /** The first bytes, read to tell the compression, not yet handed out. */
  private prefix = new Uint8Array(0)
  private prefixAt = 0
  private decompressor: Decompressor | undefined
  private started = false
  /**
   * While set (a Date.now() time), a wait for more data that lasts past it reads as the end (the host probe's bound).
   */
  deadline: number | undefined

  constructor(
    private readonly fill: StreamFill,
    private readonly name: string,
  ) {}

  get size(): number {
    return this.ended ? this.consumed : Number.POSITIVE_INFINITY
  }

  /** The stream has ended and all of it is in memory: it can be read again from the start. */
  get whole(): boolean {
    return this.ended && !this.headClosed
  }

  /** Reads raw bytes in order; -1 when the deadline passed before any came. */
  private rawRead(target: Uint8Array, at: number, length: number): number {
    let copied = 0
    if (this.prefixAt < this.prefix.length) {
      copied = Math.min(length, this.prefix.length - this.prefixAt)
      target.set(this.prefix.subarray(this.prefixAt, this.prefixAt + copied), at)
      this.prefixAt += copied
      // The first read goes on with the stream's bytes: fflate's gunzip cannot start on a 4-byte push.
      if (copied === length) return copied
    }
    if (this.ended) return copied
    const n = this.fill(target.subarray(at + copied, at + length), this.deadline)
    if (n === undefined) return copied > 0 ? copied : -1
    if (n === null) {
      this.ended = true
      return copied
    }
    this.consumed += n
    return copied + n
  }

  /** The first bytes say whether the stream is compressed: waits for four of them (or the end). */
  private start(): void {
    this.started = true
    const peek = new Uint8Array(4)
    let have = 0
    while (have < 4) {
      const n = this.fill(peek.subarray(have), undefined)
      if (n === null || n === undefined) {
        this.ended = n === null
        break
      }
      have += n
      this.consumed += n
    }
    this.prefix = peek.subarray(0, have)
    this.compression = have === 4 ? compressionOf(peek) : 'none'
    if (this.compression !== 'none') {
      this.decompressor = new Decompressor(
        (target, at, length) => this.rawRead(target, at, length),
        this.compression,
        this.name,
      )
    }
  }

  read(target: Uint8Array, at: number, length: number, position: number): number {
    if (!this.started) this.start()
    if (position < this.headLength) {
      const n = Math.min(length, this.headLength - position)
      target.set(this.head.subarray(position, position + n), at)
      return n
    }
    if (position !== this.frontier)
      throw new BillwatchError(
        'E_INTERNAL',
        `a stream is read once, in order: asked for byte ${position} at byte ${this.frontier}`,
      )
    const n = this.decompressor
      ? this.decompressor.read(target, at, length)
      : Math.max(0, this.rawRead(target, at, length))
    if (n > 0 && !this.headClosed) {
      if (this.headLength + n > STREAM_HEAD_BYTES) this.headClosed = true
      else {
        if (this.headLength + n > this.head.length) {
          const grown = Buffer.allocUnsafe(
            Math.min(STREAM_HEAD_BYTES, Math.max(this.head.length * 2, this.headLength + n)),
          )
          this.head.copy(grown, 0, 0, this.headLength)
          this.head = grown
        }
        this.head.set(target.subarray(at, at + n), this.headLength)
        this.headLength += n
      }
    }
    this.frontier += n
    return n
  }

  close(): void {
    // The stream belongs to whoever handed it over (stdin, a pipe): nothing here to close.
  }
}

/** Opens one capture file for reading; throws E_NOT_FOUND / E_EMPTY for what is no readable file. */
export function openFileSource(path: string): ByteSource {
  // A pipe, device or directory is refused before the open (a FIFO's open would wait for a writer).
  checkInputFile(path, {expected: CAPTURE_EXPECTED})
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (error) {
    throw unopenableFile(path, error, CAPTURE_EXPECTED)
  }
  try {
    const stat = fstatSync(fd)
    // Linux opens a directory for reading; only its first read fails (EISDIR).
    if (stat.isDirectory()) throw unopenableFile(path, 'EISDIR', CAPTURE_EXPECTED)
    if (stat.size === 0)
      throw new BillwatchError('E_EMPTY', 'the capture file is empty', {expected: CAPTURE_EXPECTED, file: path})
    const head = Buffer.alloc(4)
    readSync(fd, head, 0, 4, 0)
    return new FileSource(fd, stat.size, compressionOf(head), path)
  } catch (error) {
    closeSync(fd)
    throw error
  }
}

/** One capture file as an origin. */
export function fileOrigin(path: string): CaptureOrigin {
  let size: number | undefined
  return {
    name: path,
    parts: [
      {
        name: path,
        open: () => {
          const source = openFileSource(path)
          size = source.size
          return source
        },
      },
    ],
    rereadable: () => true,
    get size() {
      return size
    },
  }
}

/**
 * Where a capture comes from and how to read it from its start: one file, a set of files read one
 * after another (a rotated set), or a stream. `name` is what the report calls it.
 */
export interface CaptureOrigin {
  readonly name: string
  /** The parts read in order: each opens its own byte source and names its own file. */
  readonly parts: readonly {name: string; open(): ByteSource}[]
  /** Bytes on disk (known once a part is opened); undefined for a stream. */
  readonly size: number | undefined
  /** Read once, as it arrives: passes over the leading packets stop where the stream's kept bytes end. */
  readonly stream?: boolean
  /** Whether the capture can be read again from its start (a file; a stream held whole in memory). */
  rereadable(): boolean
  /** A stream: a pass over the leading packets starts (true) or ends (false); it need not wait long for them. */
  leadingPass?(active: boolean): void
  /** A stream: the scan's counters so far, for a live progress line. */
  watch?(status: () => unknown): void
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
  /** In a set of files, the file whose last record was cut. */
  file?: string
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

  /** The current part's format (a set's files may differ). */
  format: CaptureFormat
  /** pcap: the header's snaplen; pcapng: the largest IDB snaplen. */
  snaplen = 0
  /** Link types in the order first seen. */
  readonly linkTypes: number[] = []
  /** pcap: 'microseconds' | 'nanoseconds'; pcapng: per interface, as units per second. */
  readonly timestampUnitsPerSecond: number[] = []
  littleEndian = true
  truncation: Truncation | undefined
  /** Records read so far in the current part (packets, plus pcapng blocks of every kind). */
  records = 0
  /** File offset of the first record after the pcap header or pcapng's leading section and interface blocks. */
  firstRecordOffset: number
  /**
   * pcapng: a section header or interface block came after a packet. A later part of the file, read
   * with only the leading blocks' interfaces, may then misread its packets' interfaces.
   */
  interfacesChangedAfterPackets = false
  private sawPacket = false
  /** The file (or stream) being read: a set's current file. */
  path: string
  /** Called when a set's next file is about to be read (the previous one is read to its end). */
  onNextPart: ((index: number) => void) | undefined
  /** Index in the origin's parts of the file being read. */
  part = 0

  private source: ByteSource
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
  /** Bytes on disk of the parts read to their end. */
  private finishedPartBytes = 0

  private constructor(
    readonly origin: CaptureOrigin,
    private readonly range?: ByteRange,
  ) {
    const first = origin.parts[0]!
    this.path = first.name
    this.source = first.open()
    this.limit = this.source.compression === 'none' ? this.source.size : Number.POSITIVE_INFINITY
    this.buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(4096, this.source.size)))
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength)
    this.data = this.buffer
    try {
      this.format = this.readFileHeader()
      if (this.format === 'pcapng') this.readPcapngBlocks(true)
    } catch (error) {
      this.source.close()
      throw error
    }
    this.firstRecordOffset = this.position
    if (range) {
      // A compressed file is decompressed in order, once; a stream keeps its leading bytes decompressed.
      if (this.source.compression !== 'none' && !(this.source instanceof StreamSource)) {
        this.source.close()
        throw new BillwatchError('E_INTERNAL', 'a compressed capture is read in one pass, not in parts')
      }
      // Records from `from` (a record boundary; 0 for the first) up to `to`; the header (pcap) or the
      // leading blocks (pcapng: section header, interfaces) read above set byte order, units, link types.
      // A stream keeps what was read, so reading it again from the first record costs nothing.
      this.bufferFileOffset = Math.max(range.from, this.firstRecordOffset)
      // A later part numbers its records from its own start (the leading blocks are the first part's).
      if (range.from > this.firstRecordOffset) this.records = 0
      this.start = 0
      this.end = 0
      this.eof = false
      this.limit = Math.min(range.to, this.limit)
    }
  }

  /**
   * Opens a capture and reads its file header; throws E_NOT_FOUND / E_EMPTY / E_PCAP. With `range`,
   * reads just the records in [from, to): parts of one file scanned side by side.
   */
  static open(path: string, range?: ByteRange): CaptureReader {
    return new CaptureReader(fileOrigin(path), range)
  }

  /** Opens a capture from wherever it comes (a file, a set of files, a stream); `range` as in open(). */
  static from(origin: CaptureOrigin, range?: ByteRange): CaptureReader {
    return new CaptureReader(origin, range)
  }

  /** pcap: the current file's timestamp units per second (10^6 or 10^9). */
  get pcapTimestampUnits(): number {
    return this.pcapUnitsPerSecond
  }

  /** The capture's compression (a set's first file's). */
  get compression(): CaptureCompression {
    return this.source.compression
  }

  /** Bytes on disk: a file's size, a set's total, or a stream's bytes so far. */
  get fileBytes(): number {
    return this.origin.size ?? this.source.consumed
  }

  /** Bytes of the capture consumed so far (decompressed bytes for a compressed file). */
  get position(): number {
    return this.bufferFileOffset + this.start
  }

  /** Bytes of the file on disk consumed so far, for progress against `fileBytes`. */
  get progressPosition(): number {
    return (
      this.finishedPartBytes +
      (this.source.compression === 'none' && this.source.size !== Number.POSITIVE_INFINITY
        ? this.position
        : this.source.consumed)
    )
  }

  close(): void {
    this.source.close()
  }

  /** Advances to the next packet; false at the end of the capture (check `truncation`). */
  next(): boolean {
    for (;;) {
      if (this.format === 'pcap' ? this.nextPcap() : this.nextPcapng()) return true
      if (!this.openNextPart()) return false
    }
  }

  /** A set's next file, read on from its header as if it followed the last record of the one before. */
  private openNextPart(): boolean {
    if (this.range || this.part + 1 >= this.origin.parts.length) return false
    this.onNextPart?.(this.part + 1)
    this.finishedPartBytes += this.source.size
    this.source.close()
    const part = this.origin.parts[++this.part]!
    this.path = part.name
    this.source = part.open()
    this.limit = this.source.compression === 'none' ? this.source.size : Number.POSITIVE_INFINITY
    this.bufferFileOffset = 0
    this.start = 0
    this.end = 0
    this.eof = false
    this.records = 0
    this.interfaces = []
    this.format = this.readFileHeader()
    if (this.format === 'pcapng') this.readPcapngBlocks(true)
    return true
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
    this.interfaces.forEach((iface, i) =>
      interfaces.set([iface.linkType, iface.unitsPerSecond, iface.offsetSeconds], i * 3),
    )
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
        this.damaged(
          `block ${this.records + 1} has length ${blockLength}, expected a multiple of 4 between 12 and ${MAX_RECORD_BYTES}`,
        )
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
    if (blockLength < TIMED_PACKET_FRAMING_BYTES)
      this.damaged(
        `packet block ${this.records} is ${blockLength} bytes, shorter than its ${TIMED_PACKET_FRAMING_BYTES}-byte header`,
      )
    const interfaceId = obsolete ? this.view.getUint16(at + 8, le) : this.view.getUint32(at + 8, le)
    const iface = this.interfaces[interfaceId]
    if (!iface)
      this.damaged(
        `packet block ${this.records} names interface ${interfaceId}, but the section describes ${this.interfaces.length}`,
      )
    const caplen = this.view.getUint32(at + 20, le)
    if (caplen > blockLength - TIMED_PACKET_FRAMING_BYTES)
      this.damaged(`packet block ${this.records} claims ${caplen} captured bytes in a ${blockLength}-byte block`)
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
    else
      this.damaged(
        `section header ${this.records + 1} has byte-order magic 0x${magic.toString(16)}, expected 0x1a2b3c4d`,
      )
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
      const inside = this.source.compression === 'none' ? '' : ` inside the ${this.source.compression} stream`
      this.badHeader(
        `unknown magic number 0x${magic.toString(16).padStart(8, '0')}${inside}`,
        'a pcap (a1b2c3d4 / a1b23c4d) or pcapng (0a0d0d0a) file, plain or gzip/zstd-compressed',
      )
    }
    if (available < 24)
      this.badHeader(`the pcap file header is cut after ${available} of 24 bytes`, 'a 24-byte pcap header')
    this.littleEndian = known[0]
    this.pcapUnitsPerSecond = known[1]
    const major = this.view.getUint16(4, this.littleEndian)
    if (major !== 2) this.badHeader(`pcap version ${major}.${this.view.getUint16(6, this.littleEndian)}`, 'version 2.4')
    const snaplen = this.view.getUint32(16, this.littleEndian)
    this.snaplen = Math.max(this.snaplen, snaplen)
    this.pcapMaxCaplen = Math.max(snaplen, PCAP_MAX_SNAPLEN)
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
      const read = room <= 0 ? 0 : this.source.read(this.buffer, this.end, room, this.bufferFileOffset + this.end)
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
      this.truncation = {
        available,
        needed,
        offset: this.position,
        record: this.records + 1,
        ...(this.origin.parts.length > 1 ? {file: this.path} : {}),
      }
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
      yield {
        frame: reader.data.subarray(reader.offset, reader.offset + reader.caplen),
        origlen: reader.origlen,
        position: reader.position,
        timeSec: reader.timeSec,
      }
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
      if (fraction >= unitsPerSecond || caplen > snap || caplen > origlen || origlen > PCAP_MAX_SNAPLEN || caplen < 14)
        return false
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
      if (
        (type === PCAPNG_EPB || type === PCAPNG_PB) &&
        (length < TIMED_PACKET_FRAMING_BYTES || view.getUint32(at + 20, le) > length - TIMED_PACKET_FRAMING_BYTES)
      )
        return false
      if (packet) packets++
      at += length
    }
    return true
  }
}
