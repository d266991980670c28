import {afterAll, describe, expect, it} from 'vitest'

import {referenceIdText, replyMeaning} from '../../src/ntp/packet.js'
import {type NtpDaemon, queryOnce, startChronyd, startNtpsec} from '../helpers/ntp-daemons.js'

// The shared launcher itself: if these fail, every daemon-backed test in the suite would mislead.
describe('test/helpers/ntp-daemons', () => {
  const started: NtpDaemon[] = []
  afterAll(async () => {
    await Promise.all(started.map((d) => d.stop()))
  })

  it('starts chronyd on a free loopback port, IPv4 and IPv6, answering local stratum 7', async () => {
    const [v4, v6] = await Promise.all([startChronyd(), startChronyd({address: '::1'})])
    started.push(v4, v6)
    for (const server of [v4, v6]) {
      expect(server.port).not.toBe(123)
      const reply = await queryOnce(server.address, server.port)
      expect(reply?.stratum).toBe(7)
      expect(referenceIdText(reply!)).toBe('127.127.1.1')
    }
  })

  it('runs two unsynchronised ntpsec instances at once, each answering INIT (unsynchronised) on its own address', async () => {
    const [a, b] = await Promise.all([startNtpsec(), startNtpsec()])
    started.push(a, b)
    expect(a.address).not.toBe(b.address)
    for (const server of [a, b]) {
      const reply = await queryOnce(server.address, 123)
      expect(reply?.leap).toBe(3)
      // INIT is not a Kiss-o'-Death (RFC 5905 §7.4): a server that answers, not yet synchronised.
      expect(replyMeaning(reply!)).toEqual({code: 'INIT', kind: 'unsynchronised'})
    }
    await a.stop()
    expect(await queryOnce(a.address, 123, 300)).toBeUndefined()
  })

  it('makes ntpsec serve real time from a chronyd upstream in its own namespace', async () => {
    const server = await startNtpsec({serveTime: true, config: ['restrict default nomodify']})
    started.push(server)
    const reply = await queryOnce(server.address, 123)
    expect(reply?.leap).toBe(0)
    expect(reply?.stratum).toBe(4)
    await server.stop()
    expect(await queryOnce(server.address, 123, 300)).toBeUndefined()
  })
})
