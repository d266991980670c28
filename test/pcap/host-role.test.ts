import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {analyseCapture} from '../../src/pcap/analyse.js'
import {buildReport} from '../../src/pcap/report.js'
import {tempDir} from '../helpers/cli.js'
import {captureInNamespace} from '../helpers/netns-capture.js'
import {tsharkRows} from '../helpers/tshark.js'

const {dir, cleanup} = tempDir('billwatch-pcap-host-role-')
afterAll(cleanup)

/**
 * A capture taken beside an NTP client, as in the issue: the client (127.0.0.10) polls two servers,
 * so it is in every packet and auto-detection picks it. 127.0.0.1 answers all 12 requests, 127.0.0.2
 * half of its 8 — and the client also queries as a symmetric peer (mode 1) once.
 */
const CLIENT_OF_TWO = `
const dgram = require('node:dgram')
function server(address, answerEvery) {
  const socket = dgram.createSocket('udp4')
  let seen = 0
  socket.on('message', (request, from) => {
    if (seen++ % answerEvery !== 0) return
    const reply = Buffer.alloc(48)
    reply[0] = (request[0] & 7) === 1 ? 0x22 : 0x24; reply[1] = 2
    request.copy(reply, 24, 40, 48)
    reply.writeUInt32BE(Math.floor(Date.now() / 1000) + 2208988800, 40)
    socket.send(reply, from.port, from.address)
  })
  return new Promise((resolve) => socket.bind({address, port: 123}, () => resolve(socket)))
}
async function main() {
  const servers = [await server('127.0.0.1', 1), await server('127.0.0.2', 2)]
  const client = dgram.createSocket('udp4')
  // 127.0.0.1 answers its 13 requests and 127.0.0.2 four of its 8: the sockets close once all 17 are in, not
  // after a delay, which a busy machine can outlast before the servers have read the requests.
  let replies = 0
  const answered = new Promise((resolve) => client.on('message', () => ++replies === 17 && resolve()))
  await new Promise((resolve) => client.bind({address: '127.0.0.10', port: 0}, resolve))
  const ask = (to, first) => new Promise((resolve) => {
    const request = Buffer.alloc(48)
    request[0] = first
    request.writeUInt32BE(Math.floor(Math.random() * 2 ** 32), 40)
    client.send(request, 123, to, resolve)
  })
  for (let i = 0; i < 12; i++) await ask('127.0.0.1', 0x23)
  for (let i = 0; i < 8; i++) await ask('127.0.0.2', 0x23)
  await ask('127.0.0.1', 0x21)
  await answered
  client.close()
  for (const s of servers) s.close()
}
main()
`

let capture: string
beforeAll(async () => {
  capture = await captureInNamespace(join(dir, 'client-of-two.pcap'), {mtu: 1500}, CLIENT_OF_TWO)
}, 60_000)

describe('auto-detection on a capture beside an NTP client', () => {
  it('says the busiest address is a client and names the address that answers most for --host', () => {
    const analysis = analyseCapture(capture)
    expect(analysis.host).toMatchObject({address: '127.0.0.10', detected: true})
    expect(analysis.ntp.responses).toBe(0)
    const sentBy = (mode: number) =>
      tsharkRows(capture, `ip.src==127.0.0.10 && ntp.flags.mode==${mode}`, ['frame.number'], ['udp.port==123,ntp'])
        .length
    expect(analysis.hostRole).toEqual({
      likelyServer: {address: '127.0.0.1', replies: 12},
      sentModes: {1: sentBy(1), 3: sentBy(3)},
    })
    const [warning] = buildReport(analysis).warnings.filter((w) => w.code === 'host-not-ntp-server')
    expect(warning!.message).toContain('pass --host 127.0.0.1')
    expect(warning!.message).toContain('20 mode 3 (client)')
    // With the host given, the server's side reads as it should.
    const server = analyseCapture(capture, {host: '127.0.0.1'})
    expect([server.ntp.requests, server.ntp.responses, server.hostRole]).toEqual([13, 13, undefined])
  })
})
