import {describe, expect, it} from 'vitest'

import {analyseBehaviour} from '../../src/behaviour/index.js'
import {LogBuilder, T0, host} from './synthetic-log.js'

/** The NTP pool server incident's capture: 45 minutes (tcpdump ran 2693.13 s). */
const SEED_SEC = 2693.13
const END = T0 + SEED_SEC

/** Polite background: `count` clients each polling on a power-of-two schedule of 64–1024 s. */
function background(builder: LogBuilder, count: number, prefix = '198.51'): LogBuilder {
  for (let c = 0; c < count; c++) {
    const period = 2 ** (6 + Math.floor(builder.random() * 5))
    builder.periodic(host(c, prefix), period, T0 + builder.random() * period, END, {port: 123}, 0.01)
  }
  return builder
}

/** A NAT: `hosts` independent ntpd-like hosts behind one address, each mapped to its own port. */
function nat(builder: LogBuilder, address: string, hosts: number): LogBuilder {
  for (let h = 0; h < hosts; h++) {
    const period = 2 ** (6 + Math.floor(builder.random() * 5))
    builder.periodic(
      address,
      period,
      T0 + builder.random() * period,
      END,
      {port: 1024 + Math.floor(builder.random() * 60_000)},
      0.02,
    )
  }
  return builder
}

describe('NAT gateways versus one misbehaving client', () => {
  it('leaves one ntpd polling every 64 s alone: not a NAT, not misbehaving, no violation', () => {
    const log = new LogBuilder().periodic('192.0.2.1', 64, T0, END, {port: 123}, 0.01).build()
    const report = analyseBehaviour(log, {durationSec: SEED_SEC})
    expect(report.clientsJudged).toBe(1)
    expect(report.suspectedNat).toEqual([])
    expect(report.misbehaving).toEqual([])
    expect(report.violations).toEqual([])
  })

  it('flags a NAT of 50 hosts on independent 64–1024 s schedules and estimates about 50 hosts', () => {
    const log = nat(background(new LogBuilder(11), 300), '203.0.113.9', 50).build()
    const report = analyseBehaviour(log, {durationSec: SEED_SEC})
    expect(report.suspectedNat).toHaveLength(1)
    const [found] = report.suspectedNat
    expect(found).toMatchObject({
      address: '203.0.113.9',
      alsoMisbehaving: false,
      confidence: 'high',
      method: 'port-schedules',
      ports: 50,
    })
    expect(found!.estimatedHosts).toBeGreaterThanOrEqual(45)
    expect(found!.estimatedHosts).toBeLessThanOrEqual(55)
    // Many independent schedules interleave into near-Poisson gaps.
    expect(found!.gapCv).toBeGreaterThan(0.7)
    expect(report.misbehaving).toEqual([])
  })

  it("splits each address's requests by its own ports, when two NATs and a broken client reuse the same port numbers", () => {
    const builder = background(new LogBuilder(13), 100)
    const ports = Array.from({length: 20}, (_, k) => 40_000 + k)
    for (const address of ['203.0.113.20', '203.0.113.21']) {
      for (const port of ports) {
        const period = 2 ** (6 + Math.floor(builder.random() * 5))
        builder.periodic(address, period, T0 + builder.random() * period, END, {port}, 0.02)
      }
    }
    builder.periodic('192.0.2.50', 2, T0, END, {port: ports[0]})
    const report = analyseBehaviour(builder.build(), {durationSec: SEED_SEC})
    expect(report.suspectedNat.map(({address, method, ports}) => ({address, method, ports}))).toEqual([
      {address: '203.0.113.20', method: 'port-schedules', ports: 20},
      {address: '203.0.113.21', method: 'port-schedules', ports: 20},
    ])
    for (const found of report.suspectedNat) {
      expect(found.estimatedHosts).toBeGreaterThanOrEqual(18)
      expect(found.estimatedHosts).toBeLessThanOrEqual(22)
    }
    expect(report.misbehaving).toEqual([
      expect.objectContaining({address: '192.0.2.50', behindNat: false, ports: 1, reasons: ['polls-faster-than-15s']}),
    ])
  })

  it('flags a NAT of hosts that open a new socket per request from the rate, as a lower bound', () => {
    const builder = new LogBuilder(12)
    for (let h = 0; h < 50; h++) {
      const period = 2 ** (6 + Math.floor(builder.random() * 5))
      for (let t = T0 + builder.random() * period; t < END; t += period) {
        builder.add({address: '203.0.113.77', port: 32_768 + Math.floor(builder.random() * 28_000), timeSec: t})
      }
    }
    const [found] = analyseBehaviour(builder.build(), {durationSec: SEED_SEC}).suspectedNat
    expect(found).toMatchObject({address: '203.0.113.77', confidence: 'medium', method: 'rate-at-64s-minimum'})
    // At least rate × 64 s hosts; the truth (50) is higher because most poll slower than 64 s.
    expect(found!.estimatedHosts).toBeGreaterThanOrEqual(10)
    expect(found!.estimatedHosts).toBeLessThanOrEqual(50)
  })

  it('calls a 1 q/s retry loop on one port a misbehaving client, not a NAT', () => {
    const log = background(new LogBuilder(13), 100).periodic('192.0.2.2', 1, T0, END, {port: 40_000}).build()
    const report = analyseBehaviour(log, {durationSec: SEED_SEC})
    expect(report.suspectedNat).toEqual([])
    expect(report.misbehaving).toHaveLength(1)
    expect(report.misbehaving[0]).toMatchObject({
      address: '192.0.2.2',
      behindNat: false,
      ports: 1,
      reasons: ['polls-faster-than-15s'],
    })
    expect(report.misbehaving[0]!.fastestMeanIntervalSec).toBeCloseTo(1, 2)
    expect(report.violations).toEqual([
      expect.objectContaining({
        clients: 1,
        examples: [{address: '192.0.2.2', requests: 2694}],
        rule: 'min-poll-interval',
      }),
    ])
  })

  it("rates the NTP pool server incident's top talker (18,287 queries in 2,693 s on a few ports) at 6.8 q/s and calls it one broken client", () => {
    const builder = new LogBuilder(14)
    for (let i = 0; i < 18_287; i++) {
      // Three source ports in turn over the capture (the client restarted twice), irregular gaps.
      builder.add({
        address: '162.220.96.14',
        port: 51_000 + Math.floor((3 * i) / 18_287),
        timeSec: T0 + (SEED_SEC * (i + builder.random() * 0.9)) / 18_287,
      })
    }
    const report = analyseBehaviour(builder.build(), {durationSec: SEED_SEC})
    expect(report.suspectedNat).toEqual([])
    expect(report.misbehaving[0]).toMatchObject({
      address: '162.220.96.14',
      ports: 3,
      reasons: ['polls-faster-than-15s'],
      requests: 18_287,
    })
    expect(report.misbehaving[0]!.qps.toFixed(1)).toBe('6.8')
  })

  it('reports a NAT with one broken host behind it in both lists, blaming the host, not the address', () => {
    const log = nat(new LogBuilder(15), '203.0.113.10', 30).periodic('203.0.113.10', 2, T0, END, {port: 5555}).build()
    const report = analyseBehaviour(log, {durationSec: SEED_SEC})
    expect(report.suspectedNat[0]).toMatchObject({address: '203.0.113.10', alsoMisbehaving: true})
    expect(report.suspectedNat[0]!.estimatedHosts).toBeGreaterThanOrEqual(27)
    expect(report.misbehaving[0]).toMatchObject({
      address: '203.0.113.10',
      behindNat: true,
      reasons: ['polls-faster-than-15s'],
    })
    expect(report.misbehaving[0]!.fastestMeanIntervalSec).toBeCloseTo(2, 1)
  })

  it('flags a client that keeps polling after KoD RATE, and not one that backs off', () => {
    const builder = new LogBuilder(16)
    // Every 16 s (legal), KoD from the 10th request on: one keeps the pace, one slows to 256 s.
    for (let i = 0; i < 60; i++)
      builder.add({address: '192.0.2.30', port: 123, reply: i >= 9 ? 2 : 1, timeSec: T0 + 16 * i})
    for (let i = 0; i < 9; i++) builder.add({address: '192.0.2.31', port: 123, reply: 1, timeSec: T0 + 16 * i})
    for (let i = 0; i < 6; i++)
      builder.add({address: '192.0.2.31', port: 123, reply: 2, timeSec: T0 + 16 * 8 + 256 * (i + 1)})
    const report = analyseBehaviour(builder.build(), {durationSec: SEED_SEC})
    expect(report.misbehaving).toHaveLength(1)
    expect(report.misbehaving[0]).toMatchObject({
      address: '192.0.2.30',
      kodsReceived: 51,
      reasons: ['ignores-kod'],
      requestsAfterKod: 50,
    })
    expect(report.violations.map((v) => v.rule)).toEqual(['ignores-kod'])
  })

  it('flags a device retrying every 20 s while unanswered, and not one that backs off exponentially', () => {
    const builder = new LogBuilder(17)
    builder.add({address: '192.0.2.40', reply: 1, timeSec: T0})
    for (let i = 1; i < 40; i++) builder.add({address: '192.0.2.40', port: 4000, reply: 0, timeSec: T0 + 20 * i})
    let t = T0
    for (let i = 0; i < 12; i++) {
      builder.add({address: '192.0.2.41', port: 4001, reply: i === 0 ? 1 : 0, timeSec: t})
      t += 16 * 2 ** Math.min(i, 6)
    }
    const report = analyseBehaviour(builder.build(), {durationSec: 3 * SEED_SEC})
    expect(report.misbehaving.map((m) => [m.address, m.reasons])).toEqual([['192.0.2.40', ['no-backoff']]])
    expect(report.violations).toEqual([expect.objectContaining({reference: 'RFC 4330 §10', rule: 'no-backoff'})])
  })

  it('does not judge backoff when the capture shows no replies at all (an inbound-only capture)', () => {
    const builder = new LogBuilder(18)
    for (let i = 0; i < 40; i++) builder.add({address: '192.0.2.40', port: 4000, reply: 0, timeSec: T0 + 20 * i})
    expect(analyseBehaviour(builder.build(), {durationSec: SEED_SEC}).misbehaving).toEqual([])
  })

  it('counts NTPv1/v2 requests as an obsolete-version violation, whatever the rate', () => {
    const log = new LogBuilder(19)
      .add({address: '192.0.2.50', timeSec: T0, version: 2})
      .add({address: '192.0.2.51', timeSec: T0 + 5, version: 1})
      .add({address: '192.0.2.51', timeSec: T0 + 900, version: 1})
      .add({address: '192.0.2.52', timeSec: T0 + 10, version: 3})
      .build()
    expect(analyseBehaviour(log).violations).toEqual([
      expect.objectContaining({
        clients: 2,
        examples: [
          {address: '192.0.2.51', requests: 2},
          {address: '192.0.2.50', requests: 1},
        ],
        requests: 3,
        rule: 'obsolete-version',
      }),
    ])
  })

  it('caps the lists at maxListed but counts every finding', () => {
    const builder = new LogBuilder(20)
    for (let c = 0; c < 5; c++) builder.periodic(host(c, '192.0'), 1, T0, T0 + 60, {port: 999})
    const report = analyseBehaviour(builder.build(), {maxListed: 2})
    expect(report.misbehaving).toHaveLength(2)
    expect(report.misbehavingTotal).toBe(5)
    expect(report.violations[0]).toMatchObject({clients: 5, rule: 'min-poll-interval'})
  })

  it('keeps every suspected NAT beyond maxListed, in list order, for the limiter replay', () => {
    const builder = background(new LogBuilder(21), 100)
    for (const [address, hosts] of [
      ['203.0.113.1', 40],
      ['203.0.113.2', 30],
      ['203.0.113.3', 20],
    ] as const)
      nat(builder, address, hosts)
    const log = builder.build()
    const report = analyseBehaviour(log, {durationSec: SEED_SEC, maxListed: 1})
    expect(report.suspectedNat).toHaveLength(1)
    expect(report.suspectedNatTotal).toBe(3)
    const addresses = report.suspectedNatClients.map((client) => log.clients.at(client))
    expect(addresses).toHaveLength(3)
    expect(addresses[0]).toBe(report.suspectedNat[0]!.address)
    expect([...addresses].sort()).toEqual(['203.0.113.1', '203.0.113.2', '203.0.113.3'])
  })
})

describe('synchronised fleets', () => {
  it('finds the BitFolk fleet: ~1000 devices in the same 2 minutes every Sunday at 19:45 UTC, one request each', () => {
    const builder = new LogBuilder(21)
    const start = Date.UTC(2017, 0, 1) / 1000 // a Sunday
    const end = start + 21 * 86_400
    for (let c = 0; c < 60; c++)
      builder.periodic(host(c), 1024, start + builder.random() * 1024, end, {port: 123}, 0.01)
    for (let week = 0; week < 3; week++) {
      const sunday1945 = start + week * 7 * 86_400 + 19 * 3600 + 45 * 60
      for (let d = 0; d < 1000; d++)
        builder.add({
          address: host(d, '10.20'),
          port: 1024 + d,
          timeSec: sunday1945 + builder.between(0, 120),
          version: 3,
        })
    }
    const report = analyseBehaviour(builder.build())
    expect(report.fleets).toHaveLength(1)
    const [fleet] = report.fleets
    expect(fleet).toMatchObject({dominantVersion: 3, start: '2017-01-01T19:45:00.000Z'})
    expect(fleet!.clients).toBeGreaterThanOrEqual(950)
    expect(fleet!.clients).toBeLessThanOrEqual(1050)
    expect(fleet!.durationSec).toBeLessThanOrEqual(180)
    expect(fleet!.recurrence).toMatchObject({
      occurrences: 3,
      period: 'weekly',
      phase: 'Sun 19:45 UTC',
      starts: ['2017-01-01T19:45:00.000Z', '2017-01-08T19:45:00.000Z', '2017-01-15T19:45:00.000Z'],
    })
    // Nobody in the fleet polls twice in a window, and the background stays unflagged.
    expect(report.suspectedNat).toEqual([])
    expect(report.misbehaving).toEqual([])
  })

  it('calls a fleet that comes every day at the same minute daily', () => {
    const builder = new LogBuilder(22)
    const start = Date.UTC(2017, 0, 2) / 1000
    for (let c = 0; c < 40; c++)
      builder.periodic(host(c), 1024, start + builder.random() * 1024, start + 5 * 86_400, {port: 123})
    for (let day = 0; day < 5; day++) {
      for (let d = 0; d < 100; d++)
        builder.add({
          address: host(d, '10.30'),
          port: 2000,
          timeSec: start + day * 86_400 + 3 * 3600 + builder.between(0, 50),
        })
    }
    const {fleets} = analyseBehaviour(builder.build())
    expect(fleets).toHaveLength(1)
    expect(fleets[0]).toMatchObject({
      recurrence: {occurrences: 5, period: 'daily', phase: '03:00 UTC'},
      start: '2017-01-02T03:00:00.000Z',
    })
    expect(Math.abs(fleets[0]!.clients - 100)).toBeLessThanOrEqual(5)
  })

  it('finds a one-off burst within a short capture, and nothing in the same background without it', () => {
    const quiet = analyseBehaviour(background(new LogBuilder(23), 3000).build(), {durationSec: SEED_SEC})
    // 3000 polite clients: no fleet, and no false NAT or misbehaving client either.
    expect(quiet).toMatchObject({fleets: [], misbehaving: [], suspectedNat: [], violations: []})

    const busy = background(new LogBuilder(23), 3000)
    for (let c = 0; c < 400; c++)
      busy.add({address: host(c, '100.64'), port: 777, timeSec: T0 + 1200 + busy.between(0, 90)})
    const report = analyseBehaviour(busy.build(), {durationSec: SEED_SEC})
    expect(report.fleets).toHaveLength(1)
    const [fleet] = report.fleets
    expect(fleet!.start).toBe('2014-07-13T17:20:00.000Z')
    expect(fleet!.clients).toBeGreaterThanOrEqual(380)
    expect(fleet!.clients).toBeLessThanOrEqual(420)
    expect(fleet!.clientsInWindow).toBeGreaterThan(fleet!.clients) // the background is in the window too
    expect(fleet!.oneShotShare).toBeGreaterThan(0.9)
    expect(fleet!.recurrence).toBeUndefined()
  })
})
