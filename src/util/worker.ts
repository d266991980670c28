import {Worker} from 'node:worker_threads'

import {BillwatchError, type ErrorCode} from '../errors.js'

/**
 * Runs `module` (a path beside the caller, without extension) in a worker thread with `input` as its
 * workerData and resolves with the one message it posts: `{result}` or `{error: {code, message}}`.
 * Built, the module is JavaScript; from the sources (bin/dev.js, tests) it is TypeScript, and Node 20
 * passes no loader on to workers, so the worker registers tsx itself before importing it.
 */
export function runInWorker<T>(callerUrl: string, module: string, input: unknown, transfer: ArrayBuffer[] = []): Promise<T> {
  const typescript = callerUrl.endsWith('.ts')
  const file = new URL(`${module}${typescript ? '.ts' : '.js'}`, callerUrl)
  const boot = `import('tsx/esm/api').then(({register}) => { register(); return import(${JSON.stringify(file.href)}) })`
  return new Promise((resolve, reject) => {
    const worker = typescript
      ? new Worker(boot, {eval: true, transferList: transfer, workerData: input})
      : new Worker(file, {transferList: transfer, workerData: input})
    worker.once('message', (message: {result?: T; error?: {code: ErrorCode; message: string}}) => {
      if (message.error) reject(new BillwatchError(message.error.code, message.error.message))
      else resolve(message.result as T)
    })
    worker.once('error', reject)
    worker.once('exit', (code) => {
      if (code !== 0) reject(new BillwatchError('E_INTERNAL', `worker ${module} exited with code ${code}`))
    })
  })
}

/** The worker side: posts `compute()`'s result, or the error as {code, message}. */
export function answerFromWorker(port: {postMessage(message: unknown, transfer?: ArrayBuffer[]): void}, compute: () => {result: unknown; transfer?: ArrayBuffer[]}): void {
  try {
    const {result, transfer} = compute()
    port.postMessage({result}, transfer ?? [])
  } catch (error) {
    const code = error instanceof BillwatchError ? error.code : 'E_INTERNAL'
    port.postMessage({error: {code, message: error instanceof Error ? error.message : String(error)}})
  }
}
