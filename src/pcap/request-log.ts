/**
 * The columnar log of NTP client requests a capture holds, as the pcap reader produces it and the
 * behaviour heuristics (NAT, fleets, RFC violations) and rate-limiter simulations consume it.
 * Typed arrays, one slot per request, in capture order: 2.8M requests fit in ~50 MB.
 */
export interface RequestLog {
  /** Number of requests (the arrays may be longer; only [0, count) is valid). */
  count: number
  /** Capture time of each request, Unix seconds (fractional). */
  timeSec: Float64Array
  /** Index into `clients` of the requesting address. */
  client: Uint32Array
  srcPort: Uint16Array
  /** NTP version of the request (1–4). */
  version: Uint8Array
  /** NTP mode of the request (3 client; 1 symmetric active; 6/7 control). */
  mode: Uint8Array
  /**
   * What the server did, as far as the capture shows: 0 = no reply seen, 1 = answered,
   * 2 = answered with a KoD. Matched per (client address, port) in order.
   */
  reply: Uint8Array
  /** Billable (IP-layer) bytes of the reply, or of a typical reply when none was seen. */
  replyIpBytes: Uint16Array
  /** Client addresses, text form (IPv4 dotted quad, IPv6 RFC 5952). */
  clients: ClientAddressList
  /**
   * A day's capture: every row is on disk (count is 0), read back a client range at a time (see ../pcap/spill.ts).
   */
  spilled?: SpilledRows
}

/**
 * Client addresses by client index: an array, or (from a capture) a list that formats each address
 * when asked, since a report names a few hundred of a capture's ~250k clients.
 */
export interface ClientAddressList {
  readonly length: number
  /** The address of client `index`, as Array.prototype.at. */
  at(index: number): string | undefined
  /** Every address, in client order. */
  [Symbol.iterator](): Iterator<string>
}

/** One chunk of spilled rows, sorted by client (stable): client c's rows are [offsets[c], offsets[c + 1]). */
export interface SpillChunk {
  fd: number
  /**
   * Written by a worker thread: the file's path (Node closes a worker's descriptors when it ends), until the main
   * thread adopts it (adoptSpill).
   */
  path?: string
  rows: number
  /** Clients known when the chunk was written: later clients have no rows in it. */
  clients: number
}

/** Every request row of a capture, on disk (a plain object: it crosses from a worker thread as it is). */
export interface SpilledRows {
  chunks: SpillChunk[]
  rows: number
  /** Earliest and latest request time, Unix seconds. */
  firstSec: number
  lastSec: number
  /** Rows per client read back at once, at most (a busier client is read alone). */
  batchRows: number
  /** Written by a worker thread: the folder of the chunks' files, until adoptSpill. */
  folder?: string
}
