/**
 * What ingest hands the store: usage lines as a parser or an API client produces them, and the source (file or
 * fetch) they came from. The store's write path (src/store/usage-import.ts) normalizes and commits them.
 */
/** One usage line as a parser or an API client produces it, before normalization. */
export interface UsageRow {
  /** UTC day, YYYY-MM-DD. */
  day: string
  account: null | string
  /** Region when the source states it; the usage-type prefix wins when it names one. */
  region: null | string
  service: null | string
  usageType: string
  operation: null | string
  resourceId: null | string
  /** In `unit`; 'GB' on byte usage types is converted to bytes (2^30) on commit. */
  amount: null | number
  unit: null | string
  cost: null | number
  currency: null | string
  /** 'AWS' when absent: every source but FOCUS is AWS's. */
  provider?: null | string
  /** Public on-demand (list) cost beside `cost`, when the export states it. */
  listCost?: null | number
}

export type Family = 'cloudwatch' | 'cost-explorer-api' | 'cost-explorer-csv' | 'cur' | 'dbr' | 'focus' | 'usage-report'

export interface SourceMeta {
  path: string
  /** Detected format, e.g. 'cur1', and how it was packed ('csv.gz', 'parquet', 'api'). */
  format: string
  container: string
  family: Family
  /** Identity of the content: re-ingesting the same hash is a no-op. */
  contentHash: string
  bytes: number
  /**
   * 'all': the source restates every usage type of its accounts over the cover (CUR, FOCUS).
   * 'listed': only the (service, usage type) pairs it contains (legacy report, Cost Explorer).
   * 'resources': only those pairs for the resources it names (CloudWatch: one fetch's instances).
   */
  scope: 'all' | 'listed' | 'resources'
  /** Days [coverStart, coverEnd) the source restates; default: its first day to the day after its last. */
  coverStart?: string
  coverEnd?: string
  billingPeriod?: string
  lineItems: number
  /** Which of the export's cost columns `cost` holds (e.g. FOCUS EffectiveCost), said with every cost shown. */
  costBasis?: string
}

export interface CommitOutcome {
  sourceId: number
  rows: number
  days: number
  firstDay: null | string
  lastDay: null | string
  replacedRows: number
}

/** A source already in the store, and the daily rows it holds. */
export interface StoredSource {
  sourceId: number
  billingPeriod: null | string
  lineItems: number
  rows: number
  days: number
  firstDay: null | string
  lastDay: null | string
}
