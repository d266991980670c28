/** The worker-thread side of startReplayWorker: replays the grouped log, posts the tallies. */
import {parentPort} from 'node:worker_threads'

import {answerFromWorker} from '../util/worker.js'
import {replayTallies, type ReplayWorkerInput} from './index.js'

answerFromWorker(parentPort!, ({clientCount, groups, seed, settings}: ReplayWorkerInput) => {
  const result = replayTallies(groups, clientCount, settings, seed)
  const perClient = Object.values(result.runs).flatMap(
    (tally) => [tally.answeredPerClient.buffer, tally.kodsPerClient.buffer] as ArrayBuffer[],
  )
  const transfer = [result.baseline.perClient.buffer as ArrayBuffer, ...perClient]
  return {result, transfer}
})
