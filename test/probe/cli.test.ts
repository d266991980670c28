import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {LINKTYPE} from '../../src/pcap/decode.js'
import {CaptureWriter, ipPacket, linkFrame, tcpBody, udpPacket} from '../../src/pcap/writer.js'
import {encodeClientRequest, encodeNtp, MODE, unixMsToNtp} from '../../src/ntp/packet.js'
import {runCli, tempDir} from '../helpers/cli.js'
import {type NtpDaemon, startChronyd} from '../helpers/ntp-daemons.js'
import {type ScriptedServer, kissOfDeath, startScriptedServer} from './udp-server.js'

const JSON_KEYS = [
  'address',
  'port',
  'answered',
  'stratum',
  'refid',
  'version',
  'leap',
  'offsetMs',
  'delayMs',
  'kod',
  'mode6Exposed',
  'mode7Exposed',
  'amplification',
]

let chrony: NtpDaemon
let silent: ScriptedServer
let rate: ScriptedServer
const temp = tempDir('billwatch-probe-cli-')

beforeAll(async () => {
  ;[chrony, silent, rate] = await Promise.all([
    startChronyd(),
    startScriptedServer(() => undefined),
    startScriptedServer((request) => ({bytes: kissOfDeath(request, 'RATE', {poll: 10})})),
  ])
})
afterAll(async () => {
  await Promise.all([chrony.stop(), silent.close(), rate.close()])
  temp.cleanup()
})

describe('billwatch probe', () => {
  it('prints the documented --json keys per address and at the top level, and exits 0 when served', async () => {
    const result = await runCli([
      'probe',
      `${chrony.address}:${chrony.port}`,
      '--exposure',
      '--timeout',
      '300',
      '--json',
    ])
    expect(result.code).toBe(0)
    const json = result.json()
    for (const key of JSON_KEYS) {
      expect(json).toHaveProperty(key)
      expect(json.results[0]).toHaveProperty(key)
    }
    expect(json).toMatchObject({
      answered: 1,
      exitCode: 0,
      kod: null,
      mode6Exposed: false,
      mode7Exposed: false,
      port: chrony.port,
      stratum: 7,
      verdict: 'served',
    })
    expect(json.summary).toBe(`${chrony.address} serves NTP to the public: stratum 7, refid 127.127.1.1, answered 1/1`)
  })

  it('prints a table and the verdict for people, and exits 3 when nothing answers', async () => {
    const [served, notServed] = await Promise.all([
      runCli(['probe', `${chrony.address}:${chrony.port}`]),
      runCli(['probe', `127.0.0.1:${silent.port}`, '--timeout', '50', '--attempts', '2']),
    ])
    expect(served.stdout).toMatch(/^address\s+answered\s+stratum\s+refid/m)
    expect(served.stdout).toContain('serves NTP to the public: stratum 7')
    expect(notServed.code).toBe(3)
    expect(notServed.stdout).toContain(`127.0.0.1 does not serve NTP: no answer to 2 requests`)
    expect(notServed.stderr).toContain('no reply in')
    expect(silent.requests).toHaveLength(2)
  })

  it('exits 4 on KoD RATE and keeps away during the cool-down saved in the store', async () => {
    const db = join(temp.dir, 'rate.duckdb')
    const target = `127.0.0.1:${rate.port}`
    const first = await runCli(['probe', target, '--count', '3', '--db', db, '--json'])
    expect(first.code).toBe(4)
    expect(first.json()).toMatchObject({kod: 'RATE', verdict: 'refused'})
    const second = await runCli(['probe', target, '--db', db])
    expect(second.code).toBe(4)
    expect(second.stdout).toMatch(/was not probed: KoD RATE: cooling down until 20\d\d-/)
    expect(rate.requests).toHaveLength(1)
  })

  it('rejects an interval under 2 s and a bad port with one line and exit 2', async () => {
    const [fast, badPort] = await Promise.all([
      runCli(['probe', `${chrony.address}:${chrony.port}`, '--count', '2', '--interval', '1']),
      runCli(['probe', '127.0.0.1:99999']),
    ])
    expect(fast.code).toBe(2)
    expect(fast.stderr.trim().split('\n')[0]).toMatch(/--interval.*≥ 2/)
    expect(badPort.code).toBe(2)
    expect(badPort.stderr).toMatch(/PORT must be 1–65535.*127\.0\.0\.1:99999/)
  })
})

describe('joining the verdict with a capture', () => {
  let capture: string

  const CLIENT_PORT_BASE = 20_000

  beforeAll(() => {
    // 249 clients × 4 requests answered by the probed host, plus 4 SSH segments of the same size:
    // NTP responses are 996 of 1000 equal frames, the NTP pool server incident's 99.6%. The clients' ports lie below
    // Linux's ephemeral range (32768–60999), where chronyd's random port is: one of them equal to it
    // would make that client's traffic look like the server's.
    capture = join(temp.dir, 'server.pcap')
    const writer = new CaptureWriter(capture, {linkType: LINKTYPE.ethernet})
    let t = 1_700_000_000
    for (let client = 0; client < 249; client++) {
      const address = `198.51.100.${client + 1}`
      for (let i = 0; i < 4; i++) {
        const nonce = unixMsToNtp(t * 1000)
        writer.packet(
          t,
          linkFrame(
            LINKTYPE.ethernet,
            udpPacket(address, chrony.address, CLIENT_PORT_BASE + client, chrony.port, encodeClientRequest(nonce)),
          ),
        )
        const reply = encodeNtp({
          mode: MODE.server,
          originTime: nonce,
          receiveTime: nonce,
          stratum: 2,
          transmitTime: nonce,
        })
        writer.packet(
          t + 0.001,
          linkFrame(
            LINKTYPE.ethernet,
            udpPacket(chrony.address, address, chrony.port, CLIENT_PORT_BASE + client, reply),
          ),
        )
        t += 0.5
      }
    }
    for (let i = 0; i < 4; i++) {
      const ssh = ipPacket({
        body: tcpBody(22, 50_000, new Uint8Array(36)),
        dst: '198.51.100.250',
        protocol: 6,
        src: chrony.address,
      })
      writer.packet(t + i, linkFrame(LINKTYPE.ethernet, ssh))
    }
    writer.close()
  })

  it('reads the newest `billwatch pcap` evidence from the store: port P is the culprit', async () => {
    const db = join(temp.dir, 'join.duckdb')
    const pcap = await runCli([
      'pcap',
      capture,
      '--host',
      chrony.address,
      '--ntp-port',
      String(chrony.port),
      '--db',
      db,
      '--json',
    ])
    expect(pcap.code).toBe(0)
    const probe = await runCli(['probe', `${chrony.address}:${chrony.port}`, '--db', db, '--json'])
    const json = probe.json()
    expect(json.capture).toMatchObject({host: chrony.address, matchesHost: true, ntpClients: 249, source: 'store'})
    expect(json.capture.ntpShare).toBeCloseTo(0.996, 3)
    expect(json.capture.conclusion).toBe(
      `port ${chrony.port} is the culprit: 99.6% of outbound bytes in the capture are NTP responses from this host to 249 clients, which serves anyone`,
    )
  })

  it('measures a capture given with --pcap, and refuses to join one of another host', async () => {
    const [own, other] = await Promise.all([
      runCli(['probe', `${chrony.address}:${chrony.port}`, '--pcap', capture]),
      runCli(['probe', `[::1]:${chrony.port}`, '--pcap', capture, '--timeout', '50', '--attempts', '1', '--json']),
    ])
    expect(own.stdout).toContain(`port ${chrony.port} is the culprit: 99.6% of outbound bytes`)
    expect(other.json().capture).toMatchObject({matchesHost: false})
    expect(other.json().capture.conclusion).toBe(
      `the capture measures ${chrony.address}, not ::1: no conclusion joined`,
    )
  })
})
