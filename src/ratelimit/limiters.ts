/**
 * Per-address response limiters of the three NTP daemons, re-implemented from their published
 * algorithms (../shared/research/ntp.md §3) so a capture can be replayed through them. Each limiter
 * keeps its per-client state in typed arrays indexed by RequestLog client index, and decides one
 * request at a time: ANSWER, KOD (a kiss-o'-death RATE reply) or DROP (silence).
 *
 * All three assume the daemon's client table holds every client (ntpd `mru maxdepth`, chrony
 * `clientloglimit`); a real server with a small table forgets quiet clients and gives them a fresh
 * allowance, so it limits slightly less than simulated.
 */

export const DROP = 0
export const ANSWER = 1
export const KOD = 2
export type Decision = typeof DROP | typeof ANSWER | typeof KOD

/** Classic ntpd 4.2.8: `restrict … limited [kod]` with `discard average A minimum M`. */
export interface NtpdSetting {
  algorithm: 'ntpd'
  /** Minimum average headway, log2 seconds (`discard average`, default 3 = 8 s). */
  average: number
  /** Minimum headway (guard time), seconds (`discard minimum`, default 2). */
  minimum: number
  /** `kod` restrict flag: send KoD RATE (at most one per average headway) instead of dropping. */
  kod: boolean
}

/** ntpsec ≥ 1.1.9: `restrict … limited [kod]` with `limit average R burst B kod K`. */
export interface NtpsecSetting {
  algorithm: 'ntpsec'
  /** Allowed average rate, packets per second (default 1.0). */
  average: number
  /** Burst size; also the score's decay time constant in seconds (default 20). */
  burst: number
  /** Score headroom above `average` within which KoDs are still sent (default 0.5). */
  kodRate: number
  kod: boolean
}

/** chrony: `ratelimit interval I burst B leak L [kod K]`. */
export interface ChronySetting {
  algorithm: 'chrony'
  /** Minimum interval between responses, log2 seconds (default 3). */
  interval: number
  /** Token bucket depth in responses (default 8). */
  burst: number
  /** 1 in 2^leak limited requests is answered anyway (default 2; chrony clamps to 1–4). */
  leak: number
  /** chrony ≥ 4.6 only: 1 in 2^kod of the dropped requests gets a KoD RATE; 0 = never (4.3, Debian 12). */
  kod: number
}

export type LimiterSetting = NtpdSetting | NtpsecSetting | ChronySetting

export interface Limiter {
  /** Decides the request of client `client` arriving at `timeSec` (requests fed in arrival order). */
  decide(client: number, timeSec: number): Decision
  /**
   * Decides every request of requests grouped by client (client c owns rows [start[c], start[c + 1]),
   * in arrival order) into `out`. Limiters keep no state across clients, so client-major order gives
   * the same decisions as arrival order while reading each client's state once, not per request.
   * Each limiter has its own loop: one shared loop calling three different `decide` closures goes
   * megamorphic in V8 and runs 2–3x slower on millions of requests. Group c is client `firstClient + c` (default 0):
   * a log read a client range at a time goes on with the same limiter.
   */
  decideGrouped(start: Uint32Array, timeSec: Float64Array, out: Uint8Array, firstClient?: number): void
  /**
   * The limiter's state as the native addon's replayLimiter reads and writes it (src/pcap/native/scan.c), for the
   * limiters it replays (ntpd's and chrony's with seededRandom streams); the JavaScript `decide` shares the same state,
   * so either goes on where the other stopped.
   */
  native?: NativeLimiterState
}

/** A limiter's state and parameters in the layout of the addon's replayLimiter (see Limiter.native). */
export interface NativeLimiterState {
  /** 0: classic ntpd; 1: chrony; 2: ntpsec. */
  algorithm: 0 | 1 | 2
  params: Float64Array
  /** ntpd and ntpsec: each client's last request time; chrony: its last tick. */
  last: Float64Array
  /** ntpd: each client's leaky bucket; ntpsec: its score. */
  leak: Float64Array
  tokens: Int32Array
  rate: Int16Array
  timeoutRate: Int16Array
  dropped: Uint8Array
  randomState: Uint32Array
  kodRandomState: Uint32Array
}

export interface LimiterOptions {
  /** Source of chrony's random leak, uniform in [0, 1). Default: seededRandom(1). */
  random?: () => number
  /**
   * Source of chrony's KoD choices among dropped requests. A stream of its own, so the `kod` option
   * changes which drops become KoDs and nothing else (a setting with and without KoD is replayed once).
   * Default: seededRandom(2).
   */
  kodRandom?: () => number
  /**
   * Phase of chrony's 1/16 s ticks, seconds in [0, 1/16): chronyd picks it at random at start-up,
   * which moves a token between neighbouring ticks. Default 0.
   */
  tickOffsetSec?: number
}

export function createLimiter(setting: LimiterSetting, clientCount: number, options: LimiterOptions = {}): Limiter {
  switch (setting.algorithm) {
    case 'ntpd':
      return ntpdLimiter(setting, clientCount)
    case 'ntpsec':
      return ntpsecLimiter(setting, clientCount)
    case 'chrony':
      return chronyLimiter(
        setting,
        clientCount,
        options.random ?? seededRandom(1),
        options.kodRandom ?? seededRandom(2),
        options.tickOffsetSec ?? 0,
      )
  }
}

/**
 * ntp 4.2.8 ntp_monitor.c: a leaky bucket in whole seconds per address. The headway since the last
 * packet is rounded to whole seconds (so sub-second retries never drain the bucket), the bucket leaks
 * by it, and a packet is served when it respects the guard time and the bucket plus one increment
 * (2^average) stays under 8 increments; serving adds the increment minus a 2 s grace. A violation
 * fills the bucket past the limit (KoD if `kod`); further violations while it is over are silent,
 * which rate-limits the KoDs themselves.
 */
function ntpdLimiter(setting: NtpdSetting, clientCount: number): Limiter {
  const last = new Float64Array(clientCount).fill(Number.NaN)
  const leak = new Float64Array(clientCount)
  const head = 2 ** setting.average
  const limit = 8 * head
  function decide(client: number, timeSec: number): Decision {
    const previous = last[client]!
    last[client] = timeSec
    if (Number.isNaN(previous)) {
      leak[client] = 0
      return ANSWER
    }
    const interval = Math.floor(Math.max(0, timeSec - previous) + 0.5)
    const drained = Math.max(0, leak[client]! - interval)
    if (interval + 1 >= setting.minimum && drained + head < limit) {
      leak[client] = drained + head - 2
      return ANSWER
    }
    if (drained < limit) {
      leak[client] = limit + head
      return setting.kod ? KOD : DROP
    }
    leak[client] = drained
    return DROP
  }
  return {
    decide,
    decideGrouped(start, timeSec, out, firstClient = 0) {
      for (let c = 0; c + 1 < start.length; c++) {
        const client = firstClient + c
        for (let row = start[c]!, end = start[c + 1]!; row < end; row++) out[row] = decide(client, timeSec[row]!)
      }
    },
    native: {
      ...NO_NATIVE_STATE,
      algorithm: 0,
      last,
      leak,
      params: Float64Array.of(head, limit, setting.minimum, setting.kod ? 1 : 0),
    },
  }
}

/** The native state's arrays a limiter does not use. */
const NO_NATIVE_STATE = {
  dropped: new Uint8Array(0),
  kodRandomState: new Uint32Array(0),
  last: new Float64Array(0),
  leak: new Float64Array(0),
  randomState: new Uint32Array(0),
  rate: new Int16Array(0),
  timeoutRate: new Int16Array(0),
  tokens: new Int32Array(0),
} as const

/**
 * ntpsec ≥ 1.1.9 ntp_monitor.c: each address has a score in packets per second that decays as
 * e^(−Δt/burst) and gains 1/burst per packet. A packet is limited when the score reaches `average`;
 * a KoD goes out only while the score is within `kodRate` above it, so a flood gets silence, not a
 * reflected KoD per packet.
 */
function ntpsecLimiter(setting: NtpsecSetting, clientCount: number): Limiter {
  const last = new Float64Array(clientCount).fill(Number.NaN)
  const score = new Float64Array(clientCount)
  const bump = 1 / setting.burst
  function decide(client: number, timeSec: number): Decision {
    const previous = last[client]!
    last[client] = timeSec
    const decayed = Number.isNaN(previous)
      ? 0
      : score[client]! * Math.exp(-Math.max(0, timeSec - previous) / setting.burst)
    const current = decayed + bump
    score[client] = current
    if (current < setting.average) return ANSWER
    return setting.kod && current <= setting.average + setting.kodRate ? KOD : DROP
  }
  return {
    decide,
    decideGrouped(start, timeSec, out, firstClient = 0) {
      for (let c = 0; c + 1 < start.length; c++) {
        const client = firstClient + c
        for (let row = start[c]!, end = start[c + 1]!; row < end; row++) out[row] = decide(client, timeSec[row]!)
      }
    },
    native: {
      ...NO_NATIVE_STATE,
      algorithm: 2,
      last,
      leak: score,
      params: Float64Array.of(setting.average, setting.burst, setting.kodRate, setting.kod ? 1 : 0, bump),
    },
  }
}

// chrony clientlog.c constants: timestamps in 1/16 s ticks, rates as 4 × log2 in an int8.
const TICKS_PER_SECOND = 16
const TS_FRAC = 4
const RATE_SCALE = 4
const MIN_RATE = -14 * RATE_SCALE
const INVALID_RATE = -128
const MAX_HALVINGS = (-MIN_RATE + RATE_SCALE * TS_FRAC) / RATE_SCALE

/** chrony's bucket geometry: tokens per response, bucket size and the tick shift that keeps both in 16 bits. */
export function chronyBucket(
  interval: number,
  burst: number,
): {tokensPerHit: number; maxTokens: number; shift: number} {
  const clampedInterval = Math.min(12, Math.max(-15 - TS_FRAC, Math.trunc(interval)))
  let clampedBurst = Math.min(255, Math.max(1, Math.trunc(burst)))
  let shift = 0
  if (clampedInterval >= -TS_FRAC) {
    while (shift < clampedInterval + TS_FRAC && clampedBurst * 2 ** (TS_FRAC + clampedInterval - shift) >= 2 ** 16)
      shift++
  } else {
    // Sub-1/16 s intervals: coarse limiting, several responses per tick.
    shift = clampedInterval + TS_FRAC
    clampedBurst = Math.max(2 ** -shift, clampedBurst)
  }
  const tokensPerHit = 2 ** (TS_FRAC + clampedInterval - shift)
  return {maxTokens: tokensPerHit * clampedBurst, shift, tokensPerHit}
}

/**
 * chrony clientlog.c: a token bucket per address filled one token per tick (2^shift ticks when
 * shifted), a response costing 2^interval seconds of tokens. When the bucket is short, 1 in 2^leak
 * requests is answered at random (and empties the bucket), so a spoofed flood cannot black-hole its
 * victim. chrony also tracks the request rate separately while answered and while dropped; a client
 * that speeds up more than twofold when dropped is treated as broken and mostly answered instead.
 */
function chronyLimiter(
  setting: ChronySetting,
  clientCount: number,
  random: (() => number) | SeededRandom,
  kodRandom: (() => number) | SeededRandom,
  tickOffsetSec: number,
): Limiter {
  const {maxTokens, shift, tokensPerHit} = chronyBucket(setting.interval, setting.burst)
  const leakMask = 2 ** Math.min(4, Math.max(1, Math.trunc(setting.leak))) - 1
  const kodMask = setting.kod > 0 ? 2 ** Math.min(4, Math.trunc(setting.kod)) - 1 : -1
  const shiftScale = shift >= 0 ? 2 ** shift : 1
  const lastTick = new Float64Array(clientCount).fill(Number.NaN)
  const tokens = new Int32Array(clientCount)
  const rate = new Int16Array(clientCount).fill(INVALID_RATE)
  const timeoutRate = new Int16Array(clientCount).fill(INVALID_RATE)
  const dropped = new Uint8Array(clientCount)

  function updateRecord(client: number, now: number): void {
    const previous = lastTick[client]!
    lastTick[client] = now
    if (Number.isNaN(previous)) {
      tokens[client] = maxTokens
      return
    }
    const interval = now - previous
    if (interval < 0) return
    let added: number
    if (shift >= 0) added = Math.floor(now / shiftScale) - Math.floor(previous / shiftScale)
    else added = interval > maxTokens ? maxTokens : interval * 2 ** -shift
    tokens[client] = Math.min(tokens[client]! + added, maxTokens)

    // Scaled, rounded log2 of the interval: 4 × log2(seconds); chrony halves 1.5 × ticks until ≤ 1.
    let interval2: number
    if (interval > 0) {
      const scaled = interval + Math.floor(interval / 2)
      const halvings = scaled >= 2 ** 31 ? MAX_HALVINGS : 31 - Math.clz32(scaled)
      interval2 = -RATE_SCALE * TS_FRAC + RATE_SCALE * Math.min(halvings, MAX_HALVINGS)
    } else {
      interval2 = -RATE_SCALE * (TS_FRAC + 1)
    }
    const rates = dropped[client] ? timeoutRate : rate
    const current = rates[client]!
    const target = -interval2
    if (current === INVALID_RATE) rates[client] = target
    else if (current < target) rates[client] = current + 1
    else if (current > target) {
      rates[client] =
        current > (RATE_SCALE * 5) / 2 + target ? (RATE_SCALE * 5) / 2 + target : Math.trunc((current + target - 1) / 2)
    }
  }

  function decide(client: number, timeSec: number): Decision {
    updateRecord(client, Math.floor((timeSec + tickOffsetSec) * TICKS_PER_SECOND))
    dropped[client] = 0
    if (tokens[client]! >= tokensPerHit) {
      tokens[client] = tokens[client]! - tokensPerHit
      return ANSWER
    }
    let drop = (Math.floor(random() * 2 ** 32) & leakMask) !== 0
    if (timeoutRate[client] !== INVALID_RATE && timeoutRate[client]! > rate[client]! + RATE_SCALE) drop = !drop
    if (!drop) {
      tokens[client] = 0
      return ANSWER
    }
    dropped[client] = 1
    if (kodMask >= 0 && (Math.floor(kodRandom() * 2 ** 32) & kodMask) === 0) return KOD
    return DROP
  }
  // The addon draws from seededRandom's streams only (their state is in reach); any other source stays in JavaScript.
  const native: NativeLimiterState | undefined =
    'state' in random && 'state' in kodRandom
      ? {
          ...NO_NATIVE_STATE,
          algorithm: 1,
          dropped,
          kodRandomState: kodRandom.state,
          last: lastTick,
          params: Float64Array.of(maxTokens, shift, tokensPerHit, leakMask, kodMask, shiftScale, tickOffsetSec),
          randomState: random.state,
          rate,
          timeoutRate,
          tokens,
        }
      : undefined
  return {
    decide,
    decideGrouped(start, timeSec, out, firstClient = 0) {
      for (let c = 0; c + 1 < start.length; c++) {
        const client = firstClient + c
        for (let row = start[c]!, end = start[c + 1]!; row < end; row++) out[row] = decide(client, timeSec[row]!)
      }
    },
    ...(native && {native}),
  }
}

/** seededRandom's generator: uniform in [0, 1), its state in reach of the native replay. */
export interface SeededRandom {
  (): number
  /** The generator's one word of state, advanced by each draw (by JavaScript or by the addon's replayLimiter). */
  readonly state: Uint32Array
}

/** A small deterministic PRNG (mulberry32), so a simulation with chrony's random leak is repeatable. */
export function seededRandom(seed: number): SeededRandom {
  const state = Uint32Array.of(seed >>> 0)
  const next = (): number => {
    const advanced = (state[0]! + 0x6d2b79f5) >>> 0
    state[0] = advanced
    let t = advanced
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
  return Object.assign(next, {state})
}
