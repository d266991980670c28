/** Seeded synthetic daily series for the detector tests: levels with multiplicative (log-normal) noise. */
import {dayNumber, dayString, type DayValue} from '../../src/detect/index.js'
import {seededRandom} from '../../src/ratelimit/limiters.js'

/** The project's one seeded PRNG (mulberry32). */
export const rng = seededRandom

export function gaussian(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
}

/**
 * `levels` as [days, level] runs from `start`; each day is level × e^(noise·N(0,1)).
 * `weekly` multiplies Saturdays and Sundays by that factor.
 */
export function daily(
  start: string,
  levels: [number, number][],
  options: {seed?: number; noise?: number; weekly?: number | undefined} = {},
): DayValue[] {
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
