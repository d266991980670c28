/**
 * Times `billwatch correlate` on an /etc history of 100,000 commits (hourly etckeeper-style commits over
 * ~11 years, in several time zones), built once with `git fast-import` into bench/out/.
 *   node --import tsx bench/correlate/run.ts [--commits N] [--regen] [--rebased]
 * Target: under 5 s for one --date, whichever part of the history it falls in.
 * --rebased: the history as a rebase (or an import) leaves it — every committer time 120 days after the
 * author time — with one commit in 10,000 made while the clock read 2001; the dates asked for are the
 * same, so the same changes must come first (correlate windows by author time and walks past wrong clocks).
 */
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {CorrelateCommandResult} from '../../commands/correlate.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const args = process.argv.slice(2)
const count = Number(args[args.indexOf('--commits') + 1] ?? 0) || 100_000
const rebased = args.includes('--rebased')
const repo = join(ROOT, 'bench/out', `correlate-${count}${rebased ? '-rebased' : ''}`)
const REBASE_SEC = 120 * 86_400
const CLOCK_WRONG = Date.parse('2001-01-01T00:00:00Z') / 1000
const START = Date.parse('2010-01-01T00:00:00Z') / 1000
const ZONES = ['+0000', '-0400', '+0530', '+0100', '-0700']
const FILES = [
  'hosts',
  'resolv.conf',
  'apt/sources.list',
  'ssh/sshd_config',
  'cron.d/backup',
  'nginx/nginx.conf',
  'sysctl.conf',
  'motd',
]
const PACKAGES = ['curl', 'openssl', 'libssl3', 'tzdata', 'vim', 'git', 'python3', 'bash']
/** Where the NTP install sits: hour index, so the queried dates are known. */
const NTP_AT = Math.floor(count * 0.37)

function isoOf(hour: number): string {
  return new Date((START + hour * 3600) * 1000).toISOString()
}

/** One fast-import stream: hourly commits, mostly daily autocommits and apt runs with package lists. */
async function build(): Promise<void> {
  rmSync(repo, {force: true, recursive: true})
  mkdirSync(repo, {recursive: true})
  spawnSync('git', ['init', '-q', '-b', 'master', repo])
  const child = spawn('git', ['-C', repo, 'fast-import', '--quiet'], {stdio: ['pipe', 'inherit', 'inherit']})
  const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)))
  let buffer = ''
  const flush = async () => {
    if (!child.stdin.write(buffer)) await new Promise((resolve) => child.stdin.once('drain', resolve))
    buffer = ''
  }
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`
  for (let i = 0; i < count; i++) {
    const when = START + i * 3600
    const zone = ZONES[i % ZONES.length]
    let message: string
    let path = FILES[i % FILES.length]!
    let content = `# revision ${i}\n`
    if (i === NTP_AT) {
      message =
        'committing changes in /etc made by "apt-get install ntp"\n\nPackage changes:\n+ntp 1:4.2.6.p5+dfsg-3ubuntu2 amd64\n'
      path = 'ntp.conf'
      content = 'server 0.pool.ntp.org\nrestrict -4 default kod notrap nomodify nopeer noquery\n'
    } else if (i % 24 === 3) {
      message = 'daily autocommit\n'
    } else if (i % 7 === 0) {
      const pkg = PACKAGES[i % PACKAGES.length]
      message = `committing changes in /etc made by "apt-get upgrade"\n\nPackage changes:\n-${pkg} 1.${i - 1} amd64\n+${pkg} 1.${i} amd64\n`
    } else {
      message = `edit ${path}\n`
    }
    const clockWrong = rebased && i % 10_000 === 5000 && i !== NTP_AT
    const authored = clockWrong ? CLOCK_WRONG + i : when
    const committed = clockWrong ? authored : rebased ? when + REBASE_SEC : when
    buffer += `commit refs/heads/master\nmark :${i + 1}\nauthor ops <ops@example.org> ${authored} ${zone}\ncommitter root <root@example.org> ${committed} ${zone}\n`
    buffer += data(message)
    buffer += `M 100644 inline ${path}\n${data(content)}\n`
    if (buffer.length > 1 << 20) await flush()
  }
  await flush()
  child.stdin.end()
  if ((await done) !== 0) throw new Error('git fast-import failed')
  spawnSync('git', ['-C', repo, 'checkout', '-q', 'master'])
}

function timeCli(date: string): {ms: number; first: null | string; read: number} {
  const started = performance.now()
  const run = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--no-warnings',
      join(ROOT, 'bin/dev.js'),
      'correlate',
      '--repo',
      repo,
      '--date',
      date,
      '--json',
    ],
    {
      // No store: this times reading and ranking, not DuckDB.
      cwd: ROOT,
      encoding: 'utf8',
      env: {...process.env, BILLWATCH_DB: undefined, XDG_DATA_HOME: join(ROOT, 'bench/out/xdg')},
      maxBuffer: 64 << 20,
    },
  )
  const ms = performance.now() - started
  if (run.status !== 0) throw new Error(`correlate failed: ${run.stderr}`)
  // The command's --json is its exported result type (test/contract checks it against the schema).
  const out = JSON.parse(run.stdout) as CorrelateCommandResult
  const step = out.steps[0]!
  return {first: step.candidates[0]?.reason ?? step.note, ms, read: out.changesRead.git}
}

if (args.includes('--regen') || !existsSync(join(repo, '.git'))) {
  const started = performance.now()
  await build()
  console.log(
    `built ${count.toLocaleString('en-US')} commits with git fast-import in ${((performance.now() - started) / 1000).toFixed(1)} s → ${repo}`,
  )
}
const ntpDay = new Date((START + NTP_AT * 3600 + 86_400) * 1000).toISOString().slice(0, 10)
const cases = [
  {date: isoOf(count - 48).slice(0, 10), what: 'near HEAD'},
  {date: ntpDay, what: `the ntp install (${Math.round((NTP_AT / count) * 100)}% into the history)`},
  {date: isoOf(200).slice(0, 10), what: 'near the first commit (walks all of it)'},
]
for (const c of cases) {
  const t = timeCli(c.date)
  console.log(
    `${c.what.padEnd(45)} --date ${c.date}: ${(t.ms / 1000).toFixed(2)} s, ${t.read} commits in window; top: ${t.first}`,
  )
  if (c.date === ntpDay && !t.first?.startsWith('ntp installed'))
    throw new Error(`the ntp install is not first for ${c.date}: ${t.first}`)
}
