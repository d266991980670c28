/** The worker-thread side of startReportWorker: the limiter replays. */
import {parentPort} from 'node:worker_threads'

import {replayTallies} from '../ratelimit/index.js'
import {answerFromWorker} from '../util/worker.js'
import type {ReportWorkerInput} from './report.js'

answerFromWorker(parentPort!, ({clientCount, groups, seed, settings}: ReportWorkerInput) => {
  const tallies = replayTallies(groups, clientCount, settings, seed)
  const perClient = Object.values(tallies.runs).flatMap((tally) => [tally.answeredPerClient.buffer, tally.kodsPerClient.buffer] as ArrayBuffer[])
  return {result: tallies, transfer: [tallies.baseline.perClient.buffer as ArrayBuffer, ...perClient]}
})
