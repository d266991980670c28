import {BillwatchError} from '../errors.js'
import {DUCKDB, type SqlDialect} from './dialect.js'

/**
 * How one columnar export becomes staged rows: SQL expressions over its columns for every
 * normalized field, built per format (CUR here, FOCUS in focus.ts, the DBR in dbr.ts) from the
 * columns the file has. `columns` quotes a name and records the type a CSV must read it as.
 */
export interface ScanPlan {
  /** The usage start column: its day is the row's day. */
  start: string
  account: string
  service: string
  usageType: string
  operation: string
  resourceId: string
  region: string
  amount: string
  unit: string
  /** The real charge (effective / net cost) and the list (public on-demand) cost beside it. */
  cost: string
  listCost: string
  currency: string
  provider: string
  /** Set only for rows whose base usage type the format decides (another provider's internet egress). */
  usageBase: string
  /** Rows of the usage series; `charge` rows are kept as cost under `category`; others (report totals) are skipped. */
  usageLine: string
  chargeLine: string
  category: string
  /** Per row; the file's billing period is min(start) .. max(end). */
  billingStart: string
  billingEnd: string
  /**
   * FOCUS: the literal null (any case) and empty fields are null (the spec names no CSV spelling; the sample writes
   * NULL, the spec's own examples null).
   */
  nullStrings: boolean
  /** Which cost column `cost` holds, in the file's own column names. */
  costBasis: string
  /** Per-row values the other expressions refer to by name, each computed once, in order. */
  derived?: [string, string][]
}

/** Column access for plan builders: quoted names, numeric and timestamp reads, presence. */
export class Columns {
  readonly typed: Record<string, string> = {}
  private readonly byLower = new Map<string, string>()

  constructor(
    readonly names: string[],
    private readonly parquet: boolean,
    /** FOCUS after a Glue crawler is all lower case; match names without case where the format allows it. */
    private readonly anyCase = false,
    /** The engine the expressions are written for: the local store, or Athena over the same columns. */
    readonly dialect: SqlDialect = DUCKDB,
  ) {
    for (const name of names) if (!this.byLower.has(name.toLowerCase())) this.byLower.set(name.toLowerCase(), name)
  }

  /** The file's spelling of the first of `names` it has. */
  find(...names: string[]): string | undefined {
    for (const name of names) {
      if (this.names.includes(name)) return name
      const other = this.anyCase ? this.byLower.get(name.toLowerCase()) : undefined
      if (other !== undefined) return other
    }
    return undefined
  }

  has(...names: string[]): boolean {
    return this.find(...names) !== undefined
  }

  /** A text column (NULL when absent). */
  text(...names: string[]): string {
    const name = this.find(...names)
    return name === undefined ? 'CAST(NULL AS VARCHAR)' : `CAST(${quoteIdent(name)} AS VARCHAR)`
  }

  number(...names: string[]): string {
    return this.typedRead('DOUBLE', names)
  }

  timestamp(...names: string[]): string {
    return this.typedRead('TIMESTAMP', names)
  }

  private typedRead(type: string, names: string[]): string {
    const name = this.find(...names)
    if (name === undefined) return `CAST(NULL AS ${type})`
    if (this.parquet) return `TRY_CAST(${quoteIdent(name)} AS ${type})`
    this.typed[name] = type
    return quoteIdent(name)
  }
}

export function requireColumns(
  cols: Columns,
  required: [string, readonly string[]][],
  kind: string,
  path: string,
  line: number | undefined,
): void {
  for (const [field, names] of required) {
    if (!cols.has(...names))
      throw new BillwatchError('E_HEADER', `missing required column (the ${field})`, {
        expected: `${kind} to have it`,
        field: names.join(' or '),
        file: path,
        line,
      })
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}
