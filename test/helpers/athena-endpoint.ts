/**
 * A local Amazon Athena and AWS Glue endpoint for tests, on 127.0.0.1, speaking what the real SDK
 * clients send: AWS JSON 1.1 with `X-Amz-Target: AmazonAthena.<Action>` and `AWSGlue.<Action>`,
 * SigV4-signed (checked as in aws-endpoint.ts). The API shapes follow the Athena and Glue service
 * models (billing-exports-2.md §3.3: GetQueryResults pages of at most 1000 rows, the column names
 * as the first page's first row, every value a VarCharValue string).
 *
 * Tables are folders of Parquet laid out as AWS writes them (Hive partitions such as
 * `year=2024/month=3` or `BILLING_PERIOD=2024-03`); the catalogue lists their columns as a Glue
 * crawler would (lower-cased names, Glue types) and each partition's size as the crawler's sizeKey.
 * A query is really run: the SQL billwatch sent is executed by DuckDB over those files. DuckDB lacks
 * two Trino functions the query may use, regexp_like and is_finite; they are defined as macros over
 * DuckDB's own (regexp_matches, isfinite), which have the same meaning for these arguments.
 * A query's DataScannedInBytes counts only the partitions its WHERE can read (see scannedBytes).
 */
import {readdirSync, statSync} from 'node:fs'
import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join, relative} from 'node:path'

import {DuckDBInstance, type DuckDBConnection} from '@duckdb/node-api'

import {
  decodeToken,
  encodeToken,
  ServiceError,
  TEST_ACCOUNT,
  TEST_CREDENTIALS,
  verifySignature,
} from './aws-endpoint.js'

export type AthenaAction =
  'GetPartitions' | 'GetQueryExecution' | 'GetQueryResults' | 'GetTable' | 'StartQueryExecution' | 'StopQueryExecution'

export interface AthenaTableFixture {
  database: string
  name: string
  /** The folder the table's LOCATION points at. */
  root: string
  /** Hive partition keys in path order, as the crawler names them (lower case). */
  partitionKeys: string[]
  /** Overrides every partition's sizeKey (bytes), e.g. to exceed --max-scan-gb; null: no size recorded. */
  partitionBytes?: null | number
}

export interface AthenaFault {
  action: AthenaAction
  kind: 'deny' | 'throttle'
  times: number
}

export interface AthenaEndpointOptions {
  tables: AthenaTableFixture[]
  /** Workgroups and their result location (null: none configured). */
  workgroups?: Record<string, null | string>
  /** Rows per GetQueryResults page at most (the service's cap is 1000). */
  rowsPerPage?: number
  /** GetQueryExecution answers QUEUED this many times, then RUNNING this many, then the outcome. */
  queuedPolls?: number
  runningPolls?: number
  /** Keep every query RUNNING until stopped (Ctrl-C tests). */
  neverFinish?: boolean
  faults?: AthenaFault[]
}

interface Execution {
  id: string
  sql: string
  state: 'CANCELLED' | 'FAILED' | 'QUEUED' | 'RUNNING' | 'SUCCEEDED'
  polls: number
  reason?: string
  columns: {name: string; type: string}[]
  rows: (null | string)[][]
  bytes: number
  token?: string
}

export interface AthenaCall {
  action: AthenaAction
  body: Record<string, any>
  status: number
}

export interface AthenaEndpoint {
  url: string
  credentials: typeof TEST_CREDENTIALS
  calls: AthenaCall[]
  callsOf(action: AthenaAction): AthenaCall[]
  /** Every query started, with its SQL and final state. */
  executions: Execution[]
  close(): Promise<void>
}

const TARGETS: Record<string, [string, AthenaAction]> = {
  'AWSGlue.GetPartitions': ['glue', 'GetPartitions'],
  'AWSGlue.GetTable': ['glue', 'GetTable'],
  'AmazonAthena.GetQueryExecution': ['athena', 'GetQueryExecution'],
  'AmazonAthena.GetQueryResults': ['athena', 'GetQueryResults'],
  'AmazonAthena.StartQueryExecution': ['athena', 'StartQueryExecution'],
  'AmazonAthena.StopQueryExecution': ['athena', 'StopQueryExecution'],
}

function parquetFiles(root: string): string[] {
  return readdirSync(root, {recursive: true, withFileTypes: true})
    .filter((e) => e.isFile() && e.name.endsWith('.parquet'))
    .map((e) => join(e.parentPath, e.name))
}

/** Hive key=value pairs of a file's folders, keys lower-cased as the crawler writes them. */
function partitionOf(root: string, file: string): Record<string, string> {
  return Object.fromEntries(
    relative(root, file)
      .split('/')
      .slice(0, -1)
      .map((part) => part.split('='))
      .filter((kv) => kv.length === 2)
      .map(([k, v]) => [k!.toLowerCase(), v!]),
  )
}

const GLUE_TYPE: Record<string, string> = {
  BIGINT: 'bigint',
  BOOLEAN: 'boolean',
  DATE: 'date',
  DOUBLE: 'double',
  INTEGER: 'int',
  TIMESTAMP: 'timestamp',
  VARCHAR: 'string',
}
const ATHENA_TYPE: Record<string, string> = {
  BIGINT: 'bigint',
  DATE: 'date',
  DOUBLE: 'double',
  INTEGER: 'integer',
  TIMESTAMP: 'timestamp',
  VARCHAR: 'varchar',
}

/** A double as Trino prints it (Java's Double.toString): 1.5E9, 0.25, 1.0E-4. */
function javaDouble(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity'
  const abs = Math.abs(x)
  if (abs === 0 || (abs >= 1e-3 && abs < 1e7)) return Number.isInteger(x) ? `${x}.0` : String(x)
  const [mantissa, exponent] = x.toExponential().split('e') as [string, string]
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}E${Number(exponent)}`
}

export async function startAthenaEndpoint(options: AthenaEndpointOptions): Promise<AthenaEndpoint> {
  const db = await DuckDBInstance.create(':memory:')
  const sql: DuckDBConnection = await db.connect()
  await sql.run(`CREATE MACRO regexp_like(s, p) AS regexp_matches(s, p); CREATE MACRO is_finite(x) AS isfinite(x)`)
  const tables = new Map<
    string,
    {
      fixture: AthenaTableFixture
      columns: {Name: string; Type: string}[]
      files: string[]
      partitionTable: string
      partitions: Map<string, number>
    }
  >()
  const quote = (text: string) => `'${text.replaceAll("'", "''")}'`
  for (const fixture of options.tables) {
    const files = parquetFiles(fixture.root)
    // DuckDB names a partition as its folder does (BILLING_PERIOD=…); the catalogue, as the crawler does (lower case).
    const folderKeys = relative(fixture.root, files[0] ?? fixture.root)
      .split('/')
      .slice(0, -1)
      .map((part) => part.split('=')[0]!)
    const types = folderKeys.map((k) => `'${k}': VARCHAR`).join(', ')
    const reader = `read_parquet(${JSON.stringify(files).replaceAll('"', "'")}, hive_partitioning = true${types ? `, hive_types = {${types}}` : ''}, union_by_name = true)`
    await sql.run(
      `CREATE SCHEMA IF NOT EXISTS "${fixture.database}"; CREATE VIEW "${fixture.database}"."${fixture.name}" AS SELECT * FROM ${reader}`,
    )
    const described = await sql.runAndReadAll(`DESCRIBE SELECT * FROM ${reader}`)
    const columns = described
      .getRowObjectsJS()
      .map((r) => ({
        Name: String(r.column_name as string).toLowerCase(),
        Type:
          GLUE_TYPE[String(r.column_type as string)] ??
          String(r.column_type as string)
            .toLowerCase()
            .replace(/^map\(varchar, varchar\)$/, 'map<string,string>'),
      }))
      .filter((c) => !fixture.partitionKeys.includes(c.Name))
    // One row per partition (its folder), every column NULL but the partition keys: scannedBytes evaluates WHERE
    // clauses on it.
    const partitionTable = `bw_partitions_${tables.size}`
    const partitions = new Map<string, number>()
    await sql.run(`CREATE TABLE ${partitionTable} AS SELECT *, NULL::VARCHAR AS bw_partition FROM ${reader} LIMIT 0`)
    for (const file of files) {
      const folder = relative(fixture.root, file).split('/').slice(0, -1)
      const id = folder.join('/')
      if (!partitions.has(id)) {
        const values = folder.map((part) => part.split('=')).filter((kv) => kv.length === 2)
        await sql.run(
          `INSERT INTO ${partitionTable} BY NAME SELECT ${[...values.map(([k, v]) => `${quote(v!)} AS "${k}"`), `${quote(id)} AS bw_partition`].join(', ')}`,
        )
      }
      partitions.set(id, (partitions.get(id) ?? 0) + statSync(file).size)
    }
    tables.set(`${fixture.database}.${fixture.name}`, {columns, files, fixture, partitionTable, partitions})
  }
  const workgroups = options.workgroups ?? {primary: 's3://billwatch-athena-results/'}
  const faults = [...(options.faults ?? [])]
  const calls: AthenaCall[] = []
  const executions: Execution[] = []

  function table(database: string, name: string) {
    if (![...tables.values()].some((t) => t.fixture.database === database))
      throw new ServiceError(400, 'EntityNotFoundException', `Database ${database} not found.`)
    const found = tables.get(`${database}.${name}`)
    if (!found) throw new ServiceError(400, 'EntityNotFoundException', `Table ${name} not found.`)
    return found
  }

  async function start(body: any): Promise<unknown> {
    const existing = executions.find((e) => body.ClientRequestToken && e.token === body.ClientRequestToken)
    if (existing) return {QueryExecutionId: existing.id}
    const workgroup = body.WorkGroup ?? 'primary'
    if (!(workgroup in workgroups))
      throw new ServiceError(400, 'InvalidRequestException', `WorkGroup ${workgroup} is not found.`)
    if (!body.ResultConfiguration?.OutputLocation && !workgroups[workgroup]) {
      throw new ServiceError(
        400,
        'InvalidRequestException',
        'No output location provided. An output location is required either through the Workgroup result configuration setting or as an API input.',
      )
    }
    const execution: Execution = {
      bytes: 0,
      columns: [],
      id: crypto.randomUUID(),
      polls: 0,
      rows: [],
      sql: String(body.QueryString),
      state: 'QUEUED',
      token: body.ClientRequestToken,
    }
    executions.push(execution)
    try {
      const result = await sql.runAndReadAll(execution.sql)
      execution.columns = result.columnNames().map((name, i) => ({
        name,
        type: ATHENA_TYPE[String(result.columnTypes()[i])] ?? String(result.columnTypes()[i]).toLowerCase(),
      }))
      execution.rows = result
        .getRows()
        .map((row) =>
          row.map((value) => (value === null ? null : typeof value === 'number' ? javaDouble(value) : String(value))),
        )
      execution.bytes = await scannedBytes(execution.sql)
    } catch (error) {
      execution.reason = `GENERIC_INTERNAL_ERROR: ${String((error as Error).message).split('\n')[0]}`
    }
    return {QueryExecutionId: execution.id}
  }

  /**
   * What Athena would bill: the whole files of the partitions the query can read (an upper bound:
   * Athena reads only the Parquet columns it needs). A partition is read unless the WHERE of the
   * SELECT that reads the table is false for it: the WHERE (from DuckDB's own parse tree,
   * json_serialize_sql) is evaluated on one row per partition holding its key values and NULL
   * for every other column, so a condition on other columns leaves it unknown, never false.
   */
  async function scannedBytes(query: string): Promise<number> {
    // Source positions can be 2^64 - 1 ("none"), which a JavaScript number cannot hold: they play no part here.
    const tree = async (text: string) =>
      JSON.parse(
        String((await sql.runAndReadAll(`SELECT json_serialize_sql(${quote(text)})`)).getRows()[0]![0]).replaceAll(
          /"query_location":\d+/g,
          '"query_location":0',
        ),
      )
    const parsed = await tree(query)
    let bytes = 0
    for (const [key, entry] of tables) {
      const wheres: unknown[] = []
      let reads = false
      const walk = (node: unknown): void => {
        if (Array.isArray(node)) return node.forEach(walk)
        if (node === null || typeof node !== 'object') return
        const from = (node as {from_table?: {type?: string; schema_name?: string; table_name?: string}}).from_table
        if (from?.type === 'BASE_TABLE' && `${from.schema_name}.${from.table_name}` === key) {
          reads = true
          wheres.push((node as {where_clause: unknown}).where_clause)
        }
        Object.values(node).forEach(walk)
      }
      walk(parsed.statements)
      if (!reads) continue
      const kept = new Set<string>()
      for (const where of wheres) {
        if (where === null) {
          entry.partitions.forEach((_, id) => kept.add(id))
          continue
        }
        const template = await tree(`SELECT true AS keep, bw_partition FROM ${entry.partitionTable}`)
        template.statements[0].node.select_list[0] = {...(where as object), alias: 'keep'}
        const select = String(
          (await sql.runAndReadAll(`SELECT json_deserialize_sql(${quote(JSON.stringify(template))})`)).getRows()[0]![0],
        )
        for (const row of (
          await sql.runAndReadAll(`SELECT bw_partition FROM (${select}) WHERE keep IS NOT FALSE`)
        ).getRows())
          kept.add(String(row[0]))
      }
      for (const id of kept) bytes += entry.partitions.get(id) ?? 0
    }
    return bytes
  }

  function execution(body: any): Execution {
    const found = executions.find((e) => e.id === body.QueryExecutionId)
    if (!found)
      throw new ServiceError(400, 'InvalidRequestException', `QueryExecution ${body.QueryExecutionId} was not found`)
    return found
  }

  function getExecution(body: any): unknown {
    const e = execution(body)
    if (e.state === 'QUEUED' || e.state === 'RUNNING') {
      e.polls++
      const queued = options.queuedPolls ?? 1
      const running = options.runningPolls ?? 1
      e.state =
        e.polls <= queued
          ? 'QUEUED'
          : options.neverFinish || e.polls <= queued + running
            ? 'RUNNING'
            : e.reason
              ? 'FAILED'
              : 'SUCCEEDED'
    }
    return {
      QueryExecution: {
        Query: e.sql,
        QueryExecutionId: e.id,
        StatementType: 'DML',
        Statistics:
          e.state === 'SUCCEEDED'
            ? {DataScannedInBytes: e.bytes, EngineExecutionTimeInMillis: 12}
            : {DataScannedInBytes: 0},
        Status: {State: e.state, ...(e.state === 'FAILED' ? {StateChangeReason: e.reason} : {})},
        SubstatementType: 'SELECT',
      },
    }
  }

  function getResults(body: any): unknown {
    const e = execution(body)
    if (e.state !== 'SUCCEEDED')
      throw new ServiceError(400, 'InvalidRequestException', `Query has not yet finished. Current state: ${e.state}`)
    const max = body.MaxResults ?? 1000
    if (!Number.isInteger(max) || max < 1 || max > 1000)
      throw new ServiceError(400, 'InvalidRequestException', 'MaxResults must be between 1 and 1000')
    const header = e.columns.map((c) => c.name)
    const all = [header, ...e.rows]
    const offset = body.NextToken ? decodeToken(body.NextToken, 'InvalidRequestException') : 0
    const size = Math.min(max, options.rowsPerPage ?? 1000)
    const page = all.slice(offset, offset + size)
    return {
      ResultSet: {
        ResultSetMetadata: {
          ColumnInfo: e.columns.map((c) => ({
            CatalogName: 'hive',
            Label: c.name,
            Name: c.name,
            Nullable: 'UNKNOWN',
            Precision: 0,
            Scale: 0,
            Type: c.type,
          })),
        },
        Rows: page.map((row) => ({Data: row.map((v) => (v === null ? {} : {VarCharValue: v}))})),
      },
      UpdateCount: 0,
      ...(offset + size < all.length ? {NextToken: encodeToken(offset + size)} : {}),
    }
  }

  function getPartitions(body: any): unknown {
    const {files, fixture} = table(body.DatabaseName, body.TableName)
    const byValues = new Map<string, {values: string[]; bytes: number; location: string}>()
    for (const file of files) {
      const partition = partitionOf(fixture.root, file)
      const values = fixture.partitionKeys.map((k) => partition[k] ?? '')
      const key = values.join('/')
      const entry = byValues.get(key) ?? {
        bytes: 0,
        location: `s3://billwatch-exports/${relative(fixture.root, file).split('/').slice(0, -1).join('/')}/`,
        values,
      }
      entry.bytes += statSync(file).size
      byValues.set(key, entry)
    }
    // Glue's expression language, for the forms billwatch writes: key = 'v', key IN ('a', 'b'), key >= / < 'v', AND,
    // OR, parentheses.
    const js = body.Expression
      ? String(body.Expression)
          .replace(
            /\b(\w+)\s+IN\s+\(([^)]*)\)/g,
            (_m, k, list) => `[${list}].includes(p[${JSON.stringify(k.toLowerCase())}])`,
          )
          .replace(
            /\b(\w+)\s*(=|>=|<)\s*('[^']*')/g,
            (_m, k, op, v) => `p[${JSON.stringify(k.toLowerCase())}] ${op === '=' ? '===' : op} ${v}`,
          )
          .replaceAll(' AND ', ' && ')
          .replaceAll(' OR ', ' || ')
      : 'true'

    // The filter billwatch sent, translated above into a comparison of the partition's own values (test code only).
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const admits = new Function('p', `return ${js}`) as (p: Record<string, string>) => boolean
    const partitions = [...byValues.values()].filter((p) =>
      admits(Object.fromEntries(fixture.partitionKeys.map((k, i) => [k, p.values[i]!]))),
    )
    const sizeKey = (bytes: number) =>
      fixture.partitionBytes === null ? {} : {sizeKey: String(fixture.partitionBytes ?? bytes)}
    return {
      Partitions: partitions.map((p) => ({
        DatabaseName: fixture.database,
        Parameters: {classification: 'parquet', ...sizeKey(p.bytes)},
        StorageDescriptor: {Location: p.location},
        TableName: fixture.name,
        Values: p.values,
      })),
    }
  }

  function getTable(body: any): unknown {
    const {columns, fixture} = table(body.DatabaseName, body.Name)
    return {
      Table: {
        DatabaseName: fixture.database,
        Name: fixture.name,
        Parameters: {classification: 'parquet'},
        PartitionKeys: fixture.partitionKeys.map((k) => ({Name: k, Type: 'string'})),
        StorageDescriptor: {Columns: columns, Location: `s3://billwatch-exports/${fixture.name}/`},
        TableType: 'EXTERNAL_TABLE',
      },
    }
  }

  async function dispatch(action: AthenaAction, body: any): Promise<unknown> {
    switch (action) {
      case 'GetPartitions':
        return getPartitions(body)
      case 'GetQueryExecution':
        return getExecution(body)
      case 'GetQueryResults':
        return getResults(body)
      case 'GetTable':
        return getTable(body)
      case 'StartQueryExecution':
        return start(body)
      case 'StopQueryExecution': {
        const e = execution(body)
        if (e.state === 'QUEUED' || e.state === 'RUNNING') e.state = 'CANCELLED'
        return {}
      }
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on(
      'end',
      () =>
        void (async () => {
          const raw = Buffer.concat(chunks)
          let action: AthenaAction | undefined
          let body: any = {}
          try {
            const known = TARGETS[String(req.headers['x-amz-target'] ?? '')]
            if (!known)
              throw new ServiceError(
                400,
                'UnknownOperationException',
                `unknown target ${String(req.headers['x-amz-target'])}`,
              )
            if (req.headers['content-type'] !== 'application/x-amz-json-1.1')
              throw new ServiceError(400, 'SerializationException', 'expected application/x-amz-json-1.1')
            action = known[1]
            body = JSON.parse(raw.toString('utf8') || '{}')
            verifySignature(req, raw, known[0])
            const fault = faults.find((f) => f.action === action && f.times > 0)
            if (fault) {
              fault.times--
              const service = known[0]
              throw fault.kind === 'throttle'
                ? new ServiceError(
                    400,
                    service === 'athena' ? 'TooManyRequestsException' : 'ThrottlingException',
                    'Rate exceeded',
                  )
                : new ServiceError(
                    400,
                    'AccessDeniedException',
                    `User: arn:aws:iam::${TEST_ACCOUNT}:user/billwatch is not authorized to perform: ${service}:${action} because no identity-based policy allows the ${service}:${action} action`,
                  )
            }
            const result = await dispatch(action, body)
            calls.push({action, body, status: 200})
            res
              .writeHead(200, {'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': crypto.randomUUID()})
              .end(JSON.stringify(result))
          } catch (error) {
            const failure =
              error instanceof ServiceError ? error : new ServiceError(500, 'InternalServerException', String(error))
            if (action) calls.push({action, body, status: failure.status})
            // Athena and Glue both say Message (capitalised); Athena's throttling adds a Reason.
            res
              .writeHead(failure.status, {
                'content-type': 'application/x-amz-json-1.1',
                'x-amzn-requestid': crypto.randomUUID(),
              })
              .end(
                JSON.stringify({
                  Message: failure.message,
                  __type: failure.code,
                  ...(failure.code === 'TooManyRequestsException' ? {Reason: 'CONCURRENT_QUERY_LIMIT_EXCEEDED'} : {}),
                }),
              )
          }
        })(),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  return {
    calls,
    callsOf: (action) => calls.filter((c) => c.action === action),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => {
          sql.closeSync()
          db.closeSync()
          resolve()
        })
      }),
    credentials: TEST_CREDENTIALS,
    executions,
    url: `http://127.0.0.1:${port}`,
  }
}
