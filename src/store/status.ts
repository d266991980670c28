import type {Store} from './index.js'

export interface SourceStatus {
  id: number
  path: string
  format: string
  contentHash: string
  ingestedAt: string
  /** First and last UTC day with rows still in effect from this source (YYYY-MM-DD), null if none remain. */
  firstDay: null | string
  lastDay: null | string
  days: number
  lineItems: number
  billingPeriod: null | string
  /** Totals of the rows still in effect: bytes of data transfer, USD of cost. */
  amountBytes: number
  costUsd: number
  /** Every row of this source was replaced by a newer export of the same period. */
  superseded: boolean
}

export interface UsageTypeStatus {
  usageType: string
  unit: null | string
  days: number
  amount: number
  costUsd: null | number
}

export interface StoreStatus {
  store: string
  schemaVersion: number
  firstDay: null | string
  lastDay: null | string
  days: number
  sources: SourceStatus[]
  usageTypes: UsageTypeStatus[]
  totals: {amountBytes: number; costUsd: number}
}

/**
 * A sum that is the same on every run: DuckDB adds doubles in whatever order its threads finish, and
 * the last digits move; decimals add exactly, in any order. (Six decimals: far below a byte or a cent.)
 */
function stableSum(column: string, filter?: string): string {
  return `CAST(sum(TRY_CAST(${column} AS DECIMAL(38, 6)))${filter ? ` FILTER (WHERE ${filter})` : ''} AS DOUBLE)`
}

/** What the store holds. Totals and usage types count each day once (the `usage` view), as every analysis does. */
export async function storeStatus(store: Store): Promise<StoreStatus> {
  const sources = await store.all<Record<string, any>>(
    `SELECT s.id, s.path, s.format, s.content_hash, strftime(s.ingested_at, '%Y-%m-%dT%H:%M:%SZ') AS ingested_at,
            s.billing_period, s.line_items,
            strftime(min(u.day), '%Y-%m-%d') AS first_day, strftime(max(u.day), '%Y-%m-%d') AS last_day,
            count(DISTINCT u.day) AS days, count(u.day) AS rows,
            coalesce(${stableSum('u.amount', "u.unit = 'bytes'")}, 0) AS bytes, coalesce(${stableSum('u.cost')}, 0) AS cost
     FROM sources s LEFT JOIN usage_daily u ON u.source_id = s.id
     GROUP BY ALL ORDER BY s.id`,
  )
  const usageTypes = await store.all<Record<string, any>>(
    `SELECT usage_type, min(unit) AS unit, count(DISTINCT day) AS days, coalesce(${stableSum('amount')}, 0) AS amount,
            CASE WHEN count(cost) = 0 THEN NULL ELSE ${stableSum('cost')} END AS cost
     FROM usage GROUP BY usage_type ORDER BY usage_type`,
  )
  const range = await store.one<Record<string, any>>(
    `SELECT strftime(min(day), '%Y-%m-%d') AS first_day, strftime(max(day), '%Y-%m-%d') AS last_day, count(DISTINCT day) AS days,
            coalesce(${stableSum('amount', "unit = 'bytes'")}, 0) AS bytes, coalesce(${stableSum('cost')}, 0) AS cost FROM usage`,
  )
  return {
    days: range?.days ?? 0,
    firstDay: range?.first_day ?? null,
    lastDay: range?.last_day ?? null,
    schemaVersion: await store.schemaVersion(),
    sources: sources.map((s) => ({
      amountBytes: s.bytes,
      billingPeriod: s.billing_period ?? null,
      contentHash: s.content_hash,
      costUsd: s.cost,
      days: s.days,
      firstDay: s.first_day ?? null,
      format: s.format,
      id: s.id,
      ingestedAt: s.ingested_at,
      lastDay: s.last_day ?? null,
      lineItems: s.line_items,
      path: s.path,
      superseded: s.rows === 0 && s.line_items > 0,
    })),
    store: store.path,
    totals: {amountBytes: range?.bytes ?? 0, costUsd: range?.cost ?? 0},
    usageTypes: usageTypes.map((u) => ({amount: u.amount, costUsd: u.cost ?? null, days: u.days, unit: u.unit ?? null, usageType: u.usage_type})),
  }
}
