/**
 * Issue 20, the shared rules: what billwatch writes (only regular files are replaced, atomically;
 * devices and FIFOs are written in place), what it reads (regular files only, side inputs bounded,
 * nothing waits on a FIFO), how every error reads (one `billwatch:` line), and what a read does to
 * the store (nothing).
 */
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {join} from 'node:path'
import {createGzip} from 'node:zlib'

import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {Store} from '../../src/store/index.js'
import {commitAt, initRepo} from '../correlate/repo.js'
import {ROOT, runCli, SAMPLES, tempDir} from '../helpers/cli.js'

const USAGE_REPORT = join(SAMPLES, 'billing/usage-report-ec2-2013-06-01_2014-06-01.csv')

/** stderr is exactly one `billwatch:` line (plus `Try:` hints), with no stack and no SQL. */
function expectOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n')
  expect(lines[0]).toMatch(/^billwatch: /)
  expect(lines[0]).toMatch(pattern)
  for (const line of lines.slice(1)) expect(line).toMatch(/^ {2}Try: /)
  expect(stderr).not.toMatch(/\n\s+at |SELECT|LINE \d/)
}

function mkfifo(path: string): string {
  execFileSync('mkfifo', [path])
  return path
}

// Several CLI runs per test, some side by side: allow for a busy machine (a hang still never returns).
vi.setConfig({hookTimeout: 240_000, testTimeout: 240_000})

let tmp: ReturnType<typeof tempDir>
let store: string

beforeAll(async () => {
  tmp = tempDir('billwatch-hostile-')
  chmodSync(tmp.dir, 0o755)
  store = join(tmp.dir, 'store.duckdb')
  const ingested = await runCli(['ingest', USAGE_REPORT, '--db', store])
  expect(ingested.code).toBe(0)
})
afterAll(() => tmp.cleanup())

describe('writes: one rule for every file billwatch writes', () => {
  it('refuses to replace a symbolic link, a directory or a socket-like target, and leaves the target untouched', async () => {
    const target = join(tmp.dir, 'precious.html')
    writeFileSync(target, 'keep me')
    const link = join(tmp.dir, 'link.html')
    symlinkSync(target, link)
    // Side by side, each on its own copy of the store.
    const [report, svg, dir] = await Promise.all([
      runCli(['report', '--db', storeCopy('link-report'), '--out', link]),
      runCli(['anomalies', '--db', storeCopy('link-svg'), '--svg', link]),
      runCli(['report', '--db', storeCopy('dir-report'), '--out', tmp.dir]),
    ])
    expect(report.code).toBe(2)
    expectOneLine(report.stderr, /link\.html: --out: cannot write over a symbolic link/)
    expect(svg.code).toBe(2)
    expectOneLine(svg.stderr, /--svg: cannot write over a symbolic link/)
    expect(readlinkSync(link)).toBe(target)
    expect(readFileSync(target, 'utf8')).toBe('keep me')
    expect(dir.code).toBe(2)
    expectOneLine(dir.stderr, /cannot write over a directory/)
  })

  it('writes a character device in place and never turns it into a regular file (/dev/full says it is full)', async () => {
    const [full, nul] = await Promise.all([
      runCli(['report', '--db', storeCopy('full'), '--out', '/dev/full']),
      runCli(['anomalies', '--db', storeCopy('null'), '--svg', '/dev/null']),
    ])
    expect(full.code).toBe(1)
    expectOneLine(full.stderr, /\/dev\/full: --out: cannot write: no space left on the device/)
    expect(statSync('/dev/full').isCharacterDevice()).toBe(true)
    expect(nul.code).toBe(0)
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true)
  })

  it('writes to a FIFO in place when someone reads it, and to standard output for -', async () => {
    const fifo = mkfifo(join(tmp.dir, 'chart.fifo'))
    // Nobody reads the second FIFO: refused at once instead of waiting forever. The three runs side by side.
    const lonelyFifo = mkfifo(join(tmp.dir, 'lonely.fifo'))
    const [reader, lonely, stdout] = await Promise.all([
      runBash(
        `timeout 200 cat '${fifo}' > '${fifo}.out' & timeout 200 ${shellCli(['anomalies', '--db', storeCopy('fifo'), '--svg', fifo])} > /dev/null; wait`,
      ),
      runCli(['anomalies', '--db', storeCopy('lonely'), '--svg', lonelyFifo], {timeoutMs: 30_000}),
      runCli(['report', '--db', storeCopy('stdout'), '--out', '-']),
    ])
    expect(reader).toBe(0)
    expect(readFileSync(`${fifo}.out`, 'utf8')).toMatch(/^<svg /)
    expect(lstatSync(fifo).isFIFO()).toBe(true)
    expect(lonely.code).toBe(1)
    expectOneLine(lonely.stderr, /cannot write: no such device, or a FIFO nobody reads/)
    expect(stdout.code).toBe(0)
    expect(stdout.stdout).toMatch(/^<!DOCTYPE html>/)
    expect(stdout.stderr).toMatch(/^report written to -/)
  })

  it('schedule: refuses a template.json that is a link and a --out that is a file, writing nothing', async () => {
    const out = join(tmp.dir, 'deploy')
    mkdirSync(out)
    const elsewhere = join(tmp.dir, 'elsewhere.json')
    writeFileSync(elsewhere, 'untouched')
    symlinkSync(elsewhere, join(out, 'template.json'))
    const [linked, file] = await Promise.all([
      runCli(['schedule', '--out', out]),
      runCli(['schedule', '--out', elsewhere]),
    ])
    expect(linked.code).toBe(2)
    expectOneLine(linked.stderr, /template\.json: --out: cannot write over a symbolic link/)
    expect(readFileSync(elsewhere, 'utf8')).toBe('untouched')
    expect(() => statSync(join(out, 'billwatch-watch.zip'))).toThrow()
    expect(file.code).toBe(2)
    expectOneLine(file.stderr, /elsewhere\.json: --out: not a directory/)
  })
})

describe('reads: regular files only, side inputs bounded, nothing hangs', () => {
  it('refuses FIFOs and endless devices at once, for every command that reads a file', async () => {
    const fifo = mkfifo(join(tmp.dir, 'input.fifo'))
    const manifestDir = join(tmp.dir, 'manifest')
    mkdirSync(manifestDir)
    mkfifo(join(manifestDir, 'part-1.csv.gz'))
    writeFileSync(
      join(manifestDir, 'x-Manifest.json'),
      JSON.stringify({assemblyId: 'a', reportKeys: ['cur/x/part-1.csv.gz']}),
    )
    const runs: [string[], RegExp][] = [
      [['ingest', fifo, '--db', store], /input\.fifo: a pipe \(FIFO\), not a regular file/],
      [['ingest', '/dev/zero', '--db', store], /\/dev\/zero: a character device, not a regular file/],
      [
        ['ingest', join(manifestDir, 'x-Manifest.json'), '--db', store],
        /part-1\.csv\.gz: a pipe \(FIFO\), not a regular file/,
      ],
      [['pcap', fifo, '--db', store], /input\.fifo: a pipe \(FIFO\), not a regular file/],
      [['probe', '127.0.0.1:9', '--pcap', fifo], /input\.fifo: a pipe \(FIFO\), not a regular file/],
      [
        ['correlate', '--apt-log', fifo, '--date', '2014-03-30', '--repo', ROOT],
        /input\.fifo: a pipe \(FIFO\), not a regular file/,
      ],
      [
        ['correlate', '--knowledge', '/dev/zero', '--date', '2014-03-30', '--repo', ROOT],
        /\/dev\/zero: --knowledge: a character device/,
      ],
      [
        ['correlate', '--knowledge', tmp.dir, '--date', '2014-03-30', '--repo', ROOT],
        /--knowledge: a directory, not a regular file/,
      ],
      // A folder is a capture set: one without captures is named as such.
      [['pcap', tmp.dir], /a folder with no pcap or pcapng file in it/],
    ]
    // Each run its own copy of the store: runs side by side would find it in use.
    const results = await Promise.all(
      runs.map(([args], i) => {
        const db = join(tmp.dir, `reads-${i}.duckdb`)
        copyFileSync(store, db)
        // A generous bound (the machine may be busy): a FIFO that blocked would never answer at all.
        return runCli(
          args.map((a) => (a === store ? db : a)),
          {timeoutMs: 150_000},
        )
      }),
    )
    results.forEach((result, i) => {
      expect(result.code, runs[i]![0].join(' ')).toBe(1)
      expectOneLine(result.stderr, runs[i]![1])
    })
  }, 300_000)

  it('names a process substitution as a pipe instead of failing with ESPIPE', () => {
    const run = spawnSync('bash', ['-c', shellCli(['ingest', `<(cat '${USAGE_REPORT}')`, '--db', store])], {
      encoding: 'utf8',
    })
    expect(run.status).toBe(1)
    expectOneLine(
      run.stderr,
      /^billwatch: \/dev\/fd\/\d+: a pipe \(FIFO\), not a regular file \(save the stream to a file first\)/,
    )
  })

  it('bounds side inputs: a knowledge file over 4 MiB and a .gz log that inflates past 512 MiB are refused by size', async () => {
    const big = join(tmp.dir, 'big-knowledge.json')
    writeFileSync(big, `{"services": [], "pad": "${'x'.repeat(5 * 1024 * 1024)}"}`)
    // Runs while the bomb below is made.
    const knowledgeRun = runCli(['correlate', '--knowledge', big, '--date', '2014-03-30', '--repo', ROOT])
    // A gzip bomb: 600 MiB of zeros in well under a megabyte.
    const bomb = join(tmp.dir, 'history.log.gz')
    await new Promise<void>((resolve, reject) => {
      const gzip = createGzip({level: 1})
      const chunks: Buffer[] = []
      gzip.on('data', (c: Buffer) => chunks.push(c))
      gzip.on('end', () => {
        writeFileSync(bomb, Buffer.concat(chunks))
        resolve()
      })
      gzip.on('error', reject)
      const zeros = Buffer.alloc(1 << 20)
      for (let i = 0; i < 600; i++) gzip.write(zeros)
      gzip.end()
    })
    const [knowledge, log] = await Promise.all([
      knowledgeRun,
      runCli(['correlate', '--apt-log', bomb, '--date', '2014-03-30', '--repo', ROOT]),
    ])
    expect(knowledge.code).toBe(1)
    expectOneLine(knowledge.stderr, /big-knowledge\.json: --knowledge: 5\.0 MiB, more than the 4 MiB billwatch reads/)
    expect(log.code).toBe(1)
    expectOneLine(log.stderr, /history\.log\.gz: inflates to more than 512 MiB, more than any package log; not read/)
  })
})

describe('errors: one line, naming the file or field', () => {
  it('anomalies --since and correlate --date refuse days that do not exist with exit 2 and no SQL', async () => {
    const [since, date] = await Promise.all([
      runCli(['anomalies', '--db', store, '--since', '2014-02-30']),
      runCli(['correlate', '--date', '2014-02-30', '--repo', ROOT]),
    ])
    expect(since.code).toBe(2)
    expectOneLine(since.stderr, /^billwatch: --since: expected a UTC day YYYY-MM-DD, got "2014-02-30"$/)
    expect(date.code).toBe(2)
    expectOneLine(date.stderr, /--date: expected a day as YYYY-MM-DD, got "2014-02-30"/)
  })

  it('names a manifest whose billing period is not a real day, instead of a DuckDB conversion error', async () => {
    const dir = join(tmp.dir, 'bad-period')
    mkdirSync(dir)
    copyFileSync(join(SAMPLES, 'billing/cur1-hourly-2014-03.csv.gz'), join(dir, 'bw-1.csv.gz'))
    const manifest = join(dir, 'bw-Manifest.json')
    writeFileSync(
      manifest,
      JSON.stringify({
        assemblyId: 'a',
        billingPeriod: {end: '20140230T000000.000Z', start: '20140201T000000.000Z'},
        reportKeys: ['bw/bw-1.csv.gz'],
      }),
    )
    const db = join(tmp.dir, 'bad-period.duckdb')
    copyFileSync(store, db)
    const run = await runCli(['ingest', manifest, '--db', db])
    expect(run.code).toBe(1)
    expectOneLine(
      run.stderr,
      /bw-Manifest\.json: field "billingPeriod\.end": not a real day, expected YYYYMMDDTHHMMSS\.sssZ, got a value shaped "99999999a999999\.999a"$/,
    )
  })

  it('refuses empty paths instead of reading the current folder', async () => {
    const [ingest, repo, db] = await Promise.all([
      runCli(['ingest', '', '--db', store]),
      runCli(['correlate', '--repo', '', '--date', '2014-03-30']),
      runCli(['status', '--db', '']),
    ])
    expect([ingest.code, repo.code]).toEqual([2, 2])
    expectOneLine(ingest.stderr, /FILE: an empty file name/)
    expectOneLine(repo.stderr, /--repo: an empty path/)
    expect(db.code).not.toBe(0)
    expectOneLine(db.stderr, /--db|no store/)
  })

  it('says an empty folder holds nothing, with exit 1', async () => {
    const empty = join(tmp.dir, 'empty')
    mkdirSync(empty)
    const run = await runCli(['ingest', empty, '--db', store])
    expect(run.code).toBe(1)
    expectOneLine(run.stderr, /empty: an empty folder, expected billing exports in it/)
  })

  it('probe: a malformed target is a usage error (exit 2), a broadcast address is refused in one line', async () => {
    const [bracket, broadcast] = await Promise.all([runCli(['probe', '[::1']), runCli(['probe', '255.255.255.255'])])
    expect(bracket.code).toBe(2)
    expectOneLine(bracket.stderr, /HOST: HOST must be a name or address/)
    expect(broadcast.code).toBe(2)
    expectOneLine(broadcast.stderr, /not the address of one host \(broadcast, multicast or unspecified\)/)
  })
})

describe('the store: damage is named, reads never write', () => {
  it('calls a truncated or corrupt store damaged, not "in use"', async () => {
    const bytes = readFileSync(store)
    const truncated = join(tmp.dir, 'truncated.duckdb')
    writeFileSync(truncated, bytes.subarray(0, 5000))
    const corrupt = join(tmp.dir, 'corrupt.duckdb')
    const flipped = Buffer.from(bytes)
    for (let i = 12_288; i < flipped.length; i += 97) flipped[i]! ^= 0xff
    writeFileSync(corrupt, flipped)
    const runs = await Promise.all([truncated, corrupt].map((path) => runCli(['status', '--db', path])))
    for (const run of runs) {
      expect(run.code).toBe(1)
      expectOneLine(run.stderr, /the file is damaged \(truncated or corrupt\)/)
      expect(run.stderr).not.toMatch(/in use/)
    }
  })

  it('status leaves a DuckDB file of something else byte for byte as it was, and says what it is', async () => {
    const other = join(tmp.dir, 'other.duckdb')
    const foreign = await Store.open(':memory:')
    await foreign.run(`ATTACH '${other}' AS other`)
    await foreign.run('CREATE TABLE other.measurements (x INTEGER); INSERT INTO other.measurements VALUES (1)')
    await foreign.run('DETACH other')
    await foreign.close()
    const before = readFileSync(other)
    for (const command of [['status'], ['anomalies'], ['ingest', USAGE_REPORT]]) {
      const run = await runCli([...command, '--db', other])
      expect(run.code).toBe(1)
      expectOneLine(
        run.stderr,
        /other\.duckdb is a DuckDB database of something else \(it holds 1 other table\), not a billwatch store/,
      )
    }
    expect(readFileSync(other).equals(before)).toBe(true)
  })

  it('reads a store the user may not write (status, anomalies), and names the read-only folder when asked to write', () => {
    const folder = join(tmp.dir, 'readonly')
    mkdirSync(folder)
    const copy = join(folder, 'store.duckdb')
    copyFileSync(store, copy)
    chmodSync(copy, 0o444)
    chmodSync(folder, 0o555)
    const before = readFileSync(copy)
    const asNobody = (args: string[]) =>
      spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...cliArgs(args)], {
        encoding: 'utf8',
        env: {...process.env, HOME: tmp.dir, XDG_DATA_HOME: tmp.dir},
      })
    const status = asNobody(['status', '--db', copy, '--json'])
    expect(status.stderr).toBe('')
    expect(JSON.parse(status.stdout).days).toBe(365)
    expect(asNobody(['anomalies', '--db', copy]).status).toBe(0)
    const ingest = asNobody(['ingest', join(SAMPLES, 'billing/focus1-daily-2014-05.csv'), '--db', copy])
    expect(ingest.status).toBe(1)
    expectOneLine(ingest.stderr, /store\.duckdb: --db: cannot write the store: permission denied/)
    expect(readFileSync(copy).equals(before)).toBe(true)
    // EACCES on an input is one line too.
    const secret = join(tmp.dir, 'secret.pcap')
    copyFileSync(join(SAMPLES, 'captures/ntp-control.pcap'), secret)
    chmodSync(secret, 0o600)
    const denied = asNobody(['pcap', secret, '--db', join(tmp.dir, 'nobody.duckdb')])
    expect(denied.status).toBe(1)
    expectOneLine(denied.stderr, /secret\.pcap: permission denied, expected a pcap or pcapng file/)
  })

  it('status --json is the same bytes on every run of an unchanged store', async () => {
    const runs = await Promise.all([1, 2, 3].map(() => runCli(['status', '--db', store, '--json'])))
    expect(runs[0]!.code).toBe(0)
    expect(new Set(runs.map((r) => r.stdout)).size).toBe(1)
  })
})

describe('untrusted text on terminals and in Markdown', () => {
  it('shows escape sequences from commit subjects as text, and Markdown carries no raw HTML from them', async () => {
    const repo = initRepo(join(tmp.dir, 'etc'))
    commitAt(repo, '2014-03-29T14:41:36+00:00', 'install ntp \u001B]52;c;cHduZWQ=\u0007 <img src=x onerror=alert(1)>', {
      'ntp.conf': 'server 0.pool.ntp.org\n',
    })
    const db = join(tmp.dir, 'escape.duckdb')
    copyFileSync(store, db)
    const correlate = await runCli(['correlate', '--repo', repo, '--date', '2014-03-30', '--db', db])
    expect(correlate.code).toBe(0)
    expect(correlate.stdout).not.toMatch(/[\u001B\u0007\u009B]/)
    expect(correlate.stdout).toContain('\\x1b]52;c;cHduZWQ=\\x07')
    const markdown = await runCli(['explain', '--format', 'markdown', '--db', db])
    expect(markdown.code).toBe(0)
    expect(markdown.stdout).toContain('&lt;img src=x onerror=alert(1)&gt;')
    expect(markdown.stdout).not.toContain('<img')
  })
})

/** A copy of the file's store, for a run beside others (a run that may write would find the store in use). */
function storeCopy(name: string): string {
  const db = join(tmp.dir, `${name}.duckdb`)
  copyFileSync(store, db)
  return db
}

/** Runs a bash command line without blocking the test (other runs go on beside it); resolves to its exit code. */
function runBash(command: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], {stdio: 'ignore'})
    child.on('error', reject)
    child.on('close', (code) => resolve(code))
  })
}

/** The node arguments that run the CLI the way runCli does (built or from sources). */
function cliArgs(args: string[]): string[] {
  const built = process.env.BILLWATCH_TEST_BUILD === '1'
  const bin = join(ROOT, built ? 'bin/run.js' : 'bin/dev.js')
  return [...(built ? [] : ['--import', 'tsx', '--no-warnings']), bin, ...args]
}

/** The same, as a bash command line (a `<(…)` argument stays a process substitution). */
function shellCli(args: string[]): string {
  const quote = (a: string) => (a.startsWith('<(') ? a : `'${a.replaceAll("'", "'\\''")}'`)
  return [process.execPath, ...cliArgs(args)].map((a) => quote(a)).join(' ')
}
