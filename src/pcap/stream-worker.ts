/**
 * The worker-thread side of analyseStream: reads a capture arriving in chunks from the main thread
 * (stdin, a tcpdump subprocess) with the same scan as a file, blocking while it waits for data, and
 * posts its counters now and then for the progress line.
 */
import {type MessagePort, parentPort, receiveMessageOnPort} from 'node:worker_threads'

import {BillwatchError} from '../errors.js'
import {analyseCapture, type LiveStatus} from './analyse.js'
import {type CaptureOrigin, StreamSource} from './reader.js'
import {LEADING_WAIT_MS, STATUS_EVERY_MS, type StreamWorkerInput} from './stream.js'

parentPort!.once('message', (input: StreamWorkerInput) => {
  const {chunks, name, options, signal, status} = input
  // [0]: chunks the main thread posted (it notifies on it), [1]: chunks taken here.
  const counters = new Int32Array(signal)
  let taken = 0
  let statusOf: (() => LiveStatus) | undefined
  let lastStatus = 0
  const postStatus = () => {
    const now = Date.now()
    if (!statusOf || now - lastStatus < STATUS_EVERY_MS) return
    lastStatus = now
    status.postMessage(statusOf())
  }
  const pull = (deadline?: number): Uint8Array | null | undefined => {
    for (;;) {
      const received = receiveMessageOnPort(chunks)
      if (received) {
        Atomics.store(counters, 1, ++taken)
        postStatus()
        const chunk = received.message as ArrayBuffer | null
        return chunk === null ? null : new Uint8Array(chunk)
      }
      const posted = Atomics.load(counters, 0)
      if (posted > taken) continue
      const wait = deadline === undefined ? STATUS_EVERY_MS : Math.min(STATUS_EVERY_MS, deadline - Date.now())
      if (wait <= 0) return undefined
      postStatus()
      Atomics.wait(counters, 0, posted, wait)
    }
  }
  const source = new StreamSource(pull, name)
  const origin: CaptureOrigin = {
    leadingPass(active) {
      source.deadline = active ? Date.now() + LEADING_WAIT_MS : undefined
    },
    name,
    parts: [{name, open: () => source}],
    rereadable: () => source.whole,
    size: undefined,
    stream: true,
    watch(of) {
      statusOf = of as () => LiveStatus
    },
  }
  try {
    const analysis = analyseCapture(origin, options)
    if (statusOf) status.postMessage(statusOf())
    const log = analysis.ntp.log
    const transfer = [log.timeSec, log.client, log.srcPort, log.version, log.mode, log.reply, log.replyIpBytes].map((array) => array.buffer as ArrayBuffer)
    parentPort!.postMessage({result: analysis}, transfer)
  } catch (error) {
    const code = error instanceof BillwatchError ? error.code : 'E_INTERNAL'
    parentPort!.postMessage({error: {code, message: error instanceof Error ? error.message : String(error)}})
  } finally {
    status.close()
    chunks.close()
  }
})

export type {MessagePort}
