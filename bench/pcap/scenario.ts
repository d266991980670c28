/**
 * Deterministic synthetic NTP-server captures that tell the NTP pool server incident's story: a server on Ethernet
 * whose outbound bytes are ~99.6% NTP, a heavy-tailed client population (the NTP pool server incident's blocking table:
 * 10% of traffic from clients with ≤ 3 queries, 25% ≤ 23, 50% ≤ 51, 75% ≤ 79, 90% ≤ 289, 95% ≤ 864),
 * greedy clients at several queries per second (162.220.96.14, 70.45.91.171), a NAT address with many
 * independently polling hosts behind it, and a synchronised fleet (BitFolk's Sunday 19:45 cron).
 * The same code writes the small committed samples and the incident-size bench capture.
 */
import {MODE, NTP_UNIX_OFFSET_SECONDS} from '../../src/ntp/packet.js'
import {parseAddressWords} from '../../src/pcap/addresses.js'
import {LINKTYPE} from '../../src/pcap/decode.js'
import {seededRandom} from '../../src/ratelimit/index.js'
import {CaptureWriter, linkFrame, tcpBody, ipPacket, udpPacket} from '../../src/pcap/writer.js'

export interface Band {
  minQueries: number
  maxQueries: number
  /** Share of all background requests that clients in this band send. */
  requestShare: number
}

export interface Scenario {
  host: string
  /** Capture start, Unix seconds. */
  startSec: number
  durationSec: number
  /** Background requests (before greedy clients, NAT and fleet). */
  backgroundRequests: number
  bands: Band[]
  greedy: {
    address: string
    qps: number
    /** send KoD RATE to every Nth request after `kodAfterSec` */ kodEvery?: number
    kodAfterSec?: number
  }[]
  nat: {address: string; hosts: number; pollSec: number}
  fleet: {devices: number; offsetSec: number; windowSec: number}
  /** Share of requests the server leaves unanswered. */
  dropShare: number
  /** Share of outbound bytes that is not NTP (ssh replies here). */
  otherOutboundShare: number
  seed: number
  /**
   * How client addresses are drawn: 'random' over the public IPv4 space (default), or 'clustered':
   * consecutive addresses in a few /16 networks (a provider's customers, a cloud region).
   */
  addresses?: 'clustered' | 'random'
  /** An IPv6 server: the host and every client speak IPv6 (the host is an IPv6 address). */
  ipv6?: boolean
}

/** Sunday 2014-06-08 19:30:00 UTC: the fleet's cron fires at 19:45. */
const SUNDAY_1930 = Date.UTC(2014, 5, 8, 19, 30, 0) / 1000

const INCIDENT_BANDS: Band[] = [
  {maxQueries: 3, minQueries: 1, requestShare: 0.1},
  {maxQueries: 23, minQueries: 4, requestShare: 0.15},
  {maxQueries: 51, minQueries: 24, requestShare: 0.25},
  {maxQueries: 79, minQueries: 52, requestShare: 0.25},
  {maxQueries: 289, minQueries: 80, requestShare: 0.15},
  {maxQueries: 864, minQueries: 290, requestShare: 0.05},
  {maxQueries: 12_000, minQueries: 865, requestShare: 0.05},
]

export const SCENARIOS: Record<string, Scenario> = {
  /** The committed sample: the NTP pool server incident's story in four minutes, a few hundred KB. */
  sample: {
    backgroundRequests: 520,
    bands: [
      {maxQueries: 2, minQueries: 1, requestShare: 0.45},
      {maxQueries: 8, minQueries: 3, requestShare: 0.35},
      {maxQueries: 30, minQueries: 9, requestShare: 0.2},
    ],
    dropShare: 0.005,
    durationSec: 240,
    fleet: {devices: 160, offsetSec: 120, windowSec: 40},
    greedy: [
      {address: '162.220.96.14', kodAfterSec: 60, kodEvery: 8, qps: 3},
      {address: '70.45.91.171', qps: 1.2},
    ],
    host: '10.206.10.174',
    nat: {address: '70.45.88.20', hosts: 16, pollSec: 16},
    otherOutboundShare: 0.004,
    seed: 1,
    startSec: SUNDAY_1930 + 13 * 60,
  },
  /** The NTP pool server incident's home server (its "control"): fewer clients, regular pollers. */
  control: {
    backgroundRequests: 430,
    bands: [
      {maxQueries: 2, minQueries: 1, requestShare: 0.5},
      {maxQueries: 6, minQueries: 3, requestShare: 0.5},
    ],
    dropShare: 0,
    durationSec: 180,
    fleet: {devices: 0, offsetSec: 0, windowSec: 1},
    greedy: [],
    host: '24.23.190.188',
    nat: {address: '24.23.190.1', hosts: 0, pollSec: 64},
    otherOutboundShare: 0,
    seed: 2,
    startSec: SUNDAY_1930,
  },
  /** Incident size: 2693 s, ~5.6M packets, ~2.8M NTP replies, ~250k clients (bench only, never committed). */
  incident: {
    backgroundRequests: 2_780_000,
    bands: INCIDENT_BANDS,
    dropShare: 0.01,
    durationSec: 2693,
    fleet: {devices: 1000, offsetSec: 15 * 60, windowSec: 120},
    greedy: [
      {address: '162.220.96.14', qps: 18_287 / 2693},
      {address: '70.45.91.171', qps: 12_996 / 2693},
    ],
    host: '10.206.10.174',
    nat: {address: '70.45.88.20', hosts: 50, pollSec: 64},
    otherOutboundShare: 0.0035,
    seed: 3,
    startSec: SUNDAY_1930,
  },
}

/**
 * The NTP pool server incident's story with other client mixes, for bench/pcap/mixes.ts: the speed of `billwatch pcap`
 * must not hang on one generator's population. Same server, length and request count as `incident`.
 */
export const MIXES: Record<string, Scenario> = {
  incident: SCENARIOS.incident!,
  /** Every client polls about as often (8–14 queries): ~250k clients, no heavy tail. */
  uniform: {...SCENARIOS.incident!, bands: [{maxQueries: 14, minQueries: 8, requestShare: 1}], seed: 11},
  /** A steeper tail: most requests from heavy clients (up to 50,000 queries), fewer clients in all. */
  steep: {
    ...SCENARIOS.incident!,
    bands: [
      {maxQueries: 3, minQueries: 1, requestShare: 0.05},
      {maxQueries: 79, minQueries: 4, requestShare: 0.1},
      {maxQueries: 864, minQueries: 80, requestShare: 0.2},
      {maxQueries: 50_000, minQueries: 865, requestShare: 0.65},
    ],
    seed: 12,
  },
  /**
   * The same requests spread over about five times the clients (~1.4M addresses of 1–4 queries each, drawn over the
   * public IPv4 space): the address table and every per-client array five times the incident's.
   */
  spread: {...SCENARIOS.incident!, bands: [{maxQueries: 4, minQueries: 1, requestShare: 1}], seed: 15},
  /** The NTP pool server incident's population in consecutive addresses of eight /16 networks. */
  clustered: {...SCENARIOS.incident!, addresses: 'clustered', seed: 13},
  /** The NTP pool server incident's population over IPv6, to an IPv6 server. */
  ipv6: {
    ...SCENARIOS.incident!,
    host: '2001:db8:7b::123',
    ipv6: true,
    nat: {...SCENARIOS.incident!.nat, address: '2001:db8:88::20'},
    greedy: [],
    seed: 14,
  },
}

/** How a client picks its source port: one fixed port (ntpd: 123), or a fresh one per request. */
const PORT_FIXED = 0
const PORT_RANDOM = 1

interface Client {
  address: number
  count: number
  period: number
  phase: number
  portMode: number
  port: number
  firstByte: number
  /** Real clock in the transmit timestamp (ntpd, SNTP) or a random nonce (chrony). */
  randomTransmit: boolean
  kodEvery: number
  kodAfterSec: number
}

export interface GeneratedCapture {
  packets: number
  requests: number
  replies: number
  clients: number
}

/** Writes the scenario to `path` as an Ethernet pcap (µs). */
export function generateCapture(scenario: Scenario, path: string): GeneratedCapture {
  const random = seededRandom(scenario.seed)
  const clients = buildClients(scenario, random)
  const events = scheduleRequests(scenario, clients, random)
  return writeCapture(scenario, clients, events, path, random)
}

/** Eight public /16 networks the clustered mix draws from, and the next host number in each. */
const CLUSTERS = [0x2d4f, 0x4a7d, 0x5bc2, 0x6e10, 0x8c3a, 0xa2f4, 0xb91e, 0xc75d]

function buildClients(scenario: Scenario, random: () => number): Client[] {
  const used = new Set<number>([parseAddressWords(scenario.host)[3]])
  const nextInCluster = new Uint32Array(CLUSTERS.length).fill(1)
  const publicAddress = (): number => {
    if (scenario.addresses === 'clustered') {
      const k = Math.floor(random() * CLUSTERS.length)
      const address = ((CLUSTERS[k]! << 16) | nextInCluster[k]!++) >>> 0
      used.add(address)
      return address
    }
    for (;;) {
      const a = Math.floor(random() * 4_294_967_296) >>> 0
      const first = a >>> 24
      const privateOrSpecial =
        first === 0 ||
        first === 10 ||
        first === 127 ||
        first >= 224 ||
        (first === 172 && ((a >>> 16) & 0xf0) === 16) ||
        (first === 192 && ((a >>> 16) & 255) === 168) ||
        first === 100
      if (!privateOrSpecial && !used.has(a)) {
        used.add(a)
        return a
      }
    }
  }
  const duration = scenario.durationSec
  const clients: Client[] = []
  const regular = (address: number, count: number, overrides: Partial<Client> = {}): Client => {
    const kind = random()
    // ntpd v4 from port 123 (40%), chrony v4 with a random port and nonce (35%), SNTP v3/v4 (20%), old v1/v2 (5%).
    const ntpd = kind < 0.4
    const chrony = !ntpd && kind < 0.75
    const version = kind >= 0.95 ? (kind >= 0.975 ? 1 : 2) : kind >= 0.85 ? 3 : 4
    const period = duration / count
    return {
      address,
      count,
      firstByte: (version << 3) | MODE.client,
      kodAfterSec: Number.POSITIVE_INFINITY,
      kodEvery: 0,
      period,
      phase: random() * period,
      port: ntpd ? 123 : 1024 + Math.floor(random() * 64_000),
      portMode: ntpd ? PORT_FIXED : PORT_RANDOM,
      randomTransmit: chrony,
      ...overrides,
    }
  }
  for (const band of scenario.bands) {
    let budget = Math.round(scenario.backgroundRequests * band.requestShare)
    const logMin = Math.log(band.minQueries)
    const logMax = Math.log(band.maxQueries + 1)
    while (budget > 0) {
      const count = Math.min(
        budget,
        band.minQueries === 1 && band.maxQueries <= 3
          ? smallCount(random, band.maxQueries)
          : Math.floor(Math.exp(logMin + random() * (logMax - logMin))),
      )
      clients.push(regular(publicAddress(), Math.max(1, count)))
      budget -= count
    }
  }
  for (const greedy of scenario.greedy) {
    const address = parseAddressWords(greedy.address)[3] >>> 0
    used.add(address)
    clients.push(
      regular(address, Math.round(greedy.qps * duration), {
        firstByte: (4 << 3) | MODE.client,
        kodAfterSec: greedy.kodAfterSec ?? Number.POSITIVE_INFINITY,
        kodEvery: greedy.kodEvery ?? 0,
        port: 40_000 + clients.length,
        portMode: PORT_FIXED,
        randomTransmit: false,
      }),
    )
  }
  // NAT: one public address, each host an ntpd at its own poll phase, remapped to its own port.
  const natAddress = scenario.ipv6 ? 0x0a58_0014 : parseAddressWords(scenario.nat.address)[3]
  used.add(natAddress)
  for (let h = 0; h < scenario.nat.hosts; h++) {
    const count = Math.max(1, Math.floor(duration / scenario.nat.pollSec))
    clients.push(
      regular(natAddress, count, {
        firstByte: (4 << 3) | MODE.client,
        period: scenario.nat.pollSec * (0.98 + random() * 0.04),
        port: 20_000 + h * 7,
        portMode: PORT_FIXED,
        randomTransmit: false,
      }),
    )
  }
  // Fleet: one SNTP query per device inside a short window (a cron job with no jitter).
  for (let d = 0; d < scenario.fleet.devices; d++) {
    clients.push({
      ...regular(publicAddress(), 1),
      firstByte: (4 << 3) | MODE.client,
      period: duration,
      phase: scenario.fleet.offsetSec + random() * scenario.fleet.windowSec,
      portMode: PORT_RANDOM,
    })
  }
  return clients
}

/** 1 query (60%), 2 (25%), 3 (15%): the NTP pool server incident's mass of one-off clients. */
function smallCount(random: () => number, max: number): number {
  const r = random()
  return Math.min(max, r < 0.6 ? 1 : r < 0.85 ? 2 : 3)
}

/** Every request as a sortable key: time in 10 µs units × 2^22 + client index. */
function scheduleRequests(scenario: Scenario, clients: Client[], random: () => number): Float64Array {
  let total = 0
  for (const client of clients) total += client.count
  const keys = new Float64Array(total)
  let n = 0
  const limit = scenario.durationSec * 100_000 - 1
  clients.forEach((client, index) => {
    for (let k = 0; k < client.count; k++) {
      const jitter = client.count > 1 ? (random() - 0.5) * Math.min(2, client.period * 0.1) : 0
      const t = Math.min(limit, Math.max(0, Math.round((client.phase + k * client.period + jitter) * 100_000)))
      keys[n++] = t * 4_194_304 + index
    }
  })
  return keys.sort()
}

function writeCapture(
  scenario: Scenario,
  clients: Client[],
  keys: Float64Array,
  path: string,
  random: () => number,
): GeneratedCapture {
  const writer = new CaptureWriter(path, {linkType: LINKTYPE.ethernet, snaplen: 65_535})
  const emitter = new RequestEmitter(scenario, clients, writer, random)
  for (const key of keys) {
    emitter.request(key % 4_194_304, scenario.startSec + Math.floor(key / 4_194_304) / 100_000)
  }
  writer.close()
  return {
    clients: new Set(clients.map((c) => c.address)).size,
    packets: emitter.packets,
    replies: emitter.replies,
    requests: keys.length,
  }
}

/**
 * Writes one client request and the server's reply (or none: a drop), keeping the ssh share of the
 * outbound bytes, to an open capture. Requests must come in time order; a long capture is written
 * window by window through one emitter.
 */
class RequestEmitter {
  packets = 0
  replies = 0
  private last = 0
  private ntpReplyBytes = 0
  private otherBytes = 0
  private readonly host: number
  private readonly hostWords: readonly number[]
  private readonly setAddresses: typeof setIpv6
  /** The NTP payload follows Ethernet, IPv4 (20) or IPv6 (40) and UDP headers. */
  private readonly ntp: number
  private readonly requestFrame: Uint8Array
  private readonly replyFrame: Uint8Array
  private readonly view: DataView
  private readonly replyView: DataView
  private readonly requestsSeen: Uint32Array
  private readonly sshReply: Uint8Array
  private readonly sshAck: Uint8Array

  constructor(
    private readonly scenario: Scenario,
    private readonly clients: Client[],
    private readonly writer: CaptureWriter,
    private readonly random: () => number,
  ) {
    const v6 = scenario.ipv6 === true
    this.host = parseAddressWords(scenario.host)[3]
    this.hostWords = parseAddressWords(scenario.host)
    this.setAddresses = v6 ? setIpv6 : setIpv4
    this.ntp = v6 ? 62 : 42
    this.requestFrame = linkFrame(
      LINKTYPE.ethernet,
      udpPacket(v6 ? '2001:db8::1' : '192.0.2.1', scenario.host, 123, 123, new Uint8Array(48)),
    )
    this.replyFrame = this.requestFrame.slice()
    this.view = new DataView(this.requestFrame.buffer)
    this.replyView = new DataView(this.replyFrame.buffer)
    this.requestsSeen = new Uint32Array(clients.length)
    const sshPeer = v6 ? '2001:db8:ffff::7' : '198.51.100.7'
    this.sshReply = linkFrame(
      LINKTYPE.ethernet,
      ipPacket({body: tcpBody(22, 52_113, new Uint8Array(100)), dst: sshPeer, protocol: 6, src: scenario.host}),
    )
    this.sshAck = linkFrame(
      LINKTYPE.ethernet,
      ipPacket({body: tcpBody(52_113, 22, new Uint8Array(0)), dst: scenario.host, protocol: 6, src: sshPeer}),
    )
  }

  private emit(time: number, frame: Uint8Array): void {
    this.last = Math.max(this.last, time)
    this.writer.packet(this.last, frame)
    this.packets++
  }

  /** Client `index`'s request at `time` (Unix seconds), and the reply to it. */
  request(index: number, time: number): void {
    const {ntp, random, scenario, view, replyView} = this
    const request = this.requestFrame
    const reply = this.replyFrame
    const client = this.clients[index]!
    const port = client.portMode === PORT_FIXED ? client.port : 1024 + Math.floor(random() * 64_000)
    const nth = this.requestsSeen[index]!++
    // Request: client → host:123.
    this.setAddresses(view, client.address, this.host, port, 123, this.hostWords, false)
    request[ntp] = client.firstByte
    const transmitSeconds = client.randomTransmit
      ? Math.floor(random() * 4_294_967_296)
      : Math.floor(time) + NTP_UNIX_OFFSET_SECONDS
    const transmitFraction = Math.floor(random() * 4_294_967_296)
    view.setUint32(ntp + 40, transmitSeconds >>> 0)
    view.setUint32(ntp + 44, transmitFraction >>> 0)
    this.emit(time, request)
    if (random() < scenario.dropShare) return
    // Reply: host:123 → client, origin = the request's transmit timestamp (RFC 5905 §8).
    const kod = client.kodEvery > 0 && time - scenario.startSec >= client.kodAfterSec && nth % client.kodEvery === 0
    this.setAddresses(replyView, this.host, client.address, 123, port, this.hostWords, true)
    reply[ntp] = kod ? (3 << 6) | (4 << 3) | MODE.server : (4 << 3) | MODE.server
    reply[ntp + 1] = kod ? 0 : 2
    replyView.setUint32(ntp + 12, kod ? 0x5241_5445 : 0xc0_00_02_7b) // "RATE" or an upstream 192.0.2.123
    replyView.setUint32(ntp + 24, transmitSeconds >>> 0)
    replyView.setUint32(ntp + 28, transmitFraction >>> 0)
    const serverSeconds = Math.floor(time) + NTP_UNIX_OFFSET_SECONDS
    replyView.setUint32(ntp + 32, serverSeconds >>> 0)
    replyView.setUint32(ntp + 40, serverSeconds >>> 0)
    this.emit(time + 0.0002 + random() * 0.0004, reply)
    this.replies++
    this.ntpReplyBytes += reply.length
    // Interleave the little non-NTP traffic (an ssh session) to hold NTP at its share of outbound bytes.
    while (this.otherBytes < (this.ntpReplyBytes * scenario.otherOutboundShare) / (1 - scenario.otherOutboundShare)) {
      this.emit(time + 0.0007, this.sshReply)
      this.emit(time + 0.0009, this.sshAck)
      this.otherBytes += this.sshReply.length
    }
  }
}

/**
 * Patches addresses and ports of an Ethernet+IPv6+UDP frame in place: a client's 32-bit key becomes
 * 2a00:xxxx:<key>::1 (a provider prefix and a customer /64), the host keeps its own address. The UDP
 * checksum is left as written (billwatch and tcpdump's filter do not check it).
 */
function setIpv6(
  view: DataView,
  src: number,
  dst: number,
  srcPort: number,
  dstPort: number,
  host: readonly number[],
  fromHost: boolean,
): void {
  const client = fromHost ? dst : src
  const words = [0x2a00_0000 | (Math.imul(client, 0x9e37_79b1) >>> 16), client, 0, 1]
  const [first, second] = fromHost ? [host, words] : [words, host]
  for (let k = 0; k < 4; k++) {
    view.setUint32(22 + k * 4, first[k]! >>> 0)
    view.setUint32(38 + k * 4, second[k]! >>> 0)
  }
  view.setUint16(54, srcPort)
  view.setUint16(56, dstPort)
}

/** Patches addresses, ports, IP id and header checksum of an Ethernet+IPv4+UDP frame in place. */
function setIpv4(
  view: DataView,
  src: number,
  dst: number,
  srcPort: number,
  dstPort: number,
  _host?: readonly number[],
  _fromHost?: boolean,
): void {
  view.setUint32(26, src)
  view.setUint32(30, dst)
  view.setUint16(34, srcPort)
  view.setUint16(36, dstPort)
  view.setUint16(24, 0)
  let sum = 0
  for (let at = 14; at < 34; at += 2) sum += view.getUint16(at)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  view.setUint16(24, ~sum & 0xffff)
}

/** Requests a day at the NTP pool server incident's rate: about 120M packets, a request and (mostly) its reply each. */
export const DAY_REQUESTS = 60_000_000

/**
 * The incident's server over `hours` (24: a day) from Sunday 00:00 UTC: the same population as the
 * incident-size capture (~250k addresses), each polling as many times more as the day is longer than the
 * 45-minute capture, at DAY_REQUESTS a day; the greedy clients and the NAT keep their rates, and the
 * fleet fires at 19:45 when the span reaches it.
 */
export function dayScenario(hours: number): Scenario {
  const incident = SCENARIOS.incident!
  const scale = DAY_REQUESTS / incident.backgroundRequests
  return {
    ...incident,
    backgroundRequests: Math.round((DAY_REQUESTS * hours) / 24),
    bands: incident.bands.map((band) => {
      const minQueries = Math.max(1, Math.round((band.minQueries * scale * hours) / 24))
      return {...band, maxQueries: Math.max(minQueries, Math.round((band.maxQueries * scale * hours) / 24)), minQueries}
    }),
    durationSec: hours * 3600,
    fleet: {...incident.fleet, offsetSec: 19 * 3600 + 45 * 60},
    seed: 24,
    startSec: SUNDAY_1930 - (19 * 3600 + 30 * 60),
  }
}

/**
 * Writes `scenario` as one pcap an hour at a time, so memory holds one hour's schedule, not the
 * span's (a day is ~60M requests). Each request's time jitter comes from a hash of (client, n), so
 * a window needs no other window's draws. `onWindow` hears of each hour written.
 */
export function generateLongCapture(
  scenario: Scenario,
  path: string,
  onWindow?: (done: number, of: number) => void,
): GeneratedCapture {
  const random = seededRandom(scenario.seed)
  const clients = buildClients(scenario, random)
  const writer = new CaptureWriter(path, {linkType: LINKTYPE.ethernet, snaplen: 65_535})
  const emitter = new RequestEmitter(scenario, clients, writer, random)
  const windowSec = 3600
  const windows = Math.ceil(scenario.durationSec / windowSec)
  const limit = scenario.durationSec - 1e-5
  let requests = 0
  const keys: number[] = []
  for (let w = 0; w < windows; w++) {
    const from = w * windowSec
    const to = Math.min(scenario.durationSec, from + windowSec)
    keys.length = 0
    clients.forEach((client, index) => {
      const reach = Math.min(2, client.period * 0.1) / 2
      const first = Math.max(0, Math.floor((from - client.phase - reach) / client.period))
      const last = Math.min(client.count - 1, Math.ceil((to - client.phase + reach) / client.period))
      for (let k = first; k <= last; k++) {
        const jitter = client.count > 1 ? (hashUnit(index, k) - 0.5) * 2 * reach : 0
        const t = Math.min(limit, Math.max(0, client.phase + k * client.period + jitter))
        if (t >= from && t < to) keys.push(Math.round((t - from) * 100_000) * 4_194_304 + index)
      }
    })
    const sorted = Float64Array.from(keys).sort()
    for (const key of sorted) {
      emitter.request(key % 4_194_304, scenario.startSec + from + Math.floor(key / 4_194_304) / 100_000)
    }
    requests += sorted.length
    onWindow?.(w + 1, windows)
  }
  writer.close()
  return {
    clients: new Set(clients.map((c) => c.address)).size,
    packets: emitter.packets,
    replies: emitter.replies,
    requests,
  }
}

/** A uniform number in [0, 1) from a client and its request number (mulberry32's finaliser). */
function hashUnit(client: number, n: number): number {
  let t = (Math.imul(client, 0x9e37_79b1) ^ Math.imul(n + 1, 0x85eb_ca77)) >>> 0
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
}
