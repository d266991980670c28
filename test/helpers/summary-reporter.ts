import type {Reporter} from 'vitest/reporters'

interface TaskLike {
  type: string
  mode?: string
  result?: {state?: string}
  tasks?: TaskLike[]
}

/**
 * Ends the run with the plain line CI reads in any language: "N passed, N failed, N skipped".
 * Listed after vitest's default reporter, whose summary it follows. A file that failed to load and
 * an unhandled error each count as a failure, as vitest's exit code does.
 */
export default class SummaryReporter implements Reporter {
  onFinished(files: TaskLike[] = [], errors: unknown[] = []): void {
    const counts = {failed: errors.length, passed: 0, skipped: 0}
    const visit = (task: TaskLike) => {
      if (task.type === 'test') {
        const state = task.result?.state
        if (state === 'pass') counts.passed++
        else if (state === 'fail') counts.failed++
        else counts.skipped++
        return
      }
      if (task.type === 'suite' && task.result?.state === 'fail' && (task.tasks ?? []).length === 0) counts.failed++
      for (const child of task.tasks ?? []) visit(child)
    }
    for (const file of files) visit({...file, type: 'suite'})
    process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`)
  }
}
