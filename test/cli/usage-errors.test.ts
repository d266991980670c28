import {describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'

/** stderr's lines: the error, then its suggestions as "  Try: …". */
const lines = (stderr: string) => stderr.trim().split('\n')

describe('usage errors from the argument parser', () => {
  it('names the flag and what it expected in one line, exit 2, with where to read more', async () => {
    const run = await runCli(['probe', '127.0.0.1', '--count', '0'])
    expect(run.code).toBe(2)
    expect(lines(run.stderr)).toEqual([
      'billwatch: --count: expected an integer greater than or equal to 1 but received: 0',
      '  Try: billwatch probe --help',
    ])
    expect(run.stdout).toBe('')
  })

  it('answers --json with an E_USAGE object naming the flag, not an internal error', async () => {
    const run = await runCli(['probe', '127.0.0.1', '--count', '0', '--json'])
    expect(run.code).toBe(2)
    expect(run.json().error).toEqual({
      code: 'E_USAGE',
      field: '--count',
      message: '--count: expected an integer greater than or equal to 1 but received: 0',
      suggestions: ['billwatch probe --help'],
    })
  })

  it('says which argument is missing, which flag does not exist, and which argument is extra, without dumping the help', async () => {
    const missing = await runCli(['pcap'])
    expect([missing.code, ...lines(missing.stderr)]).toEqual([
      2,
      'billwatch: missing FILE',
      '  Try: billwatch pcap --help',
    ])
    const unknown = await runCli(['status', '--colour'])
    expect([unknown.code, lines(unknown.stderr)[0]]).toEqual([2, 'billwatch: nonexistent flag: --colour'])
    // pcap takes any number of files (a capture set); probe takes one target.
    const extra = await runCli(['probe', '127.0.0.1', '127.0.0.2'])
    expect([extra.code, lines(extra.stderr)[0]]).toEqual([2, 'billwatch: unexpected argument: 127.0.0.2'])
    const option = await runCli(['explain', '--format', 'pdf'])
    expect([option.code, lines(option.stderr)[0]]).toEqual([
      2,
      'billwatch: expected --format=pdf to be one of: text, markdown, json',
    ])
    const required = await runCli(['schedule', '--cron', 'cron(0 6 * * ? *)'])
    expect([required.code, lines(required.stderr)[0]]).toEqual([2, 'billwatch: missing required flag --out'])
    for (const run of [missing, unknown, extra, option, required]) expect(run.stdout).toBe('')
  })
})
