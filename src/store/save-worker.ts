/** The worker thread of startEvidenceSave: loads DuckDB at once, then opens the store and saves the finding it gets. */
import {parentPort} from 'node:worker_threads'

import {answerFromWorker} from '../util/worker.js'
import {loadStoreLibrary, Store} from './index.js'
import type {EvidenceSaveFinding, EvidenceSaveInput} from './save-evidence.js'

// At once, before any input is taken: stopping a thread while DuckDB's binding loads aborts the whole process, so
// this worker is never stopped; a command that fails first sends null, and it answers once the binding is loaded.
loadStoreLibrary()

answerFromWorker(parentPort!, async (input: EvidenceSaveInput | null) => {
  if (input === null) return {result: true}
  const {finding, path} = input
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
