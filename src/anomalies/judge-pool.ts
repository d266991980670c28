/**
 * Resource series judged (screened, and detected when they could matter) on worker threads, one per core: the
 * detector is most of `anomalies`' time on a store of many resources, and the series are independent. The verdicts
 * come back in the batch's order, so the findings are those of judging on one thread.
 */
import {availableParallelism} from 'node:os'
import type {Worker} from 'node:worker_threads'

import type {DayDetection} from '../detect/index.js'
import {BillwatchError} from '../errors.js'
import {newWorker} from '../util/worker.js'
import {judgeSeries, type SeriesJudge} from './analyse.js'
import type {DenseSeries} from './series.js'

/** A batch smaller than this is judged on the calling thread: starting the workers costs more than it saves. */
export const POOL_MIN_BATCH = 2_000

export interface JudgeRequest {
  id: number
  judges: SeriesJudge[]
  /** Every series' days, one after another. */
  values: Float64Array
  /** Per series: the index of its judge, its offset in `values` and its length. */
  items: Int32Array
}

export interface JudgeResponse {
  id: number
  /** Per series: its detection when it holds a step, spike or trend, else null. */
  detections: (DayDetection | null)[]
}

export class JudgePool {
  private readonly workers: Worker[] = []
  private readonly waiting = new Map<number, {resolve: (r: JudgeResponse) => void; reject: (e: unknown) => void}>()
  private next = 0

  constructor(readonly size = Math.max(1, availableParallelism())) {}

  /** The verdicts on `series` (judgeSeries'), each judged by `judges[judgeOf[i]]`. */
  async judge(
    series: readonly DenseSeries[],
    judgeOf: Int32Array,
    judges: SeriesJudge[],
  ): Promise<(DayDetection | null | undefined)[]> {
    if (series.length < POOL_MIN_BATCH) {
      return series.map((s, i) => judgeSeries(s.values, judges[judgeOf[i]!]!))
    }
    this.start()
    // Contiguous shares, one per worker, each in a buffer of its own (copied: the caller keeps its series).
    const share = Math.ceil(series.length / this.workers.length)
    const answers = this.workers.map((worker, w) => {
      const from = Math.min(series.length, w * share)
      const to = Math.min(series.length, from + share)
      let length = 0
      for (let i = from; i < to; i++) length += series[i]!.values.length
      const values = new Float64Array(length)
      const items = new Int32Array(3 * (to - from))
      let offset = 0
      for (let i = from; i < to; i++) {
        values.set(series[i]!.values, offset)
        items.set([judgeOf[i]!, offset, series[i]!.values.length], 3 * (i - from))
        offset += series[i]!.values.length
      }
      const id = this.next++
      const answer = new Promise<JudgeResponse>((resolve, reject) => this.waiting.set(id, {reject, resolve}))
      worker.postMessage({id, items, judges, values} satisfies JudgeRequest, [values.buffer, items.buffer])
      return answer
    })
    return (await Promise.all(answers)).flatMap((a) => a.detections)
  }

  /** Stops the workers (they hold nothing that needs closing). */
  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((w) => w.terminate()))
  }

  private start(): void {
    if (this.workers.length > 0) return
    for (let w = 0; w < this.size; w++) {
      const worker = newWorker(import.meta.url, './judge-worker')
      worker.on('message', (response: JudgeResponse) => {
        const waiting = this.waiting.get(response.id)
        this.waiting.delete(response.id)
        waiting?.resolve(response)
      })
      const fail = (error: unknown) => {
        for (const {reject} of this.waiting.values()) reject(error)
        this.waiting.clear()
      }
      worker.on('error', fail)
      worker.on('exit', (code) => {
        if (code !== 0 && this.waiting.size > 0)
          fail(new BillwatchError('E_INTERNAL', `judge worker exited with code ${code}`))
      })
      this.workers.push(worker)
    }
  }
}
