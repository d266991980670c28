/**
 * What a usage step costs. Detection never looks at dollars; this only prices the steps it found, from the
 * store's cost column when every day has one, else from an egress price (src/pricing/egress.ts).
 */
import {dayNumber, type DayStep, dayString, median} from '../detect/index.js'
import {
  BYTES_PER_GB,
  CURRENT_EGRESS_PRICING,
  DAYS_PER_MONTH,
  type EgressPricing,
  flatPricing,
  monthlyCostUsd,
} from '../pricing/egress.js'
import type {DailyPoint, DailySeries} from './series.js'

export interface CostBasis {
  /**
   * 'store': the exports' own cost; 'pricing': bytes priced with `label`; 'none': no cost known (not bytes, no cost
   * column).
   */
  source: 'none' | 'pricing' | 'store'
  label: string
  /** Currency of every cost figure: the exports' own (store) or USD (pricing); null when there is none. */
  currency: null | string
  pricing?: EgressPricing
}

export interface StepCost {
  monthlyCost: number
  yearlyCost: number
  costStepDate: null | string
}

/**
 * --price-per-gb wins; then the store's cost if every day of the series has one (in one currency);
 * then today's egress price for bytes. `exports` says which cost columns the store's cost came from.
 */
export function chooseCostBasis(
  total: DailySeries,
  pricePerGb: number | undefined,
  exports: {currencies?: string[]; costBases?: string[]} = {},
): CostBasis {
  if (pricePerGb !== undefined && total.unit === 'bytes') {
    const pricing = flatPricing(pricePerGb)
    return {currency: 'USD', label: pricing.label, pricing, source: 'pricing'}
  }
  if (total.points.length > 0 && total.points.every((p) => p.cost !== null)) {
    const currency = total.currency ?? null
    const columns = exports.costBases && exports.costBases.length > 0 ? ` (${exports.costBases.join('; ')})` : ''
    return {
      currency,
      label: `the exports' own cost, as billed${currency ? ` in ${currency}` : ''}${columns}`,
      source: 'store',
    }
  }
  const mixed =
    (exports.currencies?.length ?? 0) > 1
      ? `costs in ${exports.currencies?.join(', ')} are not added together`
      : 'the store has no cost for every day'
  if (total.unit === 'bytes') {
    return {
      currency: 'USD',
      label: `${CURRENT_EGRESS_PRICING.label} (default: ${mixed})`,
      pricing: CURRENT_EGRESS_PRICING,
      source: 'pricing',
    }
  }
  return {currency: null, label: `no cost: ${mixed} and this usage is not priced data transfer`, source: 'none'}
}

/**
 * Cost of one step. `segment` is the step's series between the previous and the next step; `account` is the
 * whole selected usage, because the free allowance is shared account-wide and resets every calendar month.
 */
export function costOfStep(
  step: DayStep,
  segment: {before: DailyPoint[]; after: DailyPoint[]},
  account: DailySeries,
  basis: CostBasis,
): StepCost {
  if (basis.source === 'none') return {costStepDate: null, monthlyCost: 0, yearlyCost: 0}
  if (basis.source === 'store') return storeCost(step, segment)
  const pricing = basis.pricing ?? CURRENT_EGRESS_PRICING
  const delta = step.levelAfter - step.levelBefore
  const lastDay = segment.after.at(-1)?.day ?? step.date
  const accountDays = account.points.filter((p) => p.day >= step.date && p.day <= lastDay).map((p) => p.value)
  const accountAfter = accountDays.length > 0 ? median(accountDays) : step.levelAfter
  const gbPerMonth = (bytesPerDay: number) => (Math.max(0, bytesPerDay) * DAYS_PER_MONTH) / BYTES_PER_GB
  // Marginal cost of the change on top of the rest of the account's egress.
  const monthly =
    monthlyCostUsd(gbPerMonth(accountAfter), pricing) - monthlyCostUsd(gbPerMonth(accountAfter - delta), pricing)
  return {
    costStepDate: pricedCostStepDate(step, account, accountAfter, pricing, monthly),
    monthlyCost: monthly,
    yearlyCost: monthly * 12,
  }
}

function storeCost(step: DayStep, segment: {before: DailyPoint[]; after: DailyPoint[]}): StepCost {
  const costs = (points: DailyPoint[]) => points.map((p) => p.cost ?? 0)
  const before = segment.before.length > 0 ? median(costs(segment.before)) : 0
  const after = segment.after.length > 0 ? median(costs(segment.after)) : 0
  const monthly = (after - before) * DAYS_PER_MONTH
  const halfway = (before + after) / 2
  const crossed = segment.after.find((p) => (after >= before ? (p.cost ?? 0) > halfway : (p.cost ?? 0) < halfway))
  return {
    costStepDate: monthly === 0 ? null : (crossed?.day ?? step.date),
    monthlyCost: monthly,
    yearlyCost: monthly * 12,
  }
}

/**
 * The first day the step costs money: walk month-to-date account egress from the step, on the days the store
 * has and at the new level beyond them, until the month's free allowance is used up. Null when the new level
 * never uses it up (the step is free).
 */
function pricedCostStepDate(
  step: DayStep,
  account: DailySeries,
  accountAfter: number,
  pricing: EgressPricing,
  monthly: number,
): null | string {
  if (monthly === 0) return null
  if (step.direction === 'down') return step.date
  const known = new Map(account.points.map((p) => [p.day, p.value]))
  const freeBytes = pricing.freeGbPerMonth * BYTES_PER_GB
  const first = dayNumber(step.date)
  let used = 0
  for (const [d, v] of known) if (d.slice(0, 7) === step.date.slice(0, 7) && d < step.date) used += v
  for (let i = 0; i < 400; i++) {
    const iso = dayString(first + i)
    if (iso.endsWith('-01') && i > 0) used = 0
    used += known.get(iso) ?? accountAfter
    if (used > freeBytes) return iso
  }
  return null
}
