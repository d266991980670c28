import {BillwatchError} from '../errors.js'

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOENT: 'no such file',
  ENOTDIR: 'no such file (a part of the path is not a directory)',
  EPERM: 'permission denied',
}

/** The one-line E_NOT_FOUND error for a file that cannot be opened: the failed open's error, or its errno code, in words. */
export function unopenableFile(path: string, error: unknown, expected?: string): BillwatchError {
  const code = typeof error === 'string' ? error : ((error as NodeJS.ErrnoException).code ?? String(error))
  const reason = REASONS[code] ?? `cannot read (${code})`
  return new BillwatchError('E_NOT_FOUND', reason, expected === undefined ? {file: path} : {expected, file: path})
}
