/** The worker thread of startEvidenceSave: loads DuckDB at once, then opens the store and saves the finding it gets. */
import {parentPort} from 'node:worker_threads'

import {answerFromWorker} from '../util/worker.js'
import {preloadStore, Store} from './index.js'
import type {EvidenceSaveFinding, EvidenceSaveInput} from './save-evidence.js'

preloadStore()

answerFromWorker(parentPort!, async ({finding, path}: EvidenceSaveInput) => {
  try {
    const store = await Store.open(path)
    try {
      const data = await new Promise<EvidenceSaveFinding | null>((resolve) => finding.once('message', resolve))
      if (data) await store.saveEvidenceJson(data.kind, data.subject, data.json)
    } finally {
      await store.close()
    }
  } finally {
    finding.close()
  }
  return {result: true}
})
