import {createReadStream} from 'node:fs'
import {createRequire} from 'node:module'
import {open, stat} from 'node:fs/promises'
import {resolve} from 'node:path'
import {Transform, type TransformCallback} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {createGunzip} from 'node:zlib'

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

interface ContentHash {
  update(chunk: Uint8Array | string): unknown
  digestHex(): string
}

interface NativeXXHash128 {
  update(data: Buffer): void
  digest(): Buffer
}

type NativeXXHash128Class = new (seed: Buffer) => NativeXXHash128

let nativeXXHash128: NativeXXHash128Class | null | undefined

/**
 * xxhash-addon's XXH3-128 (the reference C, ~14 GB/s here) where its prebuilt binary loads, hash-wasm's otherwise
 * (~0.7 GB/s): the same digest, checked in test/ingest/fingerprint.test.ts, so stores fingerprinted by either agree.
 * BILLWATCH_HASH_NATIVE=0 forces the WebAssembly one.
 */
async function createContentHash(): Promise<ContentHash> {
  if (nativeXXHash128 === undefined) {
    nativeXXHash128 = null
    if (process.env.BILLWATCH_HASH_NATIVE !== '0') {
      try {
        const addon = createRequire(import.meta.url)('xxhash-addon') as {XXHash128: NativeXXHash128Class}
        nativeXXHash128 = addon.XXHash128
      } catch {
        // No prebuilt binary for this platform: the WebAssembly hash gives the same digest.
      }
    }
  }
  if (nativeXXHash128) {
    // The seed must be given (the addon crashes without one); eight zero bytes is XXH3's default seed 0.
    const hash = new nativeXXHash128(Buffer.alloc(8))
    return {
      update: (chunk) =>
        hash.update(
          typeof chunk === 'string'
            ? Buffer.from(chunk)
            : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
        ),
      digestHex: () => hash.digest().toString('hex'),
    }
  }
  // Loaded only here: importing hash-wasm costs ~30 ms of CPU at every start-up that the native hash makes needless.
  const {createXXHash128} = await import('hash-wasm')
  const hash = await createXXHash128()
  return {update: (chunk) => hash.update(chunk), digestHex: () => hash.digest('hex')}
}

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
  const early = takeEarlyHash(path)
  // The hash begun early is of the bytes as they are: of use unless the content is inflated or also read. When it
  // did not finish (a gzip file, a failed read), the file is read here as it always was, and fails as it always did.
  if (early && !options.gzip && !options.onContent) {
    const hashed = await early.follow(options.onProgress)
    if (hashed) return hashed
  } else early?.stop()
  if (!options.gzip) return fingerprintPlain(path, options.onProgress, options.onContent)
  const {size} = await stat(path)
  const hash = await createContentHash()
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
  return {bytes: size, hash: `xxh128:${hash.digestHex()}`}
}

/** Bytes hashed per read: 1 MiB halved the time of 256 KiB on a 1.37 GB CUR (fewer trips to the thread pool). */
const HASH_CHUNK = 1024 * 1024

/**
 * A plain file, read into one reused buffer: no stream and no allocation per chunk. It runs beside
 * DuckDB's scan of the same file, on the same two cores, so every cycle it saves is the scan's.
 * `onContent` sees each chunk as it is hashed (and must use it at once: the buffer is reused).
 */
async function fingerprintPlain(
  path: string,
  onProgress?: ProgressCallback,
  onContent?: (chunk: Buffer) => void,
  stopped?: () => boolean,
): Promise<Fingerprint> {
  const hash = await createContentHash()
  const buffer = Buffer.allocUnsafe(HASH_CHUNK)
  const file = await open(path, 'r')
  let done = 0
  try {
    const {size} = await file.stat()
    for (;;) {
      if (stopped?.()) throw new Error(`hashing ${path} was stopped: its hash is not needed`)
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
  return {bytes: done, hash: `xxh128:${hash.digestHex()}`}
}

/** A hash begun before its file is read (hashEarly), waiting for the fingerprintFile of the same path. */
interface EarlyHash {
  /**
   * Its result (undefined when it did not finish), reporting progress from now on to `onProgress` (at once, the
   * progress made so far).
   */
  follow(onProgress?: ProgressCallback): Promise<Fingerprint | undefined>
  stop(): void
}

const earlyHashes = new Map<string, EarlyHash>()

function takeEarlyHash(path: string): EarlyHash | undefined {
  const key = resolve(path)
  const early = earlyHashes.get(key)
  earlyHashes.delete(key)
  return early
}

/**
 * Starts the content hash of a file now, before the store is open: the first fingerprintFile of the same path takes
 * its result instead of reading the file again. Opening the store keeps one core busy and leaves the other idle, and
 * every cycle of hashing done there is one the scan (two threads, beside the hash) no longer waits for. A gzip file is
 * not begun (its hash is of the inflated content). `stop` ends a hash nobody took (the file was not an export, or the
 * call failed): it is never read to the end for nothing.
 */
export function hashEarly(path: string): {stop(): void} {
  const key = resolve(path)
  let stopped = false
  let seen: {done: number; total?: number} | undefined
  let listener: ProgressCallback | undefined
  const result = (async () => {
    const file = await open(key, 'r')
    try {
      const magic = Buffer.alloc(2)
      await file.read(magic, 0, 2, 0)
      // Gzip: the hash is of the inflated content, which fingerprintFile reads in its own pass.
      if (magic[0] === 0x1f && magic[1] === 0x8b) return undefined
    } finally {
      await file.close()
    }
    return fingerprintPlain(
      key,
      (done, total) => {
        seen = {done, ...(total === undefined ? {} : {total})}
        listener?.(done, total)
      },
      undefined,
      () => stopped,
    )
  })().catch(() => undefined)
  const stop = () => {
    stopped = true
    if (earlyHashes.get(key) === early) earlyHashes.delete(key)
  }
  const early: EarlyHash = {
    follow: (onProgress) => {
      listener = onProgress
      if (seen) onProgress?.(seen.done, seen.total)
      return result
    },
    stop,
  }
  earlyHashes.get(key)?.stop()
  earlyHashes.set(key, early)
  return {stop}
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
  const hash = await createContentHash()
  hash.update(parts.map((p) => p.hash).join('\n'))
  return {bytes: parts.reduce((sum, p) => sum + p.bytes, 0), hash: `xxh128:${hash.digestHex()}`}
}
