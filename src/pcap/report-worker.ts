/** The worker-thread side of startReportWorker: the limiter replays and the fleet search. */
import {parentPort} from 'node:worker_threads'

import {findFleets, timeRange} from '../behaviour/index.js'
import {replayTallies} from '../ratelimit/index.js'
import {answerFromWorker} from '../util/worker.js'
import type {ReportWorkerInput, ReportWorkerResult} from './report.js'

answerFromWorker(parentPort!, ({clientCount, fleetRules, groups, seed, settings}: ReportWorkerInput) => {
  const tallies = replayTallies(groups, clientCount, settings, seed)
  // The groups hold every request's time, so the span is the log's.
  const {first, last} = timeRange({count: groups.timeSec.length, timeSec: groups.timeSec})
  const result: ReportWorkerResult = {fleets: findFleets(groups, fleetRules, first, last), tallies}
  const perClient = Object.values(tallies.runs).flatMap((tally) => [tally.answeredPerClient.buffer, tally.kodsPerClient.buffer] as ArrayBuffer[])
  return {result, transfer: [tallies.baseline.perClient.buffer as ArrayBuffer, ...perClient]}
})
