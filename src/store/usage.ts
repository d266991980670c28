/**
 * Reads of the stored daily usage that correlate and explain build on, as typed rows. The SQL lives here
 * (the store's one place for it); what the rows mean — which usage type is internet egress, which step a
 * resource drove — is decided by the domains that read them.
 */
import type {UsageLineAround} from '../correlate/scope.js'
import type {Store} from './index.js'

/** Every usage line over the seven days up to `day` (YYYY-MM-DD): what grew on that day, and where. */
export async function usageAroundDay(store: Store, day: string): Promise<UsageLineAround[]> {
  const rows = await store.all<{
    usage_type: string
    region: null | string
    resource_id: null | string
    before: number
    after: number
  }>(
    `SELECT usage_type, region, resource_id,
            coalesce(sum(amount) FILTER (WHERE day < $day::DATE), 0) / 7 AS before,
            coalesce(sum(amount) FILTER (WHERE day = $day::DATE), 0) AS after
     FROM usage WHERE day >= $day::DATE - INTERVAL 7 DAY AND day <= $day::DATE GROUP BY ALL`,
    {day},
  )
  return rows.map((r) => ({
    dailyBefore: r.before,
    onDay: r.after,
    region: r.region,
    resourceId: r.resource_id,
    usageType: r.usage_type,
  }))
}

/**
 * Byte usage per month, usage type and currency: bytes, the days with usage, and the cost (null when no line states
 * one).
 */
export interface MonthlyBytes {
  /** YYYY-MM. */
  month: string
  usageType: string
  usageBase: string
  currency: null | string
  days: number
  bytes: number
  cost: null | number
}

export async function monthlyBytes(store: Store): Promise<MonthlyBytes[]> {
  const rows = await store.all<{
    usage_type: string
    usage_base: string
    currency: null | string
    month: string
    days: number
    bytes: number
    cost: null | number
  }>(
    `SELECT usage_type, usage_base, currency, strftime(day, '%Y-%m') AS month, count(DISTINCT day) AS days, sum(amount) AS bytes,
            CASE WHEN count(cost) = 0 THEN NULL ELSE sum(cost) END AS cost
     FROM usage WHERE unit = 'bytes' GROUP BY ALL ORDER BY month`,
  )
  return rows.map((r) => ({
    bytes: r.bytes,
    cost: r.cost,
    currency: r.currency,
    days: r.days,
    month: r.month,
    usageBase: r.usage_base,
    usageType: r.usage_type,
  }))
}

/** Byte usage per day and usage type from `from` (YYYY-MM-DD) on. */
export interface DailyBytes {
  day: string
  usageType: string
  usageBase: string
  bytes: number
}

export async function dailyBytesSince(store: Store, from: string): Promise<DailyBytes[]> {
  const rows = await store.all<{day: string; usage_type: string; usage_base: string; bytes: number}>(
    `SELECT strftime(day, '%Y-%m-%d') AS day, usage_type, usage_base, sum(amount) AS bytes FROM usage
     WHERE unit = 'bytes' AND day >= $1::DATE GROUP BY ALL`,
    [from],
  )
  return rows.map((r) => ({bytes: r.bytes, day: r.day, usageBase: r.usage_base, usageType: r.usage_type}))
}

/** Whether the store holds any usage line. */
export async function hasUsage(store: Store): Promise<boolean> {
  return (await store.one<{n: number}>('SELECT count(*)::INTEGER AS n FROM (SELECT 1 FROM usage LIMIT 1)'))?.n === 1
}
