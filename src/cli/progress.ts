/** A progress callback `src/` functions accept: `done` of `total` units (bytes, rows, commits). */
export type ProgressCallback = (done: number, total?: number) => void

export interface ProgressReporter {
  update: ProgressCallback
  done(): void
}

/** Draws `label 42% (1.2 GB of 2.9 GB)` on one stderr line, at most ~10 times a second. */
export function createProgress(label: string, options: {enabled: boolean; format?: (n: number) => string}): ProgressReporter {
  if (!options.enabled) return {done() {}, update() {}}
  const format = options.format ?? ((n: number) => n.toLocaleString('en-US'))
  let last = 0
  let drawn = false
  return {
    done() {
      if (drawn) process.stderr.write('\r\u001B[2K')
      drawn = false
    },
    update(done, total) {
      const now = Date.now()
      if (now - last < 100) return
      last = now
      drawn = true
      const pct = total ? ` ${Math.min(100, Math.floor((done / total) * 100))}%` : ''
      process.stderr.write(`\r\u001B[2K${label}${pct} (${format(done)}${total ? ` of ${format(total)}` : ''})`)
    },
  }
}

/** One stderr line redrawn in place with the text given (a live capture's counters), at most ~5 times a second. */
export function createStatusLine(enabled: boolean): {show(text: string): void; done(): void} {
  let last = 0
  let drawn = false
  return {
    done() {
      if (drawn) process.stderr.write('\r\u001B[2K')
      drawn = false
    },
    show(text) {
      const now = Date.now()
      if (!enabled || now - last < 200) return
      last = now
      drawn = true
      process.stderr.write(`\r\u001B[2K${text}`)
    },
  }
}
