/**
 * VPC Flow Logs records read line by line: the first broken record of a file that DuckDB's scan
 * (src/store/flow-scan.ts) could not read, or that holds a record that does not parse, named by line and field.
 * Only failing files pay for that.
 */
import {createReadStream} from 'node:fs'
import {createInterface} from 'node:readline'
import {createGunzip} from 'node:zlib'

import {BillwatchError} from '../errors.js'
import type {FlowSniff} from './sniff.js'
import {recordProblem} from './vpc-format.js'

export interface VpcScanOptions {
  /** Addresses of the interfaces (`--host`): records from them are egress, to them ingress. */
  hosts?: string[]
}

/**
 * Reads the file line by line and throws the first broken record (file, line, field, what was
 * expected). Returns when every line is sound. Parquet has no lines: its errors stand as DuckDB's.
 */
export async function throwFirstBrokenRecord(path: string, sniff: FlowSniff): Promise<void> {
  if (sniff.kind === 'vpc-parquet') return
  const input = createReadStream(path)
  const lines = createInterface({
    crlfDelay: Number.POSITIVE_INFINITY,
    input: sniff.container === 'gzip' ? input.pipe(createGunzip()) : input,
  })
  let line = 0
  try {
    for await (const text of lines) {
      line++
      if (line === 1 && sniff.header) continue
      if (text.trim() === '') continue
      let record = text
      if (sniff.kind === 'vpc-cloudwatch') {
        let message: unknown
        try {
          message = (JSON.parse(text) as {message?: unknown}).message
        } catch {
          message = undefined
        }
        if (typeof message !== 'string')
          throw new BillwatchError('E_FORMAT', 'not a CloudWatch Logs event', {
            expected: 'a JSON object with a "message" string',
            file: path,
            line,
          })
        record = message
      }
      const problem = recordProblem(record.trim().split(' '), sniff.fields)
      if (problem) {
        throw new BillwatchError('E_VALUE', 'broken flow record', {
          ...problem,
          file: path,
          line,
          ...(problem.field ? {field: problem.field} : {}),
        })
      }
    }
  } catch (error) {
    if (error instanceof BillwatchError) throw error
    throw new BillwatchError('E_TRUNCATED', 'compressed data is corrupt', {
      expected: 'a complete .gz file',
      file: path,
      line,
    })
  } finally {
    lines.close()
    input.destroy()
  }
}
