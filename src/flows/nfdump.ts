/**
 * NetFlow v5/v9 and IPFIX as nfcapd stores them, read through Debian's `nfdump` (1.7) as a
 * subprocess: never parsed directly (the file layout is nfdump's own, with LZO/LZ4/bz2 blocks).
 * `nfdump -o json` is streamed and rolled up here to staged rows, one per (day, host, direction,
 * protocol, port, client), so memory grows with the peers, not the records.
 *
 * Sampling: nfcapd multiplies the counters by the rate an exporter announces (v5 header, v9/IPFIX
 * options) when it collects, and marks the record `sampled`; an exporter that samples without saying
 * so (softflowd -s N) needs `--sampling N`, which billwatch applies here. Either way it is stated.
 */
import {spawn, spawnSync} from 'node:child_process'
import {createInterface} from 'node:readline'

import {BillwatchError} from '../errors.js'
import type {StagedFlow} from './stage.js'

export interface NfdumpOptions {
  /** The server's address; default: the address in the most packets (`nfdump -s ip/packets`). */
  host?: string
  /** 1-in-N packet sampling the exporter did not announce (softflowd -s N): counts are multiplied by N. */
  sampling?: number
}

export interface NfdumpScan {
  rows: StagedFlow[]
  records: number
  host: string
  /** The sampling applied, in words; null for unsampled records. */
  sampling: null | string
}

const NFDUMP = process.env.BILLWATCH_NFDUMP ?? 'nfdump'
/** nfdump prints local time without an offset: UTC makes its times UTC. */
const ENV = {...process.env, LC_ALL: 'C', TZ: 'UTC'}

function missingNfdump(path: string): BillwatchError {
  return new BillwatchError('E_FORMAT', 'an nfcapd file needs nfdump to be read', {
    file: path,
    suggestions: ['apt-get install nfdump (Debian and Ubuntu), or set BILLWATCH_NFDUMP to its path'],
  })
}

/** nfdump exits 0 after a short read of a cut-off file: its complaints on stderr are the only sign of the damage. */
function damageIn(stderr: string): boolean {
  return /short read|corrupt|inconsistent|error|unable to read/i.test(stderr)
}

/** nfdump's first complaint, without nfdump's own source file and line or the path it was given. */
function unreadable(path: string, stderr: string): BillwatchError {
  const complaint = (stderr.split('\n').find((line) => line.trim() !== '') ?? 'no reason given')
    .split(path)
    .join('the file')
    .replace(/\s+in \S+\.c line \d+/g, '')
    .replace(/^read\(\) error:\s*/, '')
    .trim()
  return new BillwatchError(
    'E_FORMAT',
    `nfdump cannot read the file whole: it is cut short or damaged (${complaint})`,
    {
      expected: 'a whole nfcapd file',
      file: path,
    },
  )
}

/** The address in the most packets of the file: the exporter's busiest host, as `pcap --host auto`. */
function busiestAddress(path: string): string {
  const result = spawnSync(NFDUMP, ['-r', path, '-s', 'ip/packets', '-n', '1', '-o', 'csv'], {
    encoding: 'utf8',
    env: ENV,
    maxBuffer: 1 << 20,
  })
  if (result.error) throw missingNfdump(path)
  if (result.status !== 0 || damageIn(result.stderr ?? '')) throw unreadable(path, result.stderr ?? '')
  const lines = result.stdout.split('\n')
  const header = (lines[0] ?? '').split(',')
  const at = header.indexOf('val')
  const value = (lines[1] ?? '').split(',')[at]?.trim()
  if (at < 0 || !value) throw new BillwatchError('E_EMPTY', 'no flows in the file', {file: path})
  return value
}

/** "Sampler … packet interval: 1, packet space: 9" lines of `nfdump -E` → the announced 1:N rates. */
function announcedSampling(path: string): string[] {
  const result = spawnSync(NFDUMP, ['-E', path], {encoding: 'utf8', env: ENV, maxBuffer: 1 << 20})
  const rates = new Set<string>()
  for (const match of (result.stdout ?? '').matchAll(/packet interval:\s*(\d+),\s*packet space:\s*(\d+)/g)) {
    const interval = Number(match[1])
    const space = Number(match[2])
    if (interval > 0) rates.add(`1:${(interval + space) / interval}`)
  }
  return [...rates]
}

interface NfRecord {
  type?: string
  sampled?: number
  last?: string
  in_packets?: number
  in_bytes?: number
  out_packets?: number
  out_bytes?: number
  proto?: number
  src_port?: number
  dst_port?: number
  src4_addr?: string
  dst4_addr?: string
  src6_addr?: string
  dst6_addr?: string
}

const PORT_PROTOCOLS = new Set([6, 17, 132])
const PROTOCOL_NAMES: Record<number, string> = {1: 'icmp', 17: 'udp', 58: 'ipv6-icmp', 6: 'tcp'}

export async function readNfcapd(path: string, options: NfdumpOptions = {}): Promise<NfdumpScan> {
  const host = options.host ?? busiestAddress(path)
  const scale = options.sampling ?? 1
  const rows = new Map<string, StagedFlow>()
  let records = 0
  let sampledRecords = 0
  const child = spawn(NFDUMP, ['-r', path, '-o', 'json'], {env: ENV, stdio: ['ignore', 'pipe', 'pipe']})
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)))
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', () => reject(missingNfdump(path)))
    child.on('close', (code) => resolve(code ?? 1))
  })
  // nfdump 1.7 writes one JSON object over many lines, `{` and `}` (or `},`) alone on theirs.
  let object: string[] | undefined
  for await (const line of createInterface({crlfDelay: Number.POSITIVE_INFINITY, input: child.stdout})) {
    if (line === '{') object = ['{']
    else if (object && (line === '}' || line === '},' || line === '}]')) {
      object.push('}')
      const record = JSON.parse(object.join('\n')) as NfRecord
      object = undefined
      if (record.type !== 'FLOW') continue
      records++
      if (record.sampled) sampledRecords++
      addRecord(rows, record, host, scale)
    } else if (object) object.push(line)
  }
  const code = await exited
  if (code !== 0 || damageIn(stderr)) throw unreadable(path, stderr)
  const statements: string[] = []
  if (sampledRecords > 0) {
    const rates = announcedSampling(path)
    statements.push(
      `${sampledRecords} of ${records} records sampled by the exporter${rates.length > 0 ? ` at ${rates.join(', ')}` : ''}, scaled up by nfcapd: counts are estimates`,
    )
  }
  if (scale > 1) statements.push(`1:${scale} sampling given with --sampling, counts multiplied by ${scale}: estimates`)
  return {host, records, rows: [...rows.values()], sampling: statements.length > 0 ? statements.join('; ') : null}
}

function addRecord(rows: Map<string, StagedFlow>, record: NfRecord, host: string, scale: number): void {
  const src = record.src4_addr ?? record.src6_addr ?? ''
  const dst = record.dst4_addr ?? record.dst6_addr ?? ''
  const proto = record.proto ?? 0
  const ported = PORT_PROTOCOLS.has(proto)
  const sp = record.src_port ?? 0
  const dp = record.dst_port ?? 0
  // The host's own port names the traffic (its reply's source port, its request's destination port).
  const direction = src === host ? 'egress' : dst === host ? 'ingress' : 'unknown'
  const port = !ported ? null : direction === 'egress' ? sp : direction === 'ingress' ? dp : Math.min(sp, dp)
  const client = direction === 'egress' ? dst : direction === 'ingress' ? src : null
  // `last` is UTC (TZ=UTC); records are bucketed by their end, as flow logs are.
  const day = (record.last ?? '').slice(0, 10)
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return
  const protocol = PROTOCOL_NAMES[proto] ?? `ip-${proto}`
  const add = (dir: string, peer: null | string, bytes: number, packets: number) => {
    const key = `${day}|${dir}|${protocol}|${port}|${peer}`
    let row = rows.get(key)
    if (!row) {
      row = {
        account: null,
        action: 'ACCEPT',
        bytes: 0,
        client: peer,
        day,
        direction: dir,
        exporter: 'netflow',
        interface: host,
        packets: 0,
        port,
        protocol,
        records: 0,
        status: 'OK',
      }
      rows.set(key, row)
    }
    row.bytes += bytes * scale
    row.packets += packets * scale
    row.records++
  }
  add(direction, client, record.in_bytes ?? 0, record.in_packets ?? 0)
  // Bidirectional exporters (IPFIX biflows, NSEL) carry the reverse direction in out_*.
  if ((record.out_bytes ?? 0) > 0) {
    const reverse = direction === 'egress' ? 'ingress' : direction === 'ingress' ? 'egress' : 'unknown'
    add(reverse, client, record.out_bytes ?? 0, record.out_packets ?? 0)
  }
}
