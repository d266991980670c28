/**
 * The worker-thread side of analyseStream: reads a capture arriving in chunks from the main thread
 * (stdin, a tcpdump subprocess) with the same scan as a file, blocking while it waits for data, and
 * posts its counters now and then for the progress line.
 */
import {parentPort} from 'node:worker_threads'

import {BillwatchError} from '../errors.js'
import {analyseCapture, type LiveStatus} from './analyse.js'
import {type CaptureOrigin, StreamSource} from './reader.js'
import {LEADING_WAIT_MS, ringReader, STATUS_EVERY_MS, type StreamWorkerInput} from './stream.js'

parentPort!.once('message', (input: StreamWorkerInput) => {
  const {name, options, ring, status} = input
  let statusOf: (() => LiveStatus) | undefined
  let lastStatus = 0
  const postStatus = () => {
    const now = Date.now()
    if (!statusOf || now - lastStatus < STATUS_EVERY_MS) return
    lastStatus = now
    status.postMessage(statusOf())
  }
  const fill = ringReader(ring, postStatus)
  const source = new StreamSource((target, deadline) => {
    const n = fill(target, deadline)
    if (n !== null && n !== undefined) postStatus()
    return n
  }, name)
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
    const transfer = [log.timeSec, log.client, log.srcPort, log.version, log.mode, log.reply, log.replyIpBytes].map(
      (array) => array.buffer as ArrayBuffer,
    )
    parentPort!.postMessage({result: analysis}, transfer)
  } catch (error) {
    const code = error instanceof BillwatchError ? error.code : 'E_INTERNAL'
    parentPort!.postMessage({error: {code, message: error instanceof Error ? error.message : String(error)}})
  } finally {
    status.close()
  }
})
