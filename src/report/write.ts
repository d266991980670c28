import {renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'

import {BillwatchError} from '../errors.js'

/** Refuses an --out whose directory is missing or not a directory, before any evidence is gathered. */
export function checkReportTarget(out: string): void {
  const dir = dirname(out)
  const stat = statSync(dir, {throwIfNoEntry: false})
  if (!stat?.isDirectory()) {
    throw new BillwatchError('E_NOT_FOUND', `cannot write the report: ${stat ? 'not a directory' : 'no such directory'}`, {
      expected: 'an existing directory',
      field: '--out',
      file: dir,
      suggestions: [`mkdir -p ${dir}`],
    })
  }
  if (statSync(out, {throwIfNoEntry: false})?.isDirectory()) {
    throw new BillwatchError('E_USAGE', 'cannot write the report over a directory', {expected: 'a file name such as report.html', field: '--out', file: out})
  }
}

/** Writes beside the target, then renames: a reader never sees half a report, a failure leaves none. Returns the size. */
export function writeReportFile(out: string, html: string): number {
  checkReportTarget(out)
  const partial = join(dirname(out), `.${basename(out)}.${process.pid}.partial`)
  try {
    writeFileSync(partial, html)
    renameSync(partial, out)
  } catch (error) {
    rmSync(partial, {force: true})
    throw new BillwatchError('E_USAGE', `cannot write the report: ${(error as Error).message}`, {cause: error, field: '--out', file: out})
  }
  return Buffer.byteLength(html)
}
