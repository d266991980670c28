import {lookup} from 'node:dns/promises'
import {isIP} from 'node:net'

import {BillwatchError} from '../errors.js'
import {NTP_PORT} from '../ntp/packet.js'

export interface ProbeTarget {
  host: string
  port: number
}

/** `HOST`, `HOST:PORT`, `[v6]:PORT`, or a bare IPv6 literal (`::1`). */
export function parseTarget(text: string): ProbeTarget {
  const trimmed = text.trim()
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(trimmed)
  let host: string
  let portText: string | undefined
  if (bracketed) {
    host = bracketed[1]!
    portText = bracketed[2]
  } else if (isIP(trimmed) === 6) {
    host = trimmed
  } else {
    const colon = trimmed.lastIndexOf(':')
    host = colon === -1 ? trimmed : trimmed.slice(0, colon)
    portText = colon === -1 ? undefined : trimmed.slice(colon + 1)
  }
  // A bracket outside the [IPv6]:PORT form ('[::1', '::1]') is a typo, not a name to resolve.
  if (!host || /[\s/[\]]/.test(host)) {
    throw new BillwatchError('E_USAGE', 'HOST must be a name or address, optionally with :PORT', {
      expected: 'HOST[:PORT]',
      field: 'HOST',
      got: text,
    })
  }
  if (isIP(host) && !isUnicast(host)) {
    throw new BillwatchError('E_USAGE', 'not the address of one host (broadcast, multicast or unspecified)', {
      expected: 'a unicast address or a host name',
      field: 'HOST',
      got: text,
    })
  }
  if (portText === undefined) return {host, port: NTP_PORT}
  const port = Number(portText)
  if (!/^\d+$/.test(portText) || port < 1 || port > 65_535) {
    throw new BillwatchError('E_USAGE', 'PORT must be 1–65535', {expected: 'HOST[:PORT]', field: 'HOST', got: text})
  }
  return {host, port}
}

/** A probe asks one host: 0.0.0.0, 255.255.255.255, 224.0.0.0/4, :: and ff00::/8 are not one. */
function isUnicast(address: string): boolean {
  if (isIP(address) === 4) {
    const first = Number(address.split('.')[0])
    return address !== '0.0.0.0' && address !== '255.255.255.255' && !(first >= 224 && first <= 239)
  }
  const lower = address.toLowerCase()
  return lower !== '::' && !lower.startsWith('ff')
}

export type Resolver = (host: string) => Promise<string[]>

/** Every A and AAAA address of a name (pool names return several), in resolver order, once each. */
export const resolveAll: Resolver = async (host) => {
  if (isIP(host)) return [host]
  try {
    const answers = await lookup(host, {all: true, verbatim: true})
    return [...new Set(answers.map((a) => a.address))]
  } catch (error) {
    throw new BillwatchError(
      'E_NOT_FOUND',
      `host "${host}" does not resolve (${(error as NodeJS.ErrnoException).code ?? 'lookup failed'})`,
      {
        cause: error,
        field: 'HOST',
      },
    )
  }
}

/** Equal addresses, ignoring case and the IPv4-mapped IPv6 prefix a dual-stack socket may report. */
export function sameAddress(a: string, b: string): boolean {
  const strip = (s: string) => s.replace(/^::ffff:/i, '').toLowerCase()
  return strip(a) === strip(b)
}
