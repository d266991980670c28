import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import type {ClientGroups} from '../../src/behaviour/group.js'
import {nativeScanner} from '../../src/pcap/native.js'
import {type LimiterSetting, ReplayPass, replayTallies} from '../../src/ratelimit/index.js'
import {withEnv} from '../helpers/env.js'

/** The replays with the native addon (BILLWATCH_PCAP_NATIVE=1) or in JavaScript only (=0). */
function withNative<T>(on: boolean, fn: () => T): T {
  return withEnv({BILLWATCH_PCAP_NATIVE: on ? '1' : '0'}, fn)
}

/** Gaps between a client's requests: repeats, sub-second retries, pollers, long silences, a step back in time. */
const gap = fc.constantFrom(0, 0.004, 0.03, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 7.9, 8, 16, 64, 1024, 86_400, -0.5, -3)
const row = fc.record({
  bytes: fc.constantFrom(76, 90, 0, 1500),
  gap,
  jitter: fc.double({max: 0.999, min: 0, noNaN: true}),
  mode: fc.constantFrom(3, 3, 3, 3, 1, 4, 6),
  served: fc.constantFrom(1, 1, 1, 1, 2, 0),
})

/** Grouped time requests: client c's rows in capture order, its first request at a random time of the day. */
function groupsOf(
  clients: {first: number; rows: {gap: number; jitter: number; mode: number; served: number; bytes: number}[]}[],
): ClientGroups {
  const rows = clients.flatMap(({rows}) => rows)
  const groups: ClientGroups = {
    mode: new Uint8Array(rows.length),
    reply: new Uint8Array(rows.length),
    replyIpBytes: new Uint16Array(rows.length),
    srcPort: new Uint16Array(rows.length),
    start: new Uint32Array(clients.length + 1),
    timeSec: new Float64Array(rows.length),
    version: new Uint8Array(rows.length).fill(4),
  }
  let at = 0
  clients.forEach(({first, rows: own}, c) => {
    groups.start[c] = at
    let time = 1_402_254_000 + first
    for (const request of own) {
      time += request.gap + request.jitter * Math.min(1, Math.abs(request.gap))
      groups.timeSec[at] = time
      groups.mode[at] = request.mode
      groups.reply[at] = request.served
      groups.replyIpBytes[at] = request.bytes
      at++
    }
  })
  groups.start[clients.length] = at
  return groups
}

/** Groups [from, to) of `groups`, as a spilled log is read back a client range at a time. */
function range(groups: ClientGroups, from: number, to: number): ClientGroups {
  const first = groups.start[from]!
  const last = groups.start[to]!
  return {
    mode: groups.mode.slice(first, last),
    reply: groups.reply.slice(first, last),
    replyIpBytes: groups.replyIpBytes.slice(first, last),
    srcPort: groups.srcPort.slice(first, last),
    start: groups.start.slice(from, to + 1).map((at) => at - first),
    timeSec: groups.timeSec.slice(first, last),
    version: groups.version.slice(first, last),
  }
}

const setting: fc.Arbitrary<LimiterSetting> = fc.oneof(
  fc.record({
    algorithm: fc.constant('ntpd' as const),
    average: fc.integer({max: 6, min: 0}),
    kod: fc.boolean(),
    minimum: fc.integer({max: 4, min: 0}),
  }),
  fc.record({
    algorithm: fc.constant('chrony' as const),
    burst: fc.integer({max: 20, min: 1}),
    interval: fc.integer({max: 6, min: -6}),
    kod: fc.integer({max: 4, min: 0}),
    leak: fc.integer({max: 5, min: 0}),
  }),
  fc.record({
    algorithm: fc.constant('ntpsec' as const),
    average: fc.constantFrom(0.25, 0.5, 1, 2, 3.7),
    burst: fc.integer({max: 40, min: 1}),
    kod: fc.boolean(),
    kodRate: fc.constantFrom(0, 0.5, 1, 2.5),
  }),
)

const client = fc.record({first: fc.integer({max: 86_400, min: 0}), rows: fc.array(row, {maxLength: 60})})

describe('the native limiter replays', () => {
  it('are built into the addon', () => {
    expect(typeof nativeScanner()?.replayLimiter).toBe('function')
    // ntpsec's too: the Node.js that runs the tests exports V8's exp (Math.exp's) to addons.
    expect(nativeScanner()?.replaysNtpsec).toBe(true)
  })

  it("give the JavaScript replays' tallies, client for client, on random logs, settings and seeds", () => {
    fc.assert(
      fc.property(
        fc.array(client, {maxLength: 25, minLength: 1}),
        fc.array(setting, {maxLength: 4, minLength: 1}),
        fc.integer({max: 2 ** 31, min: -(2 ** 31)}),
        (clients, settings, seed) => {
          const groups = groupsOf(clients)
          const native = withNative(true, () => replayTallies(groups, clients.length, settings, seed))
          const javascript = withNative(false, () => replayTallies(groups, clients.length, settings, seed))
          expect(native).toEqual(javascript)
        },
      ),
      {numRuns: 300},
    )
  })

  it('go on from one client range to the next as one replay over the whole log (a spilled log read back)', () => {
    fc.assert(
      fc.property(
        fc.array(client, {maxLength: 25, minLength: 2}),
        fc.array(setting, {maxLength: 4, minLength: 1}),
        fc.integer({max: 1000, min: 0}),
        fc.nat(),
        (clients, settings, seed, cut) => {
          const groups = groupsOf(clients)
          const at = 1 + (cut % (clients.length - 1))
          const whole = withNative(false, () => replayTallies(groups, clients.length, settings, seed))
          // Native for the first range, JavaScript for the second: the state each leaves is the other's to go on with.
          const pass = new ReplayPass(clients.length, settings, seed)
          withNative(true, () => pass.add(range(groups, 0, at), 0))
          withNative(false, () => pass.add(range(groups, at, clients.length), at))
          expect(pass.result()).toEqual(whole)
        },
      ),
      {numRuns: 200},
    )
  })
})
