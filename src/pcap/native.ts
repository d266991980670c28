import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {type ClientGroups, groupByClient} from '../behaviour/group.js'
import {BillwatchError} from '../errors.js'
import type {RequestLog} from './request-log.js'

/**
 * The native fast path of the capture scan (native/scan.c), built by `npm install` where a C
 * compiler is: it takes the scan's common packets about three times faster than JavaScript.
 * Without it the JavaScript scan does everything, with the same result.
 *
 * BILLWATCH_PCAP_NATIVE=0 turns it off; =1 makes its absence an error (the tests use both).
 */
export interface NativeScanner {
  /**
   * The VPC Flow Logs roll-up (vpc.c): `config` is [fields, header (0/1), then the index of each field it reads, -1
   * when absent, in vpc.c's role order]; rows go to `out`; its tables are written out and emptied at `bound` groups.
   */
  vpcCreate?: (config: Int32Array, out: string, bound: number) => unknown
  /** Feeds the next bytes of the content; false once a record is left to DuckDB. */
  vpcFeed?: (rollup: unknown, chunk: Uint8Array) => boolean
  /**
   * [records, whether the daily rows were written in parts, whether the per-client rows were], or null when a record
   * was left to DuckDB.
   */
  vpcFinish?: (rollup: unknown) => [number, number, number] | null
  /** Scans whole buffered records in place; see scan.c for the arguments and `io` for the io array. */
  scanRecords(
    io: Float64Array,
    buffer: Uint8Array,
    interfaces: Float64Array,
    slots: Uint32Array,
    words: Uint32Array,
    slotByIndex: Uint32Array,
    clientAddresses: Uint32Array,
    timeSec: Float64Array,
    client: Uint32Array,
    srcPort: Uint16Array,
    version: Uint8Array,
    mode: Uint8Array,
    reply: Uint8Array,
    replyIpBytes: Uint16Array,
    transmitKey: Uint32Array,
    prevPending: Int32Array,
    udpPorts: Float64Array,
    tcpPorts: Float64Array,
    otherSlots: Uint32Array,
  ): void
  /**
   * groupByClient's counting sort over the log's first `count` rows: `start` (zero, one longer than the clients) gets
   * the groups' bounds, the grouped columns (`count` rows each) the rows, each client's in capture order.
   */
  groupRows(
    count: number,
    client: Uint32Array,
    timeSec: Float64Array,
    srcPort: Uint16Array,
    reply: Uint8Array,
    version: Uint8Array,
    mode: Uint8Array,
    replyIpBytes: Uint16Array,
    start: Uint32Array,
    groupedTimeSec: Float64Array,
    groupedSrcPort: Uint16Array,
    groupedReply: Uint8Array,
    groupedVersion: Uint8Array,
    groupedMode: Uint8Array,
    groupedReplyIpBytes: Uint16Array,
  ): void
  /**
   * The limiter replay of one limiter over grouped time requests, decided and tallied as src/ratelimit's
   * tallyDecisions does, on the limiter's own state (Limiter.native); see scan.c for the arguments.
   */
  replayLimiter(
    algorithm: number,
    params: Float64Array,
    start: Uint32Array,
    timeSec: Float64Array,
    served: Uint8Array,
    bytes: Uint16Array,
    firstClient: number,
    last: Float64Array,
    leak: Float64Array,
    tokens: Int32Array,
    rate: Int16Array,
    timeoutRate: Int16Array,
    dropped: Uint8Array,
    randomState: Uint32Array,
    kodRandomState: Uint32Array,
    answeredPerClient: Uint32Array,
    kodsPerClient: Uint32Array,
    sums: Float64Array,
  ): void
  /**
   * Whether replayLimiter replays ntpsec too: its score decays by V8's own exp (Math.exp's), which the addon takes
   * from the Node.js that loads it; a Node.js that does not export it leaves ntpsec to JavaScript.
   */
  replaysNtpsec?: boolean
  /** Asks for transparent huge pages under each array, before it is first written (see adviseHugePages). */
  adviseHugePages(...arrays: ArrayBufferView[]): void
  /** Where each input, cursor and counter sits in the io array, as the addon lays it out. */
  io: NativeIoLayout
}

export interface NativeIoLayout {
  start: number
  end: number
  records: number
  pcapng: number
  littleEndian: number
  unitsPerSecond: number
  maxCaplen: number
  linkType: number
  hasHost: number
  /** The first of the host's four address words. */
  host0: number
  hostIndex: number
  ntpPort: number
  keepOrphans: number
  tableMask: number
  tableCount: number
  clientCount: number
  requestCount: number
  firstSec: number
  lastSec: number
  lastTime: number
  /** Four totals of four numbers each (packets, bytes, captured, billable): all, outbound, inbound, NTP outbound. */
  totals: number
  ntpResponses: number
  otherPackets: number
  ipv4Packets: number
  snappedPackets: number
  /** Input: the VXLAN port besides 4789 (--vxlan-port). */
  vxlanPort: number
  ipv6Packets: number
  /** The address table's index of other (IPv6) addresses: its mask (input) and count (input and output). */
  otherMask: number
  otherCount: number
  /**
   * Input: 0 for a scan; N > 0 for the host probe (no host, at most N records, and each source's packets sent from a
   * port below the destination's counted in its slot's second field). Absent from an addon built before it.
   */
  probeLimit?: number
  /** The io array's length. */
  size: number
}

const ADDON = 'src/pcap/native/build/Release/pcap_scan.node'

/** The addon, or why it is not there. */
let loaded: {scanner: NativeScanner} | {problem: string} | undefined

/** The native scanner, or undefined when it is not built or is turned off (read at every call). */
export function nativeScanner(): NativeScanner | undefined {
  const wanted = process.env.BILLWATCH_PCAP_NATIVE
  if (wanted === '0') return undefined
  loaded ??= load()
  if ('scanner' in loaded) return loaded.scanner
  if (wanted === '1')
    throw new BillwatchError(
      'E_INTERNAL',
      `BILLWATCH_PCAP_NATIVE=1 but the native pcap scanner is missing: ${loaded.problem}`,
      {
        suggestions: ['npm run build:native'],
      },
    )
  return undefined
}

/**
 * The log grouped by client (groupByClient) by the native addon when it is there: the same groups, about five times
 * faster than JavaScript on the incident-size capture's 2.8M requests. `shared` puts the columns in
 * SharedArrayBuffers, for a worker thread to read without a copy.
 */
export function groupLog(log: RequestLog, {shared = false}: {shared?: boolean} = {}): ClientGroups {
  const scanner = nativeScanner()
  // An addon built before grouping was added to it (a stale build) groups in JavaScript.
  if (!scanner?.groupRows) return groupByClient(log, {shared})
  const rows = log.count
  const clients = log.clients.length
  // One buffer for every column, widest elements first so each column starts aligned: the huge pages asked for cover
  // nearly all of it (a column of its own, 3 MB of bytes say, often holds no whole 2 MiB page).
  const bytes = rows * 8 + (clients + 1) * 4 + rows * 2 * 2 + rows * 3
  const buffer = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes)
  adviseHugePages(new Uint8Array(buffer))
  let at = 0
  const column = <T>(
    Type: new (buffer: ArrayBuffer | SharedArrayBuffer, at: number, length: number) => T,
    width: number,
    length: number,
  ): T => {
    const array = new Type(buffer, at, length)
    at += width * length
    return array
  }
  const timeSec = column(Float64Array, 8, rows)
  const start = column(Uint32Array, 4, clients + 1)
  const groups: ClientGroups = {
    replyIpBytes: column(Uint16Array, 2, rows),
    srcPort: column(Uint16Array, 2, rows),
    mode: column(Uint8Array, 1, rows),
    reply: column(Uint8Array, 1, rows),
    start,
    timeSec,
    version: column(Uint8Array, 1, rows),
  }
  scanner.groupRows(
    rows,
    log.client,
    log.timeSec,
    log.srcPort,
    log.reply,
    log.version,
    log.mode,
    log.replyIpBytes,
    groups.start,
    groups.timeSec,
    groups.srcPort,
    groups.reply,
    groups.version,
    groups.mode,
    groups.replyIpBytes,
  )
  return groups
}

/** Arrays smaller than this are left alone: a huge page is 2 MiB, and only whole ones inside an array are asked for. */
const HUGE_ARRAY_BYTES = 2 * 1024 * 1024

/**
 * Asks the kernel for transparent huge pages under each new large array, before it is first written: where THP is
 * "madvise" (Debian's default), filling a fresh array of tens of MB otherwise costs a page fault every 4 KiB, and on
 * a virtual machine each fault can cost ~10 µs (the incident-size capture's scan and report took ~60,000 of them).
 * The addon does it; without the addon, or with BILLWATCH_PCAP_NATIVE=0, nothing happens. Never changes a result.
 */
export function adviseHugePages(...arrays: ArrayBufferView[]): void {
  if (process.env.BILLWATCH_PCAP_NATIVE === '0') return
  loaded ??= load()
  const large = arrays.filter((array) => array.byteLength >= HUGE_ARRAY_BYTES)
  // An addon built before it had adviseHugePages (a stale build) gives no advice.
  if ('scanner' in loaded && large.length > 0) loaded.scanner.adviseHugePages?.(...large)
}

function load(): {scanner: NativeScanner} | {problem: string} {
  const file = addonPath()
  if (!file) return {problem: `${ADDON} is not built`}
  try {
    return {scanner: createRequire(import.meta.url)(file) as NativeScanner}
  } catch (error) {
    // Built for another Node.js, say: the JavaScript scan still gives the same report.
    const problem = `${file} does not load: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`
    if (process.env.BILLWATCH_PCAP_NATIVE !== '1')
      process.emitWarning(`${problem}; billwatch pcap uses its JavaScript scanner (npm run build:native rebuilds it)`)
    return {problem}
  }
}

/** The addon beside the package's sources, found from this module in src/ or in dist/src/. */
function addonPath(): string | undefined {
  let directory = dirname(fileURLToPath(import.meta.url))
  for (let up = 0; up < 4; up++) {
    if (existsSync(join(directory, 'package.json'))) {
      const file = join(directory, ADDON)
      return existsSync(file) ? file : undefined
    }
    directory = dirname(directory)
  }
  return undefined
}
