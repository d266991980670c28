/**
 * Runs the real billwatch CLI (the same oclif commands bin/run.js executes) in a long-lived child
 * process, one argv per IPC message, capturing stdout, stderr and the exit code. Starting Node and
 * oclif per input would cost ~0.5 s; in here a run costs what the command does. The parent kills this
 * process when a run exceeds its time bound and starts a fresh one.
 */
import {fileURLToPath} from 'node:url'

import {Plugin, run} from '@oclif/core'

const root = fileURLToPath(new URL('../..', import.meta.url))
const fromSources = process.env.BILLWATCH_FUZZ_SOURCES === '1'
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

let loadOptions: Parameters<typeof run>[1] = root
if (fromSources) {
  // As bin/dev.js: the commands from commands/*.ts, not the manifest's dist/ (outside vitest, which
  // sets NODE_ENV=test, oclif maps commands to their sources only in development).
  process.env.NODE_ENV ??= 'development'
  const plugin = new Plugin({ignoreManifest: true, isRoot: true, root})
  await plugin.load()
  loadOptions = {plugins: new Map([[plugin.name, plugin]]), root}
}

interface Request {
  id: number
  argv: string[]
}

const realStdout = process.stdout.write.bind(process.stdout)
const realStderr = process.stderr.write.bind(process.stderr)
const realExit = process.exit.bind(process)
let current: {id: number; stdout: string[]; stderr: string[]} | undefined

function capture(into: 'stdout' | 'stderr') {
  return ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown) => {
    if (current) current[into].push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'))
    const done = typeof encoding === 'function' ? encoding : callback
    if (typeof done === 'function') process.nextTick(done)
    return true
  }) as typeof process.stdout.write
}

function reply(exitCode: number, extra: Record<string, unknown> = {}, then?: () => void): void {
  const run = current
  current = undefined
  process.stdout.write = realStdout
  process.stderr.write = realStderr
  process.send!(
    {exitCode, id: run?.id ?? -1, stderr: run?.stderr.join('') ?? '', stdout: run?.stdout.join('') ?? '', ...extra},
    undefined,
    undefined,
    () => then?.(),
  )
}

// billwatch's last-resort handler ends the process (an unhandled rejection): report what it printed first.
process.exit = (code?: number) => {
  reply(typeof code === 'number' ? code : 1, {exited: true}, () => realExit(code ?? 1))
  return undefined as never
}

async function handle(request: Request): Promise<void> {
  current = {id: request.id, stderr: [], stdout: []}
  process.stdout.write = capture('stdout')
  process.stderr.write = capture('stderr')
  process.exitCode = 0
  try {
    await run(request.argv, loadOptions)
    reply(Number(process.exitCode ?? 0))
  } catch (error) {
    // An error no billwatch handler caught: oclif would print it with its stack.
    const err = error as Error & {oclif?: {exit?: number}}
    if (current) current.stderr.push(`${err?.stack ?? String(error)}\n`)
    reply(err?.oclif?.exit ?? 1, {escaped: true})
  }
}
process.on('message', (request: Request) => void handle(request))
process.send!({ready: true})
