import {statSync} from 'node:fs'

import type {ProgressCallback} from '../core/progress.js'
import {BillwatchError, isBillwatchError} from '../errors.js'
import {startWorker} from '../util/worker.js'
import {
  kissCodeOfWord,
  MODE,
  NTP_FIELD_OFFSET,
  NTP_HEADER_BYTES,
  NTP_PORT,
  ntpModeOf,
  ntpVersionOf,
  replyMeaningOf,
} from '../ntp/packet.js'
import {
  AddressTable,
  AddressWordsList,
  FIRST_FIELD,
  parseAddressWords,
  SLOT_WORDS,
  V4_MAPPED_WORD2,
} from './addresses.js'
import {ENCAPSULATION_NAMES, IP_PROTOCOL, PacketDecoder, VXLAN_PORT, word} from './decode.js'
import {adviseHugePages, type NativeScanner, nativeScanner} from './native.js'
import {
  type ByteRange,
  type CaptureCompression,
  type CaptureOrigin,
  CaptureReader,
  type CaptureFormat,
  fileCompression,
  fileOrigin,
  findRecordBoundary,
  STREAM_HEAD_BYTES,
  type Truncation,
} from './reader.js'
import type {RequestLog} from './request-log.js'
import {discardSpill, RequestSpill, spillRows} from './spill.js'

export interface AnalyseOptions {
  /** The server's address, or 'auto' (default): the address in the most packets. */
  host?: string | undefined
  /** The port the server answers NTP on (default 123). */
  ntpPort?: number
  /** A UDP port that carries VXLAN besides IANA's 4789 (--vxlan-port). */
  vxlanPort?: number
  /**
   * NTP clients analysed one by one, at most (--max-clients; default DEFAULT_MAX_CLIENTS): later ones count in the
   * totals only (NtpTraffic.beyondMaxClients).
   */
  maxClients?: number
  onProgress?: ProgressCallback
}

/**
 * --max-clients by default: about 250 bytes a client through the scan and the report (address table, counters, the
 * limiters' state), ~12 GB at most, room on a machine of 24 GB.
 */
export const DEFAULT_MAX_CLIENTS = 50_000_000

export interface TrafficTotals {
  packets: number
  /** Wire (original) length of the frames. */
  bytes: number
  /** Captured length: what `pcap_len` sums (file size = 24 + Σ(16 + caplen)). */
  capturedBytes: number
  /** IP-layer bytes, what AWS bills. */
  billableBytes: number
}

export interface PortTraffic extends TrafficTotals {
  /** 'udp', 'tcp', 'icmp', 'ipv6-icmp', 'ip-<n>', or 'udp'/'tcp' fragments without ports (port null). */
  protocol: string
  port: null | number
}

/** Per-client NTP counters, indexed like `RequestLog.clients`. */
export interface NtpClientCounters {
  requests: Uint32Array
  responses: Uint32Array
  kods: Uint32Array
  /** Outbound NTP reply bytes to this client, billable (IP layer). */
  responseBillableBytes: Float64Array
}

export interface NtpTraffic {
  port: number
  requests: number
  responses: number
  /** Kiss-o'-Death replies (RFC 5905 §7.4; INIT and STEP are unsynchronised answers, not KoDs). */
  kods: number
  /** Kiss code → KoDs sent with it. */
  kissCodes: Record<string, number>
  /**
   * Replies of a server that answers but is not synchronised (LI 3, stratum 16, or stratum 0 with
   * INIT, STEP or no kiss code), counted in `responses` too, by why: the code, 'LI 3', 'stratum 16' or 'no kiss code'.
   */
  unsynchronised: Record<string, number>
  /**
   * Packets from the NTP port that are no reply (mode 0, broadcast 5, control 6, private 7), by mode: not in
   * `responses`.
   */
  otherModes: Record<string, TrafficTotals>
  /** Requests with no reply seen in the capture. */
  unanswered: number
  /** Addresses that sent requests / that got replies (the incident's `awk '{print $5}' | sort | uniq | wc -l`). */
  requestingClients: number
  answeredClients: number
  /** Outbound NTP replies (from the NTP port). */
  outbound: TrafficTotals
  /**
   * Clients past --max-clients (only when there are any): their requests and replies are in the totals above, but
   * they have no log rows and no per-client counters.
   */
  beyondMaxClients?: BeyondMaxClients
  log: RequestLog
  counters: NtpClientCounters
}

export interface BeyondMaxClients {
  maxClients: number
  clients: number
  requestingClients: number
  answeredClients: number
  requests: number
  responses: number
}

/** Whole-capture counts, shared by the analysis and the report. */
export interface CaptureCounts {
  durationSec: number
  packets: number
  /** Wire bytes (original frame lengths). */
  bytes: number
  /** Σ captured lengths: the `pcap_len` figure; pcap file size = 24 + Σ(16 + caplen). */
  capturedBytes: number
  /** Σ IP lengths: what AWS bills. */
  billableBytes: number
  ipv4Packets: number
  ipv6Packets: number
  nonIpPackets: number
  fragments: number
  /** Outbound later fragments billed to their datagram's port, and those whose first fragment the capture lacks. */
  fragmentsAttributed: number
  fragmentsUnmatched: number
  /** Frames captured shorter than on the wire (snaplen); bytes still use the wire length. */
  snappedPackets: number
}

/** A scan's counters so far, for a live progress line. */
export interface LiveStatus {
  packets: number
  /** Wire bytes, all and outbound. */
  bytes: number
  outboundBytes: number
  /** The outbound service port with the most wire bytes so far. */
  topPort: null | {protocol: string; port: number; bytes: number}
}

/** One file of a set read as one capture: its span (Unix seconds, NaN without timestamps) and packets. */
export interface CaptureFile {
  file: string
  firstSec: number
  lastSec: number
  packets: number
}

export interface CaptureAnalysis extends CaptureCounts {
  file: string
  /** A set of files read as one capture: each file in the order read (time order). */
  files?: CaptureFile[]
  /**
   * A stream, read once, whose busiest address over the whole capture is not the host its leading
   * packets named (a file is scanned again for that host instead).
   */
  busiestOverall?: string
  format: CaptureFormat
  /** The file's compression ('none', 'gzip', 'zstd'); `fileBytes` is its size on disk. */
  compression: CaptureCompression
  /**
   * Packets seen inside a tunnel or tag, by encapsulation ('VXLAN', 'GRE', 'ERSPAN type II', 'MPLS' …):
   * every count and byte above is the inner packet's (a mirrored copy bills as the packet it copies).
   */
  encapsulations: Record<string, number>
  fileBytes: number
  linkTypes: number[]
  snaplen: number
  /** Earliest and latest packet time, Unix seconds (NaN without timestamps). */
  firstSec: number
  lastSec: number
  truncated: Truncation | undefined
  host: {address: string; detected: boolean; packets: number} | undefined
  /**
   * When the detected host answers no NTP yet sends it (mode 3 as a client, 1/2 as a peer): what it
   * sends, by mode, and the address that sent the most replies (mode 4), the likely server for --host.
   */
  hostRole?: HostRole | undefined
  outbound: TrafficTotals
  inbound: TrafficTotals
  /** Packets neither from nor to the host. */
  otherPackets: number
  /**
   * Outbound traffic by protocol and service port (see servicePort; later fragments by their datagram's), most bytes
   * first.
   */
  byPort: PortTraffic[]
  ntp: NtpTraffic
}

// Imported bindings copied to module constants: the hot loop reads them millions of times, and a
// namespace getter per read (as tsx's transpiled modules have) costs ~15% of the scan.
const UDP = IP_PROTOCOL.udp
const MODE_CLIENT = MODE.client
const MODE_SERVER = MODE.server
const MODE_SYMMETRIC_ACTIVE = MODE.symmetricActive
const MODE_SYMMETRIC_PASSIVE = MODE.symmetricPassive
const MODE_BROADCAST = MODE.broadcast
const MODE_CONTROL = MODE.control
const MODE_PRIVATE = MODE.private
const HEADER_BYTES = NTP_HEADER_BYTES
const STRATUM_AT = NTP_FIELD_OFFSET.stratum
const REFERENCE_ID_AT = NTP_FIELD_OFFSET.referenceId
const ORIGIN_AT = NTP_FIELD_OFFSET.originTime
const TRANSMIT_AT = NTP_FIELD_OFFSET.transmitTime
const modeOf = ntpModeOf
const versionOf = ntpVersionOf
const readWord = word

/**
 * Captures at least this big are read in two parts side by side: a second core nearly halves the
 * scan, which is most of the work. Overridable for tests with BILLWATCH_PCAP_SPLIT_BYTES.
 */
const SPLIT_MIN_BYTES = 64 * 1024 * 1024
/**
 * A later half keeps all its requests in memory until the merge (only one pass spills its log to disk), so captures
 * above this size are read in one pass, and memory stays bounded.
 */
const SPLIT_MAX_BYTES = 2 * 1024 * 1024 * 1024

/** What one part of a split scan counted, handed from the worker thread to the merge. */
export interface ScanState {
  addressWords: Uint32Array
  /** The per-address fields (see RECORD_WORDS), one record per interned address, in index order. */
  records: Float64Array
  clientAddresses: Uint32Array
  /** KoDs sent per client, by the part's client id. */
  clientKods: Uint32Array
  /** [responses, kods, other, ipv4, ipv6, non-IP, fragments, snapped] packets. */
  counts: number[]
  firstPacketSec: number
  lastPacketSec: number
  kissCodes: [number, number][]
  encapsulations: [number, number][]
  unsynchronised: [string, number][]
  otherModes: [number, TrafficTotals][]
  /** Unmatched replies, 6 numbers each: address index, port, key, KoD (0/1), IP bytes, requests walked. */
  orphans: Float64Array
  otherProtocols: [string, TrafficTotals][]
  unmatchedFragments: [string, TrafficTotals][]
  fragmentOrphans: FragmentOrphan[]
  attributedFragments: number
  /** The part's request rows: the first `requestCount` of each column (the columns are handed over whole, uncopied). */
  requests: {
    client: Uint32Array
    mode: Uint8Array
    reply: Uint8Array
    replyIpBytes: Uint16Array
    srcPort: Uint16Array
    timeSec: Float64Array
    transmitKey: Uint32Array
    version: Uint8Array
  }
  requestCount: number
  tcpPorts: Float64Array
  /** [all, outbound, inbound, NTP outbound]. */
  totals: TrafficTotals[]
  truncation: Truncation | undefined
  /**
   * Link types the part's reader saw (the file header's or leading interfaces', and any in the part), and the largest
   * snaplen.
   */
  linkTypes: number[]
  snaplen: number
  udpPorts: Float64Array
}

/** How many leading packets pick the host before the full pass confirms the choice. */
const HOST_PROBE_PACKETS = 50_000
/** Matching a reply walks back at most this many unanswered requests of the client. */
const MATCH_WINDOW = 16
/**
 * When the native scanner takes no packet (an IPv6 capture, say), JavaScript reads 1, 3, 7… and at
 * most this many before asking it again: a call per packet would cost more than the packet.
 */
const NATIVE_MAX_RETRY_PACKETS = 63
/**
 * With the native scanner a large capture is read in one pass, as long as at least this share of its
 * leading packets are ones it takes: IPv4 or IPv6, neither a fragment nor in a tunnel (its one pass was measured
 * faster than two halves on those, IPv6 too); else (mostly packets it leaves to JavaScript), in two halves side by
 * side.
 */
const NATIVE_ONE_PASS_SHARE = 0.5
/** Leading packets read for that share when the host is given (no host probe reads them then). */
const SHARE_PROBE_PACKETS = 5_000

/**
 * Reads a capture once and measures it: totals, the server host's inbound/outbound traffic by port,
 * and every NTP request to the host as a RequestLog row with its reply matched.
 */
export function analyseCapture(capture: string | CaptureOrigin, options: AnalyseOptions = {}): CaptureAnalysis {
  const origin = typeof capture === 'string' ? fileOrigin(capture) : capture
  return scanWhole(origin, chooseHost(origin, options), options)
}

function scanWhole(origin: CaptureOrigin, choice: HostChoice, options: AnalyseOptions): CaptureAnalysis {
  return finish(origin, wholeFileScan(origin, choice.host, choice, options), choice, options)
}

/** One scan of the whole capture, as its own (no byte range, no later parts merged in). */
function wholeFileScan(
  origin: CaptureOrigin,
  host: HostChoice['host'],
  choice: HostChoice,
  options: AnalyseOptions,
): CaptureScan {
  const {ntpPort, vxlanPort} = choice
  return new CaptureScan(origin, host, ntpPort, vxlanPort, options.onProgress, undefined, undefined, options.maxClients)
}

/**
 * analyseCapture using both cores: a capture of SPLIT_MIN_BYTES or more is read in two halves at
 * once, the second in a worker thread, and merged; the result is the one pass's, count for count.
 * Smaller files, a file whose middle shows no clear record boundary, and a pcapng whose interfaces
 * change after its first packets (the second half would not know them) take the one pass; so does a
 * file whose second half is damaged, so that the error names the record as one pass does. So does
 * a capture the native scanner can take most of: alone it reads faster than two halves and their merge.
 */
export async function analyseCaptureParallel(path: string, options: AnalyseOptions = {}): Promise<CaptureAnalysis> {
  const splitMin = Number(process.env.BILLWATCH_PCAP_SPLIT_BYTES ?? SPLIT_MIN_BYTES)
  let size: number
  try {
    size = statSync(path).size
  } catch {
    return analyseCapture(path, options)
  }
  // A compressed capture can only be read from its start: one pass. So does a capture with a client cap (a later half
  // would make clients of its own).
  if (options.maxClients !== undefined || size < splitMin || size > SPLIT_MAX_BYTES || fileCompression(path) !== 'none')
    return analyseCapture(path, options)
  let chosen: HostChoice | undefined
  const origin = fileOrigin(path)
  if (nativeScanner() !== undefined) {
    chosen = chooseHost(origin, options)
    if (nativeShare(origin, chosen) >= NATIVE_ONE_PASS_SHARE) return scanWhole(origin, chosen, options)
  }
  const split = findRecordBoundary(path, Math.floor(size / 2))
  if (split === undefined || split >= size)
    return chosen ? scanWhole(origin, chosen, options) : analyseCapture(origin, options)
  // The worker loads its modules while this thread picks the host (unless it was picked above).
  const later = startWorker<PartInput, ScanState>(import.meta.url, './scan-worker')
  let choice: HostChoice
  try {
    choice = chosen ?? chooseHost(origin, options)
  } catch (error) {
    later.cancel()
    throw error
  }
  const {host, ntpPort, vxlanPort} = choice
  // One pass after all, with the host already chosen.
  const onePass = () => scanWhole(origin, choice, options)
  later.post({from: split, host, ntpPort, path, to: size, vxlanPort})
  const progress = options.onProgress
  // The first half's progress stands for both: the halves advance together.
  const scaled = progress && ((done: number, total?: number) => progress(Math.min(size, (done / split) * size), total))
  let first: CaptureScan
  try {
    first = new CaptureScan(origin, host, ntpPort, vxlanPort, scaled, {from: 0, to: split}, size)
  } catch (error) {
    later.cancel()
    throw error
  }
  // A first half that ends mid-record had a false boundary; interfaces it describes after its first
  // packets are unknown to the second half.
  if (first.endsInCutRecord || first.interfacesChangedAfterPackets) {
    later.cancel()
    return onePass()
  }
  let part: ScanState
  try {
    part = await later.result
  } catch (error) {
    // The second half numbers records from its own start: one pass names a damaged record the way a
    // reader of the whole file (tshark, tcpdump) would.
    if (isBillwatchError(error) && error.code === 'E_PCAP') return onePass()
    throw error
  }
  first.merge(part)
  return finish(origin, first, choice, options)
}

interface HostChoice {
  explicit: boolean
  host: [number, number, number, number] | undefined
  ntpPort: number
  vxlanPort: number
  /** What the host probe saw of the leading packets (none with an explicit host). */
  probe?: CaptureProbe
}

function chooseHost(origin: CaptureOrigin, options: AnalyseOptions): HostChoice {
  const explicit = options.host !== undefined && options.host !== 'auto'
  const ntpPort = options.ntpPort ?? NTP_PORT
  const vxlanPort = options.vxlanPort ?? VXLAN_PORT
  if (explicit) return {explicit, host: parseAddressWords(options.host!), ntpPort, vxlanPort}
  origin.leadingPass?.(true)
  try {
    const probe = probeCapture(origin, HOST_PROBE_PACKETS, true, vxlanPort)
    return {explicit, host: probe.busiest, ntpPort, probe, vxlanPort}
  } finally {
    origin.leadingPass?.(false)
  }
}

/** The share of the leading packets that are plain IPv4 or IPv6: no fragment, no tunnel (see NATIVE_ONE_PASS_SHARE). */
function nativeShare(origin: CaptureOrigin, choice: HostChoice): number {
  const probe = choice.probe ?? probeCapture(origin, SHARE_PROBE_PACKETS, false, choice.vxlanPort)
  return probe.records === 0 ? 1 : (probe.plainIpv4 + probe.plainIpv6) / probe.records
}

/**
 * A reader from the capture's start for a pass that reads only its leading packets: on a stream,
 * no further than the bytes the stream keeps, so that the scan can read them again.
 */
function openLeading(origin: CaptureOrigin): CaptureReader {
  return CaptureReader.from(origin, origin.stream ? {from: 0, to: STREAM_HEAD_BYTES} : undefined)
}

function finish(
  origin: CaptureOrigin,
  scanned: CaptureScan,
  choice: HostChoice,
  options: AnalyseOptions,
): CaptureAnalysis {
  let scan = scanned
  let leadingHost: string | undefined
  if (!choice.explicit && choice.host) {
    // The first packets nearly always name the server; if the whole file disagrees, scan again (a
    // stream, read once, reports the host its first packets named and says so).
    const busiest = scan.busiestAddressWords()
    if (busiest && scan.packetsOf(busiest) > scan.packetsOf(choice.host)) {
      if (origin.rereadable()) {
        scan.discard()
        scan = wholeFileScan(origin, busiest, choice, options)
      } else leadingHost = scan.busiestAddressText()
    }
  }
  const result = scan.result(!choice.explicit)
  if (leadingHost !== undefined) result.busiestOverall = leadingHost
  if (!choice.explicit && result.host && result.ntp.responses === 0)
    result.hostRole = ntpRoleOf(origin, result.host.address, choice.ntpPort, choice.vxlanPort)
  if (choice.explicit && result.host?.packets === 0) {
    const busiest = scan.busiestAddressText()
    throw new BillwatchError('E_NO_DATA', `host ${options.host} sends or receives no packet in this capture`, {
      field: '--host',
      file: origin.name,
      suggestions: busiest ? [`--host ${busiest} (the busiest address) or --host auto`] : [],
    })
  }
  return result
}

export interface HostRole {
  /** NTP packets the host sent to the NTP port, by mode (3 client, 1/2 symmetric peer). */
  sentModes: Record<string, number>
  /** The address that sent the most mode-4 replies, and how many. */
  likelyServer: null | {address: string; replies: number}
}

/** Packets a host-role pass reads at most: the question is settled long before. */
const ROLE_PROBE_PACKETS = 1_000_000

/**
 * What the detected host does on NTP when it answers none: the NTP modes it sends and the address
 * that sends the most replies (mode 4, from the NTP port). Undefined when it sends no NTP either.
 */
function ntpRoleOf(origin: CaptureOrigin, host: string, ntpPort: number, vxlanPort: number): HostRole | undefined {
  const [h0, h1, h2, h3] = parseAddressWords(host)
  const reader = openLeading(origin)
  const decoder = new PacketDecoder(vxlanPort)
  const sentModes: Record<string, number> = {}
  const replies = new AddressTable(1024)
  const REPLIES = FIRST_FIELD
  let sent = 0
  try {
    for (let n = 0; n < ROLE_PROBE_PACKETS && reader.next(); n++) {
      if (
        !decoder.decode(reader.data, reader.offset, reader.caplen, reader.origlen, reader.linkType) ||
        decoder.protocol !== UDP ||
        decoder.payloadLength < 1
      )
        continue
      const mode = modeOf(reader.data[decoder.payloadOffset]!)
      const fromHost = decoder.src0 === h0 && decoder.src1 === h1 && decoder.src2 === h2 && decoder.src3 === h3
      if (fromHost && decoder.dstPort === ntpPort && mode >= MODE_SYMMETRIC_ACTIVE && mode <= MODE_CLIENT) {
        sentModes[String(mode)] = (sentModes[String(mode)] ?? 0) + 1
        sent++
      } else if (!fromHost && decoder.srcPort === ntpPort && mode === MODE_SERVER) {
        replies.slots[replies.intern(decoder.src0, decoder.src1, decoder.src2, decoder.src3) + REPLIES]!++
      }
    }
  } finally {
    reader.close()
  }
  if (sent === 0) return undefined
  const counts = replies.fieldByIndex(REPLIES)
  const best = maxIndexWords(replies, counts)
  const index = best ? replies.find(...best) : -1
  return {likelyServer: index >= 0 ? {address: replies.text(index), replies: counts[index]!} : null, sentModes}
}

export interface PartInput {
  path: string
  host: [number, number, number, number] | undefined
  ntpPort: number
  vxlanPort?: number
  from: number
  to: number
}

/** Scans the records in bytes [from, to) of a capture: the worker thread's half of analyseCaptureParallel. */
export function scanPart(input: PartInput): ScanState {
  return new CaptureScan(fileOrigin(input.path), input.host, input.ntpPort, input.vxlanPort ?? VXLAN_PORT, undefined, {
    from: input.from,
    to: input.to,
  }).exportState()
}

export interface CaptureProbe {
  /** The address in the most packets (when asked for). */
  busiest: [number, number, number, number] | undefined
  /** Packets read, and those of them IPv4 (IPv6) that are neither fragments nor in a tunnel. */
  records: number
  plainIpv4: number
  plainIpv6: number
}

/**
 * Reads the first `limit` IP packets: how many are plain IPv4 and IPv6 and, with `findBusiest`, the address in the
 * most of them.
 */
export function probeCapture(
  capture: string | CaptureOrigin,
  limit: number,
  findBusiest: boolean,
  vxlanPort = VXLAN_PORT,
): CaptureProbe {
  const reader = openLeading(typeof capture === 'string' ? fileOrigin(capture) : capture)
  const decoder = new PacketDecoder(vxlanPort)
  // Room for the ~30k addresses a probe of a busy server sees, without regrowing the table on the way.
  const table = new AddressTable(findBusiest ? limit / 2 : 16)
  // Slot fields: packets, and (for ties: a two-party capture goes to the side that sends from the
  // lower, service-like port) packets sent from the lower port.
  const PACKETS = FIRST_FIELD
  const SERVED = FIRST_FIELD + 1
  let records = 0
  let plainIpv4 = 0
  let plainIpv6 = 0
  // The native scanner counts the packets it can take (as a scan without a host does) and their tie-break.
  const native = findBusiest ? nativeScanner() : undefined
  const io = native?.io.probeLimit === undefined ? undefined : new Float64Array(native.io.size)
  try {
    for (let seen = 0; seen < limit;) {
      if (io) {
        const taken = probeNative(native!, io, reader, table, limit - seen, vxlanPort)
        seen += taken
        records += taken
        plainIpv4 += io[native!.io.ipv4Packets]!
        plainIpv6 += io[native!.io.ipv6Packets]!
        if (seen >= limit) break
      }
      if (!reader.next()) break
      records++
      if (!decoder.decode(reader.data, reader.offset, reader.caplen, reader.origlen, reader.linkType)) continue
      seen++
      if (!decoder.fragment && decoder.encapsulation === 0) {
        if (decoder.ipVersion === 4) plainIpv4++
        else plainIpv6++
      }
      if (!findBusiest) continue
      const src = table.indexAt(table.intern(decoder.src0, decoder.src1, decoder.src2, decoder.src3))
      table.slots[table.intern(decoder.dst0, decoder.dst1, decoder.dst2, decoder.dst3) + PACKETS]!++
      // Looked up after the destination's insertion, which may have grown the table.
      const srcSlot = table.slotOf(src)
      table.slots[srcSlot + PACKETS]!++
      if (decoder.srcPort >= 0 && decoder.srcPort < decoder.dstPort) table.slots[srcSlot + SERVED]!++
    }
  } finally {
    reader.close()
  }
  return {
    busiest: findBusiest ? maxIndexWords(table, table.fieldByIndex(PACKETS), table.fieldByIndex(SERVED)) : undefined,
    plainIpv4,
    plainIpv6,
    records,
  }
}

const NO_U8 = new Uint8Array(0)
const NO_U16 = new Uint16Array(0)
const NO_U32 = new Uint32Array(0)
const NO_F64 = new Float64Array(0)
const NO_I32 = new Int32Array(0)

/**
 * Sets the io array's inputs that describe the reader's buffered records and the address table, for the full scan
 * and the host probe alike; returns the buffers and the table view to pass to `scanRecords`.
 */
function setRecordInputs(native: NativeScanner, io: Float64Array, reader: CaptureReader, table: AddressTable) {
  const layout = native.io
  const {buffer, interfaces, start, end} = reader.unreadRecords()
  const view = table.nativeView()
  io[layout.start] = start
  io[layout.end] = end
  // A set's files may differ in format, resolution, snaplen and link type.
  io[layout.pcapng] = reader.format === 'pcapng' ? 1 : 0
  io[layout.unitsPerSecond] = reader.pcapTimestampUnits
  io[layout.maxCaplen] = reader.pcapMaxCaplen
  io[layout.linkType] = reader.linkType
  // A pcapng section states its own byte order.
  io[layout.littleEndian] = reader.littleEndian ? 1 : 0
  io[layout.tableMask] = view.mask
  io[layout.tableCount] = view.count
  io[layout.otherMask] = view.otherMask
  io[layout.otherCount] = view.otherCount
  return {buffer, interfaces, view}
}

/**
 * Lets the native scanner take up to `limit` of the reader's buffered records into a probe's table: each IP packet's
 * source and destination get a packet (PACKETS), the source a SERVED when sent from the lower port, as probeCapture
 * counts them. It stops before a record it leaves to JavaScript. Returns the records (all IP packets) it took.
 */
function probeNative(
  native: NativeScanner,
  io: Float64Array,
  reader: CaptureReader,
  table: AddressTable,
  limit: number,
  vxlanPort: number,
): number {
  const layout = native.io
  io.fill(0)
  const {buffer, interfaces, view} = setRecordInputs(native, io, reader, table)
  io[layout.vxlanPort] = vxlanPort
  io[layout.probeLimit!] = limit
  // No host: no packet touches the request log, the clients or the port tables.
  native.scanRecords(
    io,
    buffer,
    interfaces,
    view.slots,
    view.words,
    view.slotByIndex,
    NO_U32,
    NO_F64,
    NO_U32,
    NO_U16,
    NO_U8,
    NO_U8,
    NO_U8,
    NO_U16,
    NO_U32,
    NO_I32,
    NO_F64,
    NO_F64,
    view.otherSlots,
  )
  const taken = io[layout.records]!
  if (taken > 0) {
    reader.skipRecords(io[layout.start]!, taken)
    table.setCount(io[layout.tableCount]!, io[layout.otherCount])
  }
  return taken
}

function maxIndexWords(
  table: AddressTable,
  counts: Uint32Array,
  tieBreak?: Uint32Array,
): [number, number, number, number] | undefined {
  let best = -1
  for (let i = 0; i < table.count; i++) {
    if (
      best < 0 ||
      counts[i]! > counts[best]! ||
      (counts[i] === counts[best] && tieBreak && tieBreak[i]! > tieBreak[best]!)
    )
      best = i
  }
  return best < 0 ? undefined : [table.word(best, 0), table.word(best, 1), table.word(best, 2), table.word(best, 3)]
}

function emptyTotals(): TrafficTotals {
  return {billableBytes: 0, bytes: 0, capturedBytes: 0, packets: 0}
}

function grow<T extends Float64Array | Int32Array | Uint16Array | Uint32Array | Uint8Array>(
  array: T,
  atLeast: number,
  atMost = Number.POSITIVE_INFINITY,
): T {
  let size = Math.max(1024, array.length * 2)
  while (size <= atLeast) size *= 2
  size = Math.max(atLeast + 1, Math.min(size, atMost))
  const grown = new (array.constructor as new (n: number) => T)(size)
  adviseHugePages(grown)
  grown.set(array)
  return grown
}

// Per-address state: the fields of the address's slot in the AddressTable (8 words, 32 bytes), so a
// packet touches one cache line for its address and counters (a random client's slot is usually a
// cache miss: the lookup is the scan's costliest step). Requests per client are counted from the log
// afterwards, and KoDs (rare) per client id, to keep the slot at 32 bytes. Words of a slot:
const R_PACKETS = FIRST_FIELD
/** Newest request still waiting for a reply, as row + 1 (0 none); older ones chain through prevPending. */
const R_PENDING = FIRST_FIELD + 1
/** NTP client id + 1 (0: the address has sent or received no NTP yet). */
const R_CLIENT = FIRST_FIELD + 2
const R_RESPONSES = FIRST_FIELD + 3
/** The Float64Array view's slot of the outbound NTP billable bytes (words 6 and 7). */
const R_BILLABLE_BYTES_F64 = 3
const RECORD_WORDS = SLOT_WORDS
/** R_CLIENT of an address beyond --max-clients (native/scan.c leaves its packets to JavaScript). */
const BEYOND_MAX_CLIENTS = 0xffff_ffff
const RECORD_F64 = RECORD_WORDS / 2

/** One full pass over the file with the host fixed. */
class CaptureScan {
  private readonly table: AddressTable
  /** Time of the packet being handled; a field, because a double argument to a call is boxed. */
  private now = 0
  /** Address index of each NTP client, by client id: the first `clientCount`. */
  private clientAddresses = new Uint32Array(1024)
  private clientCount = 0
  /** KoDs sent per client id (as long as clientAddresses). */
  private clientKods = new Uint32Array(1024)
  private hostIndex = -1

  // Per-request columns (the RequestLog) plus matching state.
  private requestCount = 0
  private timeSec: Float64Array
  private client: Uint32Array
  private srcPort: Uint16Array
  private version: Uint8Array
  private mode: Uint8Array
  private reply: Uint8Array
  private replyIpBytes: Uint16Array
  private transmitKey: Uint32Array
  private prevPending: Int32Array
  /**
   * Past `spillAt` rows, the settled ones go to disk (see spillSettled); rows [0, carried) are requests that were
   * still waiting for a reply then, whose places in capture order are carriedSeq; row `carried` is the capture's
   * request number `seqBase`, and those after it follow.
   */
  private readonly spillAt: number
  private spill: RequestSpill | undefined
  /** NTP clients past --max-clients, and what they sent and got (see countBeyond). */
  private readonly beyond = {answeredClients: 0, clients: 0, requestingClients: 0, requests: 0, responses: 0}
  private carried = 0
  private carriedSeq = new Float64Array(0)
  private seqBase = 0

  // Outbound traffic by service port: [packets, bytes, captured, billable] × 65536 ports, for UDP and TCP.
  private readonly udpPorts = new Float64Array(65_536 * 4)
  private readonly tcpPorts = new Float64Array(65_536 * 4)
  private readonly otherProtocols = new Map<string, TrafficTotals>()
  /** Outbound datagrams whose first fragment was seen: key → service port (see countPort). */
  private readonly fragmentPorts = new Map<string, number>()
  /** Later fragments whose first fragment was not seen (before them, or within the table's bound), by protocol. */
  private readonly unmatchedFragments = new Map<string, TrafficTotals>()
  private attributedFragments = 0
  /** A later part's fragments whose first fragment it did not see: matched against earlier parts on merge. */
  private readonly fragmentOrphans: FragmentOrphan[] | undefined

  private readonly totals = emptyTotals()
  private readonly outbound = emptyTotals()
  private readonly inbound = emptyTotals()
  private readonly ntpOutbound = emptyTotals()
  private readonly kissCodes = new Map<number, number>()
  private readonly encapsulations = new Map<number, number>()
  private readonly unsynchronised = new Map<string, number>()
  private readonly otherModes = new Map<number, TrafficTotals>()
  private ntpResponses = 0
  private ntpKods = 0
  private otherPackets = 0
  private ipv4Packets = 0
  private ipv6Packets = 0
  private nonIpPackets = 0
  private fragments = 0
  private snappedPackets = 0
  private firstPacketSec = Number.POSITIVE_INFINITY
  private lastPacketSec = Number.NEGATIVE_INFINITY
  private readonly reader: CaptureReader
  private partTruncation: Truncation | undefined
  /** A set's files as read, and the earliest and latest packet of those read to their end. */
  private readonly partSpans: CaptureFile[] = []
  private spanFirstSec = Number.POSITIVE_INFINITY
  private spanLastSec = Number.NEGATIVE_INFINITY
  /** Link types and snaplen a merged later part adds to this part's reader's. */
  private readonly partLinkTypes: number[] = []
  private partSnaplen = 0

  /** Replies of a later part that found no waiting request in it: matched against earlier parts on merge. */
  private readonly orphans: number[] | undefined

  constructor(
    private readonly origin: CaptureOrigin,
    private readonly host: [number, number, number, number] | undefined,
    private readonly ntpPort: number,
    private readonly vxlanPort: number,
    onProgress?: ProgressCallback,
    range?: ByteRange,
    /** The bytes of capture whose requests this scan will hold: the whole file's when later parts merge in. */
    logForBytes?: number,
    private readonly maxClients = DEFAULT_MAX_CLIENTS,
  ) {
    if (this.clientAddresses.length > maxClients) {
      this.clientAddresses = this.clientAddresses.slice(0, maxClients)
      this.clientKods = this.clientKods.slice(0, maxClients)
    }
    this.reader = CaptureReader.from(origin, range)
    if (origin.parts.length > 1) this.reader.onNextPart = () => this.endPart()
    origin.watch?.(() => this.liveStatus())
    if (range && range.from > this.reader.firstRecordOffset) {
      this.orphans = []
      this.fragmentOrphans = []
    }
    // Size the log for a typical NTP capture to avoid regrowth.
    const bytes = range ? range.to - range.from : (origin.size ?? STREAM_HEAD_BYTES)
    const expected = expectedRequests(bytes)
    // The NTP pool server incident's capture had one client per ~11 requests; start near that so the address table
    // rarely regrows.
    const clients = Math.min(1 << 22, Math.max(1 << 12, expected >> 3))
    // An IPv6 server's clients are mostly IPv6: the table of other addresses is sized alike.
    const ipv6Host = host !== undefined && !(host[0] === 0 && host[1] === 0 && host[2] === V4_MAPPED_WORD2)
    this.table = new AddressTable(clients, ipv6Host ? clients : 8)
    // A later part of a split scan keeps its rows for the merge (the split is for captures of bounded size).
    this.spillAt = this.orphans ? Number.POSITIVE_INFINITY : spillRows()
    const rows = Math.min(
      logForBytes === undefined ? expected : expectedRequests(logForBytes),
      this.spillAt + SPILL_SLACK_ROWS,
    )
    this.timeSec = new Float64Array(rows)
    this.client = new Uint32Array(rows)
    this.srcPort = new Uint16Array(rows)
    this.version = new Uint8Array(rows)
    this.mode = new Uint8Array(rows)
    this.reply = new Uint8Array(rows)
    this.replyIpBytes = new Uint16Array(rows)
    this.transmitKey = new Uint32Array(rows)
    this.prevPending = new Int32Array(rows)
    adviseHugePages(...this.requestLog())
    try {
      if (host) this.hostIndex = this.table.indexAt(this.table.intern(host[0], host[1], host[2], host[3]))
      this.scan(onProgress)
      if (origin.parts.length > 1) this.endPart()
    } catch (error) {
      this.discard()
      throw error
    } finally {
      this.reader.close()
    }
  }

  /** What a live progress line shows: packets and bytes so far and the outbound port with the most bytes. */
  liveStatus(): LiveStatus {
    let top: LiveStatus['topPort'] = null
    for (const [protocol, table] of [
      ['udp', this.udpPorts],
      ['tcp', this.tcpPorts],
    ] as const) {
      for (let at = 0; at < table.length; at += 4) {
        if (table[at + 1]! > (top?.bytes ?? 0)) top = {bytes: table[at + 1]!, port: at / 4, protocol}
      }
    }
    return {bytes: this.totals.bytes, outboundBytes: this.outbound.bytes, packets: this.totals.packets, topPort: top}
  }

  /** The request log's columns, in the order the native scan takes them (and huge pages are asked for). */
  private requestLog(): [
    Float64Array,
    Uint32Array,
    Uint16Array,
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint16Array,
    Uint32Array,
    Int32Array,
  ] {
    return [
      this.timeSec,
      this.client,
      this.srcPort,
      this.version,
      this.mode,
      this.reply,
      this.replyIpBytes,
      this.transmitKey,
      this.prevPending,
    ]
  }

  /** A set's file read to its end: its span and packets, then the times start over for the next. */
  private endPart(): void {
    const hasTime = this.firstPacketSec <= this.lastPacketSec
    const before = this.partSpans.reduce((sum, part) => sum + part.packets, 0)
    this.partSpans.push({
      file: this.reader.path,
      firstSec: hasTime ? this.firstPacketSec : Number.NaN,
      lastSec: hasTime ? this.lastPacketSec : Number.NaN,
      packets: this.totals.packets - before,
    })
    this.spanFirstSec = Math.min(this.spanFirstSec, this.firstPacketSec)
    this.spanLastSec = Math.max(this.spanLastSec, this.lastPacketSec)
    this.firstPacketSec = Number.POSITIVE_INFINITY
    this.lastPacketSec = Number.NEGATIVE_INFINITY
  }

  private scan(onProgress?: ProgressCallback): void {
    const reader = this.reader
    const decoder = new PacketDecoder(this.vxlanPort)
    const host = this.host ?? [-1, -1, -1, -1]
    const [h0, h1, h2, h3] = host
    const totals = this.totals
    let lastTime = 0
    const native = nativeScanner()
    const io = native && this.nativeIo(native)
    let packetsBeforeNative = 0
    let nativeRetry = 0
    for (;;) {
      if (this.requestCount >= this.spillAt) this.spillSettled(false)
      if (native !== undefined && --packetsBeforeNative < 0) {
        const before = totals.packets
        const taken = this.scanNative(native, io!)
        if (taken > 0) {
          lastTime = io![native.io.lastTime]!
          if (onProgress && before >>> 16 !== totals.packets >>> 16)
            onProgress(reader.progressPosition, reader.fileBytes)
        }
        // The packet it stopped at is read below, and more of them while it takes none.
        packetsBeforeNative = taken > 0 ? 0 : nativeRetry
        nativeRetry = taken > 0 ? 0 : Math.min(nativeRetry * 2 + 1, NATIVE_MAX_RETRY_PACKETS)
      }
      if (!reader.next()) break
      const caplen = reader.caplen
      const origlen = reader.origlen
      totals.packets++
      totals.capturedBytes += caplen
      totals.bytes += origlen
      if (caplen < origlen) this.snappedPackets++
      let time = reader.timeSec
      if (time === time) {
        if (time < this.firstPacketSec) this.firstPacketSec = time
        if (time > this.lastPacketSec) this.lastPacketSec = time
        lastTime = time
      } else {
        time = lastTime
      }
      if ((totals.packets & 0xffff) === 0 && onProgress) onProgress(reader.progressPosition, reader.fileBytes)
      if (!decoder.decode(reader.data, reader.offset, caplen, origlen, reader.linkType)) {
        this.nonIpPackets++
        continue
      }
      const ipBytes = decoder.ipBytes
      if (decoder.encapsulation !== 0) this.countEncapsulation(decoder.encapsulation)
      totals.billableBytes += ipBytes
      if (decoder.ipVersion === 4) this.ipv4Packets++
      else this.ipv6Packets++
      if (decoder.fragment) this.fragments++
      const fromHost = decoder.src3 === h3 && decoder.src2 === h2 && decoder.src1 === h1 && decoder.src0 === h0
      const toHost = decoder.dst3 === h3 && decoder.dst2 === h2 && decoder.dst1 === h1 && decoder.dst0 === h0
      if (fromHost) {
        this.countAddress(this.table.slotOf(this.hostIndex))
        addTotals(this.outbound, caplen, origlen, ipBytes)
        this.countPort(decoder, caplen, origlen, ipBytes)
        const remote = toHost
          ? this.table.slotOf(this.hostIndex)
          : this.table.intern(decoder.dst0, decoder.dst1, decoder.dst2, decoder.dst3)
        if (!toHost) this.countAddress(remote)
        if (decoder.protocol === UDP) {
          if (decoder.srcPort === this.ntpPort) this.ntpReply(decoder, reader.data, remote, caplen, origlen)
          else if (toHost && decoder.dstPort === this.ntpPort) {
            // The host querying itself (a local client on the same address, as on loopback).
            this.now = time
            this.ntpRequest(decoder, reader.data, remote)
          }
        }
      } else if (toHost) {
        this.countAddress(this.table.slotOf(this.hostIndex))
        const remote = this.table.intern(decoder.src0, decoder.src1, decoder.src2, decoder.src3)
        this.countAddress(remote)
        addTotals(this.inbound, caplen, origlen, ipBytes)
        if (decoder.dstPort === this.ntpPort && decoder.protocol === UDP) {
          this.now = time
          this.ntpRequest(decoder, reader.data, remote)
        }
      } else {
        this.otherPackets++
        this.countAddress(this.table.intern(decoder.src0, decoder.src1, decoder.src2, decoder.src3))
        this.countAddress(this.table.intern(decoder.dst0, decoder.dst1, decoder.dst2, decoder.dst3))
      }
    }
    onProgress?.(reader.fileBytes, reader.fileBytes)
  }

  /** The native scanner's io array, with the inputs that hold for the whole scan (see NativeIoLayout). */
  private nativeIo(native: NativeScanner): Float64Array {
    const layout = native.io
    const io = new Float64Array(layout.size)
    if (this.host) {
      io[layout.hasHost] = 1
      io.set(this.host, layout.host0)
      io[layout.hostIndex] = this.hostIndex
    }
    io[layout.ntpPort] = this.ntpPort
    io[layout.vxlanPort] = this.vxlanPort
    io[layout.keepOrphans] = this.orphans ? 1 : 0
    return io
  }

  /**
   * Lets the native scanner take the buffered records it can, from the reader's cursor on, into
   * this scan's arrays (native/scan.c); it stops before the first packet it leaves to JavaScript.
   * Returns the records it took.
   */
  private scanNative(native: NativeScanner, io: Float64Array): number {
    const layout = native.io
    const reader = this.reader
    io.fill(0, layout.totals)
    const {buffer, interfaces, view: table} = setRecordInputs(native, io, reader, this.table)
    io[layout.clientCount] = this.clientCount
    io[layout.requestCount] = this.requestCount
    io[layout.firstSec] = this.firstPacketSec
    io[layout.lastSec] = this.lastPacketSec
    native.scanRecords(
      io,
      buffer,
      interfaces,
      table.slots,
      table.words,
      table.slotByIndex,
      this.clientAddresses,
      ...this.requestLog(),
      this.udpPorts,
      this.tcpPorts,
      table.otherSlots,
    )
    const records = io[layout.records]!
    if (records === 0) return 0
    reader.skipRecords(io[layout.start]!, records)
    this.table.setCount(io[layout.tableCount]!, io[layout.otherCount])
    this.clientCount = io[layout.clientCount]!
    this.requestCount = io[layout.requestCount]!
    this.firstPacketSec = io[layout.firstSec]!
    this.lastPacketSec = io[layout.lastSec]!
    const totals = [this.totals, this.outbound, this.inbound, this.ntpOutbound]
    for (let k = 0; k < totals.length; k++) {
      const at = layout.totals + k * 4
      const sum = totals[k]!
      sum.packets += io[at]!
      sum.bytes += io[at + 1]!
      sum.capturedBytes += io[at + 2]!
      sum.billableBytes += io[at + 3]!
    }
    this.ntpResponses += io[layout.ntpResponses]!
    this.otherPackets += io[layout.otherPackets]!
    this.ipv4Packets += io[layout.ipv4Packets]!
    this.ipv6Packets += io[layout.ipv6Packets]!
    this.snappedPackets += io[layout.snappedPackets]!
    return records
  }

  /** Packets seen through each encapsulation (ENCAPSULATION bits; a packet may count under several). */
  private countEncapsulation(bits: number): void {
    for (let bit = 1; bit <= bits; bit <<= 1)
      if (bits & bit) this.encapsulations.set(bit, (this.encapsulations.get(bit) ?? 0) + 1)
  }

  private countAddress(slot: number): void {
    this.table.slots[slot + R_PACKETS]!++
  }

  /**
   * An outbound packet into the port table, under the port of the service it belongs to (servicePort).
   * A first fragment names its datagram for the later ones, kept by (destination, protocol, id) — the
   * source is the host — in a bounded table; a later fragment with no first one before it is counted apart.
   */
  private countPort(decoder: PacketDecoder, caplen: number, origlen: number, ipBytes: number): void {
    const protocol = decoder.protocol
    if ((protocol === UDP || protocol === IP_PROTOCOL.tcp) && decoder.srcPort >= 0) {
      const port = servicePort(decoder.srcPort, decoder.dstPort)
      if (decoder.fragment) this.rememberFragment(decoder, protocol, port)
      addPortTotals(protocol === UDP ? this.udpPorts : this.tcpPorts, port, caplen, origlen, ipBytes)
      return
    }
    if (decoder.laterFragment && (protocol === UDP || protocol === IP_PROTOCOL.tcp)) {
      const key = fragmentKey(decoder, protocol)
      const port = this.fragmentPorts.get(key)
      if (port !== undefined) {
        this.attributedFragments++
        addPortTotals(protocol === UDP ? this.udpPorts : this.tcpPorts, port, caplen, origlen, ipBytes)
      } else if (this.fragmentOrphans) {
        // Its first fragment may be in an earlier part of a split scan: the merge looks.
        this.fragmentOrphans.push({caplen, ipBytes, key, origlen, protocol})
      } else {
        this.countUnmatchedFragment(protocol, caplen, origlen, ipBytes)
      }
      return
    }
    const name = protocolName(protocol)
    let totals = this.otherProtocols.get(name)
    if (!totals) this.otherProtocols.set(name, (totals = emptyTotals()))
    addTotals(totals, caplen, origlen, ipBytes)
  }

  private rememberFragment(decoder: PacketDecoder, protocol: number, port: number): void {
    const ports = this.fragmentPorts
    const key = fragmentKey(decoder, protocol)
    if (!ports.has(key) && ports.size >= FRAGMENT_DATAGRAMS) ports.delete(ports.keys().next().value!)
    ports.set(key, port)
  }

  private countUnmatchedFragment(protocol: number, caplen: number, origlen: number, ipBytes: number): void {
    const name = protocolName(protocol)
    let totals = this.unmatchedFragments.get(name)
    if (!totals) this.unmatchedFragments.set(name, (totals = emptyTotals()))
    addTotals(totals, caplen, origlen, ipBytes)
  }

  /**
   * The address's slot, made an NTP client (given the next client id) on first sight — or, past --max-clients, marked
   * BEYOND_MAX_CLIENTS and counted apart (see countBeyond).
   */
  private clientRecord(slot: number): number {
    const slots = this.table.slots
    if (slots[slot + R_CLIENT] === 0) {
      if (this.clientCount >= this.maxClients) {
        slots[slot + R_CLIENT] = BEYOND_MAX_CLIENTS
        this.beyond.clients++
        return slot
      }
      if (this.clientCount === this.clientAddresses.length) {
        // Never longer than --max-clients: the native scanner makes clients while there is room.
        this.clientAddresses = grow(this.clientAddresses, this.clientCount, this.maxClients)
        this.clientKods = grow(this.clientKods, this.clientCount)
      }
      this.clientAddresses[this.clientCount++] = this.table.indexAt(slot)
      slots[slot + R_CLIENT] = this.clientCount
    }
    return slot
  }

  /**
   * A request from, or reply to, a client beyond --max-clients: in the totals, in no per-client figure (no log row, no
   * reply matched). Its slot's pending word holds whether it asked (1) and was answered (2).
   */
  private countBeyond(slot: number, request: boolean): void {
    const slots = this.table.slots
    const flags = slots[slot + R_PENDING]!
    if (request) {
      this.beyond.requests++
      if ((flags & 1) === 0) this.beyond.requestingClients++
      slots[slot + R_PENDING] = flags | 1
    } else {
      this.beyond.responses++
      if ((flags & 2) === 0) this.beyond.answeredClients++
      slots[slot + R_PENDING] = flags | 2
    }
  }

  private growRequests(atLeast: number): void {
    this.timeSec = grow(this.timeSec, atLeast)
    this.client = grow(this.client, atLeast)
    this.srcPort = grow(this.srcPort, atLeast)
    this.version = grow(this.version, atLeast)
    this.mode = grow(this.mode, atLeast)
    this.reply = grow(this.reply, atLeast)
    this.replyIpBytes = grow(this.replyIpBytes, atLeast)
    this.transmitKey = grow(this.transmitKey, atLeast)
    this.prevPending = grow(this.prevPending, atLeast)
  }

  /** A packet to the host's NTP port: one RequestLog row, unless it is a reply to the host's own query. */
  private ntpRequest(decoder: PacketDecoder, data: Uint8Array, remote: number): void {
    const length = decoder.payloadLength
    const at = decoder.payloadOffset
    const first = length > 0 ? data[at]! : 0
    const mode = length > 0 ? modeOf(first) : 0
    // Modes 2/4/5 arriving at port 123 answer the host's own upstream queries (ntpd polls from port 123).
    if (mode === MODE_SYMMETRIC_PASSIVE || mode === MODE_SERVER || mode === MODE_BROADCAST) return
    const record = this.clientRecord(remote)
    const records = this.table.slots
    if (records[record + R_CLIENT] === BEYOND_MAX_CLIENTS) return this.countBeyond(record, true)
    const row = this.requestCount++
    if (row >= this.timeSec.length) this.growRequests(row)
    this.timeSec[row] = this.now
    this.client[row] = records[record + R_CLIENT]! - 1
    this.srcPort[row] = decoder.srcPort
    this.version[row] = length > 0 ? versionOf(first) : 0
    this.mode[row] = mode
    this.reply[row] = 0
    this.replyIpBytes[row] = Math.min(0xffff, decoder.ipBytes)
    this.transmitKey[row] = length >= HEADER_BYTES ? timestampKey(data, at + TRANSMIT_AT) : 0
    this.prevPending[row] = records[record + R_PENDING]! - 1
    records[record + R_PENDING] = row + 1
  }

  /**
   * A packet from the host's NTP port: a reply (mode 4, or 2 from a peer), matched to the request it
   * answers. Control (6) and private (7) replies are matched too but counted apart; modes 0 and 5
   * answer nothing. Mode 1/3 from port 123 are the host's own queries (as a client or peer).
   */
  private ntpReply(decoder: PacketDecoder, data: Uint8Array, remote: number, caplen: number, origlen: number): void {
    const length = decoder.payloadLength
    const at = decoder.payloadOffset
    const mode = length > 0 ? modeOf(data[at]!) : 0
    if (mode === MODE_CLIENT || mode === MODE_SYMMETRIC_ACTIVE) return
    const isReply = mode === MODE_SERVER || mode === MODE_SYMMETRIC_PASSIVE
    const key = length >= HEADER_BYTES ? timestampKey(data, at + ORIGIN_AT) : 0
    if (!isReply) {
      let totals = this.otherModes.get(mode)
      if (!totals) this.otherModes.set(mode, (totals = emptyTotals()))
      addTotals(totals, caplen, origlen, decoder.ipBytes)
      if (mode !== MODE_CONTROL && mode !== MODE_PRIVATE) return
      if (this.table.slots[this.clientRecord(remote) + R_CLIENT] === BEYOND_MAX_CLIENTS) return
      const steps = this.matchReply(this.clientRecord(remote), decoder.dstPort, key, false, decoder.ipBytes, 0)
      if (steps >= 0 && this.orphans)
        this.orphans.push(this.table.indexAt(remote), decoder.dstPort, key, 0, decoder.ipBytes, steps)
      return
    }
    const record = this.clientRecord(remote)
    const records = this.table.slots
    const beyond = records[record + R_CLIENT] === BEYOND_MAX_CLIENTS
    if (beyond) this.countBeyond(record, false)
    this.ntpResponses++
    records[record + R_RESPONSES]!++
    this.table.slotDoubles[record / 2 + R_BILLABLE_BYTES_F64]! += decoder.ipBytes
    addTotals(this.ntpOutbound, caplen, origlen, decoder.ipBytes)
    let isKod = false
    if (length >= HEADER_BYTES) {
      const refid = readWord(data, at + REFERENCE_ID_AT)
      const meaning = replyMeaningOf(data[at]! >> 6, data[at + STRATUM_AT]!, refid)
      if (meaning.kind === 'kiss') {
        isKod = true
        this.ntpKods++
        if (!beyond) this.clientKods[records[record + R_CLIENT]! - 1]!++
        this.kissCodes.set(refid, (this.kissCodes.get(refid) ?? 0) + 1)
      } else if (meaning.kind === 'unsynchronised') {
        const stratum = data[at + STRATUM_AT]!
        const why = meaning.code ?? (stratum === 0 ? 'no kiss code' : stratum >= 16 ? 'stratum 16' : 'LI 3')
        this.unsynchronised.set(why, (this.unsynchronised.get(why) ?? 0) + 1)
      }
    }
    if (beyond) return
    const steps = this.matchReply(record, decoder.dstPort, key, isKod, decoder.ipBytes, 0)
    if (steps >= 0 && this.orphans)
      this.orphans.push(this.table.indexAt(remote), decoder.dstPort, key, isKod ? 1 : 0, decoder.ipBytes, steps)
  }

  /**
   * Newest-first over the client's waiting requests: the one whose transmit timestamp the reply
   * echoes as its origin (RFC 5905 §8), else the newest from the same source port. Returns -1 when
   * a request was matched, else how many waiting requests were walked (a later part's reply goes on
   * walking an earlier part's requests from there).
   */
  private matchReply(
    record: number,
    port: number,
    key: number,
    isKod: boolean,
    ipBytes: number,
    walked: number,
  ): number {
    const records = this.table.slots
    let previous = -1
    let row = records[record + R_PENDING]! - 1
    let match = -1
    let matchPrevious = -1
    let steps = walked
    for (; row >= 0 && steps < MATCH_WINDOW; steps++) {
      if (this.srcPort[row] === port) {
        if (key !== 0 && this.transmitKey[row] === key) {
          match = row
          matchPrevious = previous
          break
        }
        if (match < 0) {
          match = row
          matchPrevious = previous
        }
      }
      previous = row
      row = this.prevPending[row]!
    }
    if (match < 0) return steps
    if (matchPrevious < 0) records[record + R_PENDING] = this.prevPending[match]! + 1
    else this.prevPending[matchPrevious] = this.prevPending[match]!
    this.reply[match] = isKod ? 2 : 1
    this.replyIpBytes[match] = Math.min(0xffff, ipBytes)
    return -1
  }

  /**
   * Writes the settled request rows to disk, sorted by client, and keeps in memory only those still waiting for a
   * reply (they may yet be matched), moved to the front: a day's capture then holds its clients and its waiting
   * requests, not its requests. `final`: every row is settled (the capture ended).
   */
  private spillSettled(final: boolean): void {
    const n = this.requestCount
    this.spill ??= new RequestSpill()
    const waiting = new Uint8Array(n)
    const slots = this.table.slots
    if (!final) {
      for (let k = 0; k < this.clientCount; k++) {
        const slot = this.table.slotOf(this.clientAddresses[k]!)
        for (let row = slots[slot + R_PENDING]! - 1; row >= 0; row = this.prevPending[row]!) waiting[row] = 1
      }
    }
    const settled = new Int32Array(n)
    let count = 0
    for (let row = 0; row < n; row++) if (waiting[row] === 0) settled[count++] = row
    const carried = this.carried
    const carriedSeq = this.carriedSeq
    const seqBase = this.seqBase
    const seqOf = (row: number) => (row < carried ? carriedSeq[row]! : seqBase + row - carried)
    const {client, mode, reply, replyIpBytes, srcPort, timeSec, version} = this
    this.spill.write(
      {client, mode, reply, replyIpBytes, srcPort, timeSec, version},
      settled,
      count,
      this.clientCount,
      seqOf,
    )
    // The waiting rows to the front, in order, their chains renumbered.
    const kept = n - count
    const nextSeq = new Float64Array(kept)
    const renumbered = settled
    let j = 0
    for (let row = 0; row < n; row++) {
      if (waiting[row] === 0) continue
      renumbered[row] = j
      nextSeq[j] = seqOf(row)
      this.timeSec[j] = this.timeSec[row]!
      this.client[j] = this.client[row]!
      this.srcPort[j] = this.srcPort[row]!
      this.version[j] = this.version[row]!
      this.mode[j] = this.mode[row]!
      this.reply[j] = this.reply[row]!
      this.replyIpBytes[j] = this.replyIpBytes[row]!
      this.transmitKey[j] = this.transmitKey[row]!
      this.prevPending[j] = this.prevPending[row]!
      j++
    }
    for (let row = 0; row < kept; row++) {
      const previous = this.prevPending[row]!
      if (previous >= 0) this.prevPending[row] = renumbered[previous]!
    }
    if (kept > 0) {
      for (let k = 0; k < this.clientCount; k++) {
        const slot = this.table.slotOf(this.clientAddresses[k]!)
        const head = slots[slot + R_PENDING]! - 1
        if (head >= 0) slots[slot + R_PENDING] = renumbered[head]! + 1
      }
    }
    this.seqBase = seqBase + n - carried
    this.carried = kept
    this.carriedSeq = nextSeq
    this.requestCount = kept
  }

  /** Closes the spilled log of a scan whose result is not wanted (the host turned out to be another). */
  discard(): void {
    if (this.spill) discardSpill(this.spill.spilled)
  }

  /** Everything this part counted, as transferable arrays and numbers, for `merge` in another thread. */
  exportState(): ScanState {
    const n = this.requestCount
    const truncation = this.reader.truncation
    return {
      addressWords: this.table.exportWords(),
      clientAddresses: this.clientAddresses.slice(0, this.clientCount),
      clientKods: this.clientKods.slice(0, this.clientCount),
      counts: [
        this.ntpResponses,
        this.ntpKods,
        this.otherPackets,
        this.ipv4Packets,
        this.ipv6Packets,
        this.nonIpPackets,
        this.fragments,
        this.snappedPackets,
      ],
      firstPacketSec: this.firstPacketSec,
      kissCodes: [...this.kissCodes],
      encapsulations: [...this.encapsulations],
      otherModes: [...this.otherModes],
      unsynchronised: [...this.unsynchronised],
      lastPacketSec: this.lastPacketSec,
      linkTypes: this.reader.linkTypes,
      orphans: Float64Array.from(this.orphans ?? []),
      otherProtocols: [...this.otherProtocols],
      unmatchedFragments: [...this.unmatchedFragments],
      fragmentOrphans: this.fragmentOrphans ?? [],
      attributedFragments: this.attributedFragments,
      records: new Float64Array(this.table.slotsByIndex().buffer),
      requestCount: n,
      requests: {
        client: this.client,
        mode: this.mode,
        reply: this.reply,
        replyIpBytes: this.replyIpBytes,
        srcPort: this.srcPort,
        timeSec: this.timeSec,
        transmitKey: this.transmitKey,
        version: this.version,
      },
      snaplen: this.reader.snaplen,
      tcpPorts: this.tcpPorts,
      totals: [this.totals, this.outbound, this.inbound, this.ntpOutbound],
      truncation,
      udpPorts: this.udpPorts,
    }
  }

  /**
   * Adds a later part of the file, scanned by another thread, as if this scan had gone on reading it:
   * addresses and clients are re-interned, request rows appended in capture order, and that part's
   * replies that found no request in it are matched against the requests still waiting here.
   */
  merge(part: ScanState): void {
    const partRecords = new Uint32Array(part.records.buffer, part.records.byteOffset, part.records.length * 2)
    const w = part.addressWords
    const table = this.table
    // The part's address indices mapped to this table's (indices: a slot moves when the table grows).
    const addresses = new Uint32Array(w.length / 4)
    for (let i = 0; i < addresses.length; i++) {
      const slot = table.intern(w[i * 4]!, w[i * 4 + 1]!, w[i * 4 + 2]!, w[i * 4 + 3]!)
      table.slots[slot + R_PACKETS]! += partRecords[i * RECORD_WORDS + R_PACKETS]!
      addresses[i] = table.indexAt(slot)
    }
    // The part's clients in its id order: new ones get the ids one pass would have given them.
    const clientIds = new Uint32Array(part.clientAddresses.length)
    for (let k = 0; k < clientIds.length; k++) {
      const from = part.clientAddresses[k]!
      const record = this.clientRecord(table.slotOf(addresses[from]!))
      table.slots[record + R_RESPONSES]! += partRecords[from * RECORD_WORDS + R_RESPONSES]!
      table.slotDoubles[record / 2 + R_BILLABLE_BYTES_F64]! += part.records[from * RECORD_F64 + R_BILLABLE_BYTES_F64]!
      clientIds[k] = table.slots[record + R_CLIENT]! - 1
      this.clientKods[clientIds[k]!]! += part.clientKods[k]!
    }
    const orphans = part.orphans
    for (let i = 0; i < orphans.length; i += 6) {
      this.matchReply(
        table.slotOf(addresses[orphans[i]!]!),
        orphans[i + 1]!,
        orphans[i + 2]!,
        orphans[i + 3] === 1,
        orphans[i + 4]!,
        orphans[i + 5]!,
      )
    }
    const first = this.requestCount
    const rows = part.requestCount
    if (first + rows > this.timeSec.length) this.growRequests(first + rows)
    const r = part.requests
    this.timeSec.set(r.timeSec.subarray(0, rows), first)
    this.srcPort.set(r.srcPort.subarray(0, rows), first)
    this.version.set(r.version.subarray(0, rows), first)
    this.mode.set(r.mode.subarray(0, rows), first)
    this.reply.set(r.reply.subarray(0, rows), first)
    this.replyIpBytes.set(r.replyIpBytes.subarray(0, rows), first)
    this.transmitKey.set(r.transmitKey.subarray(0, rows), first)
    // No reply is matched after the merge, so the appended rows need no waiting-request chain.
    this.prevPending.fill(-1, first, first + rows)
    for (let row = 0; row < rows; row++) this.client[first + row] = clientIds[r.client[row]!]!
    this.requestCount = first + rows

    for (let i = 0; i < this.udpPorts.length; i++) {
      this.udpPorts[i]! += part.udpPorts[i]!
      this.tcpPorts[i]! += part.tcpPorts[i]!
    }
    for (const [name, totals] of part.otherProtocols) {
      const mine = this.otherProtocols.get(name) ?? emptyTotals()
      this.otherProtocols.set(name, sumTotals(mine, totals))
    }
    for (const [name, totals] of part.unmatchedFragments)
      this.unmatchedFragments.set(name, sumTotals(this.unmatchedFragments.get(name) ?? emptyTotals(), totals))
    this.attributedFragments += part.attributedFragments
    for (const orphan of part.fragmentOrphans) {
      const port = this.fragmentPorts.get(orphan.key)
      if (port === undefined) {
        this.countUnmatchedFragment(orphan.protocol, orphan.caplen, orphan.origlen, orphan.ipBytes)
        continue
      }
      this.attributedFragments++
      addPortTotals(
        orphan.protocol === UDP ? this.udpPorts : this.tcpPorts,
        port,
        orphan.caplen,
        orphan.origlen,
        orphan.ipBytes,
      )
    }
    const [totals, outbound, inbound, ntpOutbound] = part.totals as [
      TrafficTotals,
      TrafficTotals,
      TrafficTotals,
      TrafficTotals,
    ]
    Object.assign(this.totals, sumTotals(this.totals, totals))
    Object.assign(this.outbound, sumTotals(this.outbound, outbound))
    Object.assign(this.inbound, sumTotals(this.inbound, inbound))
    Object.assign(this.ntpOutbound, sumTotals(this.ntpOutbound, ntpOutbound))
    for (const [code, count] of part.kissCodes) this.kissCodes.set(code, (this.kissCodes.get(code) ?? 0) + count)
    for (const [bit, count] of part.encapsulations)
      this.encapsulations.set(bit, (this.encapsulations.get(bit) ?? 0) + count)
    for (const [why, count] of part.unsynchronised)
      this.unsynchronised.set(why, (this.unsynchronised.get(why) ?? 0) + count)
    for (const [mode, totals] of part.otherModes)
      this.otherModes.set(mode, sumTotals(this.otherModes.get(mode) ?? emptyTotals(), totals))
    const [responses, kods, other, v4, v6, nonIp, fragments, snapped] = part.counts
    this.ntpResponses += responses!
    this.ntpKods += kods!
    this.otherPackets += other!
    this.ipv4Packets += v4!
    this.ipv6Packets += v6!
    this.nonIpPackets += nonIp!
    this.fragments += fragments!
    this.snappedPackets += snapped!
    this.firstPacketSec = Math.min(this.firstPacketSec, part.firstPacketSec)
    this.lastPacketSec = Math.max(this.lastPacketSec, part.lastPacketSec)
    // Only the last part can end in a cut record; it numbers records from its own start.
    this.partTruncation = part.truncation && {...part.truncation, record: part.truncation.record + this.reader.records}
    this.partLinkTypes.push(
      ...part.linkTypes.filter((type) => !this.reader.linkTypes.includes(type) && !this.partLinkTypes.includes(type)),
    )
    this.partSnaplen = Math.max(this.partSnaplen, part.snaplen)
  }

  /** pcapng: interfaces changed after the first packets of this part, so a later part may misread its own. */
  get interfacesChangedAfterPackets(): boolean {
    return this.reader.interfacesChangedAfterPackets
  }

  /** The part's last record runs past its end. */
  get endsInCutRecord(): boolean {
    return this.reader.truncation !== undefined
  }

  busiestAddressWords(): [number, number, number, number] | undefined {
    return maxIndexWords(this.table, this.table.fieldByIndex(R_PACKETS))
  }

  packetsOf(words: [number, number, number, number]): number {
    const index = this.table.find(...words)
    return index < 0 ? 0 : this.table.slots[this.table.slotOf(index) + R_PACKETS]!
  }

  busiestAddressText(): string | undefined {
    const words = this.busiestAddressWords()
    return words ? this.table.text(this.table.find(...words)) : undefined
  }

  result(detected: boolean): CaptureAnalysis {
    const reader = this.reader
    const set = this.partSpans.length > 0
    const firstPacketSec = set ? this.spanFirstSec : this.firstPacketSec
    const lastPacketSec = set ? this.spanLastSec : this.lastPacketSec
    const hasTime = firstPacketSec <= lastPacketSec
    const n = this.clientCount
    // Plain loops: typed-array `from` with a mapping function takes the slow iterator path.
    const {slotDoubles, slots} = this.table
    const responses = new Uint32Array(n)
    const billableBytes = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      const slot = this.table.slotOf(this.clientAddresses[i]!)
      responses[i] = slots[slot + R_RESPONSES]!
      billableBytes[i] = slotDoubles[slot / 2 + R_BILLABLE_BYTES_F64]!
    }
    // A log spilled to disk goes there whole: the rows still in memory are settled now.
    const spill = this.spill
    if (spill) this.spillSettled(true)
    const requests = new Uint32Array(n)
    if (spill) requests.set(spill.requests.subarray(0, n))
    for (let row = 0; row < this.requestCount; row++) requests[this.client[row]!]!++
    let requestingClients = 0
    let answeredClients = 0
    for (let i = 0; i < n; i++) {
      if (requests[i]! > 0) requestingClients++
      if (responses[i]! > 0) answeredClients++
    }
    let unanswered = spill?.unanswered ?? 0
    for (let i = 0; i < this.requestCount; i++) if (this.reply[i] === 0) unanswered++
    const kissCodes: Record<string, number> = {}
    for (const [code, count] of this.kissCodes) {
      const text = kissCodeOfWord(code) ?? 'no kiss code'
      kissCodes[text] = (kissCodes[text] ?? 0) + count
    }
    const count = this.requestCount
    const spilled = spill?.spilled
    return {
      billableBytes: this.totals.billableBytes,
      byPort: this.portTraffic(),
      bytes: this.totals.bytes,
      capturedBytes: this.totals.capturedBytes,
      durationSec: hasTime ? lastPacketSec - firstPacketSec : 0,
      file: this.origin.name,
      ...(set ? {files: this.partSpans} : {}),
      fileBytes: reader.fileBytes,
      firstSec: hasTime ? firstPacketSec : Number.NaN,
      compression: reader.compression,
      encapsulations: Object.fromEntries(
        [...this.encapsulations].sort((a, b) => a[0] - b[0]).map(([bit, n]) => [ENCAPSULATION_NAMES[bit]!, n]),
      ),
      format: reader.format,
      fragments: this.fragments,
      fragmentsAttributed: this.attributedFragments,
      fragmentsUnmatched: [...this.unmatchedFragments.values()].reduce((sum, t) => sum + t.packets, 0),
      host:
        this.host && this.hostIndex >= 0
          ? {
              address: this.table.text(this.hostIndex),
              detected,
              packets: slots[this.table.slotOf(this.hostIndex) + R_PACKETS]!,
            }
          : undefined,
      inbound: this.inbound,
      ipv4Packets: this.ipv4Packets,
      ipv6Packets: this.ipv6Packets,
      lastSec: hasTime ? lastPacketSec : Number.NaN,
      linkTypes: [...reader.linkTypes, ...this.partLinkTypes],
      nonIpPackets: this.nonIpPackets,
      ntp: {
        answeredClients: answeredClients + this.beyond.answeredClients,
        ...(this.beyond.clients > 0 ? {beyondMaxClients: {...this.beyond, maxClients: this.maxClients}} : {}),
        counters: {
          kods: this.clientKods.slice(0, n),
          requests,
          responseBillableBytes: billableBytes,
          responses,
        },
        kissCodes,
        kods: this.ntpKods,
        otherModes: Object.fromEntries(
          [...this.otherModes].sort((a, b) => a[0] - b[0]).map(([mode, totals]) => [String(mode), totals]),
        ),
        unsynchronised: Object.fromEntries(this.unsynchronised),
        log: {
          client: this.client.subarray(0, count),
          clients: new AddressWordsList(this.table.wordsOf(this.clientAddresses.subarray(0, n))),
          count,
          mode: this.mode.subarray(0, count),
          reply: this.reply.subarray(0, count),
          replyIpBytes: this.replyIpBytes.subarray(0, count),
          ...(spilled ? {spilled} : {}),
          srcPort: this.srcPort.subarray(0, count),
          timeSec: this.timeSec.subarray(0, count),
          version: this.version.subarray(0, count),
        },
        outbound: this.ntpOutbound,
        port: this.ntpPort,
        requestingClients: requestingClients + this.beyond.requestingClients,
        requests: count + (spilled?.rows ?? 0) + this.beyond.requests,
        responses: this.ntpResponses,
        unanswered,
      },
      otherPackets: this.otherPackets,
      outbound: this.outbound,
      packets: this.totals.packets,
      snaplen: Math.max(reader.snaplen, this.partSnaplen),
      snappedPackets: this.snappedPackets,
      truncated: this.partTruncation ?? reader.truncation,
    }
  }

  private portTraffic(): PortTraffic[] {
    const rows: PortTraffic[] = []
    for (const [protocol, table] of [
      ['udp', this.udpPorts],
      ['tcp', this.tcpPorts],
    ] as const) {
      for (let port = 0; port < 65_536; port++) {
        const at = port * 4
        if (table[at] === 0) continue
        rows.push({
          billableBytes: table[at + 3]!,
          bytes: table[at + 1]!,
          capturedBytes: table[at + 2]!,
          packets: table[at]!,
          port,
          protocol,
        })
      }
    }
    for (const [protocol, totals] of this.otherProtocols) rows.push({...totals, port: null, protocol})
    for (const [protocol, totals] of this.unmatchedFragments)
      rows.push({...totals, port: null, protocol: `${protocol} fragments`})
    return rows.sort(
      (a, b) => b.bytes - a.bytes || a.protocol.localeCompare(b.protocol) || (a.port ?? -1) - (b.port ?? -1),
    )
  }
}

/** One outbound datagram's later fragments, held by a later part of a split scan until the merge. */
interface FragmentOrphan {
  key: string
  protocol: number
  caplen: number
  origlen: number
  ipBytes: number
}

/** Datagrams whose first fragment's port is remembered: ~64k keys, a few MB at most. */
const FRAGMENT_DATAGRAMS = 1 << 16

/** A datagram's reassembly key without the source (always the host here): destination, protocol, id. */
function fragmentKey(decoder: PacketDecoder, protocol: number): string {
  return `${decoder.dst0},${decoder.dst1},${decoder.dst2},${decoder.dst3},${protocol},${decoder.fragmentId}`
}

/**
 * The port that names a flow's traffic: the service's. A well-known port (below 1024) names it over a
 * registered one, and a registered one over an ephemeral one (32768 and up, where Linux and Windows
 * pick client ports); between two of a kind, the host's own port (the source of what it sends) —
 * so a DNS reply reflected to a victim's port 22 is DNS (53), not "22". native/scan.c mirrors this.
 */
export function servicePort(hostPort: number, remotePort: number): number {
  return portRank(remotePort) < portRank(hostPort) ? remotePort : hostPort
}

function portRank(port: number): number {
  return port < 1024 ? 0 : port < 32_768 ? 1 : 2
}

function addPortTotals(table: Float64Array, port: number, caplen: number, origlen: number, ipBytes: number): void {
  const at = port * 4
  table[at]!++
  table[at + 1]! += origlen
  table[at + 2]! += caplen
  table[at + 3]! += ipBytes
}

function sumTotals(a: TrafficTotals, b: TrafficTotals): TrafficTotals {
  return {
    billableBytes: a.billableBytes + b.billableBytes,
    bytes: a.bytes + b.bytes,
    capturedBytes: a.capturedBytes + b.capturedBytes,
    packets: a.packets + b.packets,
  }
}

/** Room past the spill point for the rows of a buffer's records (the scan spills between them). */
const SPILL_SLACK_ROWS = 1 << 16

/** Requests to size the log for, from capture bytes (~half a typical NTP capture's ~106-byte records are requests). */
function expectedRequests(bytes: number): number {
  return Math.min(1 << 26, Math.max(1 << 12, Math.ceil(bytes / 200)))
}

function addTotals(totals: TrafficTotals, caplen: number, origlen: number, ipBytes: number): void {
  totals.packets++
  totals.bytes += origlen
  totals.capturedBytes += caplen
  totals.billableBytes += ipBytes
}

/** The 64-bit timestamp at `at`, folded to 32 bits for matching replies (origin) to requests (transmit). */
function timestampKey(data: Uint8Array, at: number): number {
  // readWord is unsigned; Math.imul and ^ take both operands ToInt32, so the key is as from signed reads.
  return (Math.imul(readWord(data, at), 0x9e37_79b1) ^ readWord(data, at + 4)) >>> 0
}

function protocolName(protocol: number): string {
  if (protocol === UDP) return 'udp'
  if (protocol === IP_PROTOCOL.tcp) return 'tcp'
  if (protocol === IP_PROTOCOL.icmp) return 'icmp'
  if (protocol === IP_PROTOCOL.icmpv6) return 'ipv6-icmp'
  return `ip-${protocol}`
}
