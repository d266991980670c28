/**
 * The one rule for every file billwatch reads or writes (issue 20):
 * - reads: regular files only. A FIFO, a device (/dev/zero, /dev/stdin), a socket or a directory is
 *   refused before a byte is read, so nothing waits on a pipe or reads an endless device; side inputs
 *   (knowledge, logs, manifests) are read with a size bound.
 * - writes: a regular file is replaced atomically (written beside, then renamed); a missing one is
 *   created the same way. A symbolic link, directory, socket or block device is refused. A character
 *   device or FIFO is written in place, never replaced: that is what `--out /dev/stdout`, `--out -`
 *   or `--out >(gzip > x.gz)` ask for, and renaming over /dev/full would destroy the device node.
 */
import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  realpathSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import {randomBytes} from 'node:crypto'
import {basename, dirname, join} from 'node:path'

import {BillwatchError, errnoReason} from '../errors.js'

export {errnoReason} from '../errors.js'

/** Whether an error is a Node.js system error (it has an errno code such as ENOENT). */
export function isErrnoError(error: unknown): error is NodeJS.ErrnoException {
  return (
    error instanceof Error &&
    typeof (error as NodeJS.ErrnoException).code === 'string' &&
    /^E[A-Z0-9]+$/.test((error as NodeJS.ErrnoException).code!)
  )
}

/**
 * The one-line E_NOT_FOUND error for a file that cannot be opened: the failed open's error, or its errno code, in
 * words.
 */
export function unopenableFile(path: string, error: unknown, expected?: string): BillwatchError {
  return new BillwatchError(
    'E_NOT_FOUND',
    errnoReason(error),
    expected === undefined ? {file: path} : {expected, file: path},
  )
}

/** What a non-regular file is, in words. */
export function fileKind(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory'
  if (stat.isFIFO()) return 'a pipe (FIFO)'
  if (stat.isCharacterDevice()) return 'a character device'
  if (stat.isBlockDevice()) return 'a block device'
  if (stat.isSocket()) return 'a socket'
  if (stat.isSymbolicLink()) return 'a symbolic link'
  return 'a regular file'
}

export interface InputOptions {
  /** What the file should hold, e.g. 'an apt history.log'. */
  expected?: string
  /** The flag or argument that named it (`--knowledge`, `FILE`). */
  field?: string
  /** Refuse files larger than this (side inputs: knowledge, logs, manifests). */
  maxBytes?: number
}

/**
 * Checks that `path` is a regular file billwatch may read and returns its size. Opened non-blocking,
 * so a FIFO with no writer is refused at once instead of waiting forever.
 */
export function checkInputFile(path: string, options: InputOptions = {}): number {
  const where = {
    file: path,
    ...(options.expected === undefined ? {} : {expected: options.expected}),
    ...(options.field === undefined ? {} : {field: options.field}),
  }
  if (path === '') throw new BillwatchError('E_USAGE', 'an empty path', {...where, file: "''"})
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch (error) {
    throw new BillwatchError('E_NOT_FOUND', errnoReason(error), where)
  }
  let stat: Stats
  try {
    stat = fstatSync(fd)
  } finally {
    closeSync(fd)
  }
  if (!stat.isFile()) {
    const hint =
      stat.isFIFO() || stat.isCharacterDevice() || stat.isSocket() ? ' (save the stream to a file first)' : ''
    throw new BillwatchError('E_NOT_FOUND', `${fileKind(stat)}, not a regular file${hint}`, where)
  }
  // The kernel's files look regular but are made on reading: /proc/kmsg blocks forever, others never end.
  if (/^\/(proc|sys)\//.test(realpathSync(path))) {
    throw new BillwatchError('E_NOT_FOUND', 'a kernel pseudo-file (/proc, /sys), not a saved file', {
      ...where,
      suggestions: ['copy what you mean to read into a file first'],
    })
  }
  if (options.maxBytes !== undefined && stat.size > options.maxBytes) {
    throw new BillwatchError(
      'E_VALUE',
      `${formatSize(stat.size)}, more than the ${formatSize(options.maxBytes)} billwatch reads from such a file`,
      where,
    )
  }
  return stat.size
}

/**
 * A side input read whole, at most `maxBytes` (also when the file grows or lies about its size, like
 * the files of /proc): checked by checkInputFile first.
 */
export function readInputFile(path: string, options: InputOptions & {maxBytes: number}): Buffer {
  checkInputFile(path, options)
  const where = {file: path, ...(options.field === undefined ? {} : {field: options.field})}
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (error) {
    throw new BillwatchError('E_NOT_FOUND', errnoReason(error), where)
  }
  try {
    const chunks: Buffer[] = []
    let total = 0
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(1 << 20, options.maxBytes + 1 - total))
      let read: number
      try {
        read = readSync(fd, chunk, 0, chunk.length, null)
      } catch (error) {
        throw new BillwatchError('E_NOT_FOUND', errnoReason(error), where)
      }
      if (read === 0) break
      chunks.push(chunk.subarray(0, read))
      total += read
      if (total > options.maxBytes) {
        throw new BillwatchError(
          'E_VALUE',
          `more than the ${formatSize(options.maxBytes)} billwatch reads from such a file`,
          where,
        )
      }
    }
    return Buffer.concat(chunks, total)
  } finally {
    closeSync(fd)
  }
}

/** Paths that plainly name a stream of this process: written in place whatever they point to. */
export function isStreamPath(path: string): boolean {
  return path === '-' || /^\/(?:dev\/(?:stdout|stderr|fd\/\d+)|proc\/self\/fd\/\d+)$/.test(path)
}

type OutputPlan = {mode: 'stdout'} | {mode: 'in-place'} | {mode: 'replace'; keepMode?: number}

/**
 * How `path` would be written, or a one-line refusal: the output rule of this module. Run it before
 * long work so a bad --out fails at once, and again when writing.
 */
export function checkOutputFile(path: string, field: string): OutputPlan {
  const where = {field, file: path}
  if (path === '') throw new BillwatchError('E_USAGE', 'an empty path', {...where, file: "''"})
  if (path === '-') return {mode: 'stdout'}
  if (isStreamPath(path)) return {mode: 'in-place'}
  let stat: Stats | undefined
  try {
    stat = lstatSync(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new BillwatchError('E_NOT_FOUND', `cannot write: ${errnoReason(error)}`, where)
  }
  if (stat === undefined) {
    const dir = dirname(path)
    const parent = statSync(dir, {throwIfNoEntry: false})
    if (!parent?.isDirectory()) {
      throw new BillwatchError(
        'E_NOT_FOUND',
        `cannot write: ${parent ? `${dir} is not a directory` : `no such directory ${dir}`}`,
        {
          ...where,
          suggestions: [`mkdir -p ${dir}`],
        },
      )
    }
    return {mode: 'replace'}
  }
  if (stat.isFile()) return {keepMode: stat.mode & 0o7777, mode: 'replace'}
  if (stat.isCharacterDevice() || stat.isFIFO()) return {mode: 'in-place'}
  const why = stat.isSymbolicLink()
    ? 'a symbolic link; billwatch replaces only regular files (name the file it points to, or remove the link)'
    : `${fileKind(stat)}; billwatch replaces only regular files`
  throw new BillwatchError('E_USAGE', `cannot write over ${why}`, where)
}

/**
 * Writes `data` to `path` by the output rule: a regular file (or a new one) is replaced atomically, a
 * character device or FIFO is written in place, `-` is standard output. Returns how it was written.
 */
export async function writeOutputFile(
  path: string,
  data: string | Uint8Array,
  field: string,
): Promise<'in-place' | 'replaced' | 'stdout'> {
  const plan = checkOutputFile(path, field)
  const where = {field, file: path}
  if (plan.mode === 'stdout') {
    await new Promise<void>((resolve, reject) =>
      process.stdout.write(data, (error) =>
        error ? reject(new BillwatchError('E_NOT_FOUND', `cannot write: ${errnoReason(error)}`, where)) : resolve(),
      ),
    )
    return 'stdout'
  }
  if (plan.mode === 'in-place') {
    writeInPlace(path, data, where)
    return 'in-place'
  }
  // O_EXCL on a name nobody can guess: a link planted beside the target is never followed.
  const partial = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.partial`)
  try {
    writeFileSync(partial, data, {flag: 'wx', mode: 0o666})
    if (plan.keepMode !== undefined) chmodSync(partial, plan.keepMode)
    // The target may have been swapped for something else while we wrote: check again, right before.
    const now = checkOutputFile(path, field)
    if (now.mode !== 'replace')
      throw new BillwatchError(
        'E_USAGE',
        'cannot write: the file changed into a device or pipe while billwatch wrote it',
        where,
      )
    renameSync(partial, path)
  } catch (error) {
    try {
      unlinkSync(partial)
    } catch {
      // Already gone, or never written: the write's error below is the news.
    }
    if (error instanceof BillwatchError) throw error
    throw new BillwatchError('E_NOT_FOUND', `cannot write: ${errnoReason(error)}`, {...where, cause: error})
  }
  return 'replaced'
}

function writeInPlace(path: string, data: string | Uint8Array, where: {field: string; file: string}): void {
  let fd: number
  let fifo: boolean
  try {
    fifo = statSync(path).isFIFO()
    // A FIFO is opened non-blocking and kept open: ENXIO at once when nobody reads it (a blocking open
    // would wait forever), and no close-and-reopen that would hand the reader an early end of file.
    // /dev/stdout redirected to a file: added to, as the shell's `>` or `>>` left it.
    fd = openSync(
      path,
      constants.O_WRONLY | (fifo ? constants.O_NONBLOCK : statSync(path).isFile() ? constants.O_APPEND : 0),
    )
  } catch (error) {
    throw new BillwatchError('E_NOT_FOUND', `cannot write: ${errnoReason(error)}`, {...where, cause: error})
  }
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    let at = 0
    while (at < bytes.length) {
      try {
        at += writeSync(fd, bytes, at, bytes.length - at)
      } catch (error) {
        // The pipe is full until the reader catches up: wait a little and go on.
        if (!fifo || (error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error
        Atomics.wait(PAUSE, 0, 0, 5)
      }
    }
  } catch (error) {
    throw new BillwatchError('E_NOT_FOUND', `cannot write: ${errnoReason(error)}`, {...where, cause: error})
  } finally {
    closeSync(fd)
  }
}

const PAUSE = new Int32Array(new SharedArrayBuffer(4))

/** Where JSON.parse stopped (" at position N"), without the text around it: no file content in errors. */
export function jsonErrorPosition(error: unknown): string {
  const at = /position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1]
  return at === undefined ? '' : ` (at character ${at})`
}

function formatSize(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)} GiB`
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(bytes % (1 << 20) === 0 ? 0 : 1)} MiB`
  if (bytes >= 1 << 10) return `${Math.round(bytes / (1 << 10))} KiB`
  return `${bytes} bytes`
}

/** Size bounds of side inputs: far above any real one, far below what would exhaust memory. */
export const SIDE_INPUT_MAX_BYTES = {
  knowledge: 4 * 1024 * 1024,
  log: 512 * 1024 * 1024,
  manifest: 16 * 1024 * 1024,
  timezone: 4096,
} as const
