/**
 * Internet egress (DataTransfer-Out) pricing, the one place billwatch turns bytes into dollars.
 * AWS bills "GB" = 2^30 bytes (Price List tiers at 10240/51200/153600 GB). Today: the first 100 GB
 * per month are free account-wide (since Dec 2021), then $0.09/GB up to 10 TB (us-east-1 and most
 * US/EU regions). Reference: ../shared/research/formats.md §7.
 */
export const BYTES_PER_GB = 2 ** 30
/** Average month, as the NTP pool server incident's table used: 365.2425 / 12 days. */
export const DAYS_PER_MONTH = 30.436875
export const DAYS_PER_YEAR = 365.2425

export interface EgressTier {
  /** Tier upper bound in GB per month (Infinity for the last). */
  uptoGb: number
  usdPerGb: number
}

export interface EgressPricing {
  /** Free allowance per month, GB. */
  freeGbPerMonth: number
  tiers: EgressTier[]
  /** Where the figures come from, printed with every cost. */
  label: string
}

export const CURRENT_EGRESS_PRICING: EgressPricing = {
  freeGbPerMonth: 100,
  label:
    'AWS internet egress, us-east-1, 2026: first 100 GB/month free, $0.09/GB to 10 TB, $0.085 to 50 TB, $0.07 to 150 TB, $0.05 beyond',
  tiers: [
    {uptoGb: 10_240, usdPerGb: 0.09},
    {uptoGb: 51_200, usdPerGb: 0.085},
    {uptoGb: 153_600, usdPerGb: 0.07},
    {uptoGb: Number.POSITIVE_INFINITY, usdPerGb: 0.05},
  ],
}

/** A flat rate with no free allowance (what `--price-per-gb N` means). */
export function flatPricing(usdPerGb: number): EgressPricing {
  return {
    freeGbPerMonth: 0,
    label: `$${usdPerGb}/GB flat (given)`,
    tiers: [{uptoGb: Number.POSITIVE_INFINITY, usdPerGb}],
  }
}

/** Cost of one month's egress of `gb` GB under `pricing` (tiers count after the free allowance). */
export function monthlyCostUsd(gb: number, pricing: EgressPricing = CURRENT_EGRESS_PRICING): number {
  let remaining = Math.max(0, gb - pricing.freeGbPerMonth)
  let floor = 0
  let cost = 0
  for (const tier of pricing.tiers) {
    if (remaining <= 0) break
    const width = tier.uptoGb - floor
    const inTier = Math.min(remaining, width)
    cost += inTier * tier.usdPerGb
    remaining -= inTier
    floor = tier.uptoGb
  }
  return cost
}

/**
 * Monthly and yearly cost of a steady egress rate, e.g. a capture's bytes over its duration.
 * The free allowance is applied once per month, as AWS does.
 */
export function costOfRate(
  bytesPerSecond: number,
  pricing: EgressPricing = CURRENT_EGRESS_PRICING,
): {monthlyUsd: number; yearlyUsd: number; gbPerMonth: number} {
  const gbPerMonth = (bytesPerSecond * 86_400 * DAYS_PER_MONTH) / BYTES_PER_GB
  const monthlyUsd = monthlyCostUsd(gbPerMonth, pricing)
  return {gbPerMonth, monthlyUsd, yearlyUsd: monthlyUsd * 12}
}
