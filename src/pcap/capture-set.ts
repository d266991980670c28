/**
 * Several capture files read as one capture: tcpdump's rotated sets (`-C` by size, `-G` by time,
 * `-W` a ring, gzipped by `-z gzip` or not), a folder of them, or a glob. The files are read one after
 * another in the order of their first packet's time, as if they were one file.
 */
import {readdirSync, statSync} from 'node:fs'
import {resolve} from 'node:path'

import {globSync, isDynamicPattern} from 'tinyglobby'

import {BillwatchError} from '../errors.js'
import {checkInputFile} from '../util/files.js'
import type {CaptureFile} from './analyse.js'
import {type CaptureOrigin, CaptureReader, compressionOf, fileOrigin, openFileSource} from './reader.js'

const CAPTURE_MAGICS = new Set([0xa1b2_c3d4, 0xd4c3_b2a1, 0xa1b2_3c4d, 0x4d3c_b2a1, 0x0a0d_0d0a])

/** Whether a file's first bytes are a pcap or pcapng header, or gzip/zstd (what tcpdump -z writes). */
function looksLikeCapture(path: string): boolean {
  const source = openFileSource(path)
  try {
    const head = new Uint8Array(4)
    if (source.compression !== 'none') return true
    if (source.read(head, 0, 4, 0) < 4) return false
    return CAPTURE_MAGICS.has(new DataView(head.buffer).getUint32(0, true)) || compressionOf(head) !== 'none'
  } finally {
    source.close()
  }
}

/**
 * The files the arguments name: a file as it is, a folder's capture files (its other files are
 * left out: they are counted in `skipped`), a glob's matches. Each path once, absolute.
 */
export function expandCaptureArguments(args: readonly string[]): {files: string[]; skipped: string[]} {
  const files: string[] = []
  const skipped: string[] = []
  const add = (path: string) => !files.includes(path) && files.push(path)
  for (const arg of args) {
    let isDirectory = false
    let exists = false
    try {
      isDirectory = statSync(arg).isDirectory()
      exists = true
    } catch {
      // Not there, or not readable: not a folder; said below as a missing file.
    }
    if (isDirectory) {
      const names = readdirSync(arg).sort()
      const inside = names
        .map((name) => resolve(arg, name))
        .filter((path) => statSync(path, {throwIfNoEntry: false})?.isFile())
      for (const path of inside) {
        if (looksLikeCapture(path)) add(path)
        else skipped.push(path)
      }
      if (!inside.some((path) => files.includes(path)))
        throw new BillwatchError('E_NOT_FOUND', 'a folder with no pcap or pcapng file in it', {
          expected: 'a capture file, a folder of them or a glob',
          file: arg,
        })
      continue
    }
    if (!exists && isDynamicPattern(arg)) {
      const matches = globSync(arg, {absolute: true, onlyFiles: true}).sort()
      if (matches.length === 0)
        throw new BillwatchError('E_NOT_FOUND', 'the pattern matches no file', {
          expected: 'a capture file, a folder of them or a glob',
          file: arg,
        })
      for (const path of matches) add(resolve(path))
      continue
    }
    add(resolve(arg))
  }
  return {files, skipped}
}

/** The time of a file's first packet (NaN when it has none with a time): a set is read in this order. */
function firstPacketTime(path: string): number {
  const reader = CaptureReader.open(path)
  try {
    for (let n = 0; n < 16 && reader.next(); n++) if (reader.timeSec === reader.timeSec) return reader.timeSec
    return Number.NaN
  } finally {
    reader.close()
  }
}

/** The time of a file's last packet (NaN when none has a time). */
function lastPacketTime(path: string): number {
  const reader = CaptureReader.open(path)
  let last = Number.NaN
  try {
    while (reader.next()) if (reader.timeSec === reader.timeSec) last = reader.timeSec
    return last
  } finally {
    reader.close()
  }
}

/**
 * One file, or several read as one capture in the order of their first packets (a file without
 * timestamps keeps its place by name); `name` is what the report calls it.
 */
export function captureOrigin(files: readonly string[], name = files.join(' ')): CaptureOrigin {
  if (files.length === 1) return fileOrigin(files[0]!)
  const sizes = new Map<string, number>()
  const starts = new Map<string, number>()
  for (const file of files) {
    sizes.set(file, checkInputFile(file, {expected: 'a pcap or pcapng file'}))
    starts.set(file, firstPacketTime(file))
  }
  // Files that start at the same instant (packets share a timestamp at a cut): the one that ends first was
  // written first. Only those files are read to their end.
  const ends = new Map<string, number>()
  const endOf = (file: string) => {
    if (!ends.has(file)) ends.set(file, lastPacketTime(file))
    return ends.get(file)!
  }
  // A stable sort by first packet time: tcpdump's own names (-C: file, file1, file2 … file10) sort wrongly as text.
  const ordered = [...files].sort((a, b) => {
    const ta = starts.get(a)!
    const tb = starts.get(b)!
    if (!(ta === ta && tb === tb)) return 0
    if (ta !== tb) return ta - tb
    const ea = endOf(a)
    const eb = endOf(b)
    return ea === ea && eb === eb ? ea - eb : 0
  })
  return {
    name,
    parts: ordered.map((file) => ({name: file, open: () => openFileSource(file)})),
    rereadable: () => true,
    size: ordered.reduce((sum, file) => sum + sizes.get(file)!, 0),
  }
}

/** Silence between two files of a set: the last packet of one and the first of the next. */
export interface CaptureGap {
  after: string
  before: string
  from: string
  to: string
  seconds: number
}

/**
 * The gaps between consecutive files worth a reader's attention: silences longer than a second and
 * ten times the capture's mean packet interval (a rotated set of one capture has none); a negative
 * gap is an overlap (files that are not one capture cut in pieces).
 */
export function gapsBetween(files: readonly CaptureFile[], meanIntervalSec: number): CaptureGap[] {
  const gaps: CaptureGap[] = []
  for (let i = 1; i < files.length; i++) {
    const before = files[i - 1]!
    const after = files[i]!
    if (before.lastSec !== before.lastSec || after.firstSec !== after.firstSec) continue
    const seconds = after.firstSec - before.lastSec
    if (seconds < 0 || seconds > Math.max(1, 10 * meanIntervalSec)) {
      gaps.push({
        after: before.file,
        before: after.file,
        from: new Date(before.lastSec * 1000).toISOString(),
        seconds,
        to: new Date(after.firstSec * 1000).toISOString(),
      })
    }
  }
  return gaps
}
