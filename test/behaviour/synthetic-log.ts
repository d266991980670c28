/**
 * Builds RequestLogs from scripted client populations, as the pcap reader would fill them:
 * requests sorted by capture time, one client index per address. A seeded PRNG keeps every
 * synthetic capture identical from run to run.
 */
import {seededRandom} from '../../src/ratelimit/index.js'
import type {RequestLog} from '../../src/pcap/request-log.js'

export interface SyntheticRequest {
  address: string
  timeSec: number
  port?: number | undefined
  version?: number
  mode?: number
  /** 0 no reply seen, 1 answered, 2 KoD. */
  reply?: number
  replyIpBytes?: number
}

/** 2014-07-13T17:00:00Z, a Sunday like the incidents' captures. */
export const T0 = Date.UTC(2014, 6, 13, 17, 0, 0) / 1000

export class LogBuilder {
  readonly random: () => number
  private readonly requests: SyntheticRequest[] = []

  constructor(seed = 7) {
    this.random = seededRandom(seed)
  }

  add(request: SyntheticRequest): this {
    this.requests.push(request)
    return this
  }

  /** One host polling every `periodSec` (± jitter share) from `startSec` to `endSec` on one port. */
  periodic(
    address: string,
    periodSec: number,
    startSec: number,
    endSec: number,
    fields: Omit<SyntheticRequest, 'address' | 'timeSec'> = {},
    jitter = 0,
  ): this {
    for (let t = startSec; t < endSec; t += periodSec * (1 + jitter * (2 * this.random() - 1)))
      this.add({...fields, address, timeSec: t})
    return this
  }

  /** A uniformly random time in [from, to). */
  between(from: number, to: number): number {
    return from + (to - from) * this.random()
  }

  build(): RequestLog {
    const sorted = [...this.requests].sort((a, b) => a.timeSec - b.timeSec)
    const count = sorted.length
    const clients: string[] = []
    const index = new Map<string, number>()
    const log: RequestLog = {
      client: new Uint32Array(count),
      clients,
      count,
      mode: new Uint8Array(count),
      reply: new Uint8Array(count),
      replyIpBytes: new Uint16Array(count),
      srcPort: new Uint16Array(count),
      timeSec: new Float64Array(count),
      version: new Uint8Array(count),
    }
    sorted.forEach((request, i) => {
      let client = index.get(request.address)
      if (client === undefined) {
        client = clients.length
        index.set(request.address, client)
        clients.push(request.address)
      }
      log.client[i] = client
      log.timeSec[i] = request.timeSec
      log.srcPort[i] = request.port ?? 123
      log.version[i] = request.version ?? 4
      log.mode[i] = request.mode ?? 3
      log.reply[i] = request.reply ?? 1
      log.replyIpBytes[i] = request.replyIpBytes ?? 76
    })
    return log
  }
}

/** Address n of a documentation-style range, e.g. host(5) = "198.51.100.5" (n < 65536). */
export function host(n: number, prefix = '198.51'): string {
  return `${prefix}.${(n >> 8) & 255}.${n & 255}`
}
