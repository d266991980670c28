/**
 * One Athena query from start to its last result page: started once (a client request token makes
 * the SDK's throttling retries idempotent), polled with backoff, stopped when the caller aborts
 * (Ctrl-C), its results paged 1000 rows at a time, and its scan and cost read from its statistics.
 */
import {randomUUID} from 'node:crypto'

import {
  type AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type GetQueryResultsCommandOutput,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
} from '@aws-sdk/client-athena'

import {type AwsConnection, allPages, callAws} from '../aws/clients.js'
import {BillwatchError} from '../errors.js'

/**
 * Athena bills $5 per TB scanned, each query rounded up to a whole MB with a 10 MB minimum (billing-exports-2.md §3.3).
 */
export const USD_PER_TB = 5
const MB = 2 ** 20
const TB = 2 ** 40
export const MIN_BILLED_BYTES = 10 * MB

/** What a query's scan costs: bytes rounded up to a MB, at least 10 MB. */
export function scanCostUsd(bytes: number): number {
  const billed = Math.max(MIN_BILLED_BYTES, Math.ceil(bytes / MB) * MB)
  return (billed / TB) * USD_PER_TB
}

export interface QueryOptions {
  database: string
  workgroup?: string
  /** s3://bucket/prefix/ for the result files; default the workgroup's. */
  output?: string
  /** Aborting stops the query in Athena (StopQueryExecution) and throws. */
  signal?: AbortSignal
  /** First wait between polls; it grows by half each time, to at most 5 s. */
  pollMs?: number
  onPoll?: (state: string) => void
}

export interface QueryResult {
  queryExecutionId: string
  columns: string[]
  /** Every row after the header, as Athena returns it: text, or null for NULL. */
  rows: (null | string)[][]
  bytesScanned: number
  costUsd: number
  /** GetQueryResults pages read, and requests the SDK retried (throttling). */
  pages: number
  retries: number
}

const MAX_POLL_MS = 5000

export async function runQuery(
  athena: AthenaClient,
  connection: AwsConnection,
  sql: string,
  options: QueryOptions,
): Promise<QueryResult> {
  const started = await callAws('StartQueryExecution', connection, () =>
    athena.send(
      new StartQueryExecutionCommand({
        ClientRequestToken: randomUUID(),
        QueryExecutionContext: {Database: options.database},
        QueryString: sql,
        ...(options.output === undefined ? {} : {ResultConfiguration: {OutputLocation: options.output}}),
        ...(options.workgroup === undefined ? {} : {WorkGroup: options.workgroup}),
      }),
    ),
  ).catch((error: unknown) => {
    throw startError(error, options)
  })
  const id = started.QueryExecutionId!
  let retries = Math.max(0, (started.$metadata.attempts ?? 1) - 1)
  let wait = options.pollMs ?? 250
  for (;;) {
    if (options.signal?.aborted) {
      // Stopped before saying so: a query left running would go on scanning, and billing, to its end.
      await callAws('StopQueryExecution', connection, () =>
        athena.send(new StopQueryExecutionCommand({QueryExecutionId: id})),
      ).catch(() => undefined)
      throw interrupted(id)
    }
    const answer = await callAws('GetQueryExecution', connection, () =>
      athena.send(new GetQueryExecutionCommand({QueryExecutionId: id})),
    )
    retries += Math.max(0, (answer.$metadata.attempts ?? 1) - 1)
    const execution = answer.QueryExecution
    const state = execution?.Status?.State ?? 'UNKNOWN'
    options.onPoll?.(state)
    const bytesScanned = execution?.Statistics?.DataScannedInBytes ?? 0
    if (state === 'SUCCEEDED') {
      const results = await readResults(athena, connection, id)
      return {
        ...results,
        bytesScanned,
        costUsd: scanCostUsd(bytesScanned),
        queryExecutionId: id,
        retries: retries + results.retries,
      }
    }
    if (state === 'FAILED')
      throw queryFailed(execution?.Status?.StateChangeReason ?? 'no reason given', id, options, bytesScanned)
    if (state === 'CANCELLED') throw new BillwatchError('E_AWS', `Athena query ${id} was cancelled (by someone else)`)
    await sleep(wait, options.signal)
    wait = Math.min(MAX_POLL_MS, Math.round(wait * 1.5))
  }
}

async function readResults(
  athena: AthenaClient,
  connection: AwsConnection,
  id: string,
): Promise<Omit<QueryResult, 'bytesScanned' | 'costUsd' | 'queryExecutionId'>> {
  const pages = await allPages<GetQueryResultsCommandOutput>(
    (token) =>
      callAws('GetQueryResults', connection, () =>
        athena.send(
          new GetQueryResultsCommand({
            MaxResults: 1000,
            QueryExecutionId: id,
            ...(token === undefined ? {} : {NextToken: token}),
          }),
        ),
      ),
    (page) => page.NextToken,
  )
  const columns = (pages.pages[0]?.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []).map((c) => c.Name ?? '')
  // A query's first page starts with the column names (billing-exports-2.md §3.3).
  const rows = pages.pages.flatMap((page, i) =>
    (page.ResultSet?.Rows ?? [])
      .slice(i === 0 ? 1 : 0)
      .map((row) => (row.Data ?? []).map((cell) => cell.VarCharValue ?? null)),
  )
  return {columns, pages: pages.requests, retries: pages.retries, rows}
}

function interrupted(id: string): BillwatchError {
  return new BillwatchError('E_USAGE', `interrupted: Athena query ${id} was stopped; nothing was written`, {
    exitCode: 130,
  })
}

/** StartQueryExecution refusals that name a flag: the workgroup, the output location. */
function startError(error: unknown, options: QueryOptions): unknown {
  const cause = (error as {cause?: {name?: string; message?: string}})?.cause
  const message = String(cause?.message ?? '')
  if (cause?.name !== 'InvalidRequestException') return error
  if (/workgroup/i.test(message) && /not found|does not exist/i.test(message)) {
    return new BillwatchError(
      'E_NOT_FOUND',
      `no Athena workgroup ${options.workgroup ?? 'primary'} in this account and region`,
      {field: '--workgroup'},
    )
  }
  if (/output location/i.test(message)) {
    return new BillwatchError(
      'E_USAGE',
      `the workgroup ${options.workgroup ?? 'primary'} has no query result location`,
      {
        expected: 's3://bucket/prefix/',
        field: '--output',
      },
    )
  }
  if (/disabled/i.test(message))
    return new BillwatchError('E_USAGE', `the Athena workgroup ${options.workgroup ?? 'primary'} is disabled`, {
      field: '--workgroup',
    })
  return new BillwatchError('E_AWS', `StartQueryExecution refused (${firstLine(message)})`, {cause: error})
}

/** A failed query in one line: S3 access (the table's data or the result location) named as such. */
function queryFailed(reason: string, id: string, options: QueryOptions, bytesScanned: number): BillwatchError {
  const line = firstLine(reason)
  const cost = bytesScanned > 0 ? ` (${bytesScanned} bytes scanned)` : ''
  if (/access denied/i.test(line) && /s3/i.test(line)) {
    return new BillwatchError('E_AWS', `Athena query ${id} failed: access denied on S3${cost}`, {
      suggestions: [
        `the credentials need s3:GetObject on the table's location and s3:PutObject on ${options.output ?? "the workgroup's result location"}`,
      ],
    })
  }
  if (/SCHEMA_NOT_FOUND|TABLE_NOT_FOUND/.test(line))
    return new BillwatchError('E_NOT_FOUND', `Athena query ${id} failed: ${line}`, {field: '--database'})
  return new BillwatchError('E_AWS', `Athena query ${id} failed${cost}: ${line}`)
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? text).trim()
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer)
        resolve()
      },
      {once: true},
    )
  })
}
