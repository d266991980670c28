import {spawnSync} from 'node:child_process'
import {copyFileSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {isBillwatchError} from '../../src/errors.js'
import {analyseCapture, analyseCaptureParallel} from '../../src/pcap/analyse.js'
import {LINKTYPE} from '../../src/pcap/decode.js'
import {capturePackets} from '../../src/pcap/reader.js'
import {CaptureWriter} from '../../src/pcap/writer.js'
import {ROOT, tempDir} from '../helpers/cli.js'
import {withEnv} from '../helpers/env.js'

const {dir, cleanup} = tempDir('billwatch-pcap-compressed-')
afterAll(cleanup)

const SAMPLE = join(ROOT, 'samples/captures/ntp-server.pcap')

/**
 * `tool` (gzip or zstd, the system's own) compresses a copy of `path`, as tcpdump -z gzip does to each rotated file.
 */
let copies = 0
function compressed(path: string, tool: 'gzip' | 'zstd'): string {
  const copy = join(dir, `${tool}-${copies++}-${path.split('/').pop()}`)
  copyFileSync(path, copy)
  const result = spawnSync(tool, tool === 'zstd' ? ['-q', '--rm', copy] : [copy], {encoding: 'utf8'})
  if (result.status !== 0) throw new Error(`${tool}: ${result.stderr}`)
  return `${copy}.${tool === 'gzip' ? 'gz' : 'zst'}`
}

/** The analysis without what differs by file: its name, size on disk and compression. */
function counts(analysis: ReturnType<typeof analyseCapture>) {
  const {compression: _c, file: _f, fileBytes: _b, ...rest} = analysis
  return rest
}

const pcapng = join(dir, 'ntp-server.pcapng')
{
  const writer = new CaptureWriter(pcapng, {format: 'pcapng', interfaces: [{linkType: LINKTYPE.ethernet, tsresol: 9}]})
  for (const packet of capturePackets(SAMPLE)) writer.packet(packet.timeSec, packet.frame, {origlen: packet.origlen})
  writer.close()
}

describe('compressed captures are read as a stream', () => {
  it.each([
    ['pcap', 'gzip'],
    ['pcap', 'zstd'],
    ['pcapng', 'gzip'],
    ['pcapng', 'zstd'],
  ] as const)(
    '%s compressed with %s reads count for count like the plain file, with either scanner',
    (format, tool) => {
      const plain = format === 'pcap' ? SAMPLE : pcapng
      const file = compressed(plain, tool)
      const expected = counts(analyseCapture(plain))
      for (const native of ['1', '0']) {
        const analysis = withEnv({BILLWATCH_PCAP_NATIVE: native}, () => analyseCapture(file))
        expect(analysis.compression).toBe(tool)
        expect(analysis.fileBytes).toBeLessThan(readFileSync(plain).length)
        expect(counts(analysis)).toEqual(expected)
      }
    },
  )

  it('reads a compressed capture in one pass where a plain one of its size would be split', async () => {
    const file = compressed(SAMPLE, 'gzip')
    const analysis = await withEnv({BILLWATCH_PCAP_SPLIT_BYTES: '1000'}, () => analyseCaptureParallel(file))
    expect(counts(analysis)).toEqual(counts(analyseCapture(SAMPLE)))
  })

  it.each([
    [
      'a flipped byte in the deflate data',
      (bytes: Buffer) => (bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff),
    ],
    ['cut in half', (bytes: Buffer) => bytes.subarray(0, bytes.length >> 1)],
  ])('a damaged gzip (%s) is one line naming the file, not a stack trace', (_name, damage) => {
    const file = compressed(SAMPLE, 'gzip')
    const bytes = readFileSync(file)
    const damaged = damage(bytes)
    writeFileSync(file, damaged instanceof Buffer ? damaged : bytes)
    let error: unknown
    try {
      analyseCapture(file)
    } catch (caught) {
      error = caught
    }
    expect(isBillwatchError(error)).toBe(true)
    expect((error as Error).message).toContain(file)
    expect((error as Error).message).not.toContain('\n')
    expect((error as {code: string}).code).toBe('E_PCAP')
  })
})
