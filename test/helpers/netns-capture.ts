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
import {existsSync, statSync} from 'node:fs'

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

/** Runs `script` (Node.js source) in a fresh namespace while tcpdump writes what its loopback carries to `file`. */
export async function captureInNamespace(file: string, options: NamespaceOptions, script: string): Promise<string> {
  requireTools('ip', 'tcpdump')
  requireRoot('create a network namespace and capture on its loopback')
  const name = `bw-${randomBytes(4).toString('hex')}`
  ip('netns', 'add', name)
  try {
    ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up', 'mtu', String(options.mtu))
    for (const address of options.addresses ?? []) ip('netns', 'exec', name, 'ip', 'addr', 'add', address, 'dev', 'lo')
    // -Z root: tcpdump would otherwise drop to its own user, who cannot write in a test's private folder;
    // --immediate-mode: packets reach the file at once, not when the kernel's buffer block times out.
    const tcpdump = spawn(
      'ip',
      ['netns', 'exec', name, 'tcpdump', '-i', 'lo', '--immediate-mode', '-U', '-Z', 'root', '-w', file],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    )
    let stderr = ''
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
      tcpdump.on('exit', () => reject(new Error(`tcpdump exited before listening: ${stderr}`)))
    })
    const run = spawnSync('ip', ['netns', 'exec', name, process.execPath, '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    if (run.status !== 0) throw new Error(`the script in the namespace failed: ${run.stderr.trim()}`)
    // Let tcpdump write the last packets before it stops.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const stopped = new Promise((resolve) => tcpdump.on('exit', resolve))
    tcpdump.kill('SIGINT')
    await stopped
  } finally {
    ip('netns', 'del', name)
  }
  if (!existsSync(file) || statSync(file).size <= 24) throw new Error(`tcpdump wrote no packets to ${file}`)
  return file
}
