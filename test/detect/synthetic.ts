/** Seeded synthetic daily series for the detector tests: levels with multiplicative (log-normal) noise. */
import {dayString, dayNumber, type DayValue} from '../../src/detect/index.js'

export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

export function gaussian(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
}

/**
 * `levels` as [days, level] runs from `start`; each day is level × e^(noise·N(0,1)).
 * `weekly` multiplies Saturdays and Sundays by that factor.
 */
export function daily(start: string, levels: Array<[number, number]>, options: {seed?: number; noise?: number; weekly?: number} = {}): DayValue[] {
  const normal = gaussian(rng(options.seed ?? 1))
  const out: DayValue[] = []
  let day = dayNumber(start)
  for (const [days, level] of levels) {
    for (let i = 0; i < days; i++, day++) {
      const weekday = new Date(day * 86_400_000).getUTCDay()
      const season = options.weekly !== undefined && (weekday === 0 || weekday === 6) ? options.weekly : 1
      out.push({day: dayString(day), value: level * season * Math.exp((options.noise ?? 0.25) * normal())})
    }
  }
  return out
}
