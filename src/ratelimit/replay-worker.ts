/** The worker-thread side of startReplayTallies: replays the grouped log, posts the tallies. */
import {parentPort} from 'node:worker_threads'

import type {ClientGroups} from '../behaviour/group.js'
import {answerFromWorker} from '../util/worker.js'
import type {LimiterSetting} from './limiters.js'
import {replayTallies} from './index.js'

interface ReplayInput {
  groups: ClientGroups
  clientCount: number
  settings: LimiterSetting[]
  seed: number
}

answerFromWorker(parentPort!, ({clientCount, groups, seed, settings}: ReplayInput) => {
  const result = replayTallies(groups, clientCount, settings, seed)
  const perClient = Object.values(result.runs).flatMap((tally) => [tally.answeredPerClient.buffer, tally.kodsPerClient.buffer] as ArrayBuffer[])
  const transfer = [result.baseline.perClient.buffer as ArrayBuffer, ...perClient]
  return {result, transfer}
})
