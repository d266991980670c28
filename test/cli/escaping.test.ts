import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'

import {describe, expect, it} from 'vitest'

import {sniffFile} from '../../src/ingest/sniff.js'
import {tempDir} from '../helpers/cli.js'

import {asBillwatchError, terminalSafe} from '../../src/errors.js'
import {markdownText} from '../../src/explain/narrative.js'
import {addressStatus} from '../../src/probe/verdict.js'

describe('text from outside, shown safely', () => {
  it('terminalSafe shows C0, C1 and bidi controls as escapes and keeps newlines, tabs and other text', () => {
    expect(terminalSafe('a\u001B]52;c;eA==\u0007b')).toBe('a\\x1b]52;c;eA==\\x07b')
    expect(terminalSafe('\u009B2J \u202Eevil\r')).toBe('\\x9b2J \\u202eevil\\x0d')
    expect(terminalSafe('line 1\n\tline 2 — ü 日本')).toBe('line 1\n\tline 2 — ü 日本')
  })

  it('markdownText makes raw HTML, links and emphasis literal', () => {
    expect(markdownText('<img src=x onerror=alert(1)> [a](http://x) *b* `c` & d')).toBe(
      '&lt;img src=x onerror=alert(1)&gt; \\[a\\](http://x) \\*b\\* \\`c\\` &amp; d',
    )
    expect(markdownText('two\nlines')).toBe('two lines')
  })
})

describe("errors that are not billwatch's own still read as one line", () => {
  it('names the path and reason of a system error, and hides DuckDB SQL', () => {
    const espipe = Object.assign(new Error('ESPIPE: invalid seek, read'), {code: 'ESPIPE'})
    expect(asBillwatchError(espipe).message).toBe('a pipe or stream, not a regular file')
    const eacces = Object.assign(new Error("EACCES: permission denied, open '/x/y.csv'"), {
      code: 'EACCES',
      path: '/x/y.csv',
    })
    expect(asBillwatchError(eacces).message).toBe('/x/y.csv: permission denied')
    const conversion = new Error('Conversion Error: invalid date field format: "2014-02-30"\n\nLINE 1: SELECT CAST(...')
    expect(asBillwatchError(conversion)).toMatchObject({
      code: 'E_STORE',
      message: 'Conversion Error: invalid date field format: "2014-02-30"',
    })
    const bug = new RangeError('Invalid time value')
    expect(asBillwatchError(bug)).toMatchObject({
      code: 'E_INTERNAL',
      message: 'internal error (RangeError: Invalid time value); please report it',
    })
  })
})

describe('probe verdicts', () => {
  it('does not call a kiss code nobody defined a refusal: it asks nothing, so the server answered unsynchronised (RFC 5905 §7.4)', () => {
    const base = {answered: 0, skipped: null, synchronised: null}
    expect(addressStatus({...base, kod: 'XYZW'})).toBe('unsynchronised')
    expect(addressStatus({...base, kod: 'RATE'})).toBe('refused')
    expect(addressStatus({...base, kod: 'DENY'})).toBe('refused')
  })
})

describe('a .gz of something that is not text', () => {
  it('says the .gz holds binary content instead of printing its bytes as a header', async () => {
    const tmp = tempDir()
    try {
      const path = join(tmp.dir, 'zeros.csv.gz')
      writeFileSync(path, gzipSync(Buffer.alloc(1 << 20)))
      await expect(sniffFile(path, async () => [])).rejects.toMatchObject({
        code: 'E_FORMAT',
        message: `${path}: the .gz holds binary content, expected a gzipped CSV export`,
      })
    } finally {
      tmp.cleanup()
    }
  })
})
