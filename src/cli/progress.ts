/** A progress callback `src/` functions accept: `done` of `total` units (bytes, rows, commits). */
export type ProgressCallback = (done: number, total?: number) => void

export interface ProgressReporter {
  update: ProgressCallback
  done(): void
}

/** Draws `label 42% (12.3 MB/29 MB)` on one stderr line, at most ~10 times a second. */
export function createProgress(label: string, options: {enabled: boolean}): ProgressReporter {
  if (!options.enabled) return {done() {}, update() {}}
  let last = 0
  let drawn = false
  return {
    done() {
      if (drawn) process.stderr.write('\r\u001B[2K')
    },
    update(done, total) {
      const now = Date.now()
      if (now - last < 100) return
      last = now
      drawn = true
      const pct = total ? ` ${Math.min(100, Math.floor((done / total) * 100))}%` : ''
      process.stderr.write(`\r\u001B[2K${label}${pct} (${done.toLocaleString('en-US')}${total ? ` of ${total.toLocaleString('en-US')}` : ''})`)
    },
  }
}
