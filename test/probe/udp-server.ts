/**
 * A scripted UDP server on loopback for what real NTP daemons never send: forged origins, short or
 * wrong-mode packets, replies from another port, DENY/RSTR, silence, a monlist amplifier. Every
 * request is recorded with its arrival time and source.
 */
import dgram from 'node:dgram'

import {type NtpHeader, MODE, decodeNtp, encodeNtp, unixMsToNtp} from '../../src/ntp/packet.js'

export interface ReceivedRequest {
  bytes: Uint8Array
  header: NtpHeader | undefined
  address: string
  port: number
  atMs: number
}

export interface Reply {
  bytes: Uint8Array
  /** Send from the server's second socket (another port) instead of the one asked. */
  fromOtherPort?: boolean
}

export type Script = (request: ReceivedRequest, index: number) => Reply[] | Reply | undefined

export interface ScriptedServer {
  address: string
  port: number
  requests: ReceivedRequest[]
  close(): Promise<void>
}

export async function startScriptedServer(script: Script, address = '127.0.0.1'): Promise<ScriptedServer> {
  const type = address.includes(':') ? 'udp6' : 'udp4'
  const main = dgram.createSocket(type)
  const other = dgram.createSocket(type)
  await Promise.all([main, other].map((s) => new Promise<void>((resolve) => s.bind(0, address, resolve))))
  const requests: ReceivedRequest[] = []
  main.on('message', (message, remote) => {
    const bytes = new Uint8Array(message)
    const request = {
      address: remote.address,
      atMs: performance.now(),
      bytes,
      header: decodeNtp(bytes),
      port: remote.port,
    }
    requests.push(request)
    const replies = script(request, requests.length - 1)
    for (const reply of replies === undefined ? [] : Array.isArray(replies) ? replies : [replies]) {
      ;(reply.fromOtherPort ? other : main).send(reply.bytes, remote.port, remote.address)
    }
  })
  return {
    address,
    close: () =>
      Promise.all([main, other].map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(
        () => undefined,
      ),
    port: main.address().port,
    requests,
  }
}

/** A well-formed server reply to `request` (origin = its transmit nonce), from a clock at `nowMs`. */
export function serverReply(request: ReceivedRequest, fields: Partial<NtpHeader> = {}, nowMs = Date.now()): Uint8Array {
  const now = unixMsToNtp(nowMs)
  return encodeNtp({
    leap: 0,
    mode: MODE.server,
    originTime: request.header?.transmitTime,
    poll: 4,
    precision: -20,
    receiveTime: now,
    referenceId: new Uint8Array([192, 0, 2, 1]),
    referenceTime: now,
    stratum: 2,
    transmitTime: now,
    version: 4,
    ...fields,
  })
}

/** A Kiss-o'-Death with `code` (LI 3, stratum 0), echoing the nonce unless `originTime` is given. */
export function kissOfDeath(request: ReceivedRequest, code: string, fields: Partial<NtpHeader> = {}): Uint8Array {
  return serverReply(request, {
    leap: 3,
    referenceId: new TextEncoder().encode(code.padEnd(4, '\0')),
    stratum: 0,
    ...fields,
  })
}
