/** The worker-thread half of a shared replay (startReplayShare): finds the suspected NATs, replays its settings. */
import {parentPort, workerData} from 'node:worker_threads'

import {analyseBehaviour} from '../behaviour/index.js'
import type {RequestLog} from '../pcap/request-log.js'
import {answerFromWorker} from '../util/worker.js'
import {simulateLimiters, type SimulateOptions} from './index.js'

const input = workerData as {log: RequestLog; options: SimulateOptions & {durationSec: number}}
answerFromWorker(parentPort!, () => {
  const suspectedNat = analyseBehaviour(input.log, {durationSec: input.options.durationSec}).suspectedNat.map((nat) => nat.address)
  return {result: simulateLimiters(input.log, {...input.options, suspectedNat})}
})
