import {type MessagePort, Worker} from 'node:worker_threads'

import {BillwatchError, type ErrorCode} from '../errors.js'

/** An error as a worker posts it: a BillwatchError's JSON shape (see BillwatchError.toJSON) and its exit code. */
interface PostedError {
  code: ErrorCode
  message: string
  exitCode?: number | undefined
  expected?: string | undefined
  field?: string | undefined
  file?: string | undefined
  got?: string | undefined
  line?: number | undefined
  suggestions?: string[] | undefined
}

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
 */
export function startWorker<I, T>(callerUrl: string, module: string): WorkerJob<I, T> {
  const worker = newWorker(callerUrl, module)
  const result = new Promise<T>((resolve, reject) => {
    worker.once('message', (message: {result?: T; error?: PostedError}) => {
      if (message.error) reject(revive(message.error))
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

/**
 * A worker thread running `module` (a path beside the caller, without extension). Built, the module is JavaScript;
 * from the sources (bin/dev.js, tests, benches) it is TypeScript, and Node 20 passes no loader on to workers, so the
 * worker registers tsx itself before importing it.
 */
export function newWorker(callerUrl: string, module: string): Worker {
  const typescript = callerUrl.endsWith('.ts')
  const file = new URL(`${module}${typescript ? '.ts' : '.js'}`, callerUrl)
  const boot = `import('tsx/esm/api').then(({register}) => { register(); return import(${JSON.stringify(file.href)}) })`
  return typescript ? new Worker(boot, {eval: true}) : new Worker(file)
}

/**
 * The worker side: waits for its input, posts `compute(input)`'s result (awaited, when it is a promise) or the error
 * with its location and suggestions, as the caller's thread would have thrown it.
 */
export function answerFromWorker<I>(port: MessagePort, compute: (input: I) => Answer | Promise<Answer>): void {
  port.once('message', (input: I) => {
    const post = (answer: Answer) => port.postMessage({result: answer.result}, answer.transfer ?? [])
    const fail = (error: unknown) => port.postMessage({error: posted(error)})
    try {
      const answer = compute(input)
      if (answer instanceof Promise) answer.then(post, fail)
      else post(answer)
    } catch (error) {
      fail(error)
    }
  })
}

interface Answer {
  result: unknown
  transfer?: ArrayBuffer[]
}

function posted(error: unknown): PostedError {
  if (!(error instanceof BillwatchError))
    return {code: 'E_INTERNAL', message: error instanceof Error ? error.message : String(error)}
  const {code, message, exitCode, expected, field, file, got, line, suggestions} = error
  return {code, exitCode, expected, field, file, got, line, message, suggestions}
}

/** The posted error as the BillwatchError the worker threw: its message is already located, so it is kept as is. */
function revive(error: PostedError): BillwatchError {
  const revived = new BillwatchError(error.code, error.message, {
    ...(error.exitCode === undefined ? {} : {exitCode: error.exitCode}),
    suggestions: error.suggestions ?? [],
  })
  for (const key of ['expected', 'field', 'file', 'got', 'line'] as const)
    if (error[key] !== undefined) Object.defineProperty(revived, key, {enumerable: true, value: error[key]})
  return revived
}
