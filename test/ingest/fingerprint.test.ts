import {writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'

import fc from 'fast-check'
import {afterAll, afterEach, describe, expect, it, vi} from 'vitest'

import {tempDir} from '../helpers/cli.js'

type FingerprintModule = typeof import('../../src/ingest/fingerprint.js')

/** A fresh copy of the module, so the choice of hash is made again under the environment set before it. */
async function fingerprintModule(native: boolean): Promise<FingerprintModule> {
  vi.resetModules()
  vi.stubEnv('BILLWATCH_HASH_NATIVE', native ? '1' : '0')
  return import('../../src/ingest/fingerprint.js')
}

// A re-ingest is recognised by this digest, so a store written where the native hash loads and read where it does
// not (or the other way) must see the same identity for the same export.
describe('content fingerprints: the native hash and the WebAssembly one agree', () => {
  const tmp = tempDir()
  afterEach(() => vi.unstubAllEnvs())
  afterAll(() => tmp.cleanup())

  it('loads the native hash on this machine (otherwise the comparison below compares one hash with itself)', () => {
    expect(() => createRequire(import.meta.url)('xxhash-addon')).not.toThrow()
  })

  it("gives XXH3-128's published digest of empty content", async () => {
    const path = join(tmp.dir, 'empty.csv')
    writeFileSync(path, '')
    for (const native of [true, false]) {
      const {fingerprintFile} = await fingerprintModule(native)
      expect(await fingerprintFile(path)).toEqual({bytes: 0, hash: 'xxh128:99aa06d3014798d86001c324468d497f'})
    }
  })

  it('gives the same fingerprint, plain and gzipped, for any content and for combined parts', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({maxLength: 700_000}), fc.integer({min: 0, max: 5}), async (content, parts) => {
        const plain = join(tmp.dir, `c${run}.csv`)
        const gzipped = join(tmp.dir, `c${run++}.csv.gz`)
        writeFileSync(plain, content)
        writeFileSync(gzipped, gzipSync(content))
        const results = []
        for (const native of [true, false]) {
          const {combineFingerprints, fingerprintFile} = await fingerprintModule(native)
          const whole = await fingerprintFile(plain)
          const inflated = await fingerprintFile(gzipped, {gzip: true})
          const combined = await combineFingerprints(Array.from({length: parts}, () => whole))
          results.push({combined, inflated, whole})
        }
        expect(results[0]).toEqual(results[1])
        expect(results[0]!.inflated.hash).toBe(results[0]!.whole.hash)
        expect(results[0]!.whole.bytes).toBe(content.length)
      }),
      {numRuns: 40},
    )
  }, 120_000)
})

// `ingest` begins the first file's hash while the store opens (hashEarly); the fingerprint it then asks for must be
// the one it would have read itself, and a hash begun early must never stand for content it did not read.
describe('content fingerprints begun early', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())
  const settle = () => new Promise((resolve) => setTimeout(resolve, 500))

  it('hands the early hash to the first fingerprint of the file, with its progress, and reads afresh after', async () => {
    const {fingerprintFile, hashEarly} = await import('../../src/ingest/fingerprint.js')
    const path = join(tmp.dir, 'early.csv')
    const first = Buffer.alloc(300_000, 'a,b\n')
    writeFileSync(path, first)
    const expected = await fingerprintFile(path)
    hashEarly(path)
    await settle()
    // Changed after the early hash read it: the early result is what the first fingerprint gets.
    writeFileSync(path, Buffer.alloc(300_000, 'c,d\n'))
    const seen: number[] = []
    expect(await fingerprintFile(path, {onProgress: (done) => seen.push(done)})).toEqual(expected)
    expect(seen.at(-1)).toBe(first.length)
    // Taken once: the next fingerprint reads the file as it is now.
    expect((await fingerprintFile(path)).hash).not.toBe(expected.hash)
  })

  it('reads afresh after stop, for a gzip file, and where the early read failed (with the same error)', async () => {
    const {fingerprintFile, hashEarly} = await import('../../src/ingest/fingerprint.js')
    const path = join(tmp.dir, 'stopped.csv')
    writeFileSync(path, 'x,y\n1,2\n')
    const stopped = await fingerprintFile(path)
    hashEarly(path).stop()
    writeFileSync(path, 'x,y\n3,4\n')
    expect(await fingerprintFile(path)).not.toEqual(stopped)

    const gzipped = join(tmp.dir, 'early.csv.gz')
    writeFileSync(gzipped, gzipSync('x,y\n3,4\n'))
    hashEarly(gzipped)
    expect((await fingerprintFile(gzipped, {gzip: true})).hash).toBe((await fingerprintFile(path)).hash)

    const missing = join(tmp.dir, 'missing.csv')
    hashEarly(missing)
    await settle()
    await expect(fingerprintFile(missing)).rejects.toMatchObject({code: 'ENOENT'})
  })
})
