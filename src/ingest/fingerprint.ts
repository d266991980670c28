import {createReadStream} from 'node:fs'
import {stat} from 'node:fs/promises'
import {createGunzip} from 'node:zlib'

import {createXXHash128} from 'hash-wasm'

import type {ProgressCallback} from '../cli/progress.js'
import {BillwatchError} from '../errors.js'

export interface Fingerprint {
  /** `xxh128:` and 32 hex digits. */
  hash: string
  bytes: number
}

/**
 * XXH128 of a file's bytes: the identity that makes re-ingest a no-op. Not a security hash, and
 * need not be one; it runs at several GB/s where SHA-256 took a core for a second per GB, beside
 * the DuckDB scan that needs both cores. For gzip input it also
 * inflates the stream to its end, because DuckDB reads a truncated .gz without complaint and
 * would ingest half a month silently.
 */
export async function fingerprintFile(path: string, options: {gzip?: boolean; onProgress?: ProgressCallback} = {}): Promise<Fingerprint> {
  const {size} = await stat(path)
  const hash = await createXXHash128()
  let done = 0
  const gunzip = options.gzip ? createGunzip() : undefined
  const inflated = gunzip
    ? new Promise<void>((resolve, reject) => {
        gunzip.on('data', () => {})
        gunzip.on('end', resolve)
        gunzip.on('error', (error) =>
          reject(new BillwatchError('E_TRUNCATED', `gzip stream is truncated or corrupt (${error.message})`, {expected: 'a complete .gz file', file: path})),
        )
      })
    : Promise.resolve()
  await new Promise<void>((resolve, reject) => {
    const stream = createReadStream(path, {highWaterMark: 1 << 20})
    stream.on('data', (chunk) => {
      const buffer = chunk as Buffer
      hash.update(buffer)
      done += buffer.length
      options.onProgress?.(done, size)
      if (gunzip && !gunzip.write(buffer)) {
        stream.pause()
        gunzip.once('drain', () => stream.resume())
      }
    })
    stream.on('end', () => {
      gunzip?.end()
      resolve()
    })
    stream.on('error', reject)
  })
  await inflated
  return {bytes: size, hash: `xxh128:${hash.digest('hex')}`}
}

/** One identity for several fingerprints (a CUR manifest and its parts). */
export async function combineFingerprints(parts: Fingerprint[]): Promise<Fingerprint> {
  const hash = await createXXHash128()
  hash.update(parts.map((p) => p.hash).join('\n'))
  return {bytes: parts.reduce((sum, p) => sum + p.bytes, 0), hash: `xxh128:${hash.digest('hex')}`}
}
