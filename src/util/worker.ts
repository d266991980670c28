import {type MessagePort, Worker} from 'node:worker_threads'

import {BillwatchError, type ErrorCode} from '../errors.js'

export interface WorkerJob<I, T> {
  /** Hands the worker its input (once). Posted at once, not on a later tick. */
  post(input: I, transfer?: ArrayBuffer[]): void
  /** Stops a worker that will get no input (the caller failed first). */
  cancel(): void
  /** The worker's result, or its error as a BillwatchError. */
  result: Promise<T>
}

/**
 * Starts `module` (a path beside the caller, without extension) in a worker thread that waits for its
 * input: it loads its modules while the caller is still working the input out. The result is the one
 * message the worker posts, `{result}` or `{error: {code, message}}`.
 * Built, the module is JavaScript; from the sources (bin/dev.js, tests) it is TypeScript, and Node 20
 * passes no loader on to workers, so the worker registers tsx itself before importing it.
 */
export function startWorker<I, T>(callerUrl: string, module: string): WorkerJob<I, T> {
  const typescript = callerUrl.endsWith('.ts')
  const file = new URL(`${module}${typescript ? '.ts' : '.js'}`, callerUrl)
  const boot = `import('tsx/esm/api').then(({register}) => { register(); return import(${JSON.stringify(file.href)}) })`
  const worker = typescript ? new Worker(boot, {eval: true}) : new Worker(file)
  const result = new Promise<T>((resolve, reject) => {
    worker.once('message', (message: {result?: T; error?: {code: ErrorCode; message: string}}) => {
      if (message.error) reject(new BillwatchError(message.error.code, message.error.message))
      else resolve(message.result as T)
    })
    worker.once('error', reject)
    worker.once('exit', (code) => {
      if (code !== 0) reject(new BillwatchError('E_INTERNAL', `worker ${module} exited with code ${code}`))
    })
  })
  // A cancelled job's rejection is the caller's to ignore.
  result.catch(() => undefined)
  // A worker waiting for its input does not keep the process alive (a caller that fails before posting may not
  // cancel it); once posted, it does until it answers.
  worker.unref()
  return {
    cancel: () => void worker.terminate(),
    post: (input, transfer = []) => {
      worker.ref()
      worker.postMessage(input, transfer)
    },
    result,
  }
}

/** The worker side: waits for its input, posts `compute(input)`'s result or the error as {code, message}. */
export function answerFromWorker<I>(
  port: MessagePort,
  compute: (input: I) => {result: unknown; transfer?: ArrayBuffer[]},
): void {
  port.once('message', (input: I) => {
    try {
      const {result, transfer} = compute(input)
      port.postMessage({result}, transfer ?? [])
    } catch (error) {
      const code = error instanceof BillwatchError ? error.code : 'E_INTERNAL'
      port.postMessage({error: {code, message: error instanceof Error ? error.message : String(error)}})
    }
  })
}
