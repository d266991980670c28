import {isIPv4, isIPv6} from 'node:net'

import {BillwatchError} from '../errors.js'

/**
 * Addresses as four unsigned 32-bit words, big-endian order. IPv4 is stored IPv4-mapped
 * (`::ffff:a.b.c.d`, words 0, 0, 0xffff, v4) so one table holds both families without a flag.
 */
export const V4_MAPPED_WORD2 = 0xffff

/**
 * Interns addresses to dense indices 0, 1, 2… with open addressing over typed arrays, so the
 * per-packet lookup allocates nothing and per-address counters can live in typed arrays too.
 */
export class AddressTable {
  private slots: Int32Array
  private mask: number
  private words: Uint32Array
  count = 0

  constructor(initialCapacity = 1024) {
    let size = 16
    while (size < initialCapacity * 2) size *= 2
    this.slots = new Int32Array(size).fill(-1)
    this.mask = size - 1
    this.words = new Uint32Array(initialCapacity * 4)
  }

  /** Index of the address, inserting it when new. */
  intern(w0: number, w1: number, w2: number, w3: number): number {
    let slot = hashWords(w0, w1, w2, w3) & this.mask
    const words = this.words
    for (;;) {
      const index = this.slots[slot]!
      if (index < 0) break
      const base = index * 4
      if (words[base + 3] === w3 && words[base + 2] === w2 && words[base + 1] === w1 && words[base] === w0) return index
      slot = (slot + 1) & this.mask
    }
    const index = this.count++
    if (index * 4 + 4 > this.words.length) {
      const grown = new Uint32Array(this.words.length * 2)
      grown.set(this.words)
      this.words = grown
    }
    const base = index * 4
    this.words[base] = w0
    this.words[base + 1] = w1
    this.words[base + 2] = w2
    this.words[base + 3] = w3
    this.slots[slot] = index
    if (this.count * 2 > this.slots.length) this.rehash()
    return index
  }

  /** Index of the address, or -1. */
  find(w0: number, w1: number, w2: number, w3: number): number {
    let slot = hashWords(w0, w1, w2, w3) & this.mask
    for (;;) {
      const index = this.slots[slot]!
      if (index < 0) return -1
      const base = index * 4
      if (this.words[base + 3] === w3 && this.words[base + 2] === w2 && this.words[base + 1] === w1 && this.words[base] === w0) return index
      slot = (slot + 1) & this.mask
    }
  }

  word(index: number, position: number): number {
    return this.words[index * 4 + position]!
  }

  /** Text form of an interned address: dotted quad for IPv4, RFC 5952 for IPv6. */
  text(index: number): string {
    const base = index * 4
    return formatAddressWords(this.words[base]!, this.words[base + 1]!, this.words[base + 2]!, this.words[base + 3]!)
  }

  private rehash(): void {
    const size = this.slots.length * 2
    const slots = new Int32Array(size).fill(-1)
    const mask = size - 1
    for (let index = 0; index < this.count; index++) {
      const base = index * 4
      let slot = hashWords(this.words[base]!, this.words[base + 1]!, this.words[base + 2]!, this.words[base + 3]!) & mask
      while (slots[slot]! >= 0) slot = (slot + 1) & mask
      slots[slot] = index
    }
    this.slots = slots
    this.mask = mask
  }
}

function hashWords(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w3 ^ 0x9e37_79b9, 0x85eb_ca6b)
  h = Math.imul(h ^ w2 ^ (h >>> 15), 0xc2b2_ae35)
  h = Math.imul(h ^ w1 ^ (h >>> 13), 0x27d4_eb2f)
  h = Math.imul(h ^ w0 ^ (h >>> 16), 0x1656_67b1)
  return (h ^ (h >>> 15)) >>> 0
}

export function formatAddressWords(w0: number, w1: number, w2: number, w3: number): string {
  if (w0 === 0 && w1 === 0 && w2 === V4_MAPPED_WORD2) return `${w3 >>> 24}.${(w3 >>> 16) & 255}.${(w3 >>> 8) & 255}.${w3 & 255}`
  const groups = [w0 >>> 16, w0 & 0xffff, w1 >>> 16, w1 & 0xffff, w2 >>> 16, w2 & 0xffff, w3 >>> 16, w3 & 0xffff]
  // RFC 5952 §4.2: compress the longest run (≥ 2) of zero groups, the first one on a tie.
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}

/** Parses an IPv4 or IPv6 address to its four words; throws E_USAGE naming `field` otherwise. */
export function parseAddressWords(text: string, field = '--host'): [number, number, number, number] {
  if (isIPv4(text)) {
    const [a, b, c, d] = text.split('.').map(Number) as [number, number, number, number]
    return [0, 0, V4_MAPPED_WORD2, ((a << 24) | (b << 16) | (c << 8) | d) >>> 0]
  }
  if (isIPv6(text)) {
    let body = text.toLowerCase()
    // A trailing dotted quad (::ffff:1.2.3.4) becomes its two hex groups.
    const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(body)
    if (dotted) {
      const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
      body = `${body.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
    }
    const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)))
    const [head = '', rest] = body.split('::')
    const left = parse(head)
    const right = rest === undefined ? [] : parse(rest)
    const groups = rest === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
    const word = (i: number) => (((groups[i * 2] ?? 0) << 16) | (groups[i * 2 + 1] ?? 0)) >>> 0
    return [word(0), word(1), word(2), word(3)]
  }
  throw new BillwatchError('E_USAGE', 'not an IP address', {expected: 'an IPv4 or IPv6 address, or "auto"', field, got: text})
}
