/**
 * The scan plans of the columnar exports: CUR 1.0 and 2.0 here, FOCUS in focus.ts, the DBR in dbr.ts, each
 * SQL expressions over a file's own columns for every normalized field. The store (src/store/usage-scan.ts)
 * runs a plan over the file; `ingest --athena` renders the same plan for Athena.
 */
import {BillwatchError} from '../errors.js'
import {type Columns, quoteLiteral, requireColumns, type ScanPlan} from './columns.js'
import {dbrPlan} from './dbr.js'
import {focusPlan} from './focus.js'
import type {FormatKind} from './sniff.js'

export {Columns, quoteIdent, quoteLiteral, requireColumns, type ScanPlan} from './columns.js'

/** The CUR columns billwatch reads, as CUR 1.0 CSV names them and as CUR 2.0 / Athena (snake_case) do. */
const CUR_NAMES = {
  account: ['lineItem/UsageAccountId', 'line_item_usage_account_id'],
  amount: ['lineItem/UsageAmount', 'line_item_usage_amount'],
  billingEnd: ['bill/BillingPeriodEndDate', 'bill_billing_period_end_date'],
  billingStart: ['bill/BillingPeriodStartDate', 'bill_billing_period_start_date'],
  currency: ['lineItem/CurrencyCode', 'line_item_currency_code'],
  kind: ['lineItem/LineItemType', 'line_item_line_item_type'],
  netReservationCost: ['reservation/NetEffectiveCost', 'reservation_net_effective_cost'],
  netSavingsPlanCost: ['savingsPlan/NetSavingsPlanEffectiveCost', 'savings_plan_net_savings_plan_effective_cost'],
  netUnblended: ['lineItem/NetUnblendedCost', 'line_item_net_unblended_cost'],
  operation: ['lineItem/Operation', 'line_item_operation'],
  publicCost: ['pricing/publicOnDemandCost', 'pricing_public_on_demand_cost'],
  region: ['product/region', 'product_region_code', 'product_region'],
  reservationArn: ['reservation/ReservationARN', 'reservation_reservation_a_r_n'],
  reservationCost: ['reservation/EffectiveCost', 'reservation_effective_cost'],
  resourceId: ['lineItem/ResourceId', 'line_item_resource_id'],
  riUnusedFee: [
    'reservation/UnusedAmortizedUpfrontFeeForBillingPeriod',
    'reservation_unused_amortized_upfront_fee_for_billing_period',
  ],
  riUnusedRecurring: ['reservation/UnusedRecurringFee', 'reservation_unused_recurring_fee'],
  savingsPlanCost: ['savingsPlan/SavingsPlanEffectiveCost', 'savings_plan_savings_plan_effective_cost'],
  service: ['lineItem/ProductCode', 'line_item_product_code'],
  spCommitment: ['savingsPlan/TotalCommitmentToDate', 'savings_plan_total_commitment_to_date'],
  spUsed: ['savingsPlan/UsedCommitment', 'savings_plan_used_commitment'],
  start: ['lineItem/UsageStartDate', 'line_item_usage_start_date'],
  unblended: ['lineItem/UnblendedCost', 'line_item_unblended_cost'],
  unit: ['pricing/unit', 'pricing_unit'],
  usageType: ['lineItem/UsageType', 'line_item_usage_type'],
} as const

const CUR_USAGE_KINDS = ['Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage']

/**
 * CUR 1.0 and 2.0: usage lines are Usage, DiscountedUsage and SavingsPlanCoveredUsage; every other
 * line (Tax, Credit, Refund, Fee, RIFee, SavingsPlan fees …) is a charge. Cost is the amortized,
 * net-where-present charge as AWS's Cloud Intelligence Dashboards compute it
 * (../shared/research/billing-exports-2.md §2.3): Savings Plan covered usage at its effective
 * cost, reserved usage at the reservation's, the negation of covered usage at 0, and the rest at
 * net unblended cost (unblended without a discount column).
 */
export function curPlan(cols: Columns): ScanPlan {
  const n = (key: keyof typeof CUR_NAMES) => cols.find(...CUR_NAMES[key])
  const num = (key: keyof typeof CUR_NAMES) => cols.number(...CUR_NAMES[key])
  const kind = cols.text(...CUR_NAMES.kind)
  const base = n('netUnblended') ? `coalesce(${num('netUnblended')}, ${num('unblended')})` : num('unblended')
  const savings = n('netSavingsPlanCost')
    ? `coalesce(${num('netSavingsPlanCost')}, ${num('savingsPlanCost')})`
    : num('savingsPlanCost')
  const reserved = n('netReservationCost')
    ? `coalesce(${num('netReservationCost')}, ${num('reservationCost')})`
    : num('reservationCost')
  const cases = [`WHEN 'SavingsPlanNegation' THEN 0`, `WHEN 'SavingsPlanUpfrontFee' THEN 0`]
  const said: string[] = []
  if (n('savingsPlanCost')) {
    cases.push(`WHEN 'SavingsPlanCoveredUsage' THEN coalesce(${savings}, ${base})`)
    said.push(`${n('netSavingsPlanCost') ?? n('savingsPlanCost')} on Savings Plan covered lines`)
  }
  if (n('reservationCost')) {
    cases.push(`WHEN 'DiscountedUsage' THEN coalesce(${reserved}, ${base})`)
    said.push(`${n('netReservationCost') ?? n('reservationCost')} on reserved lines`)
  }
  if (n('spCommitment') && n('spUsed'))
    cases.push(`WHEN 'SavingsPlanRecurringFee' THEN coalesce(${num('spCommitment')} - ${num('spUsed')}, ${base})`)
  if (n('riUnusedFee') && n('riUnusedRecurring'))
    cases.push(`WHEN 'RIFee' THEN coalesce(${num('riUnusedFee')} + ${num('riUnusedRecurring')}, ${base})`)
  const upfrontRi = n('reservationArn')
    ? `WHEN ${kind} = 'Fee' AND coalesce(${cols.text(...CUR_NAMES.reservationArn)}, '') <> '' THEN 0`
    : ''
  const cost = `CASE ${upfrontRi ? `${upfrontRi} ELSE CASE ${kind} ${cases.join(' ')} ELSE ${base} END` : `${kind} ${cases.join(' ')} ELSE ${base}`} END`
  const usageLine = `${kind} IN (${CUR_USAGE_KINDS.map(quoteLiteral).join(', ')})`
  const list = n('publicCost') ? `coalesce(${num('publicCost')}, ${num('unblended')})` : num('unblended')
  said.push(`${n('netUnblended') ?? n('unblended') ?? 'UnblendedCost'} elsewhere`)
  return {
    account: cols.text(...CUR_NAMES.account),
    amount: num('amount'),
    billingEnd: cols.timestamp(...CUR_NAMES.billingEnd),
    billingStart: cols.timestamp(...CUR_NAMES.billingStart),
    category: kind,
    chargeLine: `NOT (${usageLine})`,
    cost,
    costBasis: `effective cost: ${said.join(', ')}; list cost: ${n('publicCost') ?? n('unblended') ?? 'UnblendedCost'}`,
    currency: cols.text(...CUR_NAMES.currency),
    listCost: `CASE WHEN ${kind} = 'SavingsPlanNegation' THEN 0 ELSE ${list} END`,
    nullStrings: false,
    operation: cols.text(...CUR_NAMES.operation),
    provider: `'AWS'`,
    region: cols.text(...CUR_NAMES.region),
    resourceId: `nullif(${cols.text(...CUR_NAMES.resourceId)}, '')`,
    service: cols.text(...CUR_NAMES.service),
    start: n('start') ?? CUR_NAMES.start[0],
    unit: cols.text(...CUR_NAMES.unit),
    usageBase: 'CAST(NULL AS VARCHAR)',
    usageLine,
    usageType: cols.text(...CUR_NAMES.usageType),
  }
}

/** Columns a format cannot be read without: [what it is, the names it may have]. */
const REQUIRED: Record<'cur1' | 'cur2', [string, readonly string[]][]> = {
  cur1: [
    ['usage start', ['lineItem/UsageStartDate']],
    ['usage type', ['lineItem/UsageType']],
    ['usage amount', ['lineItem/UsageAmount']],
    ['charge type', ['lineItem/LineItemType']],
  ],
  cur2: [
    ['usage start', ['line_item_usage_start_date']],
    ['usage type', ['line_item_usage_type']],
    ['usage amount', ['line_item_usage_amount']],
    ['charge type', ['line_item_line_item_type']],
  ],
}

/** Builds the plan of a columnar kind, after checking the columns it needs. */
export type PlanBuilder = (cols: Columns, path: string, line: number | undefined) => ScanPlan

const PLANS: Partial<Record<FormatKind, {anyCase?: boolean; build: PlanBuilder}>> = {
  cur1: {
    build: (cols, path, line) => (requireColumns(cols, REQUIRED.cur1, 'a CUR 1.0 export', path, line), curPlan(cols)),
  },
  cur2: {
    build: (cols, path, line) => (requireColumns(cols, REQUIRED.cur2, 'a CUR 2.0 export', path, line), curPlan(cols)),
  },
  dbr: {build: dbrPlan},
  focus: {anyCase: true, build: focusPlan},
}

/** The plan of a columnar kind over `cols` (checked for the columns it needs). */
export function buildPlan(kind: FormatKind, cols: Columns, path: string, line: number | undefined): ScanPlan {
  const entry = PLANS[kind]
  if (!entry) throw new BillwatchError('E_FORMAT', `${kind} is not a columnar export`, {file: path})
  return entry.build(cols, path, line)
}

/** Whether a kind's columns are matched without case (FOCUS after a Glue crawler). */
export function matchesAnyCase(kind: FormatKind): boolean {
  return PLANS[kind]?.anyCase === true
}

/** Whether a kind is read through a scan plan. */
export function hasPlan(kind: FormatKind): boolean {
  return PLANS[kind] !== undefined
}
