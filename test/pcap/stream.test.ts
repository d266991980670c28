/**
 * Captures that are not finished files: `tcpdump -w - | billwatch pcap -` (plain and gzipped) and a
 * live capture on loopback (`--interface lo`) of NTP traffic this test makes, stopped by --duration
 * and by SIGINT. Loopback only, a few dozen packets, every process stops by itself.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import dgram from 'node:dgram'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {encodeNtp, MODE} from '../../src/ntp/packet.js'
import type {PcapReport} from '../../src/pcap/report.js'
import {ROOT, runCli, SAMPLES, tempDir} from '../helpers/cli.js'

const {dir, cleanup} = tempDir('billwatch-pcap-stream-')
afterAll(cleanup)
const SAMPLE = join(SAMPLES, 'captures/ntp-server.pcap')
const DB = ['--db', join(dir, 'store.duckdb')]

/** billwatch as runCli starts it, as a shell word list. */
function billwatchCommand(args: string[]): string {
  const built = process.env.BILLWATCH_TEST_BUILD === '1'
  const words = [
    process.execPath,
    ...(built ? [] : ['--import', 'tsx', '--no-warnings']),
    join(ROOT, built ? 'bin/run.js' : 'bin/dev.js'),
    ...args,
  ]
  return words.map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ')
}

/** Runs a shell pipeline; resolves with its stdout, stderr and exit code. */
function shell(script: string): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], {
      cwd: ROOT,
      env: {...process.env, NODE_ENV: 'test'},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code: code ?? -1, stderr, stdout})
    })
  })
}

function withoutSource(report: PcapReport): Omit<PcapReport, 'file'> {
  const {file: _file, ...rest} = report
  return rest
}

describe('billwatch pcap - (stdin)', () => {
  it('reads what tcpdump writes to a pipe exactly as the file it read', {timeout: 180_000}, async () => {
    const fromFile = await runCli(['pcap', SAMPLE, '--json', ...DB])
    expect(fromFile.code, fromFile.stderr).toBe(0)
    const piped = await shell(
      `tcpdump -r '${SAMPLE}' -w - 2>/dev/null | ${billwatchCommand(['pcap', '-', '--json', ...DB])}`,
    )
    expect(piped.code, piped.stderr).toBe(0)
    const report = JSON.parse(piped.stdout) as PcapReport
    expect(report.file).toBe('-')
    expect(withoutSource(report)).toEqual(withoutSource(fromFile.json<PcapReport>()))
  })

  it('reads a gzipped stream (tcpdump -w - | gzip) the same way', {timeout: 180_000}, async () => {
    const plain = await shell(
      `tcpdump -r '${SAMPLE}' -w - 2>/dev/null | ${billwatchCommand(['pcap', '-', '--json', ...DB])}`,
    )
    const gzipped = await shell(
      `tcpdump -r '${SAMPLE}' -w - 2>/dev/null | gzip -c | ${billwatchCommand(['pcap', '-', '--json', ...DB])}`,
    )
    expect(gzipped.code, gzipped.stderr).toBe(0)
    const {compression, fileBytes, ...rest} = JSON.parse(gzipped.stdout) as PcapReport
    const {compression: plainCompression, fileBytes: plainBytes, ...plainRest} = JSON.parse(plain.stdout) as PcapReport
    expect([compression, plainCompression]).toEqual(['gzip', 'none'])
    expect(fileBytes).toBeLessThan(plainBytes)
    expect(rest).toEqual(plainRest)
  })

  it('refuses a stream that is no capture, in one line', async () => {
    const result = await shell(
      `printf 'hello, this is not a capture at all' | ${billwatchCommand(['pcap', '-', ...DB])}`,
    )
    expect(result.code).toBe(1)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stderr).toMatch(/not a readable capture: unknown magic number/)
  })

  // The store's worker thread is still loading DuckDB when a command fails this early; stopping it then aborted the
  // process (exit 134) about one time in two, so one run is not enough to tell.
  it('refuses it the same way every time, however early the failure comes', async () => {
    for (let run = 0; run < 6; run++) {
      const result = await shell(`printf 'not a capture' | ${billwatchCommand(['pcap', '-', ...DB])}`)
      expect({code: result.code, lines: result.stderr.trim().split('\n').length}).toEqual({code: 1, lines: 1})
    }
  }, 60_000)
})

/** An NTP server on 127.0.0.1 that answers every request (mode 4, its origin the request's transmit time). */
async function ntpResponder(): Promise<{port: number; close(): void; answered(): number}> {
  const socket = dgram.createSocket('udp4')
  let answered = 0
  socket.on('message', (message, from) => {
    const reply = Buffer.from(message)
    reply[0] = (reply[0]! & 0xf8) | MODE.server
    reply[1] = 2
    message.copy(reply, 24, 40, 48)
    answered++
    socket.send(reply, from.port, from.address)
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  return {answered: () => answered, close: () => socket.close(), port: socket.address().port}
}

/** `count` client requests from one socket, `gapMs` apart, each with its own transmit time. */
async function queries(port: number, count: number, gapMs: number): Promise<void> {
  const socket = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  socket.on('message', () => undefined)
  for (let i = 0; i < count; i++) {
    const packet = encodeNtp({
      mode: MODE.client,
      transmitTime: {fraction: i * 1000 + 1, seconds: 3_900_000_000 + i},
      version: 4,
    })
    await new Promise<void>((resolve) => socket.send(packet, port, '127.0.0.1', () => resolve()))
    await new Promise((resolve) => setTimeout(resolve, gapMs))
  }
  await new Promise((resolve) => setTimeout(resolve, 200))
  socket.close()
}

/** Starts billwatch; resolves once it says tcpdump is listening. */
function startBillwatch(args: string[]): {
  child: ChildProcess
  listening: Promise<void>
  done: Promise<{code: number; stdout: string; stderr: string}>
} {
  const child = spawn('sh', ['-c', `exec ${billwatchCommand(args)}`], {
    cwd: ROOT,
    env: {...process.env, NODE_ENV: 'test'},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
  const listening = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      stderr += d
      if (stderr.includes('tcpdump is listening on lo')) resolve()
    })
    child.once('close', () => reject(new Error(`billwatch ended before tcpdump listened: ${stderr}`)))
  })
  listening.catch(() => undefined)
  const done = new Promise<{code: number; stdout: string; stderr: string}>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({code: code ?? -1, stderr, stdout})
    }),
  )
  return {child, done, listening}
}

describe('billwatch pcap --interface lo', () => {
  it('captures for --duration and reports every request and reply the test sent', async () => {
    const server = await ntpResponder()
    try {
      const run = startBillwatch([
        'pcap',
        '--interface',
        'lo',
        '--duration',
        '5s',
        '--filter',
        `udp port ${server.port}`,
        '--ntp-port',
        String(server.port),
        '--host',
        '127.0.0.1',
        '--json',
        ...DB,
      ])
      await run.listening
      await queries(server.port, 12, 50)
      const {code, stdout, stderr} = await run.done
      expect(code, stderr).toBe(0)
      const report = JSON.parse(stdout) as PcapReport
      expect(report.live).toMatchObject({
        filter: `udp port ${server.port}`,
        interface: 'lo',
        requestedSec: 5,
        stoppedBy: 'duration',
      })
      expect(report.file).toBe('interface lo')
      expect(report.ntp.requests).toBe(12)
      expect(report.ntp.responses).toBe(server.answered())
      expect(report.ntp.unanswered).toBe(0)
      expect(report.packets).toBe(24)
      expect(report.ntp.uniqueClients).toBe(1)
    } finally {
      server.close()
    }
  }, 60_000)

  it('ends the capture on SIGINT (Ctrl-C) and still reports', async () => {
    const server = await ntpResponder()
    try {
      const run = startBillwatch([
        'pcap',
        '--interface',
        'lo',
        '--filter',
        `udp port ${server.port}`,
        '--ntp-port',
        String(server.port),
        '--host',
        '127.0.0.1',
        '--json',
        ...DB,
      ])
      await run.listening
      await queries(server.port, 7, 30)
      run.child.kill('SIGINT')
      const {code, stdout, stderr} = await run.done
      expect(code, stderr).toBe(0)
      const report = JSON.parse(stdout) as PcapReport
      expect(report.live).toMatchObject({requestedSec: null, stoppedBy: 'interrupt'})
      expect(report.ntp.requests).toBe(7)
      expect(report.ntp.responses).toBe(7)
    } finally {
      server.close()
    }
  }, 60_000)

  it("names tcpdump's own refusal of an interface that does not exist", async () => {
    const result = await runCli(['pcap', '--interface', 'billwatch-none0', '--duration', '2s', ...DB])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/tcpdump failed \(exit \d+\).*billwatch-none0/)
  }, 60_000)
})
