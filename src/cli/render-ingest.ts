/**
 * What `billwatch ingest --athena` and `--cost-explorer`/`--cloudwatch` print: a table of what was fetched and
 * written, and what the queries and requests cost.
 */
import type {AthenaIngestResult} from '../athena/index.js'
import type {LiveIngestResult} from '../aws/index.js'
import {addDays, daysBetween} from '../aws/window.js'
import {formatBytes, formatUsd} from '../core/units.js'
import {renderTable} from './render.js'

export function renderAthenaIngest(result: AthenaIngestResult): string {
  const table = renderTable(
    ['status', 'table', 'kind', 'first day', 'last day', 'days', 'restated', 'rows'],
    [
      [
        result.status,
        result.table,
        result.kind,
        result.fetched.start,
        addDays(result.fetched.end, -1),
        daysBetween(result.fetched.start, result.fetched.end),
        result.restatedDays,
        result.rows,
      ],
    ],
    ['left', 'left', 'left', 'left', 'left', 'right', 'right', 'right'],
  )
  if (result.queryExecutionId === null) return `${table}\nThe store already holds these days; nothing was queried.`
  const estimate = result.estimatedScanBytes === null ? 'unknown' : formatBytes(result.estimatedScanBytes)
  return `${table}\nAthena query ${result.queryExecutionId}: scanned ${formatBytes(result.bytesScanned)} (estimate at most ${estimate}, ${result.partitions} partitions), ${formatUsd(result.scanCostUsd)} at $5 per TB (10 MB minimum)${result.throttledRetries > 0 ? `; ${result.throttledRetries} throttled requests retried` : ''}.`
}

/** Human summary of a live ingest (a table and the request bill). */
export function renderLiveIngest(result: LiveIngestResult): string {
  const rows = [result.costExplorer, result.cloudWatch]
    .filter((r) => r !== null)
    .map((r) => [
      r.status,
      r.source === 'cost-explorer'
        ? `cost-explorer (${r.granularity}${r.allUsage ? ', all usage' : ''})`
        : `cloudwatch (${r.region}, ${r.instances.length} instances)`,
      r.fetched.start,
      addDays(r.fetched.end, -1),
      r.days,
      r.restatedDays,
      r.rows,
      r.requests,
    ])
  const table = renderTable(
    ['status', 'source', 'first day', 'last day', 'days', 'restated', 'rows', 'requests'],
    rows,
    ['left', 'left', 'left', 'left', 'right', 'right', 'right', 'right'],
  )
  const ce = result.costExplorer
  const bill = ce
    ? `Cost Explorer: ${ce.requests} billed requests (${formatUsd(ce.requestCostUsd)})${ce.throttledRetries > 0 ? `, ${ce.throttledRetries} throttled retries (free)` : ''}.`
    : ''
  return [table, bill].filter(Boolean).join('\n')
}
