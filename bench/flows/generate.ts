/**
 * Writes N VPC flow-log records (default format, with the S3 header line) for bench/flows: one NTP
 * server's interface over 30 days, 20,000 clients, mostly UDP/123 both ways, some SSH and HTTPS,
 * rejected probes and NODATA windows. Deterministic (a seeded PRNG); about 100 bytes a record.
 */
import {createWriteStream} from 'node:fs'

import {seededRandom} from '../../src/ratelimit/index.js'

export async function generateFlowLogs(path: string, records: number): Promise<void> {
  const random = seededRandom(24)
  const out = createWriteStream(path)
  const write = (text: string) => (out.write(text) ? Promise.resolve() : new Promise<void>((resolve) => out.once('drain', () => resolve())))
  await write('version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n')
  const host = '10.206.10.174'
  const eni = 'eni-0a1b2c3d4e5f60718'
  const start = Date.UTC(2014, 2, 15) / 1000
  const span = 30 * 86_400
  const client = (k: number) => `${(k * 2654435761) % 223 + 1}.${(k >>> 3) % 256}.${(k * 97) % 256}.${(k % 250) + 3}`
  const batch: string[] = []
  for (let i = 0; i < records; i++) {
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
    } else if (r < 0.95) line = `2 123456789012 ${eni} ${host} ${peer} 22 ${port} 6 ${20 + Math.floor(random() * 200)} ${2000 + Math.floor(random() * 300_000)} ${end - 59} ${end} ACCEPT OK`
    else line = `2 123456789012 ${eni} ${peer} ${host} ${port} 443 6 ${5 + Math.floor(random() * 50)} ${400 + Math.floor(random() * 9000)} ${end - 59} ${end} ACCEPT OK`
    batch.push(line)
    if (batch.length === 10_000) {
      await write(`${batch.join('\n')}\n`)
      batch.length = 0
    }
  }
  if (batch.length > 0) await write(`${batch.join('\n')}\n`)
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())))
}
