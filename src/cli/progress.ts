import type {ProgressCallback} from '../core/progress.js'

export type {ProgressCallback} from '../core/progress.js'

export interface ProgressReporter {
  update: ProgressCallback
  done(): void
}

/** Draws `label 42% (1.2 GB of 2.9 GB)` on one stderr line, at most ~10 times a second. */
export function createProgress(
  label: string,
  options: {enabled: boolean; format?: (n: number) => string},
): ProgressReporter {
  if (!options.enabled) return {done: () => undefined, update: () => undefined}
  const format = options.format ?? ((n: number) => n.toLocaleString('en-US'))
  const line = createStatusLine(true, 100)
  return {
    done: () => line.done(),
    update(done, total) {
      const pct = total ? ` ${Math.min(100, Math.floor((done / total) * 100))}%` : ''
      line.show(`${label}${pct} (${format(done)}${total ? ` of ${format(total)}` : ''})`)
    },
  }
}

/** One stderr line redrawn in place with the text given (a live capture's counters), at most once per `everyMs`. */
export function createStatusLine(enabled: boolean, everyMs = 200): {show(text: string): void; done(): void} {
  let last = 0
  let drawn = false
  return {
    done() {
      if (drawn) process.stderr.write('\r\u001B[2K')
      drawn = false
    },
    show(text) {
      const now = Date.now()
      if (!enabled || now - last < everyMs) return
      last = now
      drawn = true
      process.stderr.write(`\r\u001B[2K${text}`)
    },
  }
}
