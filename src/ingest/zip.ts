/**
 * A zip of one export, as AWS delivered the Detailed Billing Report (`…-aws-billing-detailed-line-
 * items-YYYY-MM.csv.zip`) and CUR 1.0 (`.csv.zip`): the member is streamed (fflate, no whole-file
 * buffer) to the sniffer's head or to a temporary CSV DuckDB can scan.
 */
import {createReadStream, createWriteStream, statSync} from 'node:fs'
import {once} from 'node:events'

import type {UnzipFile} from 'fflate'

import {BillwatchError} from '../errors.js'
import {INFLATE_FLOOR, MAX_INFLATE_RATIO} from './fingerprint.js'

interface Sink {
  write(chunk: Uint8Array): true | Promise<void>
  done(): void
}

/**
 * Streams the zip's one file member to `sink`. Directory entries are skipped; a second file is
 * refused (billwatch cannot tell which member is the export). `stopAfter` ends the read early.
 */
async function streamMember(
  path: string,
  open: (name: string) => Sink,
  stopAfter = Number.POSITIVE_INFINITY,
): Promise<{name: string; bytes: number}> {
  // Loaded for a zip only: importing fflate is ~15 ms of CPU at the start of every ingest otherwise.
  const {Unzip, UnzipInflate} = await import('fflate')
  const input = createReadStream(path, {highWaterMark: 1 << 20})
  // The .gz bound (fingerprint.ts): a zip bomb would fill the disk with its temporary copy.
  const limit = Math.max(INFLATE_FLOOR, statSync(path).size * MAX_INFLATE_RATIO)
  let member: undefined | string
  let bytes = 0
  let failure: BillwatchError | undefined
  let finished = false
  // The sink's backpressure: the read loop waits for it before pushing more.
  let pending: Promise<void> | undefined
  const fail = (error: BillwatchError) => {
    failure ??= error
    input.destroy()
  }
  const unzip = new Unzip()
  unzip.register(UnzipInflate)
  unzip.onfile = (file: UnzipFile) => {
    if (file.name.endsWith('/')) return
    if (member !== undefined) {
      const workbook = [member, file.name].some((name) => name === '[Content_Types].xml' || name.startsWith('xl/'))
      fail(
        workbook
          ? new BillwatchError('E_FORMAT', 'an Excel workbook (.xlsx)', {
              expected: 'a CSV export (save the sheet as CSV UTF-8)',
              file: path,
            })
          : new BillwatchError('E_FORMAT', `zip archive holds more than one file (${member}, ${file.name})`, {
              expected: 'a zip of one export, as AWS delivers it',
              file: path,
            }),
      )
      return
    }
    member = file.name
    const sink = open(file.name)
    file.ondata = (error, chunk, final) => {
      // fflate's own words name its internals, not the file: only that the data is damaged.
      if (error)
        return fail(
          new BillwatchError('E_TRUNCATED', `zip member ${file.name} is corrupt`, {
            expected: 'a complete .zip file',
            file: path,
          }),
        )
      bytes += chunk.length
      if (bytes > limit)
        return fail(
          new BillwatchError(
            'E_FORMAT',
            `inflates to more than ${MAX_INFLATE_RATIO} times its size (a zip bomb, not a billing export)`,
            {
              expected: 'a .zip export',
              file: path,
            },
          ),
        )
      const ready = sink.write(chunk)
      if (ready instanceof Promise) pending = ready
      if (final) {
        // An ended stream emits no 'drain': nothing is left to wait for.
        finished = true
        pending = undefined
        sink.done()
      }
      if (bytes >= stopAfter && !final) {
        finished = true
        sink.done()
        input.destroy()
      }
    }
    file.start()
  }
  try {
    for await (const chunk of input) {
      if (failure || (finished && bytes >= stopAfter)) break
      try {
        unzip.push(chunk as Buffer)
      } catch (error) {
        fail(
          new BillwatchError('E_TRUNCATED', 'zip data is corrupt', {
            cause: error,
            expected: 'a complete .zip file',
            file: path,
          }),
        )
      }
      // A write error ends the read; extractZip reports it.
      if (pending) await pending.catch(() => input.destroy())
      pending = undefined
    }
    if (!failure && !finished) {
      try {
        unzip.push(new Uint8Array(0), true)
      } catch (error) {
        fail(
          new BillwatchError('E_TRUNCATED', 'zip data ends early or is corrupt', {
            cause: error,
            expected: 'a complete .zip file',
            file: path,
          }),
        )
      }
    }
  } catch (error) {
    if (!failure && !(finished && bytes >= stopAfter)) throw error
  }
  if (failure) throw failure
  if (member === undefined)
    throw new BillwatchError('E_EMPTY', 'zip archive holds no file', {expected: 'a zip of one export', file: path})
  if (!finished)
    throw new BillwatchError('E_TRUNCATED', `zip member ${member} ends early`, {
      expected: 'a complete .zip file',
      file: path,
    })
  return {bytes, name: member}
}

/** The first `limit` bytes of the zip's member, as text (for the header row). */
export async function zipHead(path: string, limit = 64 * 1024): Promise<string> {
  const chunks: Uint8Array[] = []
  await streamMember(path, () => ({done: () => undefined, write: (chunk) => (chunks.push(chunk), true)}), limit)
  return Buffer.concat(chunks).toString('utf8')
}

/** Writes the zip's member to `destination` (a new file), in bounded memory. */
export async function extractZip(path: string, destination: string): Promise<void> {
  const out = createWriteStream(destination, {flags: 'wx'})
  const closed = once(out, 'close')
  let outError: Error | undefined
  out.on('error', (error) => (outError = error))
  const writeFailed = () =>
    new BillwatchError('E_STORE', `cannot write a temporary copy of the zip's export (${outError?.message})`, {
      file: path,
    })
  try {
    await streamMember(path, () => ({
      done: () => out.end(),
      write: (chunk) => (out.write(chunk) ? true : once(out, 'drain').then(() => undefined)),
    }))
  } catch (error) {
    if (outError) throw writeFailed()
    throw error
  } finally {
    if (!out.writableEnded) out.end()
    await closed.catch(() => undefined)
  }
  if (outError) throw writeFailed()
}
