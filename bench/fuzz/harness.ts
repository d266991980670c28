/**
 * The fuzz harness: mutates a seed of each input kind, runs the real CLI on it with a time bound, and
 * classifies what happened. A run may succeed or refuse the input; it fails the harness when it
 * - crashes: a stack trace, an internal error (E_INTERNAL), a process that died;
 * - hangs: no answer within the time bound;
 * - answers raw: an error that is not one `billwatch: …` line (plus `Try:` hints), or under --json
 *   not an {"error": …} object;
 * - changes the store although it failed;
 * - lets an escape sequence from the input through to human output.
 */
import {type ChildProcess, execFileSync, fork, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import dgram from 'node:dgram'
import {copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'

import {field, stringAt} from '../../src/core/json.js'
import {decodeNtp, encodeNtp, MODE, unixMsToNtp} from '../../src/ntp/packet.js'
import {Store} from '../../src/store/index.js'
import {buildCorpus, type Corpus, ROOT, seedStoreInput} from './corpus.js'
import {HOSTILE_TEXT, mutateBytes, mutateText, oddCsv} from './mutate.js'
import {Random} from './random.js'

export const KINDS = [
  'usage-report',
  'cur1-csv',
  'cur1-gz',
  'cur2-csv',
  'cur2-parquet',
  'focus-csv',
  'cost-explorer-csv',
  'manifest',
  'pcap',
  'pcapng',
  'ntp',
  'git',
  'apt-log',
  'knowledge',
] as const
export type Kind = (typeof KINDS)[number]

/** `cli`: the built CLI run as its own process (bin/run.js) answered an input differently from the in-process run. */
export type FailureType = 'cli' | 'crash' | 'escape' | 'hang' | 'raw' | 'store'

export interface Failure {
  kind: Kind
  index: number
  type: FailureType
  argv: string[]
  /** The first line of what the CLI printed (or why it is a failure). */
  detail: string
  /** A copy of the input that failed, when failures are kept. */
  input?: string
}

export interface KindCounts {
  inputs: number
  accepted: number
  refused: number
  failed: number
  /** Inputs also run through the built CLI as its own process. */
  viaCli: number
  /** CPU time of the CLI for this kind's inputs, in total. */
  cpuMs: number
}

export interface Slowest {
  kind: Kind
  index: number
  cpuMs: number
  ms: number
}

export interface FuzzReport {
  count: number
  seed: number
  timeoutMs: number
  seconds: number
  slowestMs: number
  slowestCpuMs: number
  /** The input that took the most CPU time. */
  slowest?: Slowest
  /** Every how many inputs one also ran through bin/run.js. */
  cliEvery: number
  totals: Record<FailureType, number>
  byKind: Record<string, KindCounts>
  failures: Failure[]
}

export interface FuzzOptions {
  count: number
  seed: number
  kinds?: readonly Kind[]
  /** Per-input time bound (a run that takes longer is a hang). */
  timeoutMs?: number
  jobs?: number
  /** Copy failing inputs here. */
  keepDir?: string
  /** After each input: its failure, or the one line it was refused with. */
  onResult?: (done: number, failure: Failure | undefined, refusal: string | undefined, report: FuzzReport) => void
  /** Only these input numbers (to reproduce failures of a run with the same seed and count). */
  only?: number[]
  /** Run commands/*.ts through tsx instead of the build in dist/. */
  fromSources?: boolean
  /** Also run every n-th input through the CLI as its own process (bin/run.js), end to end; 0: never. */
  cliEvery?: number
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now()
  const timeoutMs = options.timeoutMs ?? 10_000
  const kinds = options.kinds ?? KINDS
  const work = join(tmpdir(), `billwatch-fuzz-${process.pid}-${Date.now()}`)
  mkdirSync(work, {recursive: true})
  const corpus = await buildCorpus(join(work, 'corpus'))
  const report: FuzzReport = {
    byKind: Object.fromEntries(
      kinds.map((k) => [k, {accepted: 0, cpuMs: 0, failed: 0, inputs: 0, refused: 0, viaCli: 0}]),
    ),
    cliEvery: options.cliEvery ?? 25,
    count: options.count,
    failures: [],
    seconds: 0,
    seed: options.seed,
    slowestCpuMs: 0,
    slowestMs: 0,
    timeoutMs,
    totals: {cli: 0, crash: 0, escape: 0, hang: 0, raw: 0, store: 0},
  }
  const sources = options.fromSources ?? process.env.BILLWATCH_FUZZ_SOURCES === '1'
  const jobs = await Promise.all(
    Array.from({length: Math.max(1, options.jobs ?? 2)}, (_, n) => Job.start(join(work, `job-${n}`), corpus, sources)),
  )
  const indices = options.only ?? Array.from({length: options.count}, (_, i) => i)
  let next = 0
  let done = 0
  try {
    await Promise.all(
      jobs.map(async (job) => {
        while (next < indices.length) {
          const index = indices[next++]!
          const kind = kinds[index % kinds.length]!
          const outcome = await job.fuzzOne(
            kind,
            index,
            options.seed,
            timeoutMs,
            report.cliEvery > 0 && index % report.cliEvery === 0,
          )
          const counts = report.byKind[kind]!
          counts.inputs++
          counts.cpuMs += outcome.cpuMs
          if (outcome.viaCli) counts.viaCli++
          report.slowestMs = Math.max(report.slowestMs, outcome.ms)
          if (outcome.cpuMs > report.slowestCpuMs) {
            report.slowestCpuMs = outcome.cpuMs
            report.slowest = {cpuMs: outcome.cpuMs, index, kind, ms: outcome.ms}
          }
          if (outcome.failure) {
            counts.failed++
            report.totals[outcome.failure.type]++
            if (options.keepDir) outcome.failure.input = keepInput(options.keepDir, outcome.failure, outcome.inputPath)
            report.failures.push(outcome.failure)
          } else if (outcome.accepted) counts.accepted++
          else counts.refused++
          options.onResult?.(
            ++done,
            outcome.failure,
            outcome.refusal === undefined ? undefined : `#${index} ${kind}: ${outcome.refusal}`,
            report,
          )
        }
      }),
    )
  } finally {
    await Promise.all(jobs.map((job) => job.stop()))
    rmSync(work, {force: true, recursive: true})
  }
  report.failures.sort((a, b) => a.index - b.index)
  report.seconds = (Date.now() - started) / 1000
  return report
}

function keepInput(dir: string, failure: Failure, inputPath: string): string {
  mkdirSync(dir, {recursive: true})
  const target = join(dir, `${failure.index}-${failure.kind}-${failure.type}`)
  try {
    execFileSync('cp', ['-r', inputPath, target])
  } catch {
    // Keeping the input is a courtesy: the failure is reported either way.
  }
  return target
}

interface RunResult {
  exitCode: number
  stdout: string
  stderr: string
  hung: boolean
  /** The process ended itself (billwatch's last-resort handler) or died. */
  died: boolean
  escaped: boolean
  ms: number
  /** CPU time of the CLI process (all its threads) for this run. */
  cpuMs: number
}

/** One long-lived CLI process (cli-worker.ts); replaced after a hang or a death. */
class CliWorker {
  private child: ChildProcess | undefined
  private pending: undefined | ((result: Omit<RunResult, 'cpuMs' | 'ms' | 'hung'>) => void)
  private rawStderr = ''
  private runs = 0

  constructor(
    readonly env: NodeJS.ProcessEnv,
    /** Run untimed after each start, so that loading each command's modules is not charged to an input. */
    private readonly warmUps: string[][] = [['--version']],
  ) {}

  async start(): Promise<void> {
    await this.spawn()
    for (const argv of this.warmUps) await this.run(argv, 600_000, false)
  }

  private async spawn(): Promise<void> {
    const child = fork(join(ROOT, 'bench/fuzz/cli-worker.ts'), [], {
      env: this.env,
      execArgv: ['--import', 'tsx', '--no-warnings'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    this.child = child
    this.runs = 0
    // What the process writes past the captured streams (a native module, Node itself) still counts.
    child.stdout!.on('data', (d) => (this.rawStderr += d))
    child.stderr!.on('data', (d) => (this.rawStderr += d))
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve())
      child.once('exit', (code) =>
        reject(new Error(`the CLI worker ended at start (exit ${code}): ${this.rawStderr.slice(0, 2000)}`)),
      )
    })
    // cli-worker.ts's reply: {exitCode, stdout, stderr}, with exited or escaped when the run ended the process.
    child.on('message', (message: unknown) => {
      const done = this.pending
      this.pending = undefined
      done?.({
        died: Boolean(field(message, 'exited')),
        escaped: Boolean(field(message, 'escaped')),
        exitCode: Number(field(message, 'exitCode')),
        stderr: stringAt(message, 'stderr') ?? '',
        stdout: stringAt(message, 'stdout') ?? '',
      })
    })
    child.on('exit', (code, signal) => {
      if (this.child !== child) return
      this.child = undefined
      const done = this.pending
      this.pending = undefined
      done?.({
        died: true,
        escaped: false,
        exitCode: code ?? -1,
        stderr: `${this.rawStderr}\n(the process died: ${signal ?? `exit ${code}`})`,
        stdout: '',
      })
    })
  }

  async run(argv: string[], timeoutMs: number, restart = true): Promise<RunResult> {
    // A fresh process now and then: memory a long run accumulates is not the input's fault.
    if (restart && (!this.child || this.runs >= 400)) {
      await this.stop()
      await this.start()
    }
    this.runs++
    this.rawStderr = ''
    const started = Date.now()
    const child = this.child!
    const cpuAtStart = cpuMs(child.pid!)
    // The bound is on CPU time, which a busy machine does not stretch, and on wall time at WALL_FACTOR
    // times the bound, which catches a run that waits (on a pipe, a socket) without using any CPU.
    const result = await new Promise<Omit<RunResult, 'cpuMs' | 'ms'> & {hung: boolean}>((resolve) => {
      const timer = setInterval(() => {
        if (cpuMs(child.pid!) - cpuAtStart <= timeoutMs && Date.now() - started <= timeoutMs * WALL_FACTOR) return
        clearInterval(timer)
        this.pending = undefined
        resolve({died: false, escaped: false, exitCode: -1, hung: true, stderr: '', stdout: ''})
      }, 200)
      this.pending = (r) => {
        clearInterval(timer)
        resolve({...r, hung: false})
      }
      child.send({argv, id: this.runs})
    })
    const cpu = cpuMs(child.pid!) - cpuAtStart
    if (result.hung || result.died) await this.stop()
    const extra = this.rawStderr.trim()
    return {
      ...result,
      cpuMs: cpu,
      ms: Date.now() - started,
      stderr: extra ? `${result.stderr}${extra}\n` : result.stderr,
    }
  }

  async stop(): Promise<void> {
    const child = this.child
    this.child = undefined
    if (child?.exitCode !== null) return
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve())
      child.kill('SIGKILL')
    })
  }
}

/** Runs the built CLI as a user does (bin/run.js, or bin/dev.js from the sources) under the same bounds as the pool. */
async function runCliProcess(argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<RunResult> {
  const fromSources = env.BILLWATCH_FUZZ_SOURCES === '1'
  const entry = fromSources
    ? ['--import', 'tsx', '--no-warnings', join(ROOT, 'bin/dev.js')]
    : [join(ROOT, 'bin/run.js')]
  const started = Date.now()
  // Its own process group, so that a hang ends with everything it started (git, a pipe reader).
  const child = spawn(process.execPath, [...entry, ...argv], {
    cwd: ROOT,
    detached: true,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  let cpu = 0
  let hung = false
  const exit = await new Promise<{code: null | number; signal: NodeJS.Signals | null}>((resolve) => {
    const timer = setInterval(() => {
      cpu = Math.max(cpu, cpuMs(child.pid!))
      if (cpu <= timeoutMs && Date.now() - started <= timeoutMs * WALL_FACTOR) return
      hung = true
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // The group has already gone.
      }
    }, 200)
    child.on('close', (code, signal) => {
      clearInterval(timer)
      resolve({code, signal})
    })
  })
  // A signal, or no exit code, is a process that died.
  const died = !hung && exit.code === null
  return {
    cpuMs: cpu,
    died,
    escaped: false,
    exitCode: exit.code ?? -1,
    hung,
    ms: Date.now() - started,
    stderr: died ? `${stderr}\n(the process died: ${exit.signal})` : stderr,
    stdout,
  }
}

interface Outcome {
  accepted: boolean
  /** Also run through bin/run.js. */
  viaCli?: boolean
  cpuMs: number
  refusal?: string
  failure?: Failure
  inputPath: string
  ms: number
}

/** One worker process, its own store (reset to its starting state after each change), NTP server and folder. */
class Job {
  private storeHash = ''
  private storeRows = ''
  private ntpReplies: (request: Buffer) => Buffer[] = () => []
  private ntpPort = 0

  private constructor(
    private readonly dir: string,
    private readonly corpus: Corpus,
    private readonly worker: CliWorker,
    private readonly socket: dgram.Socket,
  ) {}

  static async start(dir: string, corpus: Corpus, fromSources: boolean): Promise<Job> {
    mkdirSync(join(dir, 'home'), {recursive: true})
    const env = {
      ...process.env,
      BILLWATCH_FUZZ_SOURCES: fromSources ? '1' : '0',
      BILLWATCH_DB: join(dir, 'store.duckdb'),
      BILLWATCH_MEMORY_LIMIT: '256MB',
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: join(dir, 'home'),
      XDG_DATA_HOME: join(dir, 'home'),
    }
    // One run of each command on its seed, into a scratch store, before any input is timed.
    mkdirSync(join(dir, 'seed-root/var/log/apt'), {recursive: true})
    writeFileSync(join(dir, 'seed-root/var/log/apt/history.log'), corpus.seeds['apt-log']!)
    const seedCapture = join(dir, 'seed.pcap')
    writeFileSync(seedCapture, corpus.seeds.pcap!)
    const warm = ['--db', join(dir, 'warm.duckdb')]
    const worker = new CliWorker(env, [
      ['ingest', seedStoreInput(corpus), ...warm],
      ['status', ...warm],
      ['anomalies', ...warm],
      ['correlate', '--root', join(dir, 'seed-root'), '--date', '2014-03-30', ...warm],
      ['pcap', seedCapture, ...warm],
    ])
    await worker.start()
    const socket = dgram.createSocket('udp4')
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()))
    const job = new Job(dir, corpus, worker, socket)
    job.ntpPort = socket.address().port
    socket.on('message', (request, remote) => {
      for (const reply of job.ntpReplies(request)) socket.send(reply, remote.port, remote.address)
    })
    // The seed store: one usage report, ingested by the CLI itself.
    const seeded = await worker.run(['ingest', seedStoreInput(corpus), '--db', job.seedStore], 120_000)
    if (seeded.exitCode !== 0) throw new Error(`cannot build the starting store: ${seeded.stderr}`)
    copyFileSync(job.seedStore, job.store)
    job.storeHash = hashFile(job.store)
    job.storeRows = await storeRows(job.store)
    return job
  }

  private get store(): string {
    return join(this.dir, 'store.duckdb')
  }

  private get seedStore(): string {
    return join(this.dir, 'seed.duckdb')
  }

  async stop(): Promise<void> {
    await this.worker.stop()
    this.socket.close()
  }

  async fuzzOne(kind: Kind, index: number, seed: number, timeoutMs: number, viaCli = false): Promise<Outcome> {
    const random = new Random((seed * 1_000_003 + index * 7919) >>> 0)
    const inputDir = join(this.dir, 'input')
    rmSync(inputDir, {force: true, recursive: true})
    mkdirSync(inputDir, {recursive: true})
    const argv = this.prepare(kind, random, inputDir)
    const json = random.chance(0.3)
    if (json) argv.push('--json')
    const result = await this.worker.run(argv, timeoutMs)
    const verdict = await this.judge(kind, index, argv, json, result, timeoutMs)
    const outcome: Outcome = {
      accepted: verdict.ok,
      cpuMs: result.cpuMs,
      inputPath: inputDir,
      ms: result.ms,
      ...(verdict.failure
        ? {failure: verdict.failure}
        : verdict.refusal === undefined
          ? {}
          : {refusal: verdict.refusal}),
    }
    if (!viaCli || verdict.failure) return outcome
    // The same input through the built CLI as its own process: exit code, streams and store end to end.
    outcome.viaCli = true
    const real = await runCliProcess(argv, this.worker.env, timeoutMs)
    const end = await this.judge(kind, index, argv, json, real, timeoutMs)
    if (end.failure) outcome.failure = {...end.failure, detail: `as its own process: ${end.failure.detail}`}
    else if (kind !== 'ntp' && (real.exitCode !== result.exitCode || end.refusal !== verdict.refusal)) {
      // (The loopback NTP server's mutations differ between the two runs, so probe's answers may too.)
      outcome.failure = {
        argv,
        detail: `exit ${real.exitCode} (${end.refusal ?? 'no error'}) as its own process, exit ${result.exitCode} (${verdict.refusal ?? 'no error'}) in the pool`,
        index,
        kind,
        type: 'cli',
      }
    }
    return outcome
  }

  /** Classifies one run and returns the store to its starting state (checking it first when the run failed). */
  private async judge(
    kind: Kind,
    index: number,
    argv: string[],
    json: boolean,
    result: RunResult,
    timeoutMs: number,
  ): Promise<{failure?: Failure; ok: boolean; refusal?: string}> {
    const verdict = kind === 'ntp' && (result.exitCode === 3 || result.exitCode === 4)
    const ok = result.exitCode === 0 || verdict
    const fail = (type: FailureType, detail: string): Failure => ({argv, detail: firstLine(detail), index, kind, type})
    let failure: Failure | undefined
    const text = `${result.stderr}\n${result.stdout}`
    if (result.hung)
      failure = fail('hang', `no answer within ${timeoutMs} ms of CPU time or ${(timeoutMs * WALL_FACTOR) / 1000} s`)
    else if (
      result.died ||
      result.escaped ||
      /E_INTERNAL|internal error/.test(text) ||
      /^\s+at .+:\d+:\d+\)?$/m.test(text) ||
      ![0, 1, 2, 3, 4].includes(result.exitCode)
    ) {
      failure = fail('crash', crashLine(result))
    } else if (!ok && !cleanError(result, json))
      failure = fail('raw', result.stderr.trim() || result.stdout.trim() || `exit ${result.exitCode} with no message`)
    else if (!json && escapeAt(text) >= 0)
      failure = fail(
        'escape',
        `an escape sequence reached the terminal: ${JSON.stringify(text.slice(Math.max(0, escapeAt(text) - 20)).slice(0, 60))}`,
      )
    // The store: unchanged after a failure; reset to its starting state after anything that may have changed it.
    if (!ok || result.hung || result.died) {
      const changed = await this.storeChanged()
      if (changed && !failure)
        failure = fail('store', `the store changed although the run failed: ${result.stderr.trim()}`)
      if (changed) this.resetStore()
    } else this.resetStore()
    if (failure) return {failure, ok}
    return ok
      ? {ok}
      : {ok, refusal: firstLine(result.stderr.split('\n').findLast((l) => l.startsWith('billwatch: ')) ?? '')}
  }

  private resetStore(): void {
    copyFileSync(this.seedStore, this.store)
    rmSync(`${this.store}.wal`, {force: true})
  }

  private async storeChanged(): Promise<boolean> {
    if (!existsSync(this.store)) return true
    if (hashFile(this.store) === this.storeHash && !existsSync(`${this.store}.wal`)) return false
    try {
      return (await storeRows(this.store)) !== this.storeRows
    } catch {
      return true
    }
  }

  /** Writes the input for `kind` and returns the CLI arguments that read it. */
  private prepare(kind: Kind, random: Random, dir: string): string[] {
    const seeds = this.corpus.seeds
    const db = ['--db', this.store]
    const text = (seed: Buffer) => {
      const plan = random.next()
      if (plan < 0.2) return Buffer.from(oddCsv(seed.toString('utf8'), random))
      return plan < 0.75 ? Buffer.from(mutateText(seed.toString('utf8'), random)) : mutateBytes(seed, random)
    }
    const file = (name: string, bytes: Buffer) => {
      const path = join(dir, name)
      writeFileSync(path, bytes)
      return path
    }
    switch (kind) {
      case 'cur1-gz': {
        const bytes = random.chance(0.5)
          ? mutateBytes(seeds['cur1-gz']!, random)
          : gzipSync(mutateText(seeds['cur1-csv']!.toString('utf8'), random))
        return ['ingest', file('cur1.csv.gz', bytes), ...db]
      }
      case 'cur2-parquet': {
        return ['ingest', file('cur2.parquet', mutateBytes(seeds['cur2-parquet']!, random)), ...db]
      }
      case 'manifest': {
        const plan = random.int(10)
        const manifest =
          plan < 3
            ? manifestWithHostileKeys(random)
            : plan < 6
              ? mutateText(seeds.manifest!.toString('utf8'), random, '"')
              : oddManifest(seeds.manifest!, random)
        const path = file('bw-Manifest.json', Buffer.from(manifest))
        const part = random.int(10)
        file(
          'bw-1.csv.gz',
          part < 6
            ? seeds['cur1-gz']!
            : part < 8
              ? gzipSync(mutateText(seeds['cur1-csv']!.toString('utf8'), random))
              : mutateBytes(seeds['cur1-gz']!, random),
        )
        // A second part, sometimes a copy of the first (read once: a manifest's parts are a set).
        if (manifest.includes('bw-2.csv.gz'))
          file(
            'bw-2.csv.gz',
            random.chance(0.5) ? seeds['cur1-gz']! : gzipSync(mutateText(seeds['cur1-csv']!.toString('utf8'), random)),
          )
        return ['ingest', path, ...db]
      }
      case 'pcap':
      case 'pcapng': {
        const args = ['pcap', file(`capture.${kind}`, mutateBytes(seeds[kind]!, random)), ...db, '--top', '3']
        return random.chance(0.5) ? [...args, '--no-replay'] : args
      }
      case 'ntp': {
        this.ntpReplies = ntpServerPlan(random)
        const args = ['probe', `127.0.0.1:${this.ntpPort}`, '--timeout', '150', '--attempts', '1', '--force', ...db]
        if (random.chance(0.2)) args.push('--exposure')
        if (random.chance(0.1)) args.push('--pcap', file('capture.pcap', mutateBytes(seeds.pcap!, random)))
        return args
      }
      case 'git': {
        return ['correlate', '--repo', gitHistory(join(dir, 'etc'), random), '--date', '2014-03-30', ...db]
      }
      case 'apt-log': {
        mkdirSync(join(dir, 'root/var/log/apt'), {recursive: true})
        const name = random.chance(0.2) ? 'history.log.1.gz' : 'history.log'
        const bytes = text(seeds['apt-log']!)
        writeFileSync(
          join(dir, 'root/var/log/apt', name),
          name.endsWith('.gz') && random.chance(0.5) ? gzipSync(bytes) : bytes,
        )
        return ['correlate', '--root', join(dir, 'root'), '--date', '2014-03-30', ...db]
      }
      case 'knowledge': {
        const path = file(
          'knowledge.json',
          random.chance(0.8)
            ? Buffer.from(mutateText(seeds.knowledge!.toString('utf8'), random, '"'))
            : mutateBytes(seeds.knowledge!, random),
        )
        return ['correlate', '--root', join(this.dir, 'seed-root'), '--knowledge', path, '--date', '2014-03-30', ...db]
      }
      default: {
        const name = kind === 'cost-explorer-csv' ? 'ce.csv' : `${kind}.csv`
        return ['ingest', file(name, text(seeds[kind]!)), ...db]
      }
    }
  }
}

/** A manifest whose keys point outside its folder, at devices, twice at one part, or at nothing. */
function manifestWithHostileKeys(random: Random): string {
  const keys = [
    'bw-1.csv.gz',
    '../../../../etc/passwd',
    '../outside/x.csv.gz',
    '/dev/zero',
    '/etc/hostname',
    'a/../../bw-1.csv.gz',
    '',
    'missing.csv.gz',
    'bw-1.csv.gz',
  ]
  const chosen = Array.from({length: 1 + random.int(3)}, () => random.pick(keys))
  return JSON.stringify({
    assemblyId: 'x',
    billingPeriod: {
      end: random.pick(['20140401T000000.000Z', '20140230T000000.000Z', 'x']),
      start: '20140301T000000.000Z',
    },
    reportKeys: chosen,
  })
}

/**
 * A manifest AWS could have written, oddly: keys in another order, fields billwatch does not use (with
 * escape sequences and markup in them), a part listed twice or under another S3 prefix, a second
 * part, no billing period, other indentation. All of these should be taken.
 */
function oddManifest(seed: Buffer, random: Random): string {
  const manifest = JSON.parse(seed.toString('utf8')) as Record<string, unknown>
  const prefixes = ['', 'cur/bw/20140301-20140401/a1b2c3d4/', 'other/prefix/', 'a//b/']
  for (let r = 0; r < 1 + random.int(3); r++) {
    switch (random.int(6)) {
      case 0: {
        manifest.reportKeys = [`${random.pick(prefixes)}bw-1.csv.gz`, `${random.pick(prefixes)}bw-1.csv.gz`]
        break
      }
      case 1: {
        manifest.reportKeys = [`${random.pick(prefixes)}bw-1.csv.gz`, `${random.pick(prefixes)}bw-2.csv.gz`]
        break
      }
      case 2: {
        manifest[random.pick(['reportName', 'assemblyId', 'account', 'compression', 'contentType'])] =
          random.pick(HOSTILE_TEXT)
        manifest.additionalArtifactKeys = [{artifactType: 'RedshiftCommands', name: random.pick(HOSTILE_TEXT)}]
        break
      }
      case 3: {
        if (random.chance(0.5)) delete manifest.billingPeriod
        else manifest.billingPeriod = null
        break
      }
      case 4: {
        const entries = Object.entries(manifest)
        return JSON.stringify(
          Object.fromEntries(random.chance(0.5) ? entries.reverse() : entries.sort()),
          null,
          random.pick([0, 1, 4, '\t']),
        )
      }
      default: {
        manifest.billingPeriod = {
          end: '20140401T000000.000Z',
          start: '20140301T000000.000Z',
          ...(random.chance(0.5) ? {extra: 'x'} : {}),
        }
      }
    }
  }
  return JSON.stringify(manifest, null, random.pick([0, 2]))
}

/** How the loopback NTP server answers this input's requests: a real reply, mutated, a KoD, or nothing. */
function ntpServerPlan(random: Random): (request: Buffer) => Buffer[] {
  const plan = random.int(6)
  const code = random.pick(['RATE', 'DENY', 'RSTR', 'INIT', 'STEP', 'XYZW', '\u001b[2J', '\u0000\u0000\u0000\u0000'])
  const mutation = new Random(random.int(2 ** 31))
  return (request) => {
    const header = decodeNtp(request)
    if (!header || plan === 5) return []
    const now = unixMsToNtp(Date.now())
    if ((header.mode ?? 0) !== MODE.client) return [mutateBytes(Buffer.from(request), mutation)]
    const reply = Buffer.from(
      encodeNtp({
        leap: 0,
        mode: MODE.server,
        originTime: header.transmitTime,
        poll: 4,
        precision: -20,
        receiveTime: now,
        referenceId: Buffer.from(plan === 1 ? code.padEnd(4, ' ').slice(0, 4) : 'GPS\u0000', 'latin1'),
        referenceTime: now,
        stratum: plan === 1 ? 0 : 1,
        transmitTime: now,
        version: 4,
      }),
    )
    if (plan === 0 || plan === 1) return [reply]
    if (plan === 2) {
      // Mutated, keeping the origin timestamp (our nonce) most of the time so the reply is taken.
      const mutated = mutateBytes(reply, mutation)
      if (mutation.chance(0.7) && mutated.length >= 32) reply.copy(mutated, 24, 24, 32)
      return [mutated]
    }
    if (plan === 3) return [reply, reply, mutateBytes(reply, mutation)]
    return [mutation.bytes(mutation.int(120))]
  }
}

/**
 * A small /etc history with hostile file names, subjects and dates (backwards, 1970, far future),
 * written by one `git fast-import` (a process per commit cost more than the run it feeds).
 */
function gitHistory(dir: string, random: Random): string {
  mkdirSync(dir, {recursive: true})
  execFileSync('git', ['init', '-q'], {cwd: dir, stdio: 'pipe'})
  const names = ['ntp.conf', 'chrony/chrony.conf', 'apt/sources.list', 'hosts', 'default/ntp']
  const commits = Array.from({length: 1 + random.int(4)}, (_, c) => {
    const hostile = random.pick(HOSTILE_TEXT).replaceAll('\u0000', '_').replaceAll('/', '_').slice(0, 100)
    const name = random.chance(0.3) && hostile.trim() && !/^\.+$/.test(hostile) ? hostile : random.pick(names)
    const content = `server ${random.int(255)}.pool.ntp.org iburst\n${random.chance(0.3) ? random.pick(HOSTILE_TEXT) : ''}\n`
    const subject = random.pick(['install ntp', 'daily autocommit', 'committing changes in /etc after apt run', ''])
    const message =
      `${subject}${random.chance(0.6) ? random.pick(HOSTILE_TEXT) : ''}${random.chance(0.3) ? '\u001e\u001f' : ''}\n\n${random.chance(0.5) ? 'Package changes:\n+ntp 1:4.2.6\n' : ''}`.replaceAll(
        '\u0000',
        '',
      )
    const when = (days: number) => `${Math.max(0, Math.floor(Date.UTC(2014, 2, 30) / 1000 + days * 86_400))} +0000`
    const author = random.pick([when(-random.int(10)), when(random.int(5)), '1 +0000', when(30_000), when(-(c * 3))])
    const committer = random.chance(0.7) ? author : when(random.int(20) - 10)
    return {author, committer, content, message, name}
  })
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`
  const stream = (safeNames: boolean) =>
    commits
      .map((commit, c) =>
        [
          'commit refs/heads/master\n',
          `author fuzz <fuzz@example.com> ${commit.author}\ncommitter fuzz <fuzz@example.com> ${commit.committer}\n`,
          data(commit.message),
          `M 100644 inline ${quotePath(safeNames ? names[c % names.length]! : commit.name)}\n`,
          data(commit.content),
        ].join(''),
      )
      .join('')
  try {
    execFileSync('git', ['fast-import', '--quiet'], {cwd: dir, input: stream(false), stdio: 'pipe'})
  } catch {
    // git refused a hostile name: the same history with plain names
    execFileSync('git', ['fast-import', '--quiet', '--force'], {cwd: dir, input: stream(true), stdio: 'pipe'})
  }
  return dir
}

/** A path as fast-import reads it: C-style quoted, control characters as octal escapes. */
function quotePath(path: string): string {
  const quoted = [...path].map((c) => {
    const code = c.charCodeAt(0)
    if (c === '\\' || c === '"') return `\\${c}`
    return code <= 0x1f || code === 0x7f ? `\\${code.toString(8).padStart(3, '0')}` : c
  })
  return `"${quoted.join('')}"`
}

/** Where the first ESC or CSI (the start of a terminal escape sequence) is in the text, -1 if none. */
function escapeAt(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 0x1b || code === 0x9b) return i
  }
  return -1
}

/** Wall time allowed, in multiples of the CPU bound, before a run that is not computing counts as hung. */
export const WALL_FACTOR = 10
const CLOCK_TICKS_PER_SECOND = 100

/** User plus system CPU time of a process, every thread, from /proc (Linux). */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND
  } catch {
    return 0
  }
}

function hashFile(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex')
}

/** Every row of every billwatch table, as one comparable string ("the store is exactly as it was"). */
async function storeRows(path: string): Promise<string> {
  const store = await Store.open(path, {mustExist: true, readOnly: true})
  try {
    const parts: string[] = []
    for (const table of ['schema_version', 'sources', 'usage_daily', 'evidence']) {
      const rows = await store.all(`SELECT * FROM ${table} ORDER BY ALL`)
      parts.push(`${table}:${JSON.stringify(rows, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`)
    }
    return parts.join('\n')
  } finally {
    await store.close()
  }
}

/**
 * An error as billwatch promises it: one `billwatch: ` line, then only `  Try: ` hints; under --json an error object.
 */
function cleanError(result: RunResult, json: boolean): boolean {
  if (json) {
    try {
      const parsed = JSON.parse(result.stdout) as {error?: {code?: string}}
      if (typeof parsed.error?.code !== 'string') return false
    } catch {
      return false
    }
  }
  const lines = result.stderr.replace(/\n$/, '').split('\n')
  const at = lines.findLastIndex((line) => line.startsWith('billwatch: '))
  return at >= 0 && lines.slice(at + 1).every((line) => line.startsWith('  Try: '))
}

function crashLine(result: RunResult): string {
  const text = `${result.stderr}\n${result.stdout}`
  const internal = /.*(?:E_INTERNAL|internal error).*/.exec(text)?.[0]
  return internal ?? text.split('\n').find((l) => l.trim()) ?? `exit ${result.exitCode}`
}

function firstLine(text: string): string {
  return (text.split('\n').find((l) => l.trim()) ?? '').trim().slice(0, 300)
}
