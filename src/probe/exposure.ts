/**
 * Opt-in exposure checks (`--exposure`), one request each (RFC 8633 §3.4, §5.1): does the server
 * answer mode 6 control queries from outside (READVAR leaks the version string and system
 * variables) and the mode 7 MON_GETLIST (monlist) request, the CVE-2013-5211 amplifier?
 * Amplification = UDP payload bytes received / UDP payload bytes sent.
 */
import {randomInt} from 'node:crypto'

import {
  CONTROL_OP,
  MODE7_REQ_MON_GETLIST_1,
  decodeControl,
  decodeMode7,
  encodeControlRequest,
  encodeMonlistRequest,
} from '../ntp/packet.js'
import {ConnectedSocket} from './socket.js'

/** After the first response packet, a multi-packet answer is complete once the line is quiet this long. */
const QUIET_MS = 300

export interface ControlExposure {
  /** The server answered READVAR with variables. */
  exposed: boolean
  /** It answered with an error bit set (it parses mode 6 but refused this query). */
  refusedWithError: boolean
  requestBytes: number
  responseBytes: number
  responsePackets: number
  amplification: number | null
  /** `version=` (e.g. "ntpd ntpsec-1.2.2 …"), `system=`, and every variable as text. */
  versionString: string | null
  system: string | null
  variables: Record<string, string>
}

export interface MonlistExposure {
  exposed: boolean
  requestBytes: number
  responseBytes: number
  responsePackets: number
  /** Monitor-list entries claimed by the response headers (client addresses leaked). */
  entries: number
  amplification: number | null
}

export interface ExposureReport {
  mode6: ControlExposure
  mode7: MonlistExposure
}

export async function checkExposure(address: string, port: number, timeoutMs: number): Promise<ExposureReport> {
  const mode6 = await readSystemVariables(address, port, timeoutMs)
  const mode7 = await requestMonlist(address, port, timeoutMs)
  return {mode6, mode7}
}

/** Mode 6 READVAR of association 0 (system variables), as `ntpq -c rv` and nmap's ntp-info send it. */
export async function readSystemVariables(address: string, port: number, timeoutMs: number): Promise<ControlExposure> {
  const sequence = randomInt(1, 0x10000)
  const request = encodeControlRequest(CONTROL_OP.readVariables, sequence)
  const fragments = new Map<number, Uint8Array>()
  let responseBytes = 0
  let responsePackets = 0
  let refusedWithError = false
  let complete = false
  await withSocket(address, port, async (socket) => {
    await socket.send(request)
    let deadline = Date.now() + timeoutMs
    while (!complete) {
      const datagram = await socket.next(deadline)
      if (!datagram) break
      const header = decodeControl(datagram.bytes)
      if (!header || !header.response || header.sequence !== sequence || header.opcode !== CONTROL_OP.readVariables)
        continue
      responseBytes += datagram.bytes.length
      responsePackets++
      if (header.error) {
        refusedWithError = true
        break
      }
      fragments.set(header.offset, header.data)
      complete = !header.more
      deadline = Date.now() + QUIET_MS
    }
  })
  const text = [...fragments.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, data]) => new TextDecoder('latin1').decode(data))
    .join('')
  const variables = parseVariables(text)
  return {
    amplification: responseBytes > 0 ? ratio(responseBytes, request.length) : null,
    exposed: Object.keys(variables).length > 0,
    refusedWithError,
    requestBytes: request.length,
    responseBytes,
    responsePackets,
    system: variables.system ?? null,
    variables,
    versionString: variables.version ?? null,
  }
}

/** Mode 7 MON_GETLIST_1: every response packet counts toward the amplification, as an attacker's victim sees it. */
export async function requestMonlist(address: string, port: number, timeoutMs: number): Promise<MonlistExposure> {
  const request = encodeMonlistRequest()
  let responseBytes = 0
  let responsePackets = 0
  let entries = 0
  await withSocket(address, port, async (socket) => {
    await socket.send(request)
    let deadline = Date.now() + timeoutMs
    for (;;) {
      const datagram = await socket.next(deadline)
      if (!datagram) break
      const header = decodeMode7(datagram.bytes)
      if (!header || !header.response || header.request !== MODE7_REQ_MON_GETLIST_1) continue
      responseBytes += datagram.bytes.length
      responsePackets++
      if (header.error === 0) entries += header.itemCount
      deadline = Date.now() + QUIET_MS
    }
  })
  return {
    amplification: responseBytes > 0 ? ratio(responseBytes, request.length) : null,
    entries,
    exposed: entries > 0,
    requestBytes: request.length,
    responseBytes,
    responsePackets,
  }
}

/** `name=value, name="quoted, value"` (RFC 9327 §5 data format) into a record. */
export function parseVariables(text: string): Record<string, string> {
  const variables: Record<string, string> = {}
  let i = 0
  while (i < text.length) {
    while (i < text.length && /[\s,]/.test(text[i]!)) i++
    const nameStart = i
    while (i < text.length && !/[=,]/.test(text[i]!)) i++
    const name = text.slice(nameStart, i).trim()
    let value = ''
    if (text[i] === '=') {
      i++
      if (text[i] === '"') {
        const close = text.indexOf('"', i + 1)
        const end = close === -1 ? text.length : close
        value = text.slice(i + 1, end)
        i = end + 1
      } else {
        const comma = text.indexOf(',', i)
        const end = comma === -1 ? text.length : comma
        value = text.slice(i, end).trim()
        i = end
      }
    }
    if (name) variables[name] = value
  }
  return variables
}

async function withSocket(
  address: string,
  port: number,
  fn: (socket: ConnectedSocket) => Promise<void>,
): Promise<void> {
  const socket = await ConnectedSocket.open(address, port)
  try {
    await fn(socket)
  } finally {
    socket.close()
  }
}

function ratio(response: number, request: number): number {
  return Math.round((response / request) * 100) / 100
}
