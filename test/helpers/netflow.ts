/**
 * NetFlow made for real: Debian's softflowd reads a capture and exports it over loopback to Debian's
 * nfcapd, which this helper starts on a free port of 127.0.0.1, in the foreground, and stops itself
 * (SIGTERM makes it flush and rename its file). Both processes are bounded in time.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {createSocket} from 'node:dgram'
import {mkdirSync, readdirSync} from 'node:fs'
import {join} from 'node:path'

import {requireTools} from './tools.js'

/** A UDP port of 127.0.0.1 nothing is bound to now. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  const {port} = socket.address()
  await new Promise<void>((resolve) => socket.close(() => resolve()))
  return port
}

function exited(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve(code ?? -1)
    })
  })
}

export type ExportVersion = 5 | 9 | 10

/** Exports `pcap` as NetFlow v5, v9 or IPFIX (10) through softflowd to a fresh nfcapd; returns nfcapd's files. */
export async function collectNetflow(
  pcap: string,
  dir: string,
  version: ExportVersion,
  options: {sampling?: number} = {},
): Promise<string[]> {
  requireTools('softflowd', 'nfcapd', 'nfdump')
  mkdirSync(dir, {recursive: true})
  const port = await freeUdpPort()
  const collector = spawn('nfcapd', ['-w', dir, '-b', '127.0.0.1', '-p', String(port), '-t', '3600'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const collectorExit = exited(collector, 60_000)
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nfcapd did not start: ${output}`)), 15_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('Startup')) {
        clearTimeout(timer)
        resolve()
      }
    }
    collector.stdout.on('data', onData)
    collector.stderr.on('data', onData)
  })
  try {
    // -c none: 1.1.0 blocks on its control socket in file mode without it; -a / -A milli: pcap times (research §2.3).
    const times = version === 10 ? ['-A', 'milli'] : ['-a']
    const sampling = options.sampling ? ['-s', String(options.sampling)] : []
    const exporter = spawn(
      'softflowd',
      [
        '-r',
        pcap,
        '-n',
        `127.0.0.1:${port}`,
        '-v',
        String(version),
        ...times,
        ...sampling,
        '-c',
        'none',
        '-p',
        join(dir, 'softflowd.pid'),
        '-d',
      ],
      {stdio: 'ignore'},
    )
    const code = await exited(exporter, 30_000)
    if (code !== 0) throw new Error(`softflowd exited with ${code}`)
    // Give nfcapd a moment to take the last datagrams off the socket before it flushes.
    await new Promise((resolve) => setTimeout(resolve, 300))
  } finally {
    collector.kill('SIGTERM')
    await collectorExit
  }
  return readdirSync(dir)
    .filter((name) => /^nfcapd\.\d+$/.test(name))
    .map((name) => join(dir, name))
}
