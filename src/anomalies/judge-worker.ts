/** A worker thread of JudgePool: judges the resource series it is sent, batch after batch, until it is stopped. */
import {parentPort} from 'node:worker_threads'

import {judgeSeries} from './analyse.js'
import type {JudgeRequest, JudgeResponse} from './judge-pool.js'

parentPort!.on('message', ({id, judges, values, items}: JudgeRequest) => {
  const detections: JudgeResponse['detections'] = []
  for (let i = 0; i < items.length; i += 3) {
    const [judge, offset, length] = [items[i]!, items[i + 1]!, items[i + 2]!]
    const detection = judgeSeries(values.subarray(offset, offset + length), judges[judge]!)
    // Only a detection with a finding is kept (StretchAnalyser.accept): the rest need not be copied back.
    detections.push(
      detection && detection.steps.length + detection.spikes.length + detection.trends.length > 0 ? detection : null,
    )
  }
  parentPort!.postMessage({detections, id} satisfies JudgeResponse)
})
