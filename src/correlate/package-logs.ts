/**
 * Package-manager logs as changes: apt's /var/log/apt/history.log and dpkg's /var/log/dpkg.log, plain,
 * gzip-compressed, and rotated (history.log.1, history.log.2.gz …). Both record local wall-clock time
 * without an offset, so the caller names the machine's time zone (default: the root's /etc/timezone, else UTC).
 */
import {existsSync, readdirSync, readlinkSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'

import {BillwatchError} from '../errors.js'
import {readInputFile, SIDE_INPUT_MAX_BYTES} from '../util/files.js'
import {parseCommandLine} from './etckeeper.js'
import {isoSeconds} from './time.js'
import type {Change, PackageAction, PackageChange} from './types.js'

export interface LogFiles {
  apt: string[]
  dpkg: string[]
}

/** The apt and dpkg logs under a root directory (a mounted disk or a copied /), oldest rotation first. */
export function findLogs(root: string): LogFiles {
  return {
    apt: rotated(join(root, 'var/log/apt'), 'history.log'),
    dpkg: rotated(join(root, 'var/log'), 'dpkg.log'),
  }
}

/** `name`, `name.1`, `name.2.gz` … ordered oldest (highest number) first. */
export function rotated(dir: string, name: string): string[] {
  if (!existsSync(dir)) return []
  const pattern = new RegExp(`^${name.replace(/\./g, '\\.')}(?:\\.(\\d+))?(?:\\.gz)?$`)
  return readdirSync(dir)
    .map((file) => ({file, match: pattern.exec(file)}))
    .filter((f) => f.match !== null)
    .map((f) => ({n: f.match?.[1] === undefined ? 0 : Number(f.match[1]), path: join(dir, f.file)}))
    .sort((a, b) => b.n - a.n)
    .map((f) => f.path)
}

/** The machine's zone from `ROOT/etc/timezone` or the `ROOT/etc/localtime` symlink; UTC when neither says. */
export function zoneOfRoot(root: string): string {
  const timezone = join(root, 'etc/timezone')
  if (existsSync(timezone)) {
    const zone = readInputFile(timezone, {expected: 'a time zone name', maxBytes: SIDE_INPUT_MAX_BYTES.timezone})
      .toString('utf8')
      .trim()
      .split('\n')[0]
      ?.trim()
    if (zone) return checkZone(zone, timezone)
  }
  try {
    const target = readlinkSync(join(root, 'etc/localtime'))
    const at = target.indexOf('zoneinfo/')
    if (at >= 0) return checkZone(target.slice(at + 'zoneinfo/'.length), join(root, 'etc/localtime'))
  } catch {
    // not a symlink, or absent: UTC, as on cloud images
  }
  return 'UTC'
}

/** Accepts `UTC`, `+02:00`, `-0500` or an IANA name such as `Europe/Berlin`. */
export function checkZone(zone: string, file?: string): string {
  if (/^(?:UTC|Z|[+-]\d{2}:?\d{2})$/.test(zone)) return zone
  try {
    new Intl.DateTimeFormat('en-US', {timeZone: zone})
    return zone
  } catch {
    throw new BillwatchError('E_VALUE', 'unknown time zone', {
      expected: 'UTC, an offset like +02:00, or an IANA name like Europe/Berlin',
      got: zone,
      ...(file === undefined ? {field: '--log-tz'} : {file}),
    })
  }
}

/** Wall-clock `YYYY-MM-DD HH:MM:SS` in `zone` → epoch ms. */
export function localToUtc(date: string, time: string, zone: string): number {
  const [y, mo, d] = date.split('-').map(Number)
  const [h, mi, s] = time.split(':').map(Number)
  const wall = Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 1, h ?? 0, mi ?? 0, s ?? 0)
  const fixed = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)
  if (zone === 'UTC' || zone === 'Z') return wall
  if (fixed) return wall - (fixed[1] === '-' ? -1 : 1) * (Number(fixed[2]) * 60 + Number(fixed[3])) * 60_000
  // An IANA zone: the offset at the guess, corrected once for a DST boundary in between.
  const first = wall - zoneOffsetMs(wall, zone)
  const second = wall - zoneOffsetMs(first, zone)
  return second
}

function zoneOffsetMs(ms: number, zone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    day: 'numeric',
    hour: 'numeric',
    hourCycle: 'h23',
    minute: 'numeric',
    month: 'numeric',
    second: 'numeric',
    timeZone: zone,
    year: 'numeric',
  }).formatToParts(new Date(ms))
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0)
  return (
    Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) -
    Math.floor(ms / 1000) * 1000
  )
}

/** A log's text; `.gz` (or any gzip magic) is inflated. */
export function readLogText(file: string): string {
  const limit = SIDE_INPUT_MAX_BYTES.log
  const bytes = readInputFile(file, {expected: 'an apt history.log or dpkg.log (plain or .gz)', maxBytes: limit})
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes.toString('utf8')
  try {
    // Bounded: a small .gz can inflate to gigabytes (a gzip bomb).
    return gunzipSync(bytes, {maxOutputLength: limit}).toString('utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new BillwatchError(
        'E_VALUE',
        `inflates to more than ${limit / (1 << 20)} MiB, more than any package log; not read`,
        {file},
      )
    }
    throw new BillwatchError('E_TRUNCATED', 'gzip data is damaged or ends early', {cause: error, file})
  }
}

const APT_LISTS: Record<string, PackageAction> = {
  Downgrade: 'upgrade',
  Install: 'install',
  Purge: 'purge',
  Reinstall: 'reinstall',
  Remove: 'remove',
  Upgrade: 'upgrade',
}

/**
 * apt's history.log: blank-line separated entries of `Start-Date: 2014-03-29  18:41:30`, `Commandline:`,
 * `Install: ntp:amd64 (1:4.2.6.p5+dfsg-3ubuntu2), libopts25:amd64 (1:5.18-2ubuntu2, automatic)`,
 * `Upgrade: tzdata:amd64 (2013g-0ubuntu0.12.04, 2014a-0ubuntu0.12.04)`, `Remove:`/`Purge:`, `End-Date:`.
 */
export function parseAptHistory(text: string, file: string, zone: string): Change[] {
  const changes: Change[] = []
  let entry: {command: null | string; end?: string; line: number; packages: PackageChange[]; start?: string} | undefined
  const finish = () => {
    if (!entry) return
    const stamp = entry.end ?? entry.start
    if (stamp === undefined) {
      throw new BillwatchError('E_FORMAT', 'apt history entry has no Start-Date', {
        field: 'Start-Date',
        file,
        line: entry.line,
      })
    }
    changes.push(
      logChange('apt-history', stamp, `${file}:${entry.line}`, {
        command: entry.command,
        manager: entry.command === null ? 'apt' : (parseCommandLine(entry.command).manager ?? 'apt'),
        packages: entry.packages,
        subject: entry.command ?? `apt run (${describePackages(entry.packages)})`,
      }),
    )
    entry = undefined
  }
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trimEnd()
    if (line === '') {
      finish()
      continue
    }
    const colon = line.indexOf(': ')
    const key = colon > 0 ? line.slice(0, colon) : line.replace(/:$/, '')
    const value = colon > 0 ? line.slice(colon + 2).trim() : ''
    entry ??= {command: null, line: i + 1, packages: []}
    if (key === 'Start-Date' || key === 'End-Date') {
      const stamp = parseStamp(value, zone)
      if (stamp === undefined) {
        throw new BillwatchError('E_VALUE', '', {
          expected: 'a date like 2014-03-29  18:41:30',
          field: key,
          file,
          got: value,
          line: i + 1,
        })
      }
      if (key === 'Start-Date') entry.start = stamp
      else entry.end = stamp
    } else if (key === 'Commandline') {
      entry.command = value
    } else if (APT_LISTS[key] !== undefined) {
      entry.packages.push(...parseAptPackages(value, APT_LISTS[key]))
    }
  }
  finish()
  return changes
}

/** `ntp:amd64 (1:4.2.6), tzdata:amd64 (2013g, 2014a)` → package changes. */
function parseAptPackages(list: string, action: PackageAction): PackageChange[] {
  const out: PackageChange[] = []
  for (const match of list.matchAll(/([^\s,()]+) \(([^)]*)\)/g)) {
    const name = (match[1] ?? '').split(':')[0] ?? ''
    const versions = (match[2] ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v !== 'automatic')
    if (action === 'upgrade' && versions.length >= 2)
      out.push({action, fromVersion: versions[0] ?? '', name, version: versions[1] ?? null})
    else out.push({action, name, version: versions[0] ?? null})
  }
  return out
}

const DPKG_ACTIONS: Record<string, PackageAction> = {
  install: 'install',
  purge: 'purge',
  remove: 'remove',
  upgrade: 'upgrade',
}
/** Lines closer than this belong to one dpkg run. */
const DPKG_RUN_GAP_MS = 5 * 60_000

/**
 * dpkg.log: `2014-03-29 18:41:33 install ntp:amd64 <none> 1:4.2.6.p5+dfsg-3ubuntu2` (also upgrade, remove,
 * purge; status/configure/trigproc/startup lines carry no new facts). Consecutive actions form one run.
 */
export function parseDpkgLog(text: string, file: string, zone: string): Change[] {
  const changes: Change[] = []
  let run: {last: number; line: number; packages: PackageChange[]; stamp: string} | undefined
  const finish = () => {
    if (run && run.packages.length > 0) {
      changes.push(
        logChange('dpkg-log', run.stamp, `${file}:${run.line}`, {
          command: null,
          manager: 'dpkg',
          packages: run.packages,
          subject: `dpkg: ${describePackages(run.packages)}`,
        }),
      )
    }
    run = undefined
  }
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trimEnd()
    if (line === '') continue
    const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) (\S+)(?: (.*))?$/.exec(line)
    if (!match) {
      throw new BillwatchError('E_VALUE', '', {
        expected: "a line starting 'YYYY-MM-DD HH:MM:SS'",
        file,
        got: line,
        line: i + 1,
      })
    }
    const [, date = '', time = '', verb = '', rest = ''] = match
    // "startup archives install" / "startup packages purge": a new dpkg invocation begins.
    if (verb === 'startup') finish()
    const action = DPKG_ACTIONS[verb]
    if (action === undefined) continue
    const ms = localToUtc(date, time, zone)
    if (run && ms - run.last > DPKG_RUN_GAP_MS) finish()
    run ??= {last: ms, line: i + 1, packages: [], stamp: isoSeconds(ms)}
    run.last = ms
    run.stamp = isoSeconds(ms)
    const [pkg = '', before = '', after = ''] = rest.split(' ')
    const name = pkg.split(':')[0] ?? ''
    const old = before === '<none>' ? undefined : before
    const next = after === '<none>' ? undefined : after
    let change: PackageChange
    if (action === 'upgrade' && old !== undefined && old !== next)
      change = {action, fromVersion: old, name, version: next ?? null}
    else if (action === 'remove' || action === 'purge') change = {action, name, version: old ?? null}
    else change = {action: action === 'upgrade' ? 'reinstall' : action, name, version: next ?? null}
    // A purge follows the remove of the same package within one run: keep the last word on each package.
    const at = run.packages.findIndex((p) => p.name === name)
    if (at >= 0) run.packages.splice(at, 1)
    run.packages.push(change)
  }
  finish()
  return changes
}

/** `ntp, libopts25 installed; tzdata upgraded` */
export function describePackages(packages: PackageChange[]): string {
  const verbs: Record<PackageAction, string> = {
    install: 'installed',
    purge: 'purged',
    reinstall: 'reinstalled',
    remove: 'removed',
    upgrade: 'upgraded',
  }
  const byAction = new Map<PackageAction, string[]>()
  for (const p of packages) byAction.set(p.action, [...(byAction.get(p.action) ?? []), p.name])
  return [...byAction].map(([action, names]) => `${shortList(names)} ${verbs[action]}`).join('; ')
}

function shortList(names: string[]): string {
  return names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`
}

function parseStamp(value: string, zone: string): string | undefined {
  const match = /^(\d{4}-\d{2}-\d{2})\s+(\d{2}:\d{2}:\d{2})$/.exec(value)
  if (!match) return undefined
  return isoSeconds(localToUtc(match[1] ?? '', match[2] ?? '', zone))
}

function logChange(
  source: 'apt-history' | 'dpkg-log',
  time: string,
  origin: string,
  fields: {command: null | string; manager: null | string; packages: PackageChange[]; subject: string},
): Change {
  return {
    alsoIn: [],
    author: null,
    authorTime: null,
    commit: null,
    committerTime: null,
    files: [],
    kind: 'package-manager',
    origin,
    parents: [],
    recordedTime: time,
    sameChangeIn: [],
    source,
    time,
    ...fields,
  }
}
