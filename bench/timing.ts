/** Timing shared by the benches that run a command: wall seconds and peak RSS under GNU time. */
import {spawnSync} from 'node:child_process'

export interface Timing {
  seconds: number
  /** User plus system CPU seconds: on a shared, loaded machine the figure that compares. */
  cpuSeconds: number
  peakRssMb: number
  stdout: string
}

/** Runs a command under GNU time: wall seconds, CPU seconds and peak RSS of the whole process. */
export function timed(command: string[]): Timing {
  const result = spawnSync('/usr/bin/time', ['-f', '%e %M %U %S', ...command], {encoding: 'utf8', maxBuffer: 1 << 26})
  if (result.status !== 0) throw new Error(`${command.join(' ')} failed: ${result.stderr}`)
  const last = result.stderr.trim().split('\n').at(-1) ?? ''
  const [seconds, kb, user, system] = last.split(' ').map(Number)
  return {
    cpuSeconds: (user ?? 0) + (system ?? 0),
    peakRssMb: (kb ?? 0) / 1024,
    seconds: seconds ?? 0,
    stdout: result.stdout,
  }
}

/**
 * Best of `runs` (wall seconds; CPU seconds the least of the runs) and the highest peak RSS: one run is at the mercy of
 * the scheduler.
 */
export function bestOf(runs: number, run: () => Timing): Timing {
  return best(Array.from({length: runs}, run))
}

/** The best of timings already taken, as bestOf. */
export function best(timings: Timing[]): Timing {
  const fastest = timings.reduce((a, b) => (b.seconds < a.seconds ? b : a))
  return {
    ...fastest,
    cpuSeconds: Math.min(...timings.map((t) => t.cpuSeconds)),
    peakRssMb: Math.max(...timings.map((t) => t.peakRssMb)),
  }
}
