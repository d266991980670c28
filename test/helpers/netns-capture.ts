/**
 * Real traffic the machine's own loopback cannot make (IP fragments: its MTU is 64 KiB), captured by
 * tcpdump inside a network namespace this helper creates and always deletes: its loopback gets a
 * small MTU and the addresses asked for, and nothing outside the namespace is touched.
 *
 * const file = await captureInNamespace(join(dir, 'x.pcap'), {mtu: 1280, addresses: ['127.0.0.53/8', 'fd00::53/128']},
 * `…node script…`)
 */
import {spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, readFileSync, statSync, writeFileSync} from 'node:fs'

import {requireRoot, requireTools} from './tools.js'

export interface NamespaceOptions {
  /** Loopback MTU inside the namespace (IPv6 needs ≥ 1280). */
  mtu: number
  /** Extra addresses for its loopback, with prefix ('fd00::53/128'); 127.0.0.0/8 is there already. */
  addresses?: string[]
}

function ip(...args: string[]): void {
  const result = spawnSync('ip', args, {encoding: 'utf8', timeout: 10_000})
  if (result.status !== 0) throw new Error(`ip ${args.join(' ')}: ${result.stderr.trim()}`)
}

/**
 * The last packet sent into a capture: a datagram from 127.0.0.1 to its own socket, so no ICMP error follows it.
 * Once tcpdump has written it, it has written every packet before it (its buffer is first in, first out).
 */
function endMarker(token: string): string {
  return `
const socket = require('node:dgram').createSocket('udp4')
socket.on('message', () => socket.close())
socket.bind({address: '127.0.0.1', port: 0}, () => socket.send(${JSON.stringify(token)}, socket.address().port, '127.0.0.1'))
`
}

/**
 * Removes the one record whose bytes hold `token` from a pcap file tcpdump wrote (24-byte file header, then
 * 16-byte record headers whose third field is the captured length, in the byte order the magic number shows).
 */
function removeRecord(file: string, token: string): void {
  const data = readFileSync(file)
  const little = data.readUInt32LE(0) === 0xa1b2c3d4 || data.readUInt32LE(0) === 0xa1b23c4d
  const marker = Buffer.from(token)
  for (let offset = 24; offset + 16 <= data.length;) {
    const end = offset + 16 + (little ? data.readUInt32LE(offset + 8) : data.readUInt32BE(offset + 8))
    if (data.subarray(offset + 16, end).includes(marker)) {
      writeFileSync(file, Buffer.concat([data.subarray(0, offset), data.subarray(end)]))
      return
    }
    offset = end
  }
  throw new Error(`the end marker is not a record of ${file}`)
}

/** Runs `script` (Node.js source) in a fresh namespace while tcpdump writes what its loopback carries to `file`. */
export async function captureInNamespace(file: string, options: NamespaceOptions, script: string): Promise<string> {
  requireTools('ip', 'tcpdump')
  requireRoot('create a network namespace and capture on its loopback')
  const name = `bw-${randomBytes(4).toString('hex')}`
  const token = `billwatch-capture-end-${randomBytes(8).toString('hex')}`
  ip('netns', 'add', name)
  let stderr = ''
  // Stops tcpdump and waits for it to exit (in `finally` too, so no tcpdump outlives its namespace).
  let stopTcpdump = (): Promise<void> => Promise.resolve()
  try {
    ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up', 'mtu', String(options.mtu))
    for (const address of options.addresses ?? []) ip('netns', 'exec', name, 'ip', 'addr', 'add', address, 'dev', 'lo')
    // -Z root: tcpdump would otherwise drop to its own user, who cannot write in a test's private folder.
    // No --immediate-mode: that mode gives a ring of whole-packet frames (64 KiB each on lo, whose offloads allow
    // such packets), 16 loopback packets in tcpdump's default 2 MiB (each is seen twice, leaving and arriving), so
    // a burst sent while tcpdump waits for a CPU was dropped by the kernel. Without it the ring packs packets into
    // blocks (about 6,000 small loopback packets); a block reaches tcpdump when full or after 1 s, which the end
    // marker below waits for. -U: each packet is in the file as soon as tcpdump has it.
    const tcpdump = spawn('ip', ['netns', 'exec', name, 'tcpdump', '-i', 'lo', '-U', '-Z', 'root', '-w', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    const closed = new Promise<void>((resolve) => tcpdump.on('close', () => resolve()))
    stopTcpdump = async () => {
      if (tcpdump.exitCode === null && tcpdump.signalCode === null) tcpdump.kill('SIGINT')
      await closed
    }
    // tcpdump says "listening on lo" once its capture is attached.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('tcpdump did not start within 10 s')), 10_000)
      tcpdump.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        if (stderr.includes('listening on')) {
          clearTimeout(timer)
          resolve()
        }
      })
      void closed.then(() => reject(new Error(`tcpdump exited before listening: ${stderr}`)))
    })
    const run = spawnSync('ip', ['netns', 'exec', name, process.execPath, '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    if (run.status !== 0) throw new Error(`the script in the namespace failed: ${run.stderr.trim()}`)
    // Stopping tcpdump (SIGINT) discards what it has not yet read, so it stops only once it has written the marker.
    const marker = spawnSync('ip', ['netns', 'exec', name, process.execPath, '-e', endMarker(token)], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    if (marker.status !== 0) throw new Error(`the end marker could not be sent: ${marker.stderr.trim()}`)
    const waitUntil = Date.now() + 30_000
    while (!readFileSync(file).includes(token)) {
      if (Date.now() > waitUntil) throw new Error(`tcpdump did not write the end marker within 30 s: ${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    await stopTcpdump()
  } finally {
    await stopTcpdump()
    ip('netns', 'del', name)
  }
  // tcpdump's closing counts: a packet the kernel dropped is missing from the file, and the test would be wrong.
  const dropped = /(\d+) packets? dropped by kernel/.exec(stderr)
  if (!dropped) throw new Error(`tcpdump did not print its counts: ${stderr}`)
  if (dropped[1] !== '0') throw new Error(`the kernel dropped ${dropped[1]} packets before tcpdump read them`)
  removeRecord(file, token)
  if (!existsSync(file) || statSync(file).size <= 24) throw new Error(`tcpdump wrote no packets to ${file}`)
  return file
}
