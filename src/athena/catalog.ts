/**
 * What the Glue Data Catalog says about an export's table: its columns (so its kind is known before
 * any query runs), its partitions (pruned to the days asked for) and their sizes (the scan estimate).
 * Layouts: ../shared/research/billing-exports-2.md §2.1 (CUR 2.0 and FOCUS Data Exports,
 * `billing_period=YYYY-MM`) and §3.1 (CUR 1.0 Athena integration, `year=YYYY/month=M`).
 */
import {
  type Column,
  GetPartitionsCommand,
  type GetPartitionsCommandOutput,
  GetTableCommand,
  type GlueClient,
} from '@aws-sdk/client-glue'

import {type AwsConnection, allPages, callAws} from '../aws/clients.js'
import {addDays, type DayRange} from '../aws/window.js'
import {BillwatchError} from '../errors.js'
import {checkFormat, fieldName} from '../flows/vpc-format.js'
import {quoteIdent, quoteLiteral} from '../ingest/columnar.js'
import {classifyColumns, type FormatKind} from '../ingest/sniff.js'

export interface AthenaTable {
  database: string
  name: string
  columns: {name: string; type: string}[]
  partitionKeys: {name: string; type: string}[]
  /** s3://bucket/prefix/ the table reads (the role needs s3:GetObject under it). */
  location: null | string
  kind: 'cur1' | 'cur2' | 'focus' | 'vpc'
  /** Size the catalogue states for the unpartitioned table (bytes), when it states one. */
  bytes: null | number
}

/**
 * CUR 2.0 keeps product attributes in one map column, `product` (billing-exports-2.md §2.1); the
 * CUR 1.0 Athena integration flattens them (product_region, product_product_name …) and
 * partitions by year and month (§3.1).
 */
function isCur1(columns: AthenaTable['columns'], partitionKeys: AthenaTable['partitionKeys']): boolean {
  if (columns.some((c) => c.name === 'product' && c.type.startsWith('map'))) return false
  const keys = partitionKeys.map((k) => k.name.toLowerCase())
  return (
    (keys.includes('year') && keys.includes('month')) ||
    columns.some((c) => c.name === 'product_product_name' || c.name === 'product_region')
  )
}
/** VPC Flow Logs tables (the Athena integration's, or AWS's documented DDL): these columns say so. */
const FLOW_COLUMNS = ['srcaddr', 'dstaddr', 'bytes']

export async function describeTable(
  glue: GlueClient,
  connection: AwsConnection,
  database: string,
  name: string,
): Promise<AthenaTable> {
  const answer = await callAws('GetTable', connection, () =>
    glue.send(new GetTableCommand({DatabaseName: database, Name: name})),
  ).catch((error: unknown) => {
    throw notFound(error, database, name)
  })
  const table = answer.Table
  const columns = toColumns(table?.StorageDescriptor?.Columns)
  const partitionKeys = toColumns(table?.PartitionKeys)
  const names = [...columns, ...partitionKeys].map((c) => c.name)
  const where = `${database}.${name}`
  if (FLOW_COLUMNS.every((c) => names.includes(c))) {
    // Athena spells the fields with underscores (account_id, log_status); the rule reads them as flow logs do.
    checkFormat(names.map(fieldName), {file: where})
    return {
      bytes: sizeOf(table?.Parameters),
      columns,
      database,
      kind: 'vpc',
      location: table?.StorageDescriptor?.Location ?? null,
      name,
      partitionKeys,
    }
  }
  let kind: FormatKind
  try {
    kind = classifyColumns(where, names, 0)
  } catch {
    throw new BillwatchError('E_FORMAT', 'not a billing export table', {
      expected: 'the columns of CUR 1.0 (Athena integration), CUR 2.0 or FOCUS (Data Exports)',
      file: where,
      got: names.slice(0, 4).join(','),
    })
  }
  if (kind !== 'cur2' && kind !== 'focus')
    throw new BillwatchError('E_FORMAT', `a ${kind} table cannot be read through Athena`, {file: where})
  return {
    bytes: sizeOf(table?.Parameters),
    columns,
    database,
    kind: kind === 'cur2' && isCur1(columns, partitionKeys) ? 'cur1' : kind,
    location: table?.StorageDescriptor?.Location ?? null,
    name,
    partitionKeys,
  }
}

function toColumns(columns: Column[] | undefined): {name: string; type: string}[] {
  return (columns ?? []).map((c) => ({name: c.Name ?? '', type: (c.Type ?? '').toLowerCase()}))
}

function notFound(error: unknown, database: string, name: string): unknown {
  const code = (error as {cause?: {name?: string}})?.cause?.name
  const message = String((error as {cause?: {message?: string}})?.cause?.message ?? '')
  if (code !== 'EntityNotFoundException') return error
  if (/database/i.test(message))
    return new BillwatchError(
      'E_NOT_FOUND',
      `no database ${database} in the Glue Data Catalog of this account and region`,
      {field: '--database'},
    )
  return new BillwatchError('E_NOT_FOUND', `no table ${name} in database ${database}`, {
    field: 'TABLE',
    suggestions: [`aws glue get-tables --database-name ${database} --query 'TableList[].Name'`],
  })
}

/** Bytes the crawler (sizeKey) or Hive statistics (totalSize) record, or null. */
function sizeOf(parameters: Record<string, string> | undefined): null | number {
  const value = parameters?.sizeKey ?? parameters?.totalSize ?? parameters?.rawDataSize
  const bytes = value === undefined ? Number.NaN : Number(value)
  return Number.isFinite(bytes) && bytes >= 0 ? bytes : null
}

/** Months (YYYY-MM) a day range touches. */
export function monthsOf(range: DayRange): string[] {
  const months: string[] = []
  for (let first = `${range.start.slice(0, 7)}-01`; first < range.end; first = `${addDays(first, 32).slice(0, 7)}-01`)
    months.push(first.slice(0, 7))
  return months
}

/**
 * The partition predicate for a day range, in the syntax both Athena and Glue's GetPartitions
 * expression take (comparisons, IN, AND, OR on the partition keys), or null when the table has no
 * partition billwatch knows. Known keys: billing_period (YYYY-MM), year + month (month written
 * with or without its leading zero) and a day of the month under them (flow logs' Hive layout), and
 * a date/day/dt key holding YYYY-MM-DD (compared as a date when the catalogue types it so and
 * `forGlue` is false: Glue's expressions take the bare string).
 */
export function partitionPredicate(
  keys: AthenaTable['partitionKeys'],
  range: DayRange,
  forGlue = false,
): null | string {
  const quote = forGlue ? (name: string) => name : quoteIdent
  const key = (...names: string[]) => keys.find((k) => names.includes(k.name.toLowerCase()))
  const months = monthsOf(range)
  const list = (values: string[]) => values.map(quoteLiteral).join(', ')
  // Both spellings of a number: 3 and 03.
  const spellings = (values: string[]) => list([...new Set(values.flatMap((v) => [String(Number(v)), v]))])
  const period = key('billing_period')
  if (period) return `${quote(period.name)} IN (${list(months)})`
  const year = key('year')
  const month = key('month')
  if (year && month) {
    const day = key('day')
    const byYear = new Map<string, string[]>()
    for (const m of months) byYear.set(m.slice(0, 4), [...(byYear.get(m.slice(0, 4)) ?? []), m.slice(5)])
    if (day) {
      return months
        .map((m) => {
          const days: string[] = []
          for (
            let d = `${m}-01` < range.start ? range.start : `${m}-01`;
            d < range.end && d.startsWith(m);
            d = addDays(d, 1)
          )
            days.push(d.slice(8))
          return `(${quote(year.name)} = ${quoteLiteral(m.slice(0, 4))} AND ${quote(month.name)} IN (${spellings([m.slice(5)])}) AND ${quote(day.name)} IN (${spellings(days)}))`
        })
        .join(' OR ')
    }
    return [...byYear]
      .map(([y, ms]) => `(${quote(year.name)} = ${quoteLiteral(y)} AND ${quote(month.name)} IN (${spellings(ms)}))`)
      .join(' OR ')
  }
  const date = key('date', 'day', 'dt')
  if (date) {
    const literal = (day: string) =>
      !forGlue && date.type === 'date' ? `DATE ${quoteLiteral(day)}` : quoteLiteral(day)
    return `${quote(date.name)} >= ${literal(range.start)} AND ${quote(date.name)} < ${literal(range.end)}`
  }
  return null
}

export interface ScanEstimate {
  /** Bytes the pruned partitions hold (Parquet is read by column, so the scan is at most this); null when unknown. */
  bytes: null | number
  partitions: number
  /** Partitions the catalogue states no size for. */
  unsized: number
}

/** The size of what a query over `range` can read: the pruned partitions' sizes, or the table's. */
export async function estimateScan(
  glue: GlueClient,
  connection: AwsConnection,
  table: AthenaTable,
  range: DayRange,
): Promise<ScanEstimate> {
  if (table.partitionKeys.length === 0)
    return {bytes: table.bytes, partitions: 0, unsized: table.bytes === null ? 1 : 0}
  // Glue's expression language names keys bare (no quotes) and compares them as strings.
  const expression = partitionPredicate(table.partitionKeys, range, true)
  const pages = await allPages<GetPartitionsCommandOutput>(
    (token) =>
      callAws('GetPartitions', connection, () =>
        glue.send(
          new GetPartitionsCommand({
            DatabaseName: table.database,
            TableName: table.name,
            ...(expression === null ? {} : {Expression: expression}),
            ...(token === undefined ? {} : {NextToken: token}),
          }),
        ),
      ),
    (page) => page.NextToken,
  )
  const partitions = pages.pages.flatMap((p) => p.Partitions ?? [])
  const sizes = partitions.map((p) => sizeOf(p.Parameters))
  const unsized = sizes.filter((s) => s === null).length
  return {
    bytes: unsized > 0 ? null : sizes.reduce<number>((a, b) => a + (b ?? 0), 0),
    partitions: partitions.length,
    unsized,
  }
}
