/** The worker-thread half of analyseCaptureParallel: scans its byte range and posts what it counted. */
import {parentPort} from 'node:worker_threads'

import {answerFromWorker} from '../util/worker.js'
import {type PartInput, scanPart} from './analyse.js'

answerFromWorker(parentPort!, (input: PartInput) => {
  const state = scanPart(input)
  const r = state.requests
  const transfer = [
    state.addressWords,
    state.records,
    state.clientAddresses,
    state.orphans,
    state.tcpPorts,
    state.udpPorts,
    r.client,
    r.mode,
    r.reply,
    r.replyIpBytes,
    r.srcPort,
    r.timeSec,
    r.transmitKey,
    r.version,
  ].map((array) => array.buffer as ArrayBuffer)
  return {result: state, transfer}
})
