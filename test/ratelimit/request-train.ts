/**
 * Sends a scripted train of SNTP requests from one socket to a real daemon on loopback and records,
 * per request, what came back: a normal answer, a KoD (with its kiss code) or nothing. Each request
 * carries its own random transmit nonce, so replies are matched by origin timestamp, not by order.
 */
import dgram from 'node:dgram'
import {randomBytes} from 'node:crypto'

import {decodeNtp, encodeClientRequest, kissCode, type NtpTimestamp} from '../../src/ntp/packet.js'

export interface TrainOutcome {
  /** Send time, Unix seconds (fractional): the arrival time fed to the simulators. */
  sentAtSec: number
  reply: 'answer' | 'kod' | 'none'
  kiss?: string
}

/**
 * Sends requests `gapsMs[i]` ms after the previous one (the first after gapsMs[0]); waits `settleMs` for late replies.
 */
export async function sendTrain(
  address: string,
  port: number,
  gapsMs: number[],
  settleMs = 400,
): Promise<TrainOutcome[]> {
  const socket = dgram.createSocket('udp4')
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(0, '127.0.0.1', resolve)
  })
  const outcomes: TrainOutcome[] = []
  const byNonce = new Map<string, number>()
  socket.on('message', (message) => {
    const header = decodeNtp(message)
    if (header?.mode !== 4) return
    const index = byNonce.get(nonceKey(header.originTime))
    const outcome = index === undefined ? undefined : outcomes[index]
    if (outcome?.reply !== 'none') return
    const kiss = kissCode(header)
    if (kiss === undefined) outcome.reply = 'answer'
    else {
      outcome.reply = 'kod'
      outcome.kiss = kiss
    }
  })
  const start = performance.now()
  let due = 0
  try {
    for (const gap of gapsMs) {
      due += gap
      const wait = start + due - performance.now()
      if (wait > 0) await sleep(wait)
      const nonce: NtpTimestamp = {fraction: randomBytes(4).readUInt32BE(0), seconds: randomBytes(4).readUInt32BE(0)}
      byNonce.set(nonceKey(nonce), outcomes.length)
      outcomes.push({reply: 'none', sentAtSec: (performance.timeOrigin + performance.now()) / 1000})
      await new Promise<void>((resolve, reject) =>
        socket.send(encodeClientRequest(nonce), port, address, (error) => (error ? reject(error) : resolve())),
      )
    }
    await sleep(settleMs)
  } finally {
    socket.close()
  }
  return outcomes
}

function nonceKey(ts: NtpTimestamp): string {
  return `${ts.seconds}.${ts.fraction}`
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
