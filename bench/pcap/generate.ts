/**
 * Writes a synthetic NTP-server capture. The committed samples come from here:
 *   node --import tsx bench/pcap/generate.ts sample samples/captures/ntp-server.pcap
 *   node --import tsx bench/pcap/generate.ts control samples/captures/ntp-control.pcap
 *   node --import tsx bench/pcap/generate.ts incident bench/out/incident.pcap     (593 MB, never committed)
 */
import {statSync} from 'node:fs'

import {generateCapture, SCENARIOS} from './scenario.js'

const [name = 'sample', out = `bench/out/${name}.pcap`] = process.argv.slice(2)
const scenario = SCENARIOS[name]
if (!scenario) {
  process.stderr.write(`unknown scenario "${name}"; expected one of ${Object.keys(SCENARIOS).join(', ')}\n`)
  process.exit(2)
}
const started = performance.now()
const result = generateCapture(scenario, out)
const seconds = (performance.now() - started) / 1000
process.stdout.write(
  `${out}: ${statSync(out).size} bytes, ${result.packets} packets, ${result.requests} requests, ${result.replies} replies, ${result.clients} client addresses (${seconds.toFixed(1)} s)\n`,
)
