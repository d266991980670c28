/**
 * bench/pcap/js-bound.ts: the work of bench/pcap/native-bound.c, line for line in JavaScript, to split
 * the pcap scan's cost into what JavaScript costs and what billwatch's fuller scan adds (IPv6, VLANs,
 * fragments, pcapng, port and traffic totals, reply matching, the whole request log). Not part of
 * billwatch.
 *
 *   node --import tsx bench/pcap/js-bound.ts [bench/out/incident.pcap]
 *
 * Prints its counts (equal to native-bound's and `billwatch pcap`'s) and the time of each of 3 passes.
 */
import {closeSync, openSync, readSync} from 'node:fs'

const path = process.argv[2] ?? 'bench/out/incident.pcap'
const HOST = ((10 << 24) | (206 << 16) | (10 << 8) | 174) >>> 0
const CHUNK = 1 << 20
const MAX_RECORD = 16 + 262_144

const mask = (1 << 20) - 1
const slots = new Uint32Array((mask + 1) * 8)
const slotDoubles = new Float64Array(slots.buffer)
let count = 0

function hash32(v: number): number {
  const h = Math.imul(v ^ 0x9e_37_79_b9, 0x85_eb_ca_6b)
  return (h ^ (h >>> 15)) >>> 0
}

/** Slot words: key, tag, packets, requests, responses, client; doubles 3: billable bytes. */
function intern(address: number): number {
  for (let i = hash32(address) & mask; ; i = (i + 1) & mask) {
    const at = i * 8
    if (slots[at + 1] === 0) {
      slots[at] = address
      slots[at + 1] = ++count
      return at
    }
    if (slots[at] === address) return at
  }
}

const buffer = Buffer.allocUnsafe(CHUNK + MAX_RECORD)
const requestTime = new Uint32Array(1 << 23)
const word = (at: number): number =>
  ((buffer[at]! << 24) | (buffer[at + 1]! << 16) | (buffer[at + 2]! << 8) | buffer[at + 3]!) >>> 0
const wordLe = (at: number): number =>
  (buffer[at]! | (buffer[at + 1]! << 8) | (buffer[at + 2]! << 16) | (buffer[at + 3]! << 24)) >>> 0

for (let pass = 0; pass < 3; pass++) {
  const started = performance.now()
  slots.fill(0)
  count = 0
  const fd = openSync(path, 'r')
  let have = readSync(fd, buffer, 0, CHUNK, 0)
  let fileAt = have
  let at = 24
  let packets = 0
  let requests = 0
  let responses = 0
  let billable = 0
  for (;;) {
    if (have - at < MAX_RECORD) {
      buffer.copy(buffer, 0, at, have)
      have -= at
      at = 0
      const got = readSync(fd, buffer, have, CHUNK, fileAt)
      fileAt += got
      have += got
    }
    if (have - at < 16) break
    const caplen = wordLe(at + 8)
    if (at + 16 + caplen > have) break
    const frame = at + 16
    const seconds = wordLe(at)
    at += 16 + caplen
    packets++
    if (caplen < 42 || buffer[frame + 12] !== 8 || buffer[frame + 13] !== 0) continue
    const ip = frame + 14
    if (buffer[ip]! >> 4 !== 4 || buffer[ip + 9] !== 17) continue
    const udp = ip + (buffer[ip]! & 15) * 4
    const src = word(ip + 12)
    const dst = word(ip + 16)
    const srcPort = (buffer[udp]! << 8) | buffer[udp + 1]!
    const dstPort = (buffer[udp + 2]! << 8) | buffer[udp + 3]!
    const ipBytes = (buffer[ip + 2]! << 8) | buffer[ip + 3]!
    if (src === HOST && srcPort === 123) {
      const slot = intern(dst)
      slots[slot + 2]!++
      slots[slot + 4]!++
      slotDoubles[(slot >> 1) + 3]! += ipBytes
      responses++
      billable += ipBytes
    } else if (dst === HOST && dstPort === 123) {
      const slot = intern(src)
      slots[slot + 2]!++
      if (slots[slot + 5] === 0) slots[slot + 5] = count
      slots[slot + 3]!++
      requestTime[requests++] = seconds
    }
  }
  closeSync(fd)
  process.stdout.write(
    `packets ${packets}, NTP requests ${requests}, replies ${responses} (billable ${billable} bytes), addresses ${count}: ${(performance.now() - started).toFixed(0)} ms\n`,
  )
}
