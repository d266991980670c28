/**
 * The request log spilled to disk, so that a day's capture needs memory for its clients, not its requests. The scan
 * writes its settled rows (those whose reply was matched, or that can no longer get one) in chunks, each sorted by
 * client; the report reads them back a client range at a time, every client's rows whole and in capture order, for
 * the behaviour analysis and the limiter replays. A chunk file is unlinked as soon as it is open: it lives as long as
 * its descriptor, and nothing is left behind, whatever ends the process.
 */
import {closeSync, mkdtempSync, openSync, readSync, rmdirSync, rmSync, unlinkSync, writeSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {isMainThread} from 'node:worker_threads'

import type {ClientGroups} from '../behaviour/group.js'
import {BillwatchError} from '../errors.js'
import type {SpillChunk, SpilledRows} from './request-log.js'

export type {SpillChunk, SpilledRows} from './request-log.js'

/** A request's columns, as the scan's in-memory log and a spilled chunk both hold them. */
interface RequestColumns {
  timeSec: Float64Array
  srcPort: Uint16Array
  replyIpBytes: Uint16Array
  version: Uint8Array
  mode: Uint8Array
  reply: Uint8Array
}

/** The columns of the scan's in-memory log that a chunk takes, by row. */
export interface SpillSource extends RequestColumns {
  client: Uint32Array
}

/** Rows a scan holds in memory before it spills the settled ones (BILLWATCH_SPILL_ROWS overrides, for tests). */
export const SPILL_ROWS = 4_000_000

export function spillRows(): number {
  return Number(process.env.BILLWATCH_SPILL_ROWS ?? SPILL_ROWS)
}

// A chunk file: offsets (Uint32 × clients + 1), then the columns, each over all rows: seq and timeSec (Float64),
// srcPort and replyIpBytes (Uint16), version, mode and reply (Uint8).
const COLUMNS = ['seq', 'timeSec', 'srcPort', 'replyIpBytes', 'version', 'mode', 'reply'] as const
type Column = (typeof COLUMNS)[number]
const WIDTH: Record<Column, number> = {mode: 1, reply: 1, replyIpBytes: 2, seq: 8, srcPort: 2, timeSec: 8, version: 1}

function columnAt(chunk: {rows: number; clients: number}, column: Column): number {
  let at = (chunk.clients + 1) * 4
  for (const other of COLUMNS) {
    if (other === column) return at
    at += chunk.rows * WIDTH[other]
  }
  return at
}

interface ChunkColumns extends RequestColumns {
  seq: Float64Array
}

/** The scan's side: writes chunks of rows, counting each client's rows and the unanswered ones as they go. */
export class RequestSpill {
  readonly spilled: SpilledRows
  /** Rows spilled per client, and of them unanswered. */
  requests = new Uint32Array(1024)
  unanswered = 0
  private readonly directory: string
  private buffers: ChunkColumns | undefined

  constructor() {
    this.spilled = {batchRows: spillRows() >> 1, chunks: [], firstSec: Infinity, lastSec: -Infinity, rows: 0}
    this.directory = process.env.BILLWATCH_SPILL_DIR ?? tmpdir()
  }

  /**
   * Writes rows `rows[0, count)` of `source` (row numbers, ascending) as one chunk sorted by client; `seqOf` gives each
   * row's place in capture order.
   */
  write(source: SpillSource, rows: Int32Array, count: number, clients: number, seqOf: (row: number) => number): void {
    if (count === 0) return
    if (this.requests.length < clients) {
      const grown = new Uint32Array(Math.max(clients, this.requests.length * 2))
      grown.set(this.requests)
      this.requests = grown
    }
    const offsets = new Uint32Array(clients + 1)
    for (let k = 0; k < count; k++) offsets[source.client[rows[k]!]! + 1]!++
    for (let c = 0; c < clients; c++) {
      this.requests[c]! += offsets[c + 1]!
      offsets[c + 1]! += offsets[c]!
    }
    const cursor = offsets.slice(0, clients)
    const out = this.columns(count)
    const {seq, timeSec, srcPort, replyIpBytes, version, mode, reply} = out
    const spilled = this.spilled
    for (let k = 0; k < count; k++) {
      const row = rows[k]!
      const to = cursor[source.client[row]!]!++
      const time = source.timeSec[row]!
      seq[to] = seqOf(row)
      timeSec[to] = time
      if (time < spilled.firstSec) spilled.firstSec = time
      if (time > spilled.lastSec) spilled.lastSec = time
      srcPort[to] = source.srcPort[row]!
      replyIpBytes[to] = source.replyIpBytes[row]!
      version[to] = source.version[row]!
      mode[to] = source.mode[row]!
      const answer = source.reply[row]!
      reply[to] = answer
      if (answer === 0) this.unanswered++
    }
    let directory: string | undefined
    let fd: number | undefined
    let path: string | undefined
    try {
      if (isMainThread) {
        directory = mkdtempSync(join(this.directory, 'billwatch-requests-'))
        fd = openSync(join(directory, 'chunk'), 'w+')
        unlinkSync(join(directory, 'chunk'))
        rmdirSync(directory)
        directory = undefined
      } else {
        spilled.folder ??= mkdtempSync(join(this.directory, 'billwatch-requests-'))
        path = join(spilled.folder, `chunk-${spilled.chunks.length}`)
        fd = openSync(path, 'w+')
      }
      writeAll(fd, offsets)
      for (const column of COLUMNS) writeAll(fd, out[column].subarray(0, count))
    } catch (error) {
      if (fd !== undefined) closeSync(fd)
      if (directory !== undefined) rmSync(directory, {force: true, recursive: true})
      discardSpill(spilled)
      throw new BillwatchError(
        'E_PCAP',
        `cannot spill the capture's request log to ${this.directory}: ${error instanceof Error ? error.message : String(error)}`,
        {suggestions: ['set BILLWATCH_SPILL_DIR (or TMPDIR) to a directory with room: about 23 bytes per request']},
      )
    }
    spilled.chunks.push(path === undefined ? {clients, fd, rows: count} : {clients, fd, path, rows: count})
    spilled.rows += count
  }

  private columns(count: number): ChunkColumns {
    if (!this.buffers || this.buffers.seq.length < count) {
      const size = Math.max(count, 1 << 16)
      this.buffers = {
        mode: new Uint8Array(size),
        reply: new Uint8Array(size),
        replyIpBytes: new Uint16Array(size),
        seq: new Float64Array(size),
        srcPort: new Uint16Array(size),
        timeSec: new Float64Array(size),
        version: new Uint8Array(size),
      }
    }
    return this.buffers
  }
}

function writeAll(fd: number, array: ArrayBufferView): void {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength)
  for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done)
}

function readAll(fd: number, array: ArrayBufferView, position: number): void {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength)
  for (let done = 0; done < bytes.length;) {
    const read = readSync(fd, bytes, done, bytes.length - done, position + done)
    if (read === 0) throw new BillwatchError('E_INTERNAL', 'the spilled request log ended early')
    done += read
  }
}

/** Closes the chunks' descriptors: their files go with them. */
export function discardSpill(spilled: SpilledRows): void {
  for (const chunk of spilled.chunks) closeSync(chunk.fd)
  spilled.chunks = []
  if (spilled.folder !== undefined) rmSync(spilled.folder, {force: true, recursive: true})
}

/**
 * A log spilled by a worker thread, opened by the main thread (the worker's descriptors close when it ends); its
 * files are unlinked once open.
 */
export function adoptSpill(spilled: SpilledRows): void {
  for (const chunk of spilled.chunks) {
    if (chunk.path === undefined) continue
    chunk.fd = openSync(chunk.path, 'r')
    unlinkSync(chunk.path)
    delete chunk.path
  }
  if (spilled.folder !== undefined) rmSync(spilled.folder, {force: true, recursive: true})
  delete spilled.folder
}

/**
 * Client ranges [from, to) to read back together: consecutive clients up to `batchRows` rows (a client with more is
 * read alone).
 */
export function clientRanges(requests: Uint32Array, batchRows: number): [number, number][] {
  const ranges: [number, number][] = []
  let from = 0
  let rows = 0
  for (let c = 0; c < requests.length; c++) {
    if (rows > 0 && rows + requests[c]! > batchRows) {
      ranges.push([from, c])
      from = c
      rows = 0
    }
    rows += requests[c]!
  }
  if (from < requests.length) ranges.push([from, requests.length])
  return ranges
}

/**
 * The rows of clients [from, to) grouped by client (group c is client from + c), each client's in capture order, as
 * groupByClient would give them. `fleetOnly` reads only the times and versions (the fleet windows' second look).
 */
export function readClientRange(spilled: SpilledRows, from: number, to: number, fleetOnly = false): ClientGroups {
  const groupCount = to - from
  const start = new Uint32Array(groupCount + 1)
  const parts: {chunk: SpillChunk; offsets: Uint32Array}[] = []
  for (const chunk of spilled.chunks) {
    if (chunk.clients <= from) continue
    const last = Math.min(to, chunk.clients)
    const offsets = new Uint32Array(last - from + 1)
    readAll(chunk.fd, offsets, from * 4)
    if (offsets[last - from] === offsets[0]) continue
    parts.push({chunk, offsets})
    for (let c = 0; c < last - from; c++) start[c + 1]! += offsets[c + 1]! - offsets[c]!
  }
  for (let c = 0; c < groupCount; c++) start[c + 1]! += start[c]!
  const rows = start[groupCount]!
  const skip = new Uint8Array(0)
  const groups: ClientGroups = {
    mode: fleetOnly ? skip : new Uint8Array(rows),
    reply: fleetOnly ? skip : new Uint8Array(rows),
    replyIpBytes: fleetOnly ? new Uint16Array(0) : new Uint16Array(rows),
    srcPort: fleetOnly ? new Uint16Array(0) : new Uint16Array(rows),
    start,
    timeSec: new Float64Array(rows),
    version: new Uint8Array(rows),
  }
  const seq = new Float64Array(rows)
  const cursor = start.slice(0, groupCount)
  // Whether a client's rows come from more than one chunk: only then can they be out of capture order (a request
  // still waiting for its reply when a chunk was written goes into a later one).
  const chunksOf = new Uint8Array(groupCount)
  const columns: Column[] = fleetOnly ? ['seq', 'timeSec', 'version'] : [...COLUMNS]
  for (const {chunk, offsets} of parts) {
    const first = offsets[0]!
    const count = offsets[offsets.length - 1]! - first
    const read: Partial<Record<Column, Float64Array | Uint16Array | Uint8Array>> = {}
    for (const column of columns) {
      const Type = WIDTH[column] === 8 ? Float64Array : WIDTH[column] === 2 ? Uint16Array : Uint8Array
      const array = new Type(count)
      readAll(chunk.fd, array, columnAt(chunk, column) + first * WIDTH[column])
      read[column] = array
    }
    const seqIn = read.seq as Float64Array
    const timeIn = read.timeSec as Float64Array
    const versionIn = read.version as Uint8Array
    for (let c = 0; c + 1 < offsets.length; c++) {
      const a = offsets[c]! - first
      const b = offsets[c + 1]! - first
      if (a === b) continue
      chunksOf[c] = Math.min(2, chunksOf[c]! + 1)
      let to = cursor[c]!
      for (let k = a; k < b; k++, to++) {
        seq[to] = seqIn[k]!
        groups.timeSec[to] = timeIn[k]!
        groups.version[to] = versionIn[k]!
      }
      if (!fleetOnly) {
        to = cursor[c]!
        const srcPort = read.srcPort as Uint16Array
        const replyIpBytes = read.replyIpBytes as Uint16Array
        const mode = read.mode as Uint8Array
        const reply = read.reply as Uint8Array
        for (let k = a; k < b; k++, to++) {
          groups.srcPort[to] = srcPort[k]!
          groups.replyIpBytes[to] = replyIpBytes[k]!
          groups.mode[to] = mode[k]!
          groups.reply[to] = reply[k]!
        }
      }
      cursor[c] = to
    }
  }
  for (let c = 0; c < groupCount; c++)
    if (chunksOf[c] === 2) inCaptureOrder(groups, seq, start[c]!, start[c + 1]!, fleetOnly)
  return groups
}

/** Puts rows [from, to) of one client back in capture order (by `seq`), when they are not. */
function inCaptureOrder(groups: ClientGroups, seq: Float64Array, from: number, to: number, fleetOnly: boolean): void {
  let sorted = true
  for (let k = from + 1; k < to && sorted; k++) sorted = seq[k - 1]! < seq[k]!
  if (sorted) return
  const order = Array.from({length: to - from}, (_, k) => from + k).sort((a, b) => seq[a]! - seq[b]!)
  const permute = (column: Float64Array | Uint16Array | Uint8Array) => {
    const copy = order.map((row) => column[row]!)
    copy.forEach((value, k) => (column[from + k] = value))
  }
  permute(groups.timeSec)
  permute(groups.version)
  if (fleetOnly) return
  permute(groups.srcPort)
  permute(groups.replyIpBytes)
  permute(groups.mode)
  permute(groups.reply)
}
