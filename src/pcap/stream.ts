/**
 * A capture read from a stream — stdin (`tcpdump -w - | billwatch pcap -`) or a tcpdump subprocess
 * (`--interface`) — with the same scan as a file. The scan runs in a worker thread that blocks while
 * it waits for data; this thread stays free for the stream's events, the capture's timer, Ctrl-C and
 * the progress line. Bytes pass through a fixed ring in shared memory (nothing allocated per chunk,
 * so memory stays flat however long the stream): this side writes and pauses the stream when the
 * ring is full, the worker reads and waits (Atomics.wait) when it is empty.
 */
import {MessageChannel, type MessagePort} from 'node:worker_threads'
import type {Readable} from 'node:stream'

import {startWorker} from '../util/worker.js'
import {AddressWordsList} from './addresses.js'
import {adoptSpill} from './spill.js'
import type {CaptureAnalysis, LiveStatus} from './analyse.js'

/** How long the host probe waits for a stream's leading packets before it chooses from those it has. */
export const LEADING_WAIT_MS = 2000
/** How often the worker posts its counters (and wakes to check for data). */
export const STATUS_EVERY_MS = 200
/** The ring's bytes (a power of two). */
const RING_BYTES = 8 * 1024 * 1024
/** Control words before the ring: bytes written, bytes read (both modulo 2^32), and 1 once the stream has ended. */
const WRITTEN = 0
const READ = 1
const ENDED = 2
const CONTROL_BYTES = 16

export interface StreamWorkerInput {
  status: MessagePort
  ring: SharedArrayBuffer
  name: string
  options: {host?: string; maxClients?: number; ntpPort?: number; vxlanPort?: number}
}

export interface StreamAnalysis {
  /** The analysis once the stream has ended (or was ended by stop()). */
  result: Promise<CaptureAnalysis>
  /** Ends the capture where it is: what has arrived is analysed. */
  stop(): void
}

/**
 * The reading side of the ring (the worker's): fills `target` with what is there, waiting for data up to `deadline`.
 */
export function ringReader(
  ring: SharedArrayBuffer,
  onIdle: () => void,
): (target: Uint8Array, deadline?: number) => null | number | undefined {
  const control = new Int32Array(ring, 0, CONTROL_BYTES / 4)
  const data = new Uint8Array(ring, CONTROL_BYTES)
  const mask = data.length - 1
  return (target, deadline) => {
    for (;;) {
      const read = Atomics.load(control, READ)
      const written = Atomics.load(control, WRITTEN)
      const available = (written - read) | 0
      if (available > 0) {
        const n = Math.min(available, target.length)
        const at = read & mask
        const first = Math.min(n, data.length - at)
        target.set(data.subarray(at, at + first), 0)
        if (first < n) target.set(data.subarray(0, n - first), first)
        Atomics.store(control, READ, (read + n) | 0)
        Atomics.notify(control, READ)
        return n
      }
      // The writer sets ENDED after its last bytes: look at WRITTEN once more before ending.
      if (Atomics.load(control, ENDED) === 1) {
        if (((Atomics.load(control, WRITTEN) - read) | 0) === 0) return null
        continue
      }
      const wait = deadline === undefined ? STATUS_EVERY_MS : Math.min(STATUS_EVERY_MS, deadline - Date.now())
      if (wait <= 0) return undefined
      onIdle()
      Atomics.wait(control, WRITTEN, written, wait)
    }
  }
}

/** Reads a capture from `input` (pcap or pcapng, plain, gzip or zstd); `name` is what the report calls it. */
export function analyseStream(
  input: Readable,
  name: string,
  options: StreamWorkerInput['options'],
  onStatus?: (status: LiveStatus) => void,
): StreamAnalysis {
  const job = startWorker<StreamWorkerInput, CaptureAnalysis>(import.meta.url, './stream-worker')
  const status = new MessageChannel()
  const ring = new SharedArrayBuffer(CONTROL_BYTES + RING_BYTES)
  const control = new Int32Array(ring, 0, CONTROL_BYTES / 4)
  const data = new Uint8Array(ring, CONTROL_BYTES)
  const mask = data.length - 1
  if (onStatus) status.port1.on('message', onStatus)
  job.post({name, options, ring, status: status.port2}, [status.port2] as unknown as ArrayBuffer[])

  // Bytes that did not fit in the ring yet, oldest first; the stream is paused while there are any.
  const pending: Buffer[] = []
  let ending = false
  let ended = false
  let retry: NodeJS.Timeout | undefined
  /** Copies what fits of the pending bytes into the ring; true when none are left. */
  const flush = (): boolean => {
    while (pending.length > 0) {
      const written = Atomics.load(control, WRITTEN)
      const free = data.length - ((written - Atomics.load(control, READ)) | 0)
      if (free <= 0) return false
      const chunk = pending[0]!
      const n = Math.min(free, chunk.length)
      const at = written & mask
      const first = Math.min(n, data.length - at)
      data.set(chunk.subarray(0, first), at)
      if (first < n) data.set(chunk.subarray(first, n), 0)
      Atomics.store(control, WRITTEN, (written + n) | 0)
      Atomics.notify(control, WRITTEN)
      if (n === chunk.length) pending.shift()
      else pending[0] = chunk.subarray(n)
    }
    return true
  }
  const finish = () => {
    clearInterval(retry)
    ended = true
    Atomics.store(control, ENDED, 1)
    Atomics.notify(control, WRITTEN)
  }
  const drain = () => {
    if (!flush()) {
      if (!retry) {
        input.pause()
        retry = setInterval(drain, 2)
      }
      return
    }
    clearInterval(retry)
    retry = undefined
    if (ending) finish()
    else input.resume()
  }
  const onData = (chunk: Buffer) => {
    pending.push(chunk)
    drain()
  }
  /** The stream's end: what is pending still goes in. */
  const end = () => {
    if (ending) return
    ending = true
    input.off('data', onData)
    drain()
  }
  input.on('data', onData)
  input.once('end', end)
  input.once('close', end)
  input.once('error', end)

  const result = job.result
    .then((analysis) => {
      // Structured cloning keeps the address words but not the list's class.
      analysis.ntp.log.clients = new AddressWordsList(
        (analysis.ntp.log.clients as unknown as {words: Uint32Array}).words,
      )
      if (analysis.ntp.log.spilled) adoptSpill(analysis.ntp.log.spilled)
      return analysis
    })
    .finally(() => {
      if (!ended) finish()
      status.port1.close()
    })
  return {
    result,
    stop: () => {
      // What has not reached the ring is dropped: the capture ends here.
      pending.length = 0
      end()
    },
  }
}
