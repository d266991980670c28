import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {skipInUnitTier} from './tools.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const SAMPLES = join(ROOT, 'samples')

export interface CliResult {
  code: number
  stdout: string
  stderr: string
  /** stdout parsed as JSON (throws if it is not). */
  json<T = any>(): T
}

/**
 * Runs the real CLI in a child process, as a user would. Uses the built `bin/run.js` when
 * BILLWATCH_TEST_BUILD=1 (CI, after `npm run build`), else `bin/dev.js` on the TypeScript sources.
 */
export function runCli(
  args: string[],
  options: {env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number} = {},
): Promise<CliResult> {
  skipInUnitTier('spawns the billwatch CLI')
  const bin = process.env.BILLWATCH_TEST_BUILD === '1' ? join(ROOT, 'bin/run.js') : join(ROOT, 'bin/dev.js')
  const nodeArgs = process.env.BILLWATCH_TEST_BUILD === '1' ? [bin] : ['--import', 'tsx', '--no-warnings', bin]
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, ...args], {
      cwd: options.cwd ?? ROOT,
      env: {...process.env, NODE_ENV: 'test', ...options.env},
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({
        code: code ?? -1,
        json() {
          return JSON.parse(stdout)
        },
        stderr,
        stdout,
      })
    })
    child.stdin.end(options.input ?? '')
  })
}

/** A fresh temp directory, removed by the returned cleanup. */
export function tempDir(prefix = 'billwatch-test-'): {dir: string; cleanup: () => void} {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return {cleanup: () => rmSync(dir, {force: true, recursive: true}), dir}
}
