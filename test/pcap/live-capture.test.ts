import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import dgram from 'node:dgram'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {encodeNtp, MODE} from '../../src/ntp/packet.js'
import {analyseCapture} from '../../src/pcap/analyse.js'
import {tempDir} from '../helpers/cli.js'
import {startChronyd, startNtpsec} from '../helpers/ntp-daemons.js'
import {requireRoot, requireTool} from '../helpers/tools.js'

const {dir, cleanup} = tempDir('billwatch-pcap-live-')
afterAll(cleanup)

/** tcpdump on lo, written to `file`; resolves once tcpdump says it is listening. */
async function startCapture(file: string, filter: string): Promise<ChildProcess> {
  requireRoot('capture on lo')
  const child = spawn(requireTool('tcpdump'), ['-i', 'lo', '-U', '-n', '-w', file, filter], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('tcpdump did not start in 10 s')), 10_000)
    let stderr = ''
    child.stderr.on('data', (chunk) => {
      stderr += chunk
      if (stderr.includes('listening on')) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => reject(new Error(`tcpdump exited ${code}: ${stderr}`)))
  })
  return child
}

async function stopCapture(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGINT')
  await exited
}

/** Sends `count` client requests of NTP version `version` from `address` (its own socket, one port), spaced `gapMs`. */
async function queries(
  address: string,
  server: string,
  port: number,
  count: number,
  version: number,
  gapMs: number,
): Promise<void> {
  const socket = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, address, resolve))
  socket.on('message', () => undefined)
  for (let i = 0; i < count; i++) {
    const packet = encodeNtp({
      mode: MODE.client,
      transmitTime: {fraction: (Math.random() * 2 ** 32) >>> 0, seconds: (Math.random() * 2 ** 32) >>> 0},
      version,
    })
    await new Promise<void>((resolve) => socket.send(packet, port, server, () => resolve()))
    await new Promise((resolve) => setTimeout(resolve, gapMs))
  }
  await new Promise((resolve) => setTimeout(resolve, 100))
  socket.close()
}

function lines(command: string, args: string[]): string[] {
  const result = spawnSync(command, args, {encoding: 'utf8', maxBuffer: 64 * 1024 * 1024})
  return result.stdout.trim().split('\n').filter(Boolean)
}

function tsharkFields(file: string, port: number, filter: string, fields: string[]): string[][] {
  return lines('tshark', [
    '-n',
    '-2',
    '-r',
    file,
    '-d',
    `udp.port==${port},ntp`,
    '-Y',
    filter,
    '-T',
    'fields',
    '-E',
    'separator=,',
    ...fields.flatMap((f) => ['-e', f]),
  ]).map((l) => l.split(','))
}

describe('counts agree with tshark and tcpdump on real captures', () => {
  it('chronyd on loopback, with rate limiting, queried by chronyd -Q and by clients of several NTP versions', async () => {
    const server = await startChronyd({address: '127.0.0.1', extraConfig: ['ratelimit interval 1 burst 2 leak 2']})
    const file = join(dir, 'chronyd.pcap')
    const capture = await startCapture(file, `udp port ${server.port}`)
    try {
      // A real client implementation: chronyd's one-shot mode, iburst (4–8 requests, 2 s apart at most).
      const oneShot = spawn(
        'chronyd',
        ['-Q', '-t', '4', '-f', '/dev/null', `server ${server.address} port ${server.port} iburst`],
        {stdio: 'ignore'},
      )
      await Promise.all([
        new Promise((resolve) => oneShot.once('exit', resolve)),
        queries('127.0.7.1', server.address, server.port, 12, 4, 40), // greedy: the limiter drops some
        queries('127.0.7.2', server.address, server.port, 3, 3, 300),
        queries('127.0.7.3', server.address, server.port, 2, 2, 300),
      ])
    } finally {
      await stopCapture(capture)
      await server.stop()
    }

    const analysis = analyseCapture(file, {host: server.address, ntpPort: server.port})
    const frames = tsharkFields(file, server.port, 'frame', ['frame.len', 'frame.cap_len', 'ip.len'])
    expect(analysis.packets).toBe(frames.length)
    expect(analysis.packets).toBe(lines('tcpdump', ['-nr', file]).length)
    expect(analysis.bytes).toBe(frames.reduce((s, f) => s + Number(f[0]), 0))
    expect(analysis.capturedBytes).toBe(frames.reduce((s, f) => s + Number(f[1]), 0))
    expect(analysis.billableBytes).toBe(frames.reduce((s, f) => s + Number(f[2]), 0))

    const requests = tsharkFields(file, server.port, `ip.dst==${server.address} && ntp.flags.mode==3`, [
      'ip.src',
      'ntp.flags.vn',
    ])
    const replies = tsharkFields(file, server.port, `ip.src==${server.address} && ntp.flags.mode==4`, ['ip.dst'])
    expect(analysis.ntp.requests).toBe(requests.length)
    expect(analysis.ntp.responses).toBe(replies.length)
    expect(analysis.ntp.requests).toBeGreaterThan(analysis.ntp.responses) // the limiter dropped some
    // tshark's two-pass request/response matching: requests with no response are the unanswered ones.
    expect(analysis.ntp.unanswered).toBe(
      tsharkFields(file, server.port, `ip.dst==${server.address} && ntp.flags.mode==3 && !ntp.response_in`, [
        'frame.number',
      ]).length,
    )
    expect(analysis.ntp.kods).toBe(
      tsharkFields(file, server.port, 'ntp.flags.mode==4 && ntp.stratum==0', ['frame.number']).length,
    )

    // Per client: requests and versions, as tshark groups them.
    const perClient = new Map<string, {requests: number; versions: Set<number>}>()
    for (const [src, vn] of requests) {
      const entry = perClient.get(src!) ?? {requests: 0, versions: new Set<number>()}
      entry.requests++
      entry.versions.add(Number(vn))
      perClient.set(src!, entry)
    }
    const {log, counters} = analysis.ntp
    expect(new Set(log.clients)).toEqual(new Set(perClient.keys()))
    ;[...log.clients].forEach((address, c) => expect(counters.requests[c]).toBe(perClient.get(address)!.requests))
    const versionsOf = (address: string) =>
      new Set(
        [...log.version.keys()].filter((i) => log.clients.at(log.client[i]!) === address).map((i) => log.version[i]!),
      )
    expect(versionsOf('127.0.7.3')).toEqual(new Set([2]))
    expect(versionsOf('127.0.7.2')).toEqual(perClient.get('127.0.7.2')!.versions)

    // The NTP pool server incident's pipeline: tcpdump -nr | awk '{print $5}' | sed 's=.[0-9]*:==' | sort | uniq | wc
    // -l
    const seedClients = new Set(
      lines('tcpdump', ['-nr', file, `src host ${server.address} and src port ${server.port}`]).map((l) =>
        l.split(' ')[4]!.replace(/\.[0-9]*:$/, ''),
      ),
    )
    expect(analysis.ntp.answeredClients).toBe(seedClients.size)
  })

  it('ntpsec on loopback answering KoD INIT and RATE: KoDs and kiss codes as tshark decodes them', async () => {
    const server = await startNtpsec({config: ['restrict default kod limited nomodify noquery']})
    const file = join(dir, 'ntpsec.pcap')
    const capture = await startCapture(file, `host ${server.address} and udp port 123`)
    try {
      await queries('127.0.7.9', server.address, 123, 24, 4, 50)
    } finally {
      await stopCapture(capture)
      await server.stop()
    }
    const analysis = analyseCapture(file, {host: server.address})
    const kods = tsharkFields(file, 123, 'ntp.flags.mode==4 && ntp.stratum==0', ['ntp.refid'])
    // tcpdump may miss the first requests while it attaches its filter: compare with what it wrote.
    expect(analysis.ntp.requests).toBe(tsharkFields(file, 123, 'ntp.flags.mode==3', ['frame.number']).length)
    expect(analysis.ntp.requests).toBeGreaterThan(10)
    // RFC 5905 §7.4: INIT (not synchronised yet) is an answer, not a Kiss-o'-Death; RATE is one.
    const kissCodes: Record<string, number> = {}
    const unsynchronised: Record<string, number> = {}
    for (const [refid] of kods) {
      const text = Buffer.from(refid!.replaceAll(':', ''), 'hex').toString('latin1').replace(/\0+$/, '')
      const into = text === 'INIT' || text === 'STEP' ? unsynchronised : kissCodes
      into[text] = (into[text] ?? 0) + 1
    }
    const kodCount = Object.values(kissCodes).reduce((a, b) => a + b, 0)
    expect(analysis.ntp.kissCodes).toEqual(kissCodes)
    expect(analysis.ntp.unsynchronised).toEqual(unsynchronised)
    expect(analysis.ntp.kods).toBe(kodCount)
    expect(unsynchronised.INIT).toBeGreaterThan(0)
    expect(analysis.ntp.counters.kods[0]).toBe(kodCount)
    expect(analysis.ntp.responses).toBe(
      kods.length + tsharkFields(file, 123, 'ntp.flags.mode==4 && ntp.stratum!=0', ['frame.number']).length,
    )
  })
})
