/**
 * Writes N VPC flow-log records (default format, with the S3 header line) for bench/flows, in one of
 * two client mixes. Deterministic (a seeded PRNG); about 100 bytes a record.
 * - 'ntp': one NTP server's interface over 30 days, 20,000 clients, mostly UDP/123 both ways, some
 *   SSH and HTTPS, rejected probes and NODATA windows (the NTP pool server incident).
 * - 'spread': four interfaces over 45 days (two calendar months), 400,000 clients (IPv4 and IPv6),
 *   egress spread over DNS, HTTP, HTTPS, NTP, a game port and 2,000 high ports, SKIPDATA windows.
 */
import {createWriteStream} from 'node:fs'

import {seededRandom} from '../../src/ratelimit/index.js'

export type FlowMix = 'ntp' | 'spread'

export async function generateFlowLogs(path: string, records: number, mix: FlowMix = 'ntp'): Promise<void> {
  const random = seededRandom(mix === 'ntp' ? 24 : 25)
  const out = createWriteStream(path)
  const write = (text: string) =>
    out.write(text) ? Promise.resolve() : new Promise<void>((resolve) => out.once('drain', () => resolve()))
  await write(
    'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n',
  )
  const host = '10.206.10.174'
  const eni = 'eni-0a1b2c3d4e5f60718'
  const start = Date.UTC(2014, 2, 15) / 1000
  const span = 30 * 86_400
  const client = (k: number) => `${((k * 2654435761) % 223) + 1}.${(k >>> 3) % 256}.${(k * 97) % 256}.${(k % 250) + 3}`
  const batch: string[] = []
  const spreadLine = (i: number): string => {
    const iface = `eni-0a1b2c3d4e5f6071${i % 4}`
    const own = `10.206.${10 + (i % 4)}.174`
    const end = start + Math.floor((i / records) * 45 * 86_400) + Math.floor(random() * 60)
    const k = Math.floor(random() * 400_000)
    const peer = k % 5 === 0 ? `2001:db8:${(k >>> 8).toString(16)}::${(k & 0xff).toString(16)}` : client(k)
    const r = random()
    const ephemeral = 1024 + Math.floor(random() * 64_000)
    if (r < 0.002) return `2 123456789012 ${iface} - - - - - - - ${end - 600} ${end} - SKIPDATA`
    const service =
      r < 0.25
        ? 443
        : r < 0.4
          ? 80
          : r < 0.55
            ? 53
            : r < 0.7
              ? 123
              : r < 0.8
                ? 27015
                : 30_000 + Math.floor(random() * 2000)
    const protocol = service === 53 || service === 123 || service === 27015 ? 17 : 6
    const packets = 1 + Math.floor(random() * 400)
    const bytes = packets * (60 + Math.floor(random() * 1400))
    return random() < 0.6
      ? `2 123456789012 ${iface} ${own} ${peer} ${service} ${ephemeral} ${protocol} ${packets} ${bytes} ${end - 59} ${end} ACCEPT OK`
      : `2 123456789012 ${iface} ${peer} ${own} ${ephemeral} ${service} ${protocol} ${packets} ${bytes} ${end - 59} ${end} ACCEPT OK`
  }
  for (let i = 0; i < records; i++) {
    if (mix === 'spread') {
      batch.push(spreadLine(i))
      if (batch.length === 10_000) {
        await write(`${batch.join('\n')}\n`)
        batch.length = 0
      }
      continue
    }
    const end = start + Math.floor((i / records) * span) + Math.floor(random() * 60)
    const r = random()
    const peer = client(Math.floor(random() * 20_000))
    const port = 1024 + Math.floor(random() * 64_000)
    let line: string
    if (r < 0.001) line = `2 123456789012 ${eni} - - - - - - - ${end - 600} ${end} - NODATA`
    else if (r < 0.01) line = `2 123456789012 ${eni} ${peer} ${host} ${port} 3389 6 1 40 ${end - 30} ${end} REJECT OK`
    else if (r < 0.45) {
      const packets = 1 + Math.floor(random() * 40)
      line = `2 123456789012 ${eni} ${host} ${peer} 123 ${port} 17 ${packets} ${packets * 76} ${end - 59} ${end} ACCEPT OK`
    } else if (r < 0.9) {
      const packets = 1 + Math.floor(random() * 40)
      line = `2 123456789012 ${eni} ${peer} ${host} ${port} 123 17 ${packets} ${packets * 76} ${end - 59} ${end} ACCEPT OK`
    } else if (r < 0.95)
      line = `2 123456789012 ${eni} ${host} ${peer} 22 ${port} 6 ${20 + Math.floor(random() * 200)} ${2000 + Math.floor(random() * 300_000)} ${end - 59} ${end} ACCEPT OK`
    else
      line = `2 123456789012 ${eni} ${peer} ${host} ${port} 443 6 ${5 + Math.floor(random() * 50)} ${400 + Math.floor(random() * 9000)} ${end - 59} ${end} ACCEPT OK`
    batch.push(line)
    if (batch.length === 10_000) {
      await write(`${batch.join('\n')}\n`)
      batch.length = 0
    }
  }
  if (batch.length > 0) await write(`${batch.join('\n')}\n`)
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())))
}
