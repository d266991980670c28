/**
 * Several files read as one capture: a set tcpdump rotated (-C), gzipped as -z gzip does, named in
 * tcpdump's own order (file, file1 … file10, which text order gets wrong), reads the same as the one
 * capture it was cut from; so does any cut of a capture into files of either format, compressed or
 * not, named at random. Gaps and overlaps between files are reported.
 */
import {spawnSync} from 'node:child_process'
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import fc from 'fast-check'
import {afterAll, describe, expect, it} from 'vitest'

import {analyseCapture, type CaptureAnalysis} from '../../src/pcap/analyse.js'
import {captureOrigin, expandCaptureArguments} from '../../src/pcap/capture-set.js'
import {LINKTYPE} from '../../src/pcap/decode.js'
import {capturePackets} from '../../src/pcap/reader.js'
import {buildReport, type PcapReport} from '../../src/pcap/report.js'
import {CaptureWriter} from '../../src/pcap/writer.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'

const {dir, cleanup} = tempDir('billwatch-pcap-set-')
afterAll(cleanup)

const SAMPLE = join(SAMPLES, 'captures/ntp-server.pcap')
const packets = [...capturePackets(SAMPLE)].map((p) => ({
  frame: Uint8Array.from(p.frame),
  origlen: p.origlen,
  timeSec: p.timeSec,
}))
const span = packets.at(-1)!.timeSec - packets[0]!.timeSec

/** The sample played `times` times back to back (each a little after the last): a few MB, for tcpdump -C 1. */
const LONG = join(dir, 'long.pcap')
{
  const writer = new CaptureWriter(LONG)
  for (let round = 0; round < 10; round++) {
    for (const p of packets) writer.packet(p.timeSec + round * (span + 0.5), p.frame, {origlen: p.origlen})
  }
  writer.close()
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, {encoding: 'utf8'})
  if (result.status !== 0) throw new Error(`${command}: ${result.stderr}`)
}

/** A report without what names the files it was read from. */
function figures(report: PcapReport) {
  const {compression: _c, file: _f, fileBytes: _b, files: _fs, gaps: _g, ...rest} = report
  return rest
}

function report(analysis: CaptureAnalysis): PcapReport {
  return buildReport(analysis)
}

describe('a rotated set reads as the capture it was cut from', () => {
  const rotated = join(dir, 'rotated')
  mkdirSync(rotated)
  // -Z root: tcpdump otherwise opens each next file as the tcpdump user, in a folder it cannot write.
  run('tcpdump', ['-r', LONG, '-w', join(rotated, 'ntp.pcap'), '-C', '1', '-Z', 'root'])
  const names = readdirSync(rotated).sort()
  const whole = report(analyseCapture(LONG))

  it('tcpdump -C cut it into several files', () => {
    expect(names.length).toBeGreaterThanOrEqual(4)
    expect(names).toContain('ntp.pcap1')
  })

  it('plain, read from the folder, in time order, with no gaps', () => {
    const {files} = expandCaptureArguments([rotated])
    const set = report(analyseCapture(captureOrigin(files, rotated)))
    expect(figures(set)).toEqual(figures(whole))
    expect(set.files!.map((f) => f.file.split('/').pop())).toEqual([
      'ntp.pcap',
      ...names.filter((n) => n !== 'ntp.pcap').sort((a, b) => Number(a.slice(8)) - Number(b.slice(8))),
    ])
    expect(set.files!.reduce((sum, f) => sum + f.packets, 0)).toBe(whole.packets)
    expect(set.gaps).toEqual([])
    expect(set.warnings.map((w) => w.code)).not.toContain('gaps-between-files')
  })

  it('gzipped as tcpdump -z gzip leaves them, through the command and a glob', async () => {
    const gzipped = join(dir, 'gzipped')
    mkdirSync(gzipped)
    for (const name of names) {
      const result = spawnSync('gzip', ['-c', join(rotated, name)])
      writeFileSync(join(gzipped, `${name}.gz`), result.stdout)
    }
    const cli = await runCli(['pcap', join(gzipped, 'ntp.pcap*.gz'), '--json', '--db', join(dir, 'store.duckdb')])
    expect(cli.code, cli.stderr).toBe(0)
    const set = cli.json<PcapReport>()
    expect(figures(set)).toEqual(JSON.parse(JSON.stringify(figures(whole))))
    expect(set.compression).toBe('gzip')
    expect(set.files).toHaveLength(names.length)
  }, 120_000)
})

describe('any cut of a capture into files reads as the capture', () => {
  const whole = figures(report(analyseCapture(SAMPLE)))
  let sets = 0
  it('at random points, pcap or pcapng, gzipped or not, named in any order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({max: packets.length - 1, min: 1}), {maxLength: 5, minLength: 1}),
        fc.array(fc.record({gzip: fc.boolean(), pcapng: fc.boolean()}), {maxLength: 6, minLength: 6}),
        fc.array(fc.integer({max: 1_000_000, min: 0}), {maxLength: 6, minLength: 6}),
        (cuts, kinds, labels) => {
          const folder = join(dir, `cut-${sets++}`)
          mkdirSync(folder)
          const bounds = [0, ...cuts.sort((a, b) => a - b), packets.length]
          for (let k = 0; k + 1 < bounds.length; k++) {
            const kind = kinds[k]!
            const path = join(folder, `part-${labels[k]}-${k}.${kind.pcapng ? 'pcapng' : 'pcap'}`)
            const writer = new CaptureWriter(
              path,
              kind.pcapng
                ? {format: 'pcapng', interfaces: [{linkType: LINKTYPE.ethernet, tsresol: 6}]}
                : {snaplen: 65_535},
            )
            for (const p of packets.slice(bounds[k], bounds[k + 1]))
              writer.packet(p.timeSec, p.frame, {origlen: p.origlen})
            writer.close()
            if (kind.gzip) run('gzip', [path])
          }
          const {files} = expandCaptureArguments([folder])
          const set = report(analyseCapture(captureOrigin(files, folder)))
          const {format: _format, ...setFigures} = figures(set)
          const {format: _f, ...wholeFigures} = whole
          expect(setFigures).toEqual(wholeFigures)
          expect(set.files).toHaveLength(bounds.length - 1)
        },
      ),
      {
        numRuns: 8,
        // Found by a random run: a one-packet file whose name sorts last.
        examples: [[[3, 4], Array.from({length: 6}, () => ({gzip: false, pcapng: false})), [0, 190_000, 0, 0, 0, 0]]],
      },
    )
  })
})

describe('gaps and overlaps between files', () => {
  function write(path: string, shiftSec: number): void {
    const writer = new CaptureWriter(path)
    for (const p of packets) writer.packet(p.timeSec + shiftSec, p.frame, {origlen: p.origlen})
    writer.close()
  }

  it('reports the silence between two files of a set, and rates over the whole span', () => {
    const a = join(dir, 'gap-a.pcap')
    const b = join(dir, 'gap-b.pcap')
    write(a, 0)
    write(b, span + 600)
    const set = report(analyseCapture(captureOrigin([b, a])))
    expect(set.files!.map((f) => f.file)).toEqual([a, b])
    expect(set.gaps).toHaveLength(1)
    expect(set.gaps![0]!.seconds).toBeCloseTo(600, 3)
    expect(set.gaps![0]).toMatchObject({after: a, before: b})
    expect(set.durationSec).toBeCloseTo(2 * span + 600, 3)
    expect(set.warnings.find((w) => w.code === 'gaps-between-files')?.message).toMatch(/1 gap \(600 s in all/)
  })

  it('says when files overlap: they are not one capture cut in pieces', () => {
    const a = join(dir, 'overlap-a.pcap')
    const b = join(dir, 'overlap-b.pcap')
    write(a, 0)
    write(b, span / 2)
    const set = report(analyseCapture(captureOrigin([a, b])))
    expect(set.gaps![0]!.seconds).toBeLessThan(0)
    expect(set.warnings.map((w) => w.code)).toContain('overlapping-files')
  })

  it("leaves a folder's other files out, and refuses a pattern that matches nothing", () => {
    const folder = join(dir, 'mixed')
    mkdirSync(folder)
    write(join(folder, 'one.pcap'), 0)
    writeFileSync(join(folder, 'README'), 'captures of the NTP server\n')
    expect(expandCaptureArguments([folder])).toEqual({
      files: [join(folder, 'one.pcap')],
      skipped: [join(folder, 'README')],
    })
    expect(() => expandCaptureArguments([join(folder, '*.pcapng')])).toThrow(/the pattern matches no file/)
  })
})
