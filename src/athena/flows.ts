/**
 * `billwatch ingest --athena TABLE` over a VPC Flow Logs table: Athena's answer to the flow roll-up
 * (src/store/athena-flows.ts writes the query and the store's part) is checked and named here, then committed
 * through the flow store's own path.
 */
import {createHash} from 'node:crypto'

import type {DayRange} from '../aws/window.js'
import {BillwatchError} from '../errors.js'
import type {Store} from '../store/index.js'
import {FLOW_ROLLUP_COLUMNS, type FlowWrite, writeFlowAnswer} from '../store/athena-flows.js'
import type {AthenaTable} from './catalog.js'

/**
 * Athena's answer for `range` of a flow-log table, checked (the columns asked for, every record parsed) and
 * written to the flow store: earlier answers of the table for the same days are replaced, the same answer again is
 * a no-op.
 */
export async function writeFlowRollup(
  store: Store,
  table: AthenaTable,
  range: DayRange,
  columns: string[],
  rows: (null | string)[][],
): Promise<FlowWrite> {
  const expected = FLOW_ROLLUP_COLUMNS.join(',')
  if (columns.join(',') !== expected)
    throw new BillwatchError('E_AWS', 'Athena answered other columns than the query asked for', {
      expected,
      got: columns.join(','),
    })
  const where = `${table.database}.${table.name}`
  const broken = rows.reduce((sum, row) => sum + Number(row[FLOW_ROLLUP_COLUMNS.indexOf('broken')] ?? 0), 0)
  if (broken > 0)
    throw new BillwatchError('E_VALUE', `${broken} flow records of ${where} do not parse`, {
      expected:
        'log_status OK, NODATA or SKIPDATA, action ACCEPT or REJECT, and bytes, end and protocol on every OK record',
      file: where,
    })
  const path = `athena:${where}:${range.start}..${range.end}`
  const contentHash = createHash('sha256').update(JSON.stringify({path, rows})).digest('hex')
  return writeFlowAnswer(store, {contentHash, path, range, rows, where})
}
