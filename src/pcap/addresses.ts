import {isIPv4, isIPv6} from 'node:net'

import {BillwatchError} from '../errors.js'
import {adviseHugePages} from './native.js'

/**
 * Addresses as four unsigned 32-bit words, big-endian order. IPv4 is stored IPv4-mapped
 * (`::ffff:a.b.c.d`, words 0, 0, 0xffff, v4) so one table holds both families without a flag.
 */
export const V4_MAPPED_WORD2 = 0xffff

/** Words per slot of an AddressTable: the key, the tag, and SLOT_WORDS - FIRST_FIELD words of the caller's. */
export const SLOT_WORDS = 8
/** The first slot word free for the caller's per-address fields (all zero when the address is interned). */
export const FIRST_FIELD = 2
/** Slot words: the IPv4 address (or, for another address, its index), then index + 1 (0 = empty slot). */
const KEY = 0
const TAG = 1
/** Marks a tag whose key is an index into the table of other (non-IPv4) addresses. */
const OTHER = 0x8000_0000
/** Words per slot of the other addresses' index: the 4 address words, then index + 1. */
const OTHER_SLOT_WORDS = 8

/**
 * Interns addresses to dense indices 0, 1, 2… (first seen, first numbered) with open addressing over
 * typed arrays, and keeps the caller's per-address fields inside the address's hash slot: a packet's
 * lookup and its counters are one cache line, one cache miss, where a separate record array indexed
 * by the address's index was a second.
 *
 * A slot moves when the table grows: `intern` returns the slot's offset in `slots` after any growth,
 * and an offset kept across another `intern` must be looked up again (`slotOf`).
 */
export class AddressTable {
  /** SLOT_WORDS words per slot; fields at slot + FIRST_FIELD…; replaced when the table grows. */
  slots: Uint32Array
  /** The same buffer as doubles, for fields that hold sums beyond 2^32 (at an even word). */
  slotDoubles: Float64Array
  private mask: number
  /** Other addresses (IPv6): address → index, 8 words per slot, one cache line apart. */
  private otherSlots: Uint32Array
  private otherMask: number
  private otherCount = 0
  /** Addresses by index, 4 words each, for text() and word(). */
  private words: Uint32Array
  /** Slot offset by index. */
  private slotByIndex: Uint32Array
  count = 0

  /** `otherCapacity`: room for this many other (IPv6) addresses before the first regrowth. */
  constructor(initialCapacity = 1024, otherCapacity = 8) {
    let size = 16
    while (size < initialCapacity * 2) size *= 2
    this.slots = new Uint32Array(size * SLOT_WORDS)
    this.slotDoubles = new Float64Array(this.slots.buffer)
    this.mask = size - 1
    let otherSize = 16
    while (otherSize < otherCapacity * 2) otherSize *= 2
    this.otherSlots = new Uint32Array(otherSize * OTHER_SLOT_WORDS)
    this.otherMask = otherSize - 1
    this.words = new Uint32Array(initialCapacity * 4)
    this.slotByIndex = new Uint32Array(initialCapacity)
    adviseHugePages(this.slots, this.otherSlots, this.words, this.slotByIndex)
  }

  /** The slot offset of the address, inserting it when new. */
  intern(w0: number, w1: number, w2: number, w3: number): number {
    if (w2 === V4_MAPPED_WORD2 && w0 === 0 && w1 === 0) {
      const at = this.locateV4(w3)
      return this.slots[at + TAG] !== 0 ? at : this.insert(at, w3, this.append(w0, w1, w2, w3) + 1)
    }
    const other = this.locateOther(w0, w1, w2, w3)
    const stored = this.otherSlots[other + 4]!
    if (stored !== 0) return this.slotByIndex[stored - 1]!
    const index = this.append(w0, w1, w2, w3)
    this.otherSlots.set([w0, w1, w2, w3, index + 1], other)
    if (++this.otherCount * 2 > this.otherMask + 1) this.growOther()
    return this.insert(this.locateEmpty(index), index, (index + 1) | OTHER)
  }

  /** Index of the address, or -1. */
  find(w0: number, w1: number, w2: number, w3: number): number {
    // An empty slot's tag is 0, so its index is -1.
    if (w2 === V4_MAPPED_WORD2 && w0 === 0 && w1 === 0) return this.indexAt(this.locateV4(w3))
    return this.otherSlots[this.locateOther(w0, w1, w2, w3) + 4]! - 1
  }

  /** One slot field (a word at slot + `word`) of every address, in index order. */
  fieldByIndex(word: number): Uint32Array {
    const values = new Uint32Array(this.count)
    for (let index = 0; index < this.count; index++) values[index] = this.slots[this.slotByIndex[index]! + word]!
    return values
  }

  /** Every address's whole slot (SLOT_WORDS words), in index order: a copy, for handing the table to another thread. */
  slotsByIndex(): Uint32Array {
    const copy = new Uint32Array(this.count * SLOT_WORDS)
    for (let index = 0; index < this.count; index++) {
      const slot = this.slotByIndex[index]!
      for (let word = 0; word < SLOT_WORDS; word++) copy[index * SLOT_WORDS + word] = this.slots[slot + word]!
    }
    return copy
  }

  /** The slot offset of an interned address's index. */
  slotOf(index: number): number {
    return this.slotByIndex[index]!
  }

  /** The index of the address in a slot. */
  indexAt(slot: number): number {
    return (this.slots[slot + TAG]! & ~OTHER) - 1
  }

  private insert(at: number, key: number, tag: number): number {
    this.slots[at + KEY] = key
    this.slots[at + TAG] = tag
    this.slotByIndex[(tag & ~OTHER) - 1] = at
    // Every address has one slot here, so the load is count / size.
    if (this.count * 2 > this.mask + 1) {
      this.grow()
      return this.slotByIndex[(tag & ~OTHER) - 1]!
    }
    return at
  }

  /** The slot holding the IPv4 address, or the empty slot where it belongs. */
  private locateV4(w3: number): number {
    const slots = this.slots
    const wrap = this.mask * SLOT_WORDS + SLOT_WORDS - 1
    let at = (hash32(w3) & this.mask) * SLOT_WORDS
    // A tag with OTHER set keys an other address by its index, which may equal an IPv4 address's value.
    for (let tag = slots[at + TAG]!; tag !== 0 && !(slots[at + KEY] === w3 && tag < OTHER); tag = slots[at + TAG]!)
      at = (at + SLOT_WORDS) & wrap
    return at
  }

  /** The empty slot where an other address's index goes (its key never matches an IPv4 lookup). */
  private locateEmpty(key: number): number {
    const wrap = this.mask * SLOT_WORDS + SLOT_WORDS - 1
    let at = (hash32(key) & this.mask) * SLOT_WORDS
    while (this.slots[at + TAG] !== 0) at = (at + SLOT_WORDS) & wrap
    return at
  }

  private locateOther(w0: number, w1: number, w2: number, w3: number): number {
    const slots = this.otherSlots
    const wrap = this.otherMask * OTHER_SLOT_WORDS + OTHER_SLOT_WORDS - 1
    let at = (hashWords(w0, w1, w2, w3) & this.otherMask) * OTHER_SLOT_WORDS
    while (
      slots[at + 4] !== 0 &&
      !(slots[at + 3] === w3 && slots[at + 2] === w2 && slots[at + 1] === w1 && slots[at] === w0)
    )
      at = (at + OTHER_SLOT_WORDS) & wrap
    return at
  }

  /**
   * The arrays and counts as they stand, for the native scan: it interns addresses in place, as
   * `intern` does, only while no array needs to grow, and then reports its counts to `setCount`.
   */
  nativeView(): {
    slots: Uint32Array
    words: Uint32Array
    slotByIndex: Uint32Array
    mask: number
    count: number
    otherSlots: Uint32Array
    otherMask: number
    otherCount: number
  } {
    return {
      count: this.count,
      mask: this.mask,
      otherCount: this.otherCount,
      otherMask: this.otherMask,
      otherSlots: this.otherSlots,
      slotByIndex: this.slotByIndex,
      slots: this.slots,
      words: this.words,
    }
  }

  /** The table's counts after the native scan interned addresses into `nativeView()`'s arrays. */
  setCount(count: number, otherCount = this.otherCount): void {
    this.count = count
    this.otherCount = otherCount
  }

  /** The interned addresses' words, 4 per index, for handing a table to another thread. */
  exportWords(): Uint32Array {
    return this.words.slice(0, this.count * 4)
  }

  /** The words of the addresses at these indices, 4 each, in that order. */
  wordsOf(indices: ArrayLike<number>): Uint32Array {
    const out = new Uint32Array(indices.length * 4)
    for (let k = 0; k < indices.length; k++) {
      const from = indices[k]! * 4
      for (let position = 0; position < 4; position++) out[k * 4 + position] = this.words[from + position]!
    }
    return out
  }

  word(index: number, position: number): number {
    return this.words[index * 4 + position]!
  }

  /** Text form of an interned address: dotted quad for IPv4, RFC 5952 for IPv6. */
  text(index: number): string {
    return formatAddressAt(this.words, index)
  }

  private append(w0: number, w1: number, w2: number, w3: number): number {
    const index = this.count++
    if (index * 4 + 4 > this.words.length) {
      const grown = new Uint32Array(this.words.length * 2)
      grown.set(this.words)
      this.words = grown
      const slotByIndex = new Uint32Array(this.slotByIndex.length * 2)
      adviseHugePages(grown, slotByIndex)
      slotByIndex.set(this.slotByIndex)
      this.slotByIndex = slotByIndex
    }
    const base = index * 4
    this.words[base] = w0
    this.words[base + 1] = w1
    this.words[base + 2] = w2
    this.words[base + 3] = w3
    return index
  }

  /**
   * Doubles the slots, moving each slot whole (fields and all). Reads the old slots in order: in
   * index order every read was a cache miss as well as every write.
   */
  private grow(): void {
    const old = this.slots
    this.mask = this.mask * 2 + 1
    const slots = new Uint32Array((this.mask + 1) * SLOT_WORDS)
    adviseHugePages(slots)
    this.slots = slots
    this.slotDoubles = new Float64Array(slots.buffer)
    for (let from = 0; from < old.length; from += SLOT_WORDS) {
      const tag = old[from + TAG]!
      if (tag === 0) continue
      const at = this.locateEmpty(old[from + KEY]!)
      for (let word = 0; word < SLOT_WORDS; word++) slots[at + word] = old[from + word]!
      this.slotByIndex[(tag & ~OTHER) - 1] = at
    }
  }

  private growOther(): void {
    this.otherMask = this.otherMask * 2 + 1
    const slots = new Uint32Array((this.otherMask + 1) * OTHER_SLOT_WORDS)
    adviseHugePages(slots)
    const wrap = this.otherMask * OTHER_SLOT_WORDS + OTHER_SLOT_WORDS - 1
    const w = this.words
    for (let index = 0; index < this.count; index++) {
      const base = index * 4
      if (w[base + 2] === V4_MAPPED_WORD2 && w[base] === 0 && w[base + 1] === 0) continue
      let at = (hashWords(w[base]!, w[base + 1]!, w[base + 2]!, w[base + 3]!) & this.otherMask) * OTHER_SLOT_WORDS
      while (slots[at + 4] !== 0) at = (at + OTHER_SLOT_WORDS) & wrap
      slots.set(w.subarray(base, base + 4), at)
      slots[at + 4] = index + 1
    }
    this.otherSlots = slots
  }
}

function hash32(v: number): number {
  const h = Math.imul(v ^ 0x9e37_79b9, 0x85eb_ca6b)
  return (h ^ (h >>> 15)) >>> 0
}

function hashWords(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w3 ^ 0x9e37_79b9, 0x85eb_ca6b)
  h = Math.imul(h ^ w2 ^ (h >>> 15), 0xc2b2_ae35)
  h = Math.imul(h ^ w1 ^ (h >>> 13), 0x27d4_eb2f)
  h = Math.imul(h ^ w0 ^ (h >>> 16), 0x1656_67b1)
  return (h ^ (h >>> 15)) >>> 0
}

/** Addresses given as 4 words each, formatted on demand (a RequestLog's `clients` from a capture). */
export class AddressWordsList {
  readonly length: number

  constructor(readonly words: Uint32Array) {
    this.length = words.length / 4
  }

  /** As Array.prototype.at: a negative index counts from the end. */
  at(index: number): string | undefined {
    const whole = Math.trunc(index) || 0
    const k = whole < 0 ? whole + this.length : whole
    return k < 0 || k >= this.length ? undefined : formatAddressAt(this.words, k)
  }

  *[Symbol.iterator](): Iterator<string> {
    for (let index = 0; index < this.length; index++) yield this.at(index)!
  }
}

/** Text form of the `index`-th address of an array of 4 words per address. */
function formatAddressAt(words: Uint32Array, index: number): string {
  const base = index * 4
  return formatAddressWords(words[base]!, words[base + 1]!, words[base + 2]!, words[base + 3]!)
}

export function formatAddressWords(w0: number, w1: number, w2: number, w3: number): string {
  if (w0 === 0 && w1 === 0 && w2 === V4_MAPPED_WORD2)
    return `${w3 >>> 24}.${(w3 >>> 16) & 255}.${(w3 >>> 8) & 255}.${w3 & 255}`
  const groups = [w0 >>> 16, w0 & 0xffff, w1 >>> 16, w1 & 0xffff, w2 >>> 16, w2 & 0xffff, w3 >>> 16, w3 & 0xffff]
  // RFC 5952 §4.2: compress the longest run (≥ 2) of zero groups, the first one on a tie.
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
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
    const groups =
      rest === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
    const word = (i: number) => (((groups[i * 2] ?? 0) << 16) | (groups[i * 2 + 1] ?? 0)) >>> 0
    return [word(0), word(1), word(2), word(3)]
  }
  throw new BillwatchError('E_USAGE', 'not an IP address', {
    expected: 'an IPv4 or IPv6 address, or "auto"',
    field,
    got: text,
  })
}
