/**
 * The one launcher of real NTP servers for the test suite: chronyd (Debian package) and ntpsec's ntpd
 * (unpacked at .cache/ntpsec). Every daemon runs from a temp dir, never touches the system clock,
 * is killed by `stop()`, by process exit, and (via `setpriv --pdeathsig`) when the test process dies.
 *
 *   const server = await startChronyd({extraConfig: ['ratelimit interval 1 burst 4']})
 *   // server.address = '127.0.0.1', server.port = a free port; answers at once, stratum 7, refid 7F7F0101
 *   await server.stop()
 *
 *   const ntpsec = await startNtpsec({config: ['restrict default kod limited nomodify noquery']})
 *   // ntpsec.address = a fresh 127.0.2.x on lo, port 123; unsynchronised, so it answers KoD INIT
 *   const synced = await startNtpsec({serveTime: true, config: ['restrict default nomodify']})
 *   // synced answers real time (stratum 4, LI 0) after ~7 s
 *
 * Facts behind the design (ntpsec 1.2.2, chrony 4.3, see research/ntp.md §8):
 * - ntpsec listens on port 123 only and binds wildcard sockets unless told `interface ignore wildcard`;
 *   with the `interface` rules below each instance binds just its own address, so several run at once.
 *   It only binds addresses configured on an interface, hence `ip addr add 127.0.2.x/32 dev lo`.
 * - ntpsec has no local clock: unsynchronised it answers every client with KoD INIT (LI 3, stratum 0).
 *   To serve real time it needs an upstream, but it rejects loopback upstreams other than 127.0.0.1
 *   ("attempt to configure invalid address") and sends only from an address it listens on. So the
 *   upstream is a chronyd in a network namespace this helper creates, reached over a veth pair in
 *   198.18.0.0/15 (the benchmarking range): only the test's own namespace is touched.
 * - ntpsec would adjust the kernel clock; it runs without CAP_SYS_TIME (setpriv), so it cannot.
 * - chronyd 4.3 never sends KoD (its `ratelimit` only drops); ntpsec `restrict … limited kod` does.
 * - A client on this host reaches 127.0.2.x *from* 127.0.2.x (the kernel picks the local destination as
 *   source). ntpsec keeps an interface entry for its own address, so mode 6 answers only with an explicit
 *   `restrict 127.0.0.0 mask 255.0.0.0 nomodify` (add `noquery` to refuse); its limiter keys on that IP too.
 */
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import dgram from 'node:dgram'
import {randomBytes, randomInt} from 'node:crypto'
import {closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {isIPv6} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {type NtpHeader, decodeNtp, encodeClientRequest, timestampsEqual} from '../../src/ntp/packet.js'
import {ROOT} from './cli.js'
import {requireRoot, requireTools} from './tools.js'

export const NTPSEC_NTPD = join(ROOT, '.cache/ntpsec/usr/sbin/ntpd')

export interface NtpDaemon {
  /** Where clients send: an IPv4/IPv6 loopback literal. */
  address: string
  port: number
  /** The daemon's log (chronyd stderr, ntpd -l); read it in assertions or when a test fails. */
  logFile: string
  pid: number
  /** Kills the daemon and undoes everything it set up. Safe to call twice. */
  stop(): Promise<void>
}

export interface ChronydOptions {
  /** Default 127.0.0.1; '::1' for IPv6. Any 127.x works without adding it to lo. */
  address?: string
  /** Default: a free UDP port on `address`. */
  port?: number
  /** `local stratum N`; default 7. */
  stratum?: number
  /** `allow` subnets; default ['all'] (the daemon is bound to loopback anyway). */
  allow?: string[]
  /** More chrony.conf lines, e.g. 'ratelimit interval 1 burst 4 leak 2'. */
  extraConfig?: string[]
  /**
   * Send one request and wait for its answer before returning (default true). Readiness of the socket is always
   * awaited.
   */
  waitForAnswer?: boolean
}

export interface NtpsecOptions {
  /** A 127.x address not yet on lo; default: a random free 127.0.2.x. Added to lo, removed in stop(). */
  address?: string
  /** ntp.conf lines after the interface rules: `restrict …`, `limit …`. */
  config?: string[]
  /** Sync from a chronyd upstream so the server answers real time (LI 0, stratum 4) instead of KoD INIT. */
  serveTime?: boolean
  /**
   * Send one request and wait for any answer (KoD INIT counts) before returning. Default false, so rate-limit tests
   * start with a clean score.
   */
  waitForAnswer?: boolean
  /** Bound on start-up, sync included; default 30 s. */
  readyTimeoutMs?: number
}

type Cleanup = () => void
const liveCleanups = new Set<Cleanup>()
process.once('exit', () => {
  for (const cleanup of liveCleanups) cleanup()
})

/** A UDP port that was free a moment ago on `address`. */
export async function freeUdpPort(address = '127.0.0.1'): Promise<number> {
  const socket = dgram.createSocket(isIPv6(address) ? 'udp6' : 'udp4')
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(0, address, resolve)
  })
  const {port} = socket.address()
  await new Promise<void>((resolve) => socket.close(() => resolve()))
  return port
}

/** Starts chronyd (`-x`: never touches the clock) serving `local stratum N` on address:port. */
export async function startChronyd(options: ChronydOptions = {}): Promise<NtpDaemon> {
  requireTools('chronyd', 'setpriv')
  requireRoot('run chronyd as root without touching the clock (-x -u root)')
  const address = options.address ?? '127.0.0.1'
  const port = options.port ?? (await freeUdpPort(address))
  return launchChronyd({...options, address, port})
}

async function launchChronyd(
  options: ChronydOptions & {address: string; port: number; netns?: string},
): Promise<NtpDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'billwatch-chronyd-'))
  const conf = join(dir, 'chrony.conf')
  const logFile = join(dir, 'chronyd.log')
  writeFileSync(
    conf,
    [
      `port ${options.port}`,
      `bindaddress ${options.address}`,
      'cmdport 0',
      'bindcmdaddress /', // no Unix command socket either: instances must not collide on /run/chrony
      `local stratum ${options.stratum ?? 7}`,
      ...(options.allow ?? ['all']).map((subnet) => `allow ${subnet}`),
      `pidfile ${join(dir, 'chronyd.pid')}`,
      ...(options.extraConfig ?? []),
      '',
    ].join('\n'),
  )
  const command = ['setpriv', '--pdeathsig', 'KILL', 'chronyd', '-x', '-d', '-u', 'root', '-f', conf]
  const child = spawnLogged(options.netns ? ['ip', 'netns', 'exec', options.netns, ...command] : command, logFile)
  const daemon = track(child, {address: options.address, port: options.port, logFile, dir})
  try {
    await waitForSocket(child, options.address, options.port, logFile, 10_000)
    if (options.waitForAnswer ?? true) await waitForReply(daemon, () => true, 10_000, 200)
  } catch (error) {
    await daemon.stop()
    throw error
  }
  return daemon
}

/** Starts ntpsec's ntpd on its own 127.0.2.x:123 with the given restrict/limit lines. */
export async function startNtpsec(options: NtpsecOptions = {}): Promise<NtpDaemon> {
  requireTools(NTPSEC_NTPD, 'setpriv', 'ip', ...(options.serveTime ? ['chronyd'] : []))
  requireRoot('add its own 127.0.2.x address to lo for ntpd')
  const address = claimLoopbackAddress(options.address)
  const dir = mkdtempSync(join(tmpdir(), 'billwatch-ntpsec-'))
  const logFile = join(dir, 'ntpd.log')
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000
  const undo: Cleanup[] = [() => ip(['addr', 'del', `${address}/32`, 'dev', 'lo'])]
  const lines = [
    // Last matching rule wins: ignore everything, then listen on our address only.
    'interface ignore wildcard',
    'interface ignore ipv6',
    'interface ignore ipv4',
    `interface listen ${address}`,
    `statsdir ${dir}/`,
  ]
  let upstream: NtpDaemon | undefined
  let child: ChildProcess
  try {
    if (options.serveTime) {
      const link = createUpstreamLink()
      undo.unshift(link.remove)
      upstream = await launchChronyd({
        address: link.upstreamAddress,
        port: 123,
        stratum: 3,
        allow: [link.subnet],
        netns: link.netns,
      })
      lines.push(
        `interface listen ${link.localAddress}`,
        'tos minsane 1 minclock 1',
        `server ${link.upstreamAddress} iburst minpoll 4 maxpoll 4`,
        `restrict ${link.upstreamAddress}`,
      )
    }
    lines.push(...(options.config ?? []), '')
    const conf = join(dir, 'ntp.conf')
    writeFileSync(conf, lines.join('\n'))
    // No CAP_SYS_TIME: ntpd's loop filter gets EPERM instead of steering the host's clock.
    child = spawnLogged(
      [
        'setpriv',
        '--pdeathsig',
        'KILL',
        '--bounding-set',
        '-sys_time',
        NTPSEC_NTPD,
        '-n',
        '-c',
        conf,
        '-p',
        join(dir, 'ntpd.pid'),
        '-l',
        logFile,
      ],
      join(dir, 'ntpd.stderr'),
    )
  } catch (error) {
    await upstream?.stop()
    for (const step of undo) step()
    rmSync(dir, {force: true, recursive: true})
    throw error
  }
  const daemon = track(child, {address, port: 123, logFile, dir, upstream, undo})
  try {
    await waitForSocket(child, address, 123, logFile, readyTimeoutMs)
    if (options.serveTime) {
      await waitForReply(
        daemon,
        (reply) => reply.leap !== 3 && reply.stratum >= 1 && reply.stratum <= 15,
        readyTimeoutMs,
        1000,
      )
    } else if (options.waitForAnswer) {
      await waitForReply(daemon, () => true, readyTimeoutMs, 500)
    }
  } catch (error) {
    await daemon.stop()
    throw error
  }
  return daemon
}

/**
 * One SNTP request from a fresh socket; the decoded reply whose origin matches, or undefined on
 * timeout. For readiness checks only — the product's client is src/probe.
 */
export async function queryOnce(address: string, port: number, timeoutMs = 1000): Promise<NtpHeader | undefined> {
  const socket = dgram.createSocket(isIPv6(address) ? 'udp6' : 'udp4')
  const nonce = {seconds: randomBytes(4).readUInt32BE(0), fraction: randomBytes(4).readUInt32BE(0)}
  try {
    return await new Promise<NtpHeader | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs)
      socket.on('error', () => undefined) // ICMP port unreachable before the daemon binds: keep waiting
      socket.on('message', (message) => {
        const reply = decodeNtp(message)
        if (reply?.mode === 4 && timestampsEqual(reply.originTime, nonce)) {
          clearTimeout(timer)
          resolve(reply)
        }
      })
      socket.send(encodeClientRequest(nonce), port, address)
    })
  } finally {
    socket.close()
  }
}

// ---------------------------------------------------------------------------------------------

/** Adds a /32 to lo; `ip addr add` fails if it exists, which makes the claim atomic across test workers. */
function claimLoopbackAddress(wanted?: string): string {
  for (let attempt = 0; attempt < 50; attempt++) {
    const address = wanted ?? `127.0.2.${randomInt(2, 255)}`
    const result = spawnSync('ip', ['addr', 'add', `${address}/32`, 'dev', 'lo'], {encoding: 'utf8'})
    if (result.status === 0) return address
    if (wanted) throw new Error(`ntp-daemons: cannot add ${address}/32 to lo: ${result.stderr.trim()}`)
  }
  throw new Error('ntp-daemons: no free 127.0.2.x address on lo')
}

interface UpstreamLink {
  netns: string
  subnet: string
  localAddress: string
  upstreamAddress: string
  remove: Cleanup
}

/** A network namespace joined to ours by a veth pair on a random 198.18.x.y/30. */
function createUpstreamLink(): UpstreamLink {
  const id = randomBytes(3).toString('hex')
  const netns = `bw-ntp-${id}`
  const local = `bwn${id}a`
  const remote = `bwn${id}b`
  const block = randomInt(0, 2 ** 15) * 4 // 198.18.0.0/15 holds 2^15 /30 blocks
  const base = (198 << 24) | (18 << 16)
  const quad = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
  const localAddress = quad(base + block + 1)
  const upstreamAddress = quad(base + block + 2)
  const remove = () => {
    ip(['netns', 'del', netns])
    ip(['link', 'del', local]) // normally gone with the namespace; harmless if so
  }
  try {
    ipOrThrow(['netns', 'add', netns])
    ipOrThrow(['link', 'add', local, 'type', 'veth', 'peer', 'name', remote, 'netns', netns])
    ipOrThrow(['addr', 'add', `${localAddress}/30`, 'dev', local])
    ipOrThrow(['link', 'set', local, 'up'])
    ipOrThrow(['-n', netns, 'addr', 'add', `${upstreamAddress}/30`, 'dev', remote])
    ipOrThrow(['-n', netns, 'link', 'set', remote, 'up'])
    ipOrThrow(['-n', netns, 'link', 'set', 'lo', 'up'])
  } catch (error) {
    remove()
    throw error
  }
  return {netns, subnet: `${quad(base + block)}/30`, localAddress, upstreamAddress, remove}
}

function ip(args: string[]): void {
  spawnSync('ip', args, {stdio: 'ignore'})
}

function ipOrThrow(args: string[]): void {
  const result = spawnSync('ip', args, {encoding: 'utf8'})
  if (result.status !== 0) throw new Error(`ntp-daemons: ip ${args.join(' ')}: ${result.stderr.trim()}`)
}

function spawnLogged(command: string[], outputFile: string): ChildProcess {
  const fd = openSync(outputFile, 'a')
  try {
    return spawn(command[0]!, command.slice(1), {stdio: ['ignore', fd, fd]})
  } finally {
    closeSync(fd)
  }
}

function track(
  child: ChildProcess,
  info: {
    address: string
    port: number
    logFile: string
    dir: string
    upstream?: NtpDaemon | undefined
    undo?: Cleanup[]
  },
): NtpDaemon {
  let stopped: Promise<void> | undefined
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
  // At process exit only synchronous work runs: kill, then undo addresses and namespaces.
  const atExit: Cleanup = () => {
    child.kill('SIGKILL')
    for (const step of info.undo ?? []) step()
  }
  liveCleanups.add(atExit)
  return {
    address: info.address,
    port: info.port,
    logFile: info.logFile,
    pid: child.pid ?? -1,
    stop() {
      stopped ??= (async () => {
        child.kill('SIGTERM')
        const killer = setTimeout(() => child.kill('SIGKILL'), 3000)
        await exited
        clearTimeout(killer)
        await info.upstream?.stop()
        for (const step of info.undo ?? []) step()
        liveCleanups.delete(atExit)
        rmSync(info.dir, {force: true, recursive: true})
      })()
      return stopped
    },
  }
}

/** Waits until the daemon's own network namespace shows a UDP socket bound to address:port. */
async function waitForSocket(
  child: ChildProcess,
  address: string,
  port: number,
  logFile: string,
  timeoutMs: number,
): Promise<void> {
  const wanted = procNetAddress(address, port)
  const table = isIPv6(address) ? 'udp6' : 'udp'
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break
    const path = `/proc/${child.pid}/net/${table}`
    if (existsSync(path) && readFileSync(path, 'utf8').includes(` ${wanted} `)) return
    await sleep(50)
  }
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n') : ''
  throw new Error(
    `ntp-daemons: nothing listening on ${address}:${port} after ${timeoutMs} ms (exit ${child.exitCode ?? child.signalCode ?? 'none'})\n${log}`,
  )
}

async function waitForReply(
  daemon: NtpDaemon,
  accept: (reply: NtpHeader) => boolean,
  timeoutMs: number,
  spacingMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: NtpHeader | undefined
  while (Date.now() < deadline) {
    last = await queryOnce(daemon.address, daemon.port, Math.min(1000, spacingMs * 2))
    if (last && accept(last)) return
    await sleep(spacingMs)
  }
  throw new Error(
    `ntp-daemons: ${daemon.address}:${daemon.port} not ready after ${timeoutMs} ms (last reply: ${last ? `LI ${last.leap} stratum ${last.stratum}` : 'none'}); log ${daemon.logFile}`,
  )
}

/** /proc/net/udp spells an address as 32-bit words in host (little-endian) order: 127.0.0.1:123 -> 0100007F:007B. */
function procNetAddress(address: string, port: number): string {
  const bytes = isIPv6(address) ? ipv6Bytes(address) : address.split('.').map(Number)
  let hex = ''
  for (let word = 0; word < bytes.length; word += 4) {
    hex += bytes
      .slice(word, word + 4)
      .reverse()
      .map((b) => b.toString(16).padStart(2, '0'))
      .join('')
  }
  return `${hex}:${port.toString(16).padStart(4, '0')}`.toUpperCase()
}

function ipv6Bytes(address: string): number[] {
  const [head, tail] = address.split('::') as [string, string | undefined]
  const words = (part: string | undefined) => (part ? part.split(':').map((w) => Number.parseInt(w, 16)) : [])
  const high = words(head)
  const low = words(tail)
  const all = [...high, ...new Array<number>(8 - high.length - low.length).fill(0), ...low]
  return all.flatMap((w) => [w >> 8, w & 255])
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
