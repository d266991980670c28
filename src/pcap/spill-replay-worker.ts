/**
 * The worker-thread side of a spilled log's limiter replays (buildReportParallel): reads the log back a client range
 * at a time itself (the chunks' descriptors are the process's) while the main thread runs the behaviour analysis over
 * the same ranges, and posts the tallies.
 */
import {parentPort} from 'node:worker_threads'

import {type LimiterSetting, ReplayPass} from '../ratelimit/index.js'
import {answerFromWorker} from '../util/worker.js'
import {clientRanges, readClientRange, type SpilledRows} from './spill.js'

export interface SpilledReplayInput {
  spilled: SpilledRows
  /** Requests per client (the capture's counters). */
  requests: Uint32Array
  settings: readonly LimiterSetting[]
}

answerFromWorker(parentPort!, ({requests, settings, spilled}: SpilledReplayInput) => {
  const pass = new ReplayPass(requests.length, settings)
  for (const [from, to] of clientRanges(requests, spilled.batchRows)) pass.add(readClientRange(spilled, from, to), from)
  const result = pass.result()
  const perClient = Object.values(result.runs).flatMap((tally) => [
    tally.answeredPerClient.buffer as ArrayBuffer,
    tally.kodsPerClient.buffer as ArrayBuffer,
  ])
  return {result, transfer: [result.baseline.perClient.buffer as ArrayBuffer, ...perClient]}
})
