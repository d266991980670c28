/**
 * Reads what etckeeper writes into commit messages (etckeeper 1.18 pre-install.d/50uncommitted-changes,
 * post-install.d/50vcs-commit, daily):
 *   saving uncommitted changes in /etc prior to apt run
 *   committing changes in /etc made by "apt-get install ntp"      (or: … after dnf run)
 *   daily autocommit
 * and the body its post-install hook writes: "Packages with configuration changes:" and "Package changes:",
 * each a `diff -U0` of `etckeeper list-installed` before and after the run. That list is, per low-level
 * package manager: dpkg `name version arch` (fmt 2; older etckeeper: `name version`), rpm
 * `epoch:name-version-release.arch`, pacman `name version`.
 */
import type {ChangeKind, PackageAction, PackageChange} from './types.js'

export interface MessageDescription {
  kind: ChangeKind
  manager: null | string
  command: null | string
  packages: PackageChange[]
}

const PRE_INSTALL = /^saving uncommitted changes in \S+ prior to (\S+) run$/
const POST_INSTALL_AFTER = /^committing changes in \S+ after (\S+) run$/
const POST_INSTALL_BY = /^committing changes in \S+ made by "(.*)"$/
const DAILY = /^daily autocommit$/

export function describeMessage(subject: string, body: string): MessageDescription {
  const line = subject.trim()
  let kind: ChangeKind = 'manual'
  let manager: null | string = null
  let command: null | string = null
  let match: null | RegExpExecArray
  if ((match = PRE_INSTALL.exec(line))) {
    kind = 'pre-install'
    manager = match[1] ?? null
  } else if ((match = POST_INSTALL_AFTER.exec(line))) {
    kind = 'package-manager'
    manager = match[1] ?? null
  } else if ((match = POST_INSTALL_BY.exec(line))) {
    kind = 'package-manager'
    command = match[1] ?? null
  } else if (DAILY.test(line)) {
    kind = 'daily-autocommit'
  }
  let packages = parsePackageChanges(body)
  if (command !== null) {
    const fromCommand = parseCommandLine(command)
    manager = fromCommand.manager ?? manager
    if (packages.length === 0) packages = fromCommand.packages
  }
  return {command, kind, manager, packages}
}

/**
 * The package list of an etckeeper body: "Package changes:" (all changes), else "Packages with configuration changes:".
 */
export function parsePackageChanges(body: string): PackageChange[] {
  const sections = new Map<string, string[]>()
  let current: null | string[] = null
  for (const raw of body.split('\n')) {
    const line = raw.trimEnd()
    if (/^Package(?:s with configuration)? changes:$/.test(line)) {
      current = []
      sections.set(line, current)
    } else if (current && /^[-+]\S/.test(line)) {
      current.push(line)
    } else if (line === '') {
      current = null
    }
  }
  const lines = sections.get('Package changes:') ?? sections.get('Packages with configuration changes:') ?? []
  return pairChanges(lines.map((l) => parseListedPackage(l)).filter((p): p is ListedPackage => p !== undefined))
}

interface ListedPackage {
  sign: '+' | '-'
  name: string
  version: string
}

const RPM_ARCHES = new Set([
  'aarch64',
  'armv7hl',
  'i386',
  'i586',
  'i686',
  'noarch',
  'ppc64le',
  's390x',
  'src',
  'x86_64',
])

/** One `+pkg version [arch]` (dpkg, pacman) or `+epoch:name-version-release.arch` (rpm) line. */
export function parseListedPackage(line: string): ListedPackage | undefined {
  const sign = line[0]
  if (sign !== '+' && sign !== '-') return undefined
  const text = line.slice(1).trim()
  const rpm = /^(\d+|\(none\)):(\S+)-([^-\s]+)-([^-\s]+)$/.exec(text)
  if (rpm) {
    const [, epoch, name = '', version = '', releaseArch = ''] = rpm
    const dot = releaseArch.lastIndexOf('.')
    const release = dot > 0 && RPM_ARCHES.has(releaseArch.slice(dot + 1)) ? releaseArch.slice(0, dot) : releaseArch
    const prefix = epoch === '0' || epoch === '(none)' ? '' : `${epoch}:`
    return {name, sign, version: `${prefix}${version}-${release}`}
  }
  const listed = /^(\S+)\s+(\S+)(?:\s+\S+)?$/.exec(text)
  if (!listed) return undefined
  return {name: listed[1] ?? '', sign, version: listed[2] ?? ''}
}

/** `-old` and `+new` of the same name are one upgrade (or downgrade); the rest installs or removals. */
function pairChanges(listed: ListedPackage[]): PackageChange[] {
  const removed = new Map<string, string>()
  const added = new Map<string, string>()
  for (const p of listed) (p.sign === '+' ? added : removed).set(p.name, p.version)
  const changes: PackageChange[] = []
  for (const [name, version] of added) {
    const from = removed.get(name)
    changes.push(
      from === undefined ? {action: 'install', name, version} : {action: 'upgrade', fromVersion: from, name, version},
    )
  }
  for (const [name, version] of removed) if (!added.has(name)) changes.push({action: 'remove', name, version})
  return changes
}

const MANAGERS: Record<string, string> = {
  apk: 'apk',
  apt: 'apt',
  'apt-get': 'apt',
  aptitude: 'apt',
  dnf: 'dnf',
  dnf5: 'dnf',
  dpkg: 'dpkg',
  microdnf: 'dnf',
  pacman: 'pacman',
  paru: 'pacman',
  'unattended-upgr': 'apt',
  'unattended-upgrade': 'apt',
  'unattended-upgrades': 'apt',
  'xbps-install': 'xbps',
  'xbps-remove': 'xbps',
  yay: 'pacman',
  yum: 'yum',
  zypper: 'zypper',
}

const VERBS: Record<string, PackageAction> = {
  add: 'install',
  autoremove: 'remove',
  del: 'remove',
  erase: 'remove',
  in: 'install',
  install: 'install',
  localinstall: 'install',
  purge: 'purge',
  reinstall: 'reinstall',
  remove: 'remove',
  rm: 'remove',
  uninstall: 'remove',
  'dist-upgrade': 'upgrade',
  'full-upgrade': 'upgrade',
  update: 'upgrade',
  upgrade: 'upgrade',
  up: 'upgrade',
}

/**
 * The package manager and packages a command line names: `apt-get install -y ntp`,
 * `/usr/bin/python3 /usr/bin/dnf install ntp`, `pacman -S ntp`, `dpkg -i ntp_4.2_amd64.deb`.
 * Versions are unknown here (null).
 */
export function parseCommandLine(command: string): {manager: null | string; packages: PackageChange[]} {
  const tokens = command
    .split(/\s+/)
    .filter(Boolean)
    .map((t) => t.replace(/^["']|["']$/g, ''))
  const at = tokens.findIndex((t) => MANAGERS[basename(t)] !== undefined)
  if (at < 0) return {manager: null, packages: []}
  const program = basename(tokens[at] ?? '')
  const manager = MANAGERS[program] ?? null
  const rest = tokens.slice(at + 1)
  let action: PackageAction | undefined
  const names: string[] = []
  for (const token of rest) {
    if (token.startsWith('-')) {
      if (manager === 'pacman' || manager === 'dpkg') action ??= flagAction(manager, token)
      continue
    }
    if (action === undefined && manager !== 'pacman' && manager !== 'dpkg') {
      action = VERBS[token]
      if (action === undefined) break
      continue
    }
    names.push(packageName(token))
  }
  if (action === undefined) return {manager, packages: []}
  return {manager, packages: names.filter(Boolean).map((name) => ({action: action, name, version: null}))}
}

function flagAction(manager: string, flag: string): PackageAction | undefined {
  if (manager === 'dpkg') {
    if (flag === '-i' || flag === '--install') return 'install'
    if (flag === '-r' || flag === '--remove') return 'remove'
    if (flag === '-P' || flag === '--purge') return 'purge'
    return undefined
  }
  if (flag.startsWith('-S')) return 'install'
  if (flag.startsWith('-U')) return 'install'
  if (flag.startsWith('-R')) return 'remove'
  return undefined
}

/** `ntp=1:4.2.6`, `ntp:amd64`, `./ntp_4.2.6_amd64.deb`, `ntp-4.2.6-1.x86_64.rpm` → `ntp`. */
function packageName(token: string): string {
  const file = basename(token)
  if (file.endsWith('.deb')) return file.split('_')[0] ?? ''
  if (file.endsWith('.rpm')) return file.replace(/-[^-]+-[^-]+\.rpm$/, '')
  if (/\.pkg\.tar\.\w+$/.test(file)) return file.replace(/-[^-]+-[^-]+-[^-]+\.pkg\.tar\.\w+$/, '')
  return file.split(/[=:]/)[0] ?? ''
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}
