/**
 * The pcap scan's address table on a capture with far more distinct addresses than it is sized for
 * (a flood of spoofed sources, a scan of the whole server): interns N distinct random IPv4 addresses
 * into a table that starts at 4,096, so it regrows ~10 times on the way.
 *
 *   node --import tsx bench/pcap/address-table.ts [N=3000000]
 *
 * Prints the best of 3 runs: wall time, and nanoseconds per address.
 */
import {AddressTable, V4_MAPPED_WORD2} from '../../src/pcap/addresses.js'
import {seededRandom} from '../../src/ratelimit/index.js'

const count = Number(process.argv[2] ?? 3_000_000)
const random = seededRandom(1)
const addresses = Uint32Array.from({length: count}, () => Math.floor(random() * 2 ** 32))

let best = Number.POSITIVE_INFINITY
let distinct = 0
for (let run = 0; run < 3; run++) {
  const started = performance.now()
  const table = new AddressTable(4096)
  for (let i = 0; i < count; i++) table.intern(0, 0, V4_MAPPED_WORD2, addresses[i]!)
  best = Math.min(best, performance.now() - started)
  distinct = table.count
}
process.stdout.write(
  `${count} random IPv4 addresses (${distinct} distinct) from a 4,096-address table: ${(best / 1000).toFixed(2)} s, ${((best * 1e6) / count).toFixed(0)} ns per address (best of 3)\n`,
)
