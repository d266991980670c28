/**
 * Times the behaviour heuristics and the rate-limit replay on a incident-size capture's RequestLog
 * (~2.8M requests, ~250k clients), after the pcap reader has built it:
 *   node --import tsx bench/pcap/generate.ts incident bench/out/incident.pcap     (once, 593 MB)
 *   node --import tsx bench/behaviour/run.ts [bench/out/incident.pcap]
 * Prints each stage's wall time, the peak RSS and the headline findings.
 */
import {existsSync} from 'node:fs'

import {analyseBehaviour} from '../../src/behaviour/index.js'
import {analyseCapture} from '../../src/pcap/analyse.js'
import {simulateLimiters} from '../../src/ratelimit/index.js'

const path = process.argv[2] ?? 'bench/out/incident.pcap'
if (!existsSync(path)) {
  process.stderr.write(`${path} not found; write it first: node --import tsx bench/pcap/generate.ts incident ${path}\n`)
  process.exit(2)
}

function timed<T>(label: string, run: () => T): T {
  const started = performance.now()
  const result = run()
  process.stdout.write(`${label}: ${((performance.now() - started) / 1000).toFixed(2)} s\n`)
  return result
}

const capture = timed('read capture (pcap reader, not timed for behaviour)', () => analyseCapture(path))
const {log} = capture.ntp
process.stdout.write(
  `request log: ${log.count} requests, ${log.clients.length} clients, ${capture.durationSec.toFixed(0)} s\n`,
)

const behaviour = timed('analyseBehaviour', () => analyseBehaviour(log, {durationSec: capture.durationSec}))
const limits = timed('simulateLimiters (6 settings)', () =>
  simulateLimiters(log, {durationSec: capture.durationSec, suspectedNatClients: behaviour.suspectedNatClients}),
)
process.stdout.write(`peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB\n\n`)

process.stdout.write(`clients judged: ${behaviour.clientsJudged}\n`)
for (const nat of behaviour.suspectedNat.slice(0, 5)) {
  process.stdout.write(
    `NAT ${nat.address}: ~${nat.estimatedHosts} hosts (${nat.method}, ${nat.confidence}), ${nat.requests} requests on ${nat.ports} ports\n`,
  )
}
for (const client of behaviour.misbehaving.slice(0, 5)) {
  process.stdout.write(
    `misbehaving ${client.address}: ${client.requests} requests, ${client.qps.toFixed(2)} q/s, ${client.reasons.join(', ')}\n`,
  )
}
for (const fleet of behaviour.fleets)
  process.stdout.write(`fleet ${fleet.start}: ${fleet.clients} clients in ${fleet.durationSec} s\n`)
for (const violation of behaviour.violations)
  process.stdout.write(`violation ${violation.rule}: ${violation.clients} clients, ${violation.requests} requests\n`)
process.stdout.write('\n')
for (const result of limits.results) {
  process.stdout.write(
    `${result.setting}: answered ${result.answered}, KoD ${result.kods}, saves ${(100 * result.savedShare).toFixed(1)}% ($${result.savedAnnualUsd.toFixed(2)}/yr), NATs blacked out: ${result.blackedOutNats.map((nat) => nat.address).join(' ') || 'none'}\n`,
  )
}
