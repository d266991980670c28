import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {encodeNtp, MODE} from '../../src/ntp/packet.js'
import {analyseCapture} from '../../src/pcap/analyse.js'
import {IP_PROTOCOL, LINKTYPE} from '../../src/pcap/decode.js'
import {buildReport} from '../../src/pcap/report.js'
import {CaptureWriter, ipPacket, linkFrame, udpBody} from '../../src/pcap/writer.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'
import {withEnv} from '../helpers/env.js'
import {pcapScanners} from '../helpers/tools.js'

const SAMPLE = join(SAMPLES, 'captures', 'ntp-server.pcap')
const SERVER = '10.206.10.174'

/** The report of `path` with the request log held in memory, and spilled to disk every `spillRows` requests. */
function bothWays(path: string, spillRows: number, native: '0' | '1') {
  const report = (rows: string) =>
    withEnv({BILLWATCH_PCAP_NATIVE: native, BILLWATCH_SPILL_ROWS: rows}, () => {
      const analysis = analyseCapture(path)
      return {json: JSON.stringify(buildReport(analysis, {top: 20})), spilled: analysis.ntp.log.spilled}
    })
  return {memory: report('1e15'), spilled: report(String(spillRows))}
}

describe('a capture whose request log is spilled to disk', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('gives the report of the log held in memory, byte for byte, with both scanners (the sample: NAT, fleet, misbehaving clients)', () => {
    for (const native of pcapScanners()) {
      const {memory, spilled} = bothWays(SAMPLE, 300, native)
      expect(memory.spilled).toBeUndefined()
      expect(spilled.spilled!.chunks.length).toBeGreaterThan(3)
      expect(spilled.json).toBe(memory.json)
      const report = JSON.parse(spilled.json)
      expect(report.ntp.fleets).toHaveLength(1)
      expect(report.ntp.suspectedNatTotal).toBeGreaterThan(0)
      expect(report.ntp.rateLimiting.results).toHaveLength(6)
    }
  })

  it('keeps a request waiting for its reply across chunks, and each client its rows in capture order', () => {
    // 400 clients polling; every other reply to client 0 comes 1,000 requests late (so its requests settle out of
    // order, in later chunks than its next ones), client 1 is never answered, client 2 gets KoDs and polls on.
    const path = join(tmp.dir, 'late.pcap')
    const writer = new CaptureWriter(path)
    const frame = (src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array) =>
      linkFrame(
        LINKTYPE.ethernet,
        ipPacket({body: udpBody(srcPort, dstPort, payload), dst, protocol: IP_PROTOCOL.udp, src}),
      )
    const late: {due: number; client: string; port: number; seconds: number}[] = []
    let time = 1_402_000_000
    let first = 0
    for (let n = 0; n < 12_000; n++) {
      const i = (n * 7919) % 400
      const client = `100.64.${i >> 8}.${i & 0xff}`
      const port = 40_000 + (i % 3 === 0 ? n % 5 : 0)
      const seconds = 3_600_000_000 + n
      time += 0.01
      writer.packet(
        time,
        frame(
          client,
          SERVER,
          port,
          123,
          encodeNtp({mode: MODE.client, transmitTime: {fraction: 0, seconds}, version: i === 3 ? 2 : 4}),
        ),
      )
      const reply = (to: string, toPort: number, origin: number, kod = false) =>
        writer.packet(
          (time += 0.0003),
          frame(
            SERVER,
            to,
            123,
            toPort,
            encodeNtp(
              kod
                ? {
                    mode: MODE.server,
                    originTime: {fraction: 0, seconds: origin},
                    referenceId: new TextEncoder().encode('RATE'),
                    stratum: 0,
                    version: 4,
                  }
                : {mode: MODE.server, originTime: {fraction: 0, seconds: origin}, stratum: 2, version: 4},
            ),
          ),
        )
      if (i === 0 && first++ % 2 === 1) late.push({client, due: n + 1000, port, seconds})
      else if (i === 2) reply(client, port, seconds, true)
      else if (i !== 1) reply(client, port, seconds)
      while (late.length > 0 && late[0]!.due <= n) {
        const due = late.shift()!
        reply(due.client, due.port, due.seconds)
      }
    }
    writer.close()
    for (const native of pcapScanners()) {
      const {memory, spilled} = bothWays(path, 100, native)
      expect(spilled.spilled!.chunks.length).toBeGreaterThan(10)
      expect(spilled.json).toBe(memory.json)
      const report = JSON.parse(spilled.json)
      expect(report.ntp.requests).toBe(12_000)
      // Client 1's 30, and client 0's last late one.
      expect(report.ntp.unanswered).toBe(31)
    }
  })

  it('gives the same `pcap --json` through the CLI, the replays in a worker thread', async () => {
    const once = await runCli(['pcap', SAMPLE, '--json', '--db', join(tmp.dir, 'a.duckdb')])
    const spilled = await runCli(['pcap', SAMPLE, '--json', '--db', join(tmp.dir, 'b.duckdb')], {
      // The replays read the spilled log in a worker thread beside the behaviour analysis.
      env: {BILLWATCH_REPLAY_WORKER_MIN: '0', BILLWATCH_SPILL_ROWS: '500'},
    })
    expect(spilled.code).toBe(0)
    expect(spilled.stdout).toBe(once.stdout)
  })
})

describe('a capture with more clients than --max-clients', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('reports every total, analyses the first clients one by one, and says so (in --json too), with both scanners', async () => {
    const capped = (native: string) =>
      runCli(['pcap', SAMPLE, '--json', '--max-clients', '100', '--db', join(tmp.dir, `${native}.duckdb`)], {
        env: {BILLWATCH_PCAP_NATIVE: native},
      })
    const [native, javascript, whole] = await Promise.all([
      capped('1'),
      capped('0'),
      runCli(['pcap', SAMPLE, '--json', '--db', join(tmp.dir, 'whole.duckdb')]),
    ])
    expect(native.code).toBe(0)
    expect(javascript.stdout).toBe(native.stdout)
    const report = JSON.parse(native.stdout)
    const exact = JSON.parse(whole.stdout)
    expect(report.warnings.map((warning: {code: string}) => warning.code)).toEqual(['max-clients'])
    expect(report.warnings[0].message).toMatch(/more than --max-clients 100: the first 100 seen are analysed/)
    expect(report.ntp.beyondMaxClients).toMatchObject({clients: 276, maxClients: 100})
    for (const key of ['requests', 'responses', 'kods', 'uniqueClients', 'requestingClients', 'answeredClients'])
      expect(report.ntp[key]).toBe(exact.ntp[key])
    expect(report.ntp.outbound).toEqual(exact.ntp.outbound)
    expect(report.byPort).toEqual(exact.byPort)
    expect(report.ntp.topTalkers.length).toBeGreaterThan(0)
    // Spilled to disk or not, the same capped report.
    const spilled = withEnv({BILLWATCH_SPILL_ROWS: '200'}, () =>
      JSON.stringify(buildReport(analyseCapture(SAMPLE, {maxClients: 100}))),
    )
    expect(spilled).toBe(JSON.stringify(buildReport(analyseCapture(SAMPLE, {maxClients: 100}))))
  })
})
