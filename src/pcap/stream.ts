/**
 * A capture read from a stream — stdin (`tcpdump -w - | billwatch pcap -`) or a tcpdump subprocess
 * (`--interface`) — with the same scan as a file. The scan runs in a worker thread that blocks while
 * it waits for data; this thread stays free for the stream's events, the capture's timer, Ctrl-C and
 * the progress line. Chunks go over a MessagePort; a shared counter wakes the worker and tells this
 * side how far it has read, so a fast writer is paused rather than buffered without bound.
 */
import {MessageChannel, type MessagePort} from 'node:worker_threads'
import type {Readable} from 'node:stream'

import {startWorker} from '../util/worker.js'
import {AddressWordsList} from './addresses.js'
import type {CaptureAnalysis, LiveStatus} from './analyse.js'

/** How long the host probe waits for a stream's leading packets before it chooses from those it has. */
export const LEADING_WAIT_MS = 2000
/** How often the worker posts its counters (and wakes to check for data). */
export const STATUS_EVERY_MS = 200
/** Bytes posted to the worker and not yet read, above which the stream is paused. */
const MAX_IN_FLIGHT_BYTES = 32 * 1024 * 1024

export interface StreamWorkerInput {
  chunks: MessagePort
  status: MessagePort
  signal: SharedArrayBuffer
  name: string
  options: {host?: string; ntpPort?: number; vxlanPort?: number}
}

export interface StreamAnalysis {
  /** The analysis once the stream has ended (or was ended by stop()). */
  result: Promise<CaptureAnalysis>
  /** Ends the capture where it is: what has arrived is analysed. */
  stop(): void
}

/** Reads a capture from `input` (pcap or pcapng, plain, gzip or zstd); `name` is what the report calls it. */
export function analyseStream(input: Readable, name: string, options: StreamWorkerInput['options'], onStatus?: (status: LiveStatus) => void): StreamAnalysis {
  const job = startWorker<StreamWorkerInput, CaptureAnalysis>(import.meta.url, './stream-worker')
  const chunks = new MessageChannel()
  const status = new MessageChannel()
  const signal = new SharedArrayBuffer(8)
  const counters = new Int32Array(signal)
  if (onStatus) status.port1.on('message', onStatus)
  job.post({chunks: chunks.port2, name, options, signal, status: status.port2}, [chunks.port2, status.port2] as unknown as ArrayBuffer[])

  let posted = 0
  let ended = false
  // Lengths of the chunks posted and not yet taken, oldest first, and their sum.
  const inFlight: number[] = []
  let inFlightBytes = 0
  let waiting: NodeJS.Timeout | undefined
  const settle = () => {
    const taken = Atomics.load(counters, 1)
    while (inFlight.length > posted - taken) inFlightBytes -= inFlight.shift()!
  }
  const post = (chunk: ArrayBuffer | null) => {
    chunks.port1.postMessage(chunk, chunk ? [chunk] : [])
    Atomics.store(counters, 0, ++posted)
    Atomics.notify(counters, 0)
  }
  const end = () => {
    if (ended) return
    ended = true
    clearInterval(waiting)
    input.off('data', onData)
    post(null)
  }
  const onData = (data: Buffer) => {
    // A copy the worker can own (a stream's Buffer is often a slice of a shared pool).
    const copy = new Uint8Array(data.length)
    copy.set(data)
    post(copy.buffer)
    inFlight.push(copy.length)
    inFlightBytes += copy.length
    settle()
    if (inFlightBytes > MAX_IN_FLIGHT_BYTES && !waiting) {
      input.pause()
      waiting = setInterval(() => {
        settle()
        if (inFlightBytes > MAX_IN_FLIGHT_BYTES / 2) return
        clearInterval(waiting)
        waiting = undefined
        if (!ended) input.resume()
      }, 2)
    }
  }
  input.on('data', onData)
  input.once('end', end)
  input.once('close', end)
  input.once('error', end)

  const result = job.result.then((analysis) => {
    // Structured cloning keeps the address words but not the list's class.
    analysis.ntp.log.clients = new AddressWordsList((analysis.ntp.log.clients as unknown as {words: Uint32Array}).words)
    return analysis
  }).finally(() => {
    end()
    chunks.port1.close()
    status.port1.close()
  })
  return {result, stop: end}
}
