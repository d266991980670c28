import type {Store} from './index.js'

/** An amount in the currency the export billed it in (never converted, never added across currencies). */
export interface Money {
  currency: null | string
  cost: number
  /** The list (public on-demand) cost beside it, where the export states one. */
  listCost: null | number
}

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
  /** Providers of the rows still in effect (AWS, Microsoft, Google Cloud, Oracle …). */
  providers: string[]
  /** Totals of the rows still in effect: bytes of data transfer. */
  amountBytes: number
  /** Usage cost of those rows when they are in one currency (else null; see costs). */
  cost: null | number
  currency: null | string
  /** Usage cost per currency. */
  costs: Money[]
  /** Which cost column of the export `cost` is (e.g. FOCUS EffectiveCost), null for exports without cost. */
  costBasis: null | string
  /** Every row of this source was replaced by a newer export of the same period. */
  superseded: boolean
}

export interface UsageTypeStatus {
  provider: string
  usageType: string
  unit: null | string
  days: number
  amount: number
  cost: null | number
  currency: null | string
}

/** Charges that are not usage (Credit, Tax, Purchase, Adjustment, fees, corrections), per provider. */
export interface ChargeStatus {
  provider: string
  category: string
  days: number
  cost: number
  currency: null | string
}

/** A flow-record file (VPC Flow Logs, nfcapd) the store holds. */
export interface FlowSourceStatus {
  id: number
  path: string
  /** vpc-text, vpc-cloudwatch, vpc-parquet or nfcapd. */
  kind: string
  /** Interfaces (eni-…) or NetFlow hosts the records are about. */
  interfaces: string[]
  firstDay: null | string
  lastDay: null | string
  /** Days (per interface) the file has records for, and how many of them count (see duplicateDays). */
  days: number
  /** Interface-days another, fuller delivery of the same records counts for instead. */
  duplicateDays: number
  records: number
  nodataRecords: number
  skipdataRecords: number
  rejectedRecords: number
  /** Accepted traffic the records carry (all directions), and its egress. */
  trafficBytes: number
  egressBytes: number
  /** Size of the file as read. */
  fileBytes: number
  /** How sampled counts were scaled (null: unsampled, counts exact). */
  sampling: null | string
  ingestedAt: string
}

export interface StoreStatus {
  store: string
  schemaVersion: number
  firstDay: null | string
  lastDay: null | string
  days: number
  sources: SourceStatus[]
  usageTypes: UsageTypeStatus[]
  charges: ChargeStatus[]
  totals: {amountBytes: number; costs: Money[]}
  /** Flow-record files, beside the billing sources. */
  flowSources: FlowSourceStatus[]
}

/** The rows of the queries below, as Store.all returns them (counts as numbers, nullable columns as null). */
interface SourceRow {
  id: number
  path: string
  format: string
  content_hash: string
  ingested_at: string
  billing_period: null | string
  line_items: number
  cost_basis: null | string
  first_day: null | string
  last_day: null | string
  days: number
  rows: number
  providers: null | string[]
  bytes: number
}

interface CostRow {
  currency: null | string
  cost: number
  list_cost: null | number
}

interface UsageTypeRow {
  provider: string
  usage_type: string
  currency: null | string
  unit: null | string
  days: number
  amount: number
  cost: null | number
}

interface ChargeRow {
  provider: string
  category: string
  currency: null | string
  days: number
  cost: number
}

interface RangeRow {
  first_day: null | string
  last_day: null | string
  days: number
  bytes: number
}

interface FlowSourceRow {
  id: number
  path: string
  format: string
  bytes: null | number
  records: number
  nodata_records: number
  skipdata_records: number
  rejected_records: number
  sampling: null | string
  ingested_at: string
  interfaces: null | string[]
  first_day: null | string
  last_day: null | string
  days: number
  counted_days: number
  traffic: number
  egress: number
}

/**
 * A sum that is the same on every run: DuckDB adds doubles in whatever order its threads finish, and
 * the last digits move; decimals add exactly, in any order. (Twelve decimals: far below a byte or a cent.)
 */
function stableSum(column: string, filter?: string): string {
  return `CAST(sum(TRY_CAST(${column} AS DECIMAL(38, 12)))${filter ? ` FILTER (WHERE ${filter})` : ''} AS DOUBLE)`
}

/** What the store holds. Totals and usage types count each day once (the `usage` view), as every analysis does. */
export async function storeStatus(store: Store): Promise<StoreStatus> {
  const sources = await store.all<SourceRow>(
    `SELECT s.id, s.path, s.format, s.content_hash, strftime(s.ingested_at, '%Y-%m-%dT%H:%M:%SZ') AS ingested_at,
            s.billing_period, s.line_items, s.cost_basis,
            strftime(min(u.day), '%Y-%m-%d') AS first_day, strftime(max(u.day), '%Y-%m-%d') AS last_day,
            count(DISTINCT u.day) AS days, count(u.day) AS rows,
            list(DISTINCT u.provider ORDER BY u.provider) FILTER (WHERE u.provider IS NOT NULL) AS providers,
            coalesce(${stableSum('u.amount', "u.unit = 'bytes'")}, 0) AS bytes
     FROM sources s LEFT JOIN usage_daily u ON u.source_id = s.id
     GROUP BY ALL ORDER BY s.id`,
  )
  const sourceCosts = await store.all<CostRow & {source_id: number}>(
    `SELECT source_id, currency, ${stableSum('cost')} AS cost, ${stableSum('list_cost')} AS list_cost FROM usage_daily WHERE cost IS NOT NULL GROUP BY ALL ORDER BY ALL`,
  )
  const usageTypes = await store.all<UsageTypeRow>(
    `SELECT coalesce(provider, 'AWS') AS provider, usage_type, currency, any_value(unit) AS unit, count(DISTINCT day) AS days,
            coalesce(${stableSum('amount')}, 0) AS amount, CASE WHEN count(cost) = 0 THEN NULL ELSE ${stableSum('cost')} END AS cost
     FROM usage GROUP BY ALL ORDER BY provider, usage_type, currency`,
  )
  const charges = await store.all<ChargeRow>(
    `SELECT coalesce(provider, 'AWS') AS provider, category, currency, count(DISTINCT day) AS days, coalesce(${stableSum('cost')}, 0) AS cost
     FROM charges_daily GROUP BY ALL ORDER BY provider, category, currency`,
  )
  const range = await store.one<RangeRow>(
    `SELECT strftime(min(day), '%Y-%m-%d') AS first_day, strftime(max(day), '%Y-%m-%d') AS last_day, count(DISTINCT day) AS days,
            coalesce(${stableSum('amount', "unit = 'bytes'")}, 0) AS bytes FROM usage`,
  )
  const totals = await store.all<CostRow>(
    `SELECT currency, ${stableSum('cost')} AS cost, ${stableSum('list_cost')} AS list_cost FROM usage WHERE cost IS NOT NULL GROUP BY ALL ORDER BY ALL`,
  )
  const flowSources = await store.all<FlowSourceRow>(
    `WITH days AS (
       SELECT source_id, interface, day FROM flow_daily UNION SELECT source_id, interface, day FROM flow_status WHERE interface IS NOT NULL AND day IS NOT NULL
     ), counted AS (
       SELECT source_id, interface, day FROM flow_daily_counted UNION SELECT source_id, interface, day FROM flow_status_counted WHERE interface IS NOT NULL AND day IS NOT NULL
     ), traffic AS (
       SELECT source_id, ${stableSum('bytes', "action = 'ACCEPT'")} AS traffic, ${stableSum('bytes', "action = 'ACCEPT' AND direction = 'egress'")} AS egress FROM flow_daily GROUP BY ALL
     )
     SELECT s.id, s.path, s.format, s.bytes, s.records, s.nodata_records, s.skipdata_records, s.rejected_records, s.sampling,
            strftime(s.ingested_at, '%Y-%m-%dT%H:%M:%SZ') AS ingested_at,
            (SELECT list(DISTINCT interface ORDER BY interface) FROM days d WHERE d.source_id = s.id) AS interfaces,
            (SELECT strftime(min(day), '%Y-%m-%d') FROM days d WHERE d.source_id = s.id) AS first_day,
            (SELECT strftime(max(day), '%Y-%m-%d') FROM days d WHERE d.source_id = s.id) AS last_day,
            (SELECT count(*) FROM days d WHERE d.source_id = s.id) AS days,
            (SELECT count(*) FROM counted c WHERE c.source_id = s.id) AS counted_days,
            coalesce(t.traffic, 0) AS traffic, coalesce(t.egress, 0) AS egress
     FROM flow_sources s LEFT JOIN traffic t ON t.source_id = s.id ORDER BY s.id`,
  )
  const money = (rows: CostRow[]): Money[] =>
    rows.map((r) => ({cost: r.cost, currency: r.currency, listCost: r.list_cost}))
  return {
    charges: charges.map((c) => ({
      category: c.category,
      cost: c.cost,
      currency: c.currency,
      days: c.days,
      provider: c.provider,
    })),
    days: range?.days ?? 0,
    firstDay: range?.first_day ?? null,
    flowSources: flowSources.map((f) => ({
      days: f.days,
      duplicateDays: f.days - f.counted_days,
      egressBytes: f.egress,
      fileBytes: f.bytes ?? 0,
      firstDay: f.first_day,
      id: f.id,
      ingestedAt: f.ingested_at,
      interfaces: f.interfaces ?? [],
      kind: f.format,
      lastDay: f.last_day,
      nodataRecords: f.nodata_records,
      path: f.path,
      records: f.records,
      rejectedRecords: f.rejected_records,
      sampling: f.sampling,
      skipdataRecords: f.skipdata_records,
      trafficBytes: f.traffic,
    })),
    lastDay: range?.last_day ?? null,
    schemaVersion: await store.schemaVersion(),
    sources: sources.map((s) => {
      const costs = money(sourceCosts.filter((c) => c.source_id === s.id))
      const single = costs.length === 1 ? costs[0]! : undefined
      return {
        amountBytes: s.bytes,
        billingPeriod: s.billing_period,
        contentHash: s.content_hash,
        cost: single ? single.cost : costs.length === 0 ? 0 : null,
        costBasis: s.cost_basis,
        costs,
        currency: single?.currency ?? null,
        days: s.days,
        firstDay: s.first_day,
        format: s.format,
        id: s.id,
        ingestedAt: s.ingested_at,
        lastDay: s.last_day,
        lineItems: s.line_items,
        path: s.path,
        providers: s.providers ?? [],
        superseded: s.rows === 0 && s.line_items > 0,
      }
    }),
    store: store.path,
    totals: {amountBytes: range?.bytes ?? 0, costs: money(totals)},
    usageTypes: usageTypes.map((u) => ({
      amount: u.amount,
      cost: u.cost,
      currency: u.currency,
      days: u.days,
      provider: u.provider,
      unit: u.unit,
      usageType: u.usage_type,
    })),
  }
}
