/** The worker-thread half of analyseCaptureParallel: scans its byte range and posts what it counted. */
import {parentPort, workerData} from 'node:worker_threads'

import {isBillwatchError} from '../errors.js'
import {type PartInput, scanPart} from './analyse.js'

try {
  const state = scanPart(workerData as PartInput)
  const r = state.requests
  const buffers = [state.addressWords, state.addressPackets, state.clientAddresses, state.clients, state.orphans, state.tcpPorts, state.udpPorts,
    r.client, r.mode, r.reply, r.replyIpBytes, r.srcPort, r.timeSec, r.transmitKey, r.version].map((array) => array.buffer as ArrayBuffer)
  parentPort!.postMessage({state}, buffers)
} catch (error) {
  // The message is already one located line (file, byte offset) when it is a BillwatchError.
  parentPort!.postMessage({error: {code: isBillwatchError(error) ? error.code : 'E_PCAP', message: error instanceof Error ? error.message : String(error)}})
}
