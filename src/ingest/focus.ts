/**
 * FOCUS 1.0, 1.1 and 1.2 (../shared/research/billing-exports-2.md §1) from any provider, as a scan
 * plan for columnar.ts. Columns are found by name, without case (Glue lower-cases them), with the
 * 1.0-preview names Oracle still writes (Provider, Region, UsageQuantity, UsageUnit). Internet
 * egress is found per provider by the rules in egress-rules.json; its quantity is stored in bytes.
 */
import {EGRESS_BASE, regionPrefixes} from '../aws/usage-types.js'

/** What CUR calls internet ingress; named for AWS rows that carry no usage type. */
const INGRESS_BASE = 'DataTransfer-In-Bytes'
import rulesFile from './egress-rules.json' with {type: 'json'}
import {type Columns, quoteLiteral, requireColumns, type ScanPlan} from './columns.js'

interface EgressRule {
  why: string
  all: Record<string, string>
  none?: Record<string, string>
}

interface ProviderRules {
  /** The name stored for the provider; null keeps ProviderName as the file writes it. */
  provider: null | string
  names: string
  bytesPerUnit: Record<string, number>
  internetEgress: EgressRule[]
  /** Only where a row needs a usage type named for it (AWS FOCUS without x_UsageType/SkuMeter). */
  internetIngress?: EgressRule[]
}

const PROVIDERS = (rulesFile as unknown as {providers: ProviderRules[]}).providers

/** Column names FOCUS 1.0-preview used, still written by Oracle: the current name first. */
const NAMES = {
  billed: ['BilledCost'],
  billingEnd: ['BillingPeriodEnd'],
  billingStart: ['BillingPeriodStart'],
  category: ['ChargeCategory'],
  chargeClass: ['ChargeClass'],
  consumedQuantity: ['ConsumedQuantity', 'UsageQuantity'],
  consumedUnit: ['ConsumedUnit', 'UsageUnit'],
  currency: ['BillingCurrency'],
  effective: ['EffectiveCost'],
  list: ['ListCost'],
  pricingQuantity: ['PricingQuantity'],
  pricingUnit: ['PricingUnit'],
  provider: ['ProviderName', 'Provider'],
  region: ['RegionId', 'Region'],
  start: ['ChargePeriodStart'],
} as const

/** Extension columns only one provider writes (billing-exports-2.md §6.1). */
function providerOfExtensions(cols: Columns): string | undefined {
  if (cols.has('x_UsageType', 'x_ServiceCode', 'x_Operation')) return 'AWS'
  if (cols.has('x_SkuMeterCategory', 'x_PricingBlockSize', 'x_ResourceGroupName')) return 'Microsoft'
  if (cols.has('x_ServiceId', 'x_Credits', 'x_ExportTime')) return 'Google Cloud'
  if (cols.names.some((name) => name.startsWith('oci_'))) return 'Oracle'
  return undefined
}

export function focusPlan(cols: Columns, path: string, line: number | undefined): ScanPlan {
  requireColumns(
    cols,
    [
      ['charge period', NAMES.start],
      ['charge category', NAMES.category],
      ['cost', [...NAMES.effective, ...NAMES.billed]],
    ],
    'a FOCUS export',
    path,
    line,
  )
  const text = (...names: string[]) => cols.text(...names)
  // The first named column the row fills, for a condition written 'A|B'.
  const either = (key: string) => {
    const present = key.split('|').filter((name) => cols.has(name))
    if (present.length === 0) return 'CAST(NULL AS VARCHAR)'
    return present.length === 1 ? text(present[0]!) : `coalesce(${present.map((name) => text(name)).join(', ')})`
  }
  const regex = (text: string, pattern: string) => cols.dialect.regexMatches(text, pattern)
  const matches = (key: string, pattern: string) => `coalesce(${regex(either(key), quoteLiteral(pattern))}, false)`
  const ruleSql = (rule: EgressRule) => {
    const all = Object.entries(rule.all).map(([key, pattern]) => matches(key, pattern))
    const none = Object.entries(rule.none ?? {}).map(([key, pattern]) => `NOT ${matches(key, pattern)}`)
    return `(${[...all, ...none].join(' AND ')})`
  }

  // ProviderName is mandatory; a file without it is told apart by its provider's own columns.
  const providerName = cols.has(...NAMES.provider)
    ? text(...NAMES.provider)
    : quoteLiteral(providerOfExtensions(cols) ?? '')
  const providerIndex = `CASE ${PROVIDERS.map((p, i) => `WHEN coalesce(${regex(`coalesce(${providerName}, '')`, quoteLiteral(p.names))}, false) THEN ${i}`).join(' ')} ELSE ${PROVIDERS.length - 1} END`
  const perProvider = (value: (p: ProviderRules) => string) =>
    `CASE bw_provider_index ${PROVIDERS.map((p, i) => `WHEN ${i} THEN ${value(p)}`).join(' ')} END`
  const bytesPerUnit = (unit: string) =>
    perProvider((p) => {
      const entries = Object.entries(p.bytesPerUnit)
      return entries.length === 0
        ? 'NULL'
        : `CASE lower(${unit}) ${entries.map(([name, bytes]) => `WHEN ${quoteLiteral(name.toLowerCase())} THEN CAST(${bytes} AS DOUBLE)`).join(' ')} END`
    })
  const consumed = cols.number(...NAMES.consumedQuantity)
  const priced = cols.number(...NAMES.pricingQuantity)
  const bytes = `CASE WHEN ${consumed} IS NOT NULL THEN ${consumed} * ${bytesPerUnit(text(...NAMES.consumedUnit))}
                      ELSE ${priced} * ${bytesPerUnit(text(...NAMES.pricingUnit))} END`
  const category = `coalesce(lower(${text(...NAMES.category)}), '')`
  // A usage line of negative quantity reverses earlier usage (FOCUS allows any decimal; Azure writes
  // refunds so): like a ChargeClass Correction, its cost is kept as a correction, not in the series.
  const quantity = `coalesce(${consumed}, ${priced}, 0)`
  const reversal = `(${category} = 'usage' AND ${cols.dialect.isFinite(quantity)} AND ${quantity} < 0)`
  const correction = `(coalesce(lower(${text(...NAMES.chargeClass)}), '') = 'correction' OR ${reversal})`
  const usageLine = `(${category} = 'usage' AND NOT ${correction})`
  const anyRule = (rules: EgressRule[] | undefined) =>
    rules && rules.length > 0 ? rules.map(ruleSql).join(' OR ') : 'false'
  const egress = `(${usageLine} AND bw_bytes IS NOT NULL AND ${perProvider((p) => anyRule(p.internetEgress))})`
  const ingress = `(${usageLine} AND bw_bytes IS NOT NULL AND NOT bw_egress AND ${perProvider((p) => anyRule(p.internetIngress))})`

  const provider = perProvider((p) =>
    p.provider === null ? `coalesce(${providerName}, 'unknown')` : quoteLiteral(p.provider),
  )
  // AWS rows without x_UsageType/SkuMeter (FOCUS 1.0 as the FinOps sample has it) get the usage type
  // CUR would give them, so the same day's egress reads alike from every AWS export.
  const awsTypeOf = (base: string) =>
    `CASE ${text(...NAMES.region)} ${regionPrefixes()
      .map(([region, prefix]) => `WHEN ${quoteLiteral(region)} THEN ${quoteLiteral(`${prefix}${base}`)}`)
      .join(' ')} ELSE ${quoteLiteral(base)} END`
  const named = (...names: string[]) => names.filter((name) => cols.has(name)).map((name) => text(name))
  const awsType = `coalesce(${[...named('x_UsageType', 'SkuMeter'), `CASE WHEN bw_egress THEN ${awsTypeOf(EGRESS_BASE)} WHEN bw_ingress THEN ${awsTypeOf(INGRESS_BASE)} END`, ...named('ChargeDescription', 'SkuId', 'ServiceName'), "'unnamed'"].join(', ')})`
  const otherType = `coalesce(${[...named('SkuMeter', 'x_SkuMeterName', 'ChargeDescription', 'SkuId', 'ServiceName'), "'unnamed'"].join(', ')})`
  const cost =
    cols.has(...NAMES.effective) && cols.has(...NAMES.billed)
      ? `coalesce(${cols.number(...NAMES.effective)}, ${cols.number(...NAMES.billed)})`
      : cols.number(...NAMES.effective, ...NAMES.billed)
  const costName = cols.find(...NAMES.effective) ?? cols.find(...NAMES.billed) ?? 'BilledCost'
  return {
    account: cols.has('SubAccountId')
      ? `coalesce(${text('SubAccountId')}, ${text('BillingAccountId')})`
      : text('BillingAccountId'),
    amount: `CASE WHEN bw_egress THEN bw_bytes ELSE ${consumed} END`,
    billingEnd: cols.timestamp(...NAMES.billingEnd),
    billingStart: cols.timestamp(...NAMES.billingStart),
    category: `CASE WHEN ${correction} THEN 'Correction' WHEN ${category} = '' THEN NULL ELSE upper(substr(${category}, 1, 1)) || substr(${category}, 2) END`,
    chargeLine: 'true',
    cost,
    costBasis: `effective cost: ${costName}${cols.has(...NAMES.effective) && cols.has(...NAMES.billed) ? ` (${cols.find(...NAMES.billed)} where it is NULL)` : ''}; list cost: ${cols.find(...NAMES.list) ?? 'none in the file'}`,
    currency: text(...NAMES.currency),
    derived: [
      ['bw_provider_index', providerIndex],
      ['bw_bytes', bytes],
      ['bw_egress', egress],
      ['bw_ingress', ingress],
      ['bw_provider', provider],
    ],
    listCost: cols.number(...NAMES.list),
    nullStrings: true,
    operation: text('x_Operation'),
    provider: 'bw_provider',
    region: text(...NAMES.region),
    resourceId: text('ResourceId'),
    service: cols.has('x_ServiceCode')
      ? `coalesce(${text('x_ServiceCode')}, ${text('ServiceName')})`
      : text('ServiceName'),
    start: cols.find(...NAMES.start)!,
    unit: `CASE WHEN bw_egress THEN 'bytes' ELSE ${text(...NAMES.consumedUnit)} END`,
    usageBase: `CASE WHEN bw_provider <> 'AWS' AND bw_egress THEN ${quoteLiteral(EGRESS_BASE)} END`,
    usageLine,
    usageType: `CASE WHEN bw_provider = 'AWS' THEN ${awsType} ELSE ${otherType} END`,
  }
}
