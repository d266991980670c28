import {spawnSync} from 'node:child_process'
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'

import {SAMPLES} from '../helpers/cli.js'
import {requireTool} from '../helpers/tools.js'

/** Builds the NTP pool server incident's /etc history (samples/scripts/make-etc-repo.sh DIR). */
export const MAKE_ETC_REPO = join(SAMPLES, 'scripts/make-etc-repo.sh')

/** git with the user's configuration shut out, so tests behave the same on every machine. */
export const GIT_ENV = {
  GIT_AUTHOR_EMAIL: 'ops@example.org',
  GIT_AUTHOR_NAME: 'ops',
  GIT_COMMITTER_EMAIL: 'ops@example.org',
  GIT_COMMITTER_NAME: 'ops',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
}

export function git(cwd: string, args: string[], env: Record<string, string> = {}): string {
  const result = spawnSync(requireTool('git'), args, {cwd, encoding: 'utf8', env: {...process.env, ...GIT_ENV, ...env}})
  if (result.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${result.stderr}`)
  return result.stdout.trim()
}

/** Runs make-etc-repo.sh on `dir` (recreating the sample history there); returns what it prints. */
export function makeEtcRepo(dir: string): string {
  requireTool('git')
  const made = spawnSync(MAKE_ETC_REPO, [dir], {encoding: 'utf8'})
  if (made.status !== 0) throw new Error(`make-etc-repo.sh failed: ${made.stderr}`)
  return made.stdout
}

export function initRepo(dir: string): string {
  mkdirSync(dir, {recursive: true})
  git(dir, ['init', '-q', '-b', 'master'])
  return dir
}

/**
 * Writes (string) or deletes (null) files, then commits them with author time `date` (with its offset)
 * and committer time `committed` (default: the same).
 */
export function commitAt(
  dir: string,
  date: string,
  message: string,
  files: Record<string, null | string> = {},
  committed = date,
): string {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path)
    if (content === null) rmSync(full)
    else {
      mkdirSync(dirname(full), {recursive: true})
      writeFileSync(full, content)
    }
  }
  git(dir, ['add', '-A'])
  git(dir, ['commit', '-q', '--allow-empty', '-m', message], {GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: committed})
  return git(dir, ['rev-parse', 'HEAD'])
}
