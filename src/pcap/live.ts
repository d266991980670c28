/**
 * A live capture through Debian's tcpdump as a subprocess (`tcpdump -i IF -w - -U`): billwatch reads
 * its output as a stream while it runs, and ends it with SIGINT (what Ctrl-C sends), so tcpdump
 * flushes its last packets and prints its counts before it exits.
 */
import {type ChildProcessByStdio, spawn} from 'node:child_process'
import type {Readable} from 'node:stream'

import {BillwatchError} from '../errors.js'

export interface LiveCapture {
  /** tcpdump's pcap output. */
  output: Readable
  /** Asks tcpdump to stop (SIGINT); its output then ends. */
  stop(): void
  /** tcpdump says it is listening: packets from now on are captured. */
  listening: Promise<void>
  /** tcpdump has exited: what it said about dropped packets. Rejects when it failed before capturing anything. */
  finished: Promise<{droppedByKernel: null | number}>
}

/** A duration as `90` (seconds), `90s`, `10m`, `1.5h` or `500ms`: a capture's length. */
export function parseDuration(text: string, field = '--duration'): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text.trim())
  const units: Record<string, number> = {h: 3600, m: 60, ms: 0.001, s: 1}
  const seconds = match ? Number(match[1]) * units[match[2] ?? 's']! : Number.NaN
  if (!(seconds > 0) || !Number.isFinite(seconds))
    throw new BillwatchError('E_USAGE', `expected a duration such as 30s, 10m or 1h, got "${text}"`, {field})
  return seconds
}

/**
 * Kernel buffer for the capture, in KiB. In immediate mode each packet takes a slot the size of the interface's
 * MTU: tcpdump's default 2 MiB holds 16 packets on loopback (MTU 64 KiB), which a busy machine overflows in a
 * burst; 64 MiB holds about a thousand there and tens of thousands on an Ethernet interface.
 */
const CAPTURE_BUFFER_KIB = 65_536

/**
 * Starts `tcpdump -i IF -w - -U --immediate-mode -B 65536 -n [FILTER]`; tcpdump checks the interface and the filter
 * itself.
 */
export function startLiveCapture(iface: string, filter?: string): LiveCapture {
  const args = ['-i', iface, '-w', '-', '-U', '--immediate-mode', '-B', String(CAPTURE_BUFFER_KIB), '-n']
  if (filter) args.push(filter)
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn('tcpdump', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  let heard: () => void
  const listening = new Promise<void>((resolve) => (heard = resolve))
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (text: string) => {
    // Only the last lines matter (the error, or the closing counts).
    stderr = (stderr + text).slice(-4096)
    if (stderr.includes('listening on')) heard()
  })
  let wroteBytes = 0
  child.stdout.on('data', (chunk: Buffer) => {
    wroteBytes += chunk.length
  })
  const finished = new Promise<{droppedByKernel: null | number}>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new BillwatchError(
              'E_NOT_FOUND',
              'tcpdump is not installed; --interface captures through it (Debian: apt-get install tcpdump)',
              {
                field: '--interface',
              },
            )
          : new BillwatchError('E_NETWORK', `tcpdump could not start: ${error.message}`, {field: '--interface'}),
      )
    })
    child.once('close', (code, signal) => {
      const dropped = /(\d+) packets? dropped by kernel/.exec(stderr)
      const said = stderr
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line && !/^(listening on|\d+ packets?)/.test(line))
      // tcpdump names its error on a line of its own ("tcpdump: eth9: No such device exists").
      const last = said.filter((line) => line.startsWith('tcpdump: ')).at(-1) ?? said.at(-1)
      if (code !== 0 && signal === null && wroteBytes <= 24) {
        reject(
          new BillwatchError('E_NETWORK', `tcpdump failed (exit ${code})${last ? `: ${last}` : ''}`, {
            field: '--interface',
          }),
        )
        return
      }
      resolve({droppedByKernel: dropped ? Number(dropped[1]) : null})
    })
  })
  finished.catch(() => undefined)
  return {
    finished,
    listening,
    output: child.stdout,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
    },
  }
}
