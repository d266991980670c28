import {createReadStream} from 'node:fs'
import {open, stat} from 'node:fs/promises'
import {Transform, type TransformCallback} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {createGunzip} from 'node:zlib'

import {createXXHash128} from 'hash-wasm'

import type {ProgressCallback} from '../core/progress.js'
import {BillwatchError} from '../errors.js'

export interface Fingerprint {
  /** `xxh128:` and 32 hex digits. */
  hash: string
  bytes: number
}

/**
 * How far a .gz may inflate: CSV exports compress 5–30 times; DEFLATE tops out near 1,000 times,
 * which only a bomb of repeated bytes reaches. The floor lets any small file through.
 */
export const MAX_INFLATE_RATIO = 200
export const INFLATE_FLOOR = 64 * 1024 * 1024

/**
 * XXH128 of a file's content: the identity that makes re-ingest a no-op. For gzip input it is the
 * hash of the inflated content, so `x.csv` and `x.csv.gz` are one export; inflating to the end
 * also catches a truncated or damaged .gz, which DuckDB reads without complaint up to the damage.
 * Not a security hash, and need not be one; it runs at GB/s beside the DuckDB scan.
 */
export async function fingerprintFile(
  path: string,
  options: {gzip?: boolean; onProgress?: ProgressCallback; onContent?: (chunk: Buffer) => void} = {},
): Promise<Fingerprint> {
  if (!options.gzip) return fingerprintPlain(path, options.onProgress, options.onContent)
  const {size} = await stat(path)
  const hash = await createXXHash128()
  let done = 0
  const progress = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      done += chunk.length
      options.onProgress?.(done, size)
      callback(null, chunk)
    },
  })
  const consume = async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) {
      hash.update(chunk)
      options.onContent?.(chunk)
    }
  }
  try {
    await pipeline(createReadStream(path, {highWaterMark: 1 << 20}), progress, ...inflating(path, size), consume)
  } catch (error) {
    throw gzipFailure(path, error)
  }
  return {bytes: size, hash: `xxh128:${hash.digest('hex')}`}
}

/** Bytes hashed per read: small enough to stay in the CPU cache between the read and the hash. */
const HASH_CHUNK = 256 * 1024

/**
 * A plain file, read into one reused buffer: no stream and no allocation per chunk. It runs beside
 * DuckDB's scan of the same file, on the same two cores, so every cycle it saves is the scan's.
 * `onContent` sees each chunk as it is hashed (and must use it at once: the buffer is reused).
 */
async function fingerprintPlain(
  path: string,
  onProgress?: ProgressCallback,
  onContent?: (chunk: Buffer) => void,
): Promise<Fingerprint> {
  const hash = await createXXHash128()
  const buffer = Buffer.allocUnsafe(HASH_CHUNK)
  const file = await open(path, 'r')
  let done = 0
  try {
    const {size} = await file.stat()
    for (;;) {
      const {bytesRead} = await file.read(buffer, 0, HASH_CHUNK, null)
      if (bytesRead === 0) break
      const chunk = bytesRead === HASH_CHUNK ? buffer : buffer.subarray(0, bytesRead)
      hash.update(chunk)
      onContent?.(chunk)
      done += bytesRead
      onProgress?.(done, size)
    }
  } finally {
    await file.close()
  }
  return {bytes: done, hash: `xxh128:${hash.digest('hex')}`}
}

/**
 * A gunzip stage and a bound on what it yields (MAX_INFLATE_RATIO times the compressed size), whose
 * errors are one located line: truncated, damaged (bad checksum, flipped bits, trailing garbage)
 * or a bomb. For `pipeline(source, ...inflating(path, size), sink)`; map its errors with gzipFailure.
 */
export function inflating(path: string, compressedBytes: number): [Transform, Transform] {
  // 1 MB out per chunk, not zlib's 16 KB: each chunk costs a trip through the stream and the hash (and the flow-log
  // roll-up fed from it), which on 1.2 GB inflated was ~2 s of a 5 s pass.
  const gunzip = createGunzip({chunkSize: 1024 * 1024})
  const limit = Math.max(INFLATE_FLOOR, compressedBytes * MAX_INFLATE_RATIO)
  let inflated = 0
  const bound = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      inflated += chunk.length
      if (inflated > limit) {
        return callback(
          new BillwatchError(
            'E_FORMAT',
            `inflates to more than ${MAX_INFLATE_RATIO} times its size (a gzip bomb, not a billing export)`,
            {
              expected: 'a .gz export',
              file: path,
            },
          ),
        )
      }
      callback(null, chunk)
    },
  })
  return [gunzip, bound]
}

/** zlib's error as one line about the file; any other error as it is. */
export function gzipFailure(path: string, error: unknown): Error {
  const code = (error as {code?: unknown}).code
  if (typeof code === 'string' && code.startsWith('Z_')) return gzipError(path, error as Error & {code: string})
  return error instanceof Error
    ? error
    : new BillwatchError('E_INTERNAL', 'inflating failed with a value that is not an error', {file: path})
}

function gzipError(path: string, error: Error & {code?: string}): BillwatchError {
  const message = error.message
  const why =
    error.code === 'Z_BUF_ERROR' || /unexpected end/i.test(message)
      ? 'the data ends early'
      : /incorrect data check/i.test(message)
        ? 'the checksum does not match: the data is damaged'
        : /header check|unknown compression|invalid/i.test(message)
          ? 'damaged data, or something other than gzip after the compressed data'
          : `zlib ${error.code ?? 'error'}`
  return new BillwatchError('E_TRUNCATED', `gzip stream is truncated or corrupt (${why})`, {
    expected: 'a complete .gz file',
    file: path,
  })
}

/** One identity for several fingerprints (a CUR manifest and its parts). */
export async function combineFingerprints(parts: Fingerprint[]): Promise<Fingerprint> {
  const hash = await createXXHash128()
  hash.update(parts.map((p) => p.hash).join('\n'))
  return {bytes: parts.reduce((sum, p) => sum + p.bytes, 0), hash: `xxh128:${hash.digest('hex')}`}
}
