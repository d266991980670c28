/**
 * A finding saved in the store by a worker thread: DuckDB (its JavaScript API is ~180 files) loads there while the
 * command works out the finding on this thread, and the store is opened, written and closed there too.
 */
import {MessageChannel, type MessagePort} from 'node:worker_threads'

import {startWorker} from '../util/worker.js'

/** What the save worker is given first: the store to open, and the port its finding (or null: none) comes on. */
export interface EvidenceSaveInput {
  path: string
  finding: MessagePort
}

/** A finding as saveEvidence writes it. */
export interface EvidenceSaveFinding {
  kind: string
  subject: string
  json: string
}

export interface EvidenceSave {
  /**
   * Opens the store at `path` now (created or updated as Store.open does), for a finding that is sure to follow and
   * soon: the store is then held (no other process may write it) until save or cancel. A failure to open is save's.
   */
  open(path: string): void
  /**
   * Saves the finding in the store at `path` (opened now, unless `open` did), in place of the previous one of its
   * kind and subject, and closes it; rejects with Store.open's or the write's error.
   */
  save(path: string, kind: string, subject: string, data: unknown): Promise<void>
  /**
   * No finding after all (the command failed first): a store opened early is closed unchanged. Resolves once the
   * worker has ended its work (never stopped midway: see save-worker.ts).
   */
  cancel(): Promise<void>
}

/**
 * Starts the save worker now, so that DuckDB has loaded by the time the finding is ready. The store itself is opened
 * by `open` or `save`: a command that fails before leaves it as it was, and keeps no other process out of it.
 */
export function startEvidenceSave(): EvidenceSave {
  const job = startWorker<EvidenceSaveInput | null, true>(import.meta.url, './save-worker')
  let channel: MessageChannel | undefined
  const open = (path: string) => {
    if (channel) return
    channel = new MessageChannel()
    job.post({finding: channel.port2, path}, [channel.port2 as unknown as ArrayBuffer])
  }
  return {
    async cancel() {
      if (channel) channel.port1.postMessage(null)
      else job.post(null)
      await job.result.catch(() => undefined)
    },
    open,
    async save(path, kind, subject, data) {
      open(path)
      const finding: EvidenceSaveFinding = {json: JSON.stringify(data), kind, subject}
      channel!.port1.postMessage(finding)
      await job.result
    },
  }
}
