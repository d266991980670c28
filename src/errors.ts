/**
 * The one error type of billwatch. `src/` throws it; only the CLI base command turns it into an
 * exit code and a line on stderr (or a JSON error object under --json).
 *
 * The message is one line, compiler style: `samples/x.csv:17: column "UsageValue": expected a number, got a value
 * shaped "a/a"`.
 * A value from a file is described, never quoted (no file content in an error: a file given by
 * mistake, /etc/shadow, must not be printed); a value typed on the command line is quoted as typed.
 */
import {truncate} from './core/units.js'

export type ErrorCode =
  | 'E_USAGE' // bad flags or arguments
  | 'E_NOT_FOUND' // a named file, repository or host does not exist
  | 'E_EMPTY' // an input with nothing in it
  | 'E_FORMAT' // content is not a format billwatch knows
  | 'E_HEADER' // a CSV header is unknown or lacks a required column
  | 'E_VALUE' // a field does not parse (number, date)
  | 'E_TRUNCATED' // compressed or binary input ends early
  | 'E_MEMORY' // reading an input needs more memory than BILLWATCH_MEMORY_LIMIT
  | 'E_STORE' // the store cannot be opened or migrated
  | 'E_GIT' // git failed or the path is not a repository
  | 'E_PCAP' // a capture cannot be read
  | 'E_NETWORK' // sockets, DNS, timeouts
  | 'E_AWS' // an AWS API refused or failed
  | 'E_NO_DATA' // the store holds nothing to analyse
  | 'E_INTERNAL' // a bug: a worker thread died, an invariant broke

export interface ErrorLocation {
  file?: string | undefined
  line?: number | undefined
  /** A CSV column, a flag as typed (`--since`), or a command argument (`HOST`). */
  field?: string | undefined
  /** The field is a key of a JSON file (a manifest's reportKeys), not a column. */
  jsonKey?: boolean | undefined
  expected?: string | undefined
  got?: string | undefined
}

export interface BillwatchErrorOptions extends ErrorLocation {
  suggestions?: string[]
  exitCode?: number
  cause?: unknown
}

/** Exit codes shared by every command; `probe` adds its own verdict codes on top (see its help). */
export const EXIT = {ok: 0, input: 1, usage: 2} as const

export class BillwatchError extends Error {
  readonly code: ErrorCode
  readonly file?: string | undefined
  readonly line?: number | undefined
  readonly field?: string | undefined
  readonly expected?: string | undefined
  readonly got?: string | undefined
  readonly suggestions: string[]
  readonly exitCode: number

  constructor(code: ErrorCode, detail: string, given: BillwatchErrorOptions = {}) {
    const options =
      given.file !== undefined && given.got !== undefined ? {...given, got: describeValue(given.got)} : given
    super(
      formatLocated(detail, options, given.file !== undefined),
      options.cause === undefined ? undefined : {cause: options.cause},
    )
    this.name = 'BillwatchError'
    this.code = code
    if (options.file !== undefined) this.file = options.file
    if (options.line !== undefined) this.line = options.line
    if (options.field !== undefined) this.field = options.field
    if (options.expected !== undefined) this.expected = options.expected
    if (options.got !== undefined) this.got = options.got
    this.suggestions = options.suggestions ?? []
    this.exitCode = options.exitCode ?? (code === 'E_USAGE' ? EXIT.usage : EXIT.input)
  }

  /** The stable JSON shape of an error, printed under --json. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {code: this.code, message: this.message}
    if (this.file !== undefined) out.file = this.file
    if (this.line !== undefined) out.line = this.line
    if (this.field !== undefined) out.field = this.field
    if (this.expected !== undefined) out.expected = this.expected
    if (this.got !== undefined) out.got = this.got
    if (this.suggestions.length > 0) out.suggestions = this.suggestions
    return out
  }
}

/**
 * `file:line: column "field": detail, expected X, got "Y"` — whichever parts are known. A field that
 * is a flag (`--since`) or a command argument (`HOST`) is named as itself, not as a column.
 */
function formatLocated(detail: string, loc: ErrorLocation, described: boolean): string {
  let where = ''
  if (loc.file !== undefined) where = loc.line === undefined ? `${loc.file}: ` : `${loc.file}:${loc.line}: `
  const field =
    loc.field === undefined
      ? ''
      : isCommandLineName(loc.field)
        ? `${loc.field}: `
        : `${loc.jsonKey ? 'field' : 'column'} "${loc.field}": `
  const expected = loc.expected === undefined ? '' : `${detail ? ', ' : ''}expected ${loc.expected}`
  const got = loc.got === undefined ? '' : `, got ${described ? loc.got : JSON.stringify(truncate(loc.got, 60))}`
  return `${where}${field}${detail}${expected}${got}`.replace(/\s+/g, ' ').trim()
}

/**
 * What a value from a file is, without its content: its class (empty, NaN, out of range, negative,
 * with control characters) or its shape, digits as 9 and letters as a (`2014-02-30` → "9999-99-99").
 */
export function describeValue(value: string): string {
  const text = value.trim()
  if (value === '') return 'an empty value'
  if (text === '') return 'only spaces'
  if (/[\p{Cc}\p{Cf}]/u.test(value)) return 'text with control or invisible formatting characters'
  if (/^[+-]?nan$/i.test(text)) return 'NaN (not a number)'
  if (/^[+-]?inf(inity)?$/i.test(text)) return 'an infinite number'
  if (/^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$/.test(text)) return 'a number with a thousands separator'
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) {
    const number = Number(text)
    if (!Number.isFinite(number)) return 'a number out of range'
    if (number === 0 && /[1-9]/.test(text.replace(/e.*$/i, ''))) return 'a number too small to hold'
    return number < 0 ? 'a negative number' : 'a number'
  }
  if (text.length > 40) return `text of ${text.length} characters`
  // (A lone surrogate would print as an escape with letters and digits in it.)
  return `a value shaped ${JSON.stringify(
    text
      .replaceAll(/\p{N}/gu, '9')
      .replaceAll(/\p{L}/gu, 'a')
      .replaceAll(/\p{Cs}/gu, '?'),
  )}`
}

function isCommandLineName(field: string): boolean {
  return field.startsWith('--') || /^[A-Z][A-Z_]*$/.test(field)
}

export function isBillwatchError(error: unknown): error is BillwatchError {
  return error instanceof BillwatchError
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EAGAIN: 'the stream is not ready (try again)',
  EBUSY: 'the file is busy',
  EEXIST: 'already exists',
  EFBIG: 'the file is too large',
  EINVAL: 'the path cannot be used',
  EIO: 'input/output error (the disk or device failed)',
  EISDIR: 'is a directory',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
  ENFILE: 'too many open files',
  ENOENT: 'no such file',
  ENOSPC: 'no space left on the device',
  ENOTDIR: 'no such file (a part of the path is not a directory)',
  ENXIO: 'no such device, or a FIFO nobody reads',
  EPERM: 'permission denied',
  EPIPE: 'the reader went away',
  EROFS: 'read-only file system',
  ESPIPE: 'a pipe or stream, not a regular file',
  ETXTBSY: 'the file is busy',
}

/** An errno code (EACCES …) in words; unknown codes are named as they are. */
export function errnoReason(error: unknown): string {
  const code = typeof error === 'string' ? error : ((error as NodeJS.ErrnoException)?.code ?? undefined)
  if (code === undefined) return error instanceof Error ? (error.message.split('\n')[0] ?? '').trim() : String(error)
  return REASONS[code] ?? `system error ${code}`
}

/** Whether DuckDB refused a statement for its memory limit (BILLWATCH_MEMORY_LIMIT). */
export function isOutOfMemory(error: unknown): boolean {
  return (error instanceof Error ? error.message : String(error)).startsWith('Out of Memory Error')
}

/** DuckDB's error classes ("Conversion Error: …"); the text after the first line is SQL or a caret. */
const DUCKDB_ERROR =
  /^(?:Conversion|Invalid Input|IO|Out of Memory|Constraint|Serialization|Transaction|Binder|Parser|Catalog|Invalid|Not implemented|INTERNAL|FATAL|Dependency|Interrupt|Permission|Sequence|Syntax|Type|Value|Out of Range|Mismatch Type|Missing Extension|HTTP|Execution) Error: /

/**
 * Any error as a BillwatchError with a one-line message: what billwatch throws stays as it is; a
 * system error (EACCES, ESPIPE …) names its path and reason; anything else is a bug (E_INTERNAL), shown
 * as one line with its class, never a stack trace or the SQL that failed.
 */
export function asBillwatchError(error: unknown): BillwatchError {
  if (isBillwatchError(error)) return error
  const err = error instanceof Error ? (error as NodeJS.ErrnoException) : undefined
  const text = err ? err.message : String(error)
  const first = (text.split('\n')[0] ?? '').trim()
  if (err && typeof err.code === 'string' && /^E[A-Z0-9]+$/.test(err.code) && err.code !== 'ERR_INTERNAL_ASSERTION') {
    // Node's system errors read "EACCES: permission denied, open '/x'": the reason in words, the path named.
    const reason =
      REASONS[err.code] ?? first.replace(/^E[A-Z0-9]+: /, '').replace(/, \w+(?: '[^']*'(?: -> '[^']*')?)?$/, '')
    return new BillwatchError('E_NOT_FOUND', reason, {
      cause: error,
      ...(err.path === undefined ? {} : {file: err.path}),
    })
  }
  if (DUCKDB_ERROR.test(first)) {
    const what = first.replace(/\s*LINE \d+:.*$/, '')
    const bug = /^(?:Binder|Parser|Catalog|INTERNAL|Dependency|Syntax) Error/.test(what)
    return new BillwatchError(
      bug ? 'E_INTERNAL' : 'E_STORE',
      bug ? `internal error (${what}); please report it` : what,
      {cause: error},
    )
  }
  const kind = err?.name && err.name !== 'Error' ? `${err.name}: ` : ''
  return new BillwatchError('E_INTERNAL', `internal error (${kind}${first || 'no message'}); please report it`, {
    cause: error,
  })
}

/** C0/C1 control characters (ESC, BEL, CSI …) and bidirectional overrides, except tab and newline. */
const TERMINAL_CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/g

/**
 * Text from files, repositories and the network made safe for a terminal: escape sequences (a commit
 * subject's ESC]52 clipboard write, a cursor move hiding a line) are shown as `\x1b`, never run.
 */
export function terminalSafe(text: string): string {
  return text.replace(TERMINAL_CONTROL, (c) => {
    const code = c.codePointAt(0)!
    return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`
  })
}
