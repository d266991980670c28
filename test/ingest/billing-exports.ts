/**
 * Writers of small billing exports that follow the published column sets exactly, from one labelled
 * ground truth (bytes of internet egress per day and region), so a test knows what every format
 * must give back. Written from the specs, not copied from public files:
 * - FOCUS 1.0 / 1.1 / 1.2 column sets: FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec
 *   specification/columns/*.md at v1.0, v1.1, v1.2 (alphabetical, as the published files are), as
 *   summarised in ../shared/research/billing-exports-2.md §1.1.
 * - The shape of the FinOps Foundation's FOCUS-Sample-Data FOCUS-1.0/focus_sample.csv (billing-
 *   exports-2.md §1.5–1.6): strings quoted, numbers not, unquoted NULL, dates `YYYY-MM-DD HH:MM:SS`,
 *   an extra `Id` column before ServiceName, Oracle rows with `""` and `Usage-based`, Microsoft rows
 *   with a price in AvailabilityZone, no x_ columns; the descriptions are those of its rows.
 * - CUR 1.0 (formats.md §2.2), CUR 2.0 (formats.md §3, AWS's default SELECT), the legacy usage
 *   report (formats.md §1.1) and the Detailed Billing Report (billing-exports-2.md §4.2, header of
 *   Netflix/ice's dbrHeader and the AWS ProServe parser's config).
 */
import {zipSync} from 'fflate'

export const GB = 2 ** 30

export interface EgressDay {
  day: string
  /** Internet egress bytes per AWS region this day (us-east-1, us-west-2 …). */
  bytes: Record<string, number>
}

/** AWS usage-type prefixes of the regions the tests use (formats.md §1.4). */
const PREFIX: Record<string, string> = {'eu-west-1': 'EU-', 'us-east-1': '', 'us-west-2': 'USW2-'}
const REGION_NAME: Record<string, string> = {
  'eu-west-1': 'EU (Ireland)',
  'us-east-1': 'US East (N. Virginia)',
  'us-west-2': 'US West (Oregon)',
}
const ACCOUNT = '123456789012'

/** The first day of the month after `day`'s, as `YYYY-MM-DD 00:00:00`. */
const monthAfter = (day: string) =>
  `${new Date(Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)), 1)).toISOString().slice(0, 10)} 00:00:00`
const nextDay = (day: string) => new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10)
const hour = (day: string, h: number) =>
  h === 24 ? `${nextDay(day)}T00:00:00Z` : `${day}T${String(h).padStart(2, '0')}:00:00Z`
/** Uneven hourly shares that sum to 1, the same for every writer (hourly exports split a day alike). */
const HOUR_SHARES = (() => {
  const weights = Array.from({length: 24}, (_, h) => 1 + ((h * 7) % 5) / 10)
  const sum = weights.reduce((a, b) => a + b, 0)
  return weights.map((w) => w / sum)
})()

function csv(rows: (null | number | string)[][], options: {quoteStrings?: boolean; nullText?: string} = {}): string {
  return `${rows
    .map((row) =>
      row
        .map((value) => {
          if (value === null) return options.nullText ?? ''
          if (typeof value === 'number') return String(value)
          return options.quoteStrings || /[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value
        })
        .join(','),
    )
    .join('\n')}\n`
}

/** One line of usage, as every AWS writer needs it. */
interface AwsLine {
  start: string
  end: string
  region: string
  usageType: string
  operation: string
  gb: number
  rate: number
  description: string
}

/**
 * The day's lines: egress per region, plus ingress, inter-region out and instance hours that are not internet egress.
 */
function awsLines(days: EgressDay[], hourly: boolean): AwsLine[] {
  const lines: AwsLine[] = []
  for (const d of days) {
    const slots = hourly
      ? HOUR_SHARES.map((share, h) => ({end: hour(d.day, h + 1), share, start: hour(d.day, h)}))
      : [{end: `${nextDay(d.day)}T00:00:00Z`, share: 1, start: `${d.day}T00:00:00Z`}]
    for (const slot of slots) {
      for (const [region, bytes] of Object.entries(d.bytes)) {
        const prefix = PREFIX[region] ?? ''
        const gb = (bytes * slot.share) / GB
        lines.push({
          ...slot,
          description: '$0.090 per GB - first 10 TB / month data transfer out beyond the global free tier',
          gb,
          operation: 'RunInstances',
          rate: 0.09,
          region,
          usageType: `${prefix}DataTransfer-Out-Bytes`,
        })
        lines.push({
          ...slot,
          description: '$0.000 per GB - data transfer in per month',
          gb: gb * 0.5,
          operation: 'RunInstances',
          rate: 0,
          region,
          usageType: `${prefix}DataTransfer-In-Bytes`,
        })
      }
      lines.push({
        ...slot,
        description: '$0.020 per GB - US East (Northern Virginia) data transfer to US West (Oregon)',
        gb: 7 * slot.share,
        operation: 'RunInstances',
        rate: 0.02,
        region: 'us-east-1',
        usageType: 'USE1-USW2-AWS-Out-Bytes',
      })
      lines.push({
        ...slot,
        description: '$0.0104 per On Demand Linux t3.micro Instance Hour',
        gb: 24 * slot.share,
        operation: 'RunInstances',
        rate: 0.0104,
        region: 'us-east-1',
        usageType: 'BoxUsage:t3.micro',
      })
    }
  }
  return lines
}

const unitOf = (usageType: string) => (usageType.endsWith('Bytes') ? 'GB' : 'Hrs')
const fixed = (n: number) => Number(n.toFixed(12))

/** The legacy AWS usage report of EC2, daily, bytes (formats.md §1.1). */
export function usageReport(days: EgressDay[]): string {
  const mmddyy = (iso: string) => `${iso.slice(5, 7)}/${iso.slice(8, 10)}/${iso.slice(2, 4)} 00:00:00`
  const rows: (number | string)[][] = []
  for (const line of awsLines(days, false)) {
    const value = line.usageType.endsWith('Bytes') ? Math.round(line.gb * GB) : line.gb
    rows.push(['AmazonEC2', line.operation, line.usageType, '', mmddyy(line.start), mmddyy(line.end), value])
  }
  return `Service, Operation, UsageType, Resource, StartTime, EndTime, UsageValue\n${csv(rows)}`
}

const CUR1_COLUMNS = [
  'identity/LineItemId',
  'identity/TimeInterval',
  'bill/InvoiceId',
  'bill/InvoicingEntity',
  'bill/BillingEntity',
  'bill/BillType',
  'bill/PayerAccountId',
  'bill/BillingPeriodStartDate',
  'bill/BillingPeriodEndDate',
  'lineItem/UsageAccountId',
  'lineItem/LineItemType',
  'lineItem/UsageStartDate',
  'lineItem/UsageEndDate',
  'lineItem/ProductCode',
  'lineItem/UsageType',
  'lineItem/Operation',
  'lineItem/AvailabilityZone',
  'lineItem/ResourceId',
  'lineItem/UsageAmount',
  'lineItem/NormalizationFactor',
  'lineItem/NormalizedUsageAmount',
  'lineItem/CurrencyCode',
  'lineItem/UnblendedRate',
  'lineItem/UnblendedCost',
  'lineItem/BlendedRate',
  'lineItem/BlendedCost',
  'lineItem/LineItemDescription',
  'lineItem/TaxType',
  'lineItem/LegalEntity',
  'product/ProductName',
  'product/fromLocation',
  'product/productFamily',
  'product/region',
  'product/toLocation',
  'product/transferType',
  'pricing/currency',
  'pricing/publicOnDemandCost',
  'pricing/publicOnDemandRate',
  'pricing/unit',
  'reservation/EffectiveCost',
  'savingsPlan/SavingsPlanEffectiveCost',
]

export interface CurOptions {
  currency?: string
  /** Extra lines (Savings Plan covered usage, its negation, credits …) as column → value. */
  extra?: Record<string, number | string>[]
  hourly?: boolean
}

/** CUR 1.0 CSV: hourly by default, one line per hour (formats.md §2.2). */
export function cur1(days: EgressDay[], options: CurOptions = {}): string {
  const currency = options.currency ?? 'USD'
  const first = days[0]?.day ?? '2024-01-01'
  const period = {end: monthAfter(first).replace(' 00:00:00', 'T00:00:00Z'), start: `${first.slice(0, 7)}-01T00:00:00Z`}
  const rows = awsLines(days, options.hourly ?? true).map((line, i): Record<string, number | string> => ({
    'bill/BillingPeriodEndDate': period.end,
    'bill/BillingPeriodStartDate': period.start,
    'bill/PayerAccountId': ACCOUNT,
    'identity/LineItemId': `li${i}`,
    'identity/TimeInterval': `${line.start}/${line.end}`,
    'lineItem/CurrencyCode': currency,
    'lineItem/LineItemDescription': line.description,
    'lineItem/LineItemType': 'Usage',
    'lineItem/Operation': line.operation,
    'lineItem/ProductCode': 'AmazonEC2',
    'lineItem/UnblendedCost': fixed(line.gb * line.rate),
    'lineItem/UnblendedRate': line.rate,
    'lineItem/UsageAccountId': ACCOUNT,
    'lineItem/UsageAmount': fixed(line.gb),
    'lineItem/UsageEndDate': line.end,
    'lineItem/UsageStartDate': line.start,
    'lineItem/UsageType': line.usageType,
    'pricing/currency': currency,
    'pricing/publicOnDemandCost': fixed(line.gb * line.rate),
    'pricing/unit': unitOf(line.usageType),
    'product/ProductName': 'Amazon Elastic Compute Cloud',
    'product/region': line.region,
    'product/toLocation': line.usageType.includes('DataTransfer-Out') ? 'External' : '',
  }))
  rows.push(
    ...(options.extra ?? []).map((extra) => ({
      'bill/BillingPeriodEndDate': period.end,
      'bill/BillingPeriodStartDate': period.start,
      'lineItem/CurrencyCode': currency,
      'lineItem/UsageAccountId': ACCOUNT,
      ...extra,
    })),
  )
  return csv([CUR1_COLUMNS, ...rows.map((row) => CUR1_COLUMNS.map((c) => row[c] ?? ''))])
}

/** CUR 2.0 as CSV (Data Exports), daily, snake_case names of AWS's default SELECT (subset it requires and reads). */
const CUR2_COLUMNS = [
  'bill_billing_period_end_date',
  'bill_billing_period_start_date',
  'bill_payer_account_id',
  'identity_line_item_id',
  'identity_time_interval',
  'line_item_currency_code',
  'line_item_line_item_description',
  'line_item_line_item_type',
  'line_item_net_unblended_cost',
  'line_item_operation',
  'line_item_product_code',
  'line_item_resource_id',
  'line_item_unblended_cost',
  'line_item_usage_account_id',
  'line_item_usage_amount',
  'line_item_usage_end_date',
  'line_item_usage_start_date',
  'line_item_usage_type',
  'pricing_currency',
  'pricing_public_on_demand_cost',
  'pricing_unit',
  'product',
  'product_region_code',
  'product_to_location',
]

export function cur2(days: EgressDay[]): string {
  const first = days[0]?.day ?? '2024-01-01'
  const start = `${first.slice(0, 7)}-01T00:00:00.000Z`
  const end = new Date(Date.UTC(Number(first.slice(0, 4)), Number(first.slice(5, 7)), 1)).toISOString()
  const rows = awsLines(days, false).map((line, i) => {
    const cost = fixed(line.gb * line.rate)
    const values: Record<string, number | string> = {
      bill_billing_period_end_date: end,
      bill_billing_period_start_date: start,
      bill_payer_account_id: ACCOUNT,
      identity_line_item_id: `li${i}`,
      identity_time_interval: `${line.start}/${line.end}`,
      line_item_currency_code: 'USD',
      line_item_line_item_description: line.description,
      line_item_line_item_type: 'Usage',
      line_item_net_unblended_cost: cost,
      line_item_operation: line.operation,
      line_item_product_code: 'AmazonEC2',
      line_item_unblended_cost: cost,
      line_item_usage_account_id: ACCOUNT,
      line_item_usage_amount: fixed(line.gb),
      line_item_usage_end_date: line.end.replace('Z', '.000Z'),
      line_item_usage_start_date: line.start.replace('Z', '.000Z'),
      line_item_usage_type: line.usageType,
      pricing_currency: 'USD',
      pricing_public_on_demand_cost: cost,
      pricing_unit: unitOf(line.usageType),
      product: JSON.stringify({product_name: 'Amazon Elastic Compute Cloud', region: line.region}),
      product_region_code: line.region,
      product_to_location: line.usageType.includes('DataTransfer-Out') ? 'External' : '',
    }
    return CUR2_COLUMNS.map((c) => values[c] ?? '')
  })
  return csv([CUR2_COLUMNS, ...rows])
}

/**
 * The Detailed Billing Report with resources and tags (consolidated billing), or the plain one (`resources: false`),
 * hourly.
 */
export function dbr(days: EgressDay[], options: {resources?: boolean} = {}): string {
  const resources = options.resources ?? true
  const columns = [
    'InvoiceID',
    'PayerAccountId',
    'LinkedAccountId',
    'RecordType',
    ...(resources ? ['RecordId'] : []),
    'ProductName',
    'RateId',
    'SubscriptionId',
    'PricingPlanId',
    'UsageType',
    'Operation',
    'AvailabilityZone',
    'ReservedInstance',
    'ItemDescription',
    'UsageStartDate',
    'UsageEndDate',
    'UsageQuantity',
    'BlendedRate',
    'BlendedCost',
    'UnBlendedRate',
    'UnBlendedCost',
    ...(resources ? ['ResourceId', 'user:Name'] : []),
  ]
  const time = (iso: string) => iso.replace('T', ' ').replace('Z', '')
  const rows: (number | string)[][] = []
  let total = 0
  awsLines(days, true).forEach((line, i) => {
    const cost = fixed(line.gb * line.rate)
    total += cost
    const values: Record<string, number | string> = {
      AvailabilityZone: line.usageType.startsWith('Box') ? `${line.region}a` : '',
      BlendedCost: cost,
      BlendedRate: line.rate,
      InvoiceID: 'Estimated',
      ItemDescription: line.description,
      LinkedAccountId: ACCOUNT,
      Operation: line.operation,
      PayerAccountId: ACCOUNT,
      PricingPlanId: '12345',
      ProductName: 'Amazon Elastic Compute Cloud',
      RateId: '12345',
      RecordId: String(500_000 + i),
      RecordType: 'LineItem',
      ReservedInstance: 'N',
      ResourceId: 'i-0a1b2c3d',
      SubscriptionId: '12345',
      UnBlendedCost: cost,
      UnBlendedRate: line.rate,
      UsageEndDate: time(line.end),
      UsageQuantity: fixed(line.gb),
      UsageStartDate: time(line.start),
      UsageType: line.usageType,
      'user:Name': 'ntp',
    }
    rows.push(columns.map((c) => values[c] ?? ''))
  })
  // The report's own control rows: they repeat the line items and must not count twice.
  const control = (type: string, description: string, cost: number) =>
    columns.map(
      (c) =>
        (
          ({
            ItemDescription: description,
            LinkedAccountId: ACCOUNT,
            PayerAccountId: ACCOUNT,
            RecordType: type,
            UnBlendedCost: cost,
            BlendedCost: cost,
          }) as Record<string, number | string>
        )[c] ?? '',
    )
  rows.push(
    control('Rounding', 'Rounding of the linked account', 0.01),
    control('AccountTotal', `Total for linked account# ${ACCOUNT}`, total),
    control('InvoiceTotal', 'Total amount for invoice Estimated', total),
  )
  return csv([columns, ...rows], {quoteStrings: true})
}

/** A zip of one member, as AWS delivered the DBR (`<payer>-aws-billing-detailed-line-items-…-YYYY-MM.csv.zip`). */
export function zipOf(name: string, text: string): Uint8Array {
  return zipSync({[name]: new TextEncoder().encode(text)})
}

export const FOCUS_10 = [
  'AvailabilityZone',
  'BilledCost',
  'BillingAccountId',
  'BillingAccountName',
  'BillingCurrency',
  'BillingPeriodEnd',
  'BillingPeriodStart',
  'ChargeCategory',
  'ChargeClass',
  'ChargeDescription',
  'ChargeFrequency',
  'ChargePeriodEnd',
  'ChargePeriodStart',
  'CommitmentDiscountCategory',
  'CommitmentDiscountId',
  'CommitmentDiscountName',
  'CommitmentDiscountStatus',
  'CommitmentDiscountType',
  'ConsumedQuantity',
  'ConsumedUnit',
  'ContractedCost',
  'ContractedUnitPrice',
  'EffectiveCost',
  'InvoiceIssuerName',
  'ListCost',
  'ListUnitPrice',
  'PricingCategory',
  'PricingQuantity',
  'PricingUnit',
  'ProviderName',
  'PublisherName',
  'RegionId',
  'RegionName',
  'ResourceId',
  'ResourceName',
  'ResourceType',
  'ServiceCategory',
  'ServiceName',
  'SkuId',
  'SkuPriceId',
  'SubAccountId',
  'SubAccountName',
  'Tags',
]
const ADDED_11 = [
  'CapacityReservationId',
  'CapacityReservationStatus',
  'CommitmentDiscountQuantity',
  'CommitmentDiscountUnit',
  'ServiceSubcategory',
  'SkuMeter',
  'SkuPriceDetails',
]
const ADDED_12 = [
  'BillingAccountType',
  'InvoiceId',
  'PricingCurrency',
  'PricingCurrencyContractedUnitPrice',
  'PricingCurrencyEffectiveCost',
  'PricingCurrencyListUnitPrice',
  'SubAccountType',
]
export const FOCUS_11 = [...FOCUS_10, ...ADDED_11].sort()
export const FOCUS_12 = [...FOCUS_11, ...ADDED_12].sort()

type FocusRow = Record<string, null | number | string>

/**
 * AWS usage as FOCUS rows. `usageTypeColumn` adds the usage type where a version puts it (1.0 x_UsageType, 1.1+
 * SkuMeter); without it, only the columns the spec requires say what a row is.
 */
function awsFocusRows(days: EgressDay[], usageTypeColumn?: 'SkuMeter' | 'x_UsageType'): FocusRow[] {
  return awsLines(days, true).map((line) => {
    const cost = fixed(line.gb * line.rate)
    const time = (iso: string) => iso.replace('T', ' ').replace('Z', '')
    const inbound = line.usageType.includes('-In-')
    return {
      AvailabilityZone: null,
      BilledCost: cost,
      BillingAccountId: ACCOUNT,
      BillingAccountName: 'SunBird',
      BillingCurrency: 'USD',
      BillingPeriodEnd: monthAfter(line.start),
      BillingPeriodStart: `${line.start.slice(0, 7)}-01 00:00:00`,
      ChargeCategory: 'Usage',
      ChargeClass: null,
      ChargeDescription: line.description,
      ChargeFrequency: 'Usage-Based',
      ChargePeriodEnd: time(line.end),
      ChargePeriodStart: time(line.start),
      ConsumedQuantity: fixed(line.gb),
      ConsumedUnit: line.usageType.endsWith('Bytes') ? 'GB' : 'Hrs',
      ContractedCost: cost,
      ContractedUnitPrice: String(line.rate),
      EffectiveCost: cost,
      Id: 1_613_041,
      InvoiceIssuerName: 'Amazon Web Services, Inc.',
      ListCost: cost,
      ListUnitPrice: String(line.rate),
      PricingCategory: 'Standard',
      PricingQuantity: fixed(line.gb),
      PricingUnit: line.usageType.endsWith('Bytes') ? 'GB' : 'Hrs',
      ProviderName: 'AWS',
      PublisherName: 'Amazon Web Services, Inc.',
      RegionId: line.region,
      RegionName: inbound ? 'External' : (REGION_NAME[line.region] ?? line.region),
      ResourceId: 'i-0e7lele9e84303ll4',
      ResourceName: null,
      ResourceType: null,
      ServiceCategory: 'Compute',
      ServiceName: 'Amazon Elastic Compute Cloud',
      SkuId: 'HQEH3ZWJVT46JHRG',
      SkuPriceId: 'HQEH3ZWJVT46JHRG.JRTCKXETXF.Q3Z75P77EN',
      SubAccountId: ACCOUNT,
      SubAccountName: 'SunBird',
      Tags: '{}',
      ...(usageTypeColumn ? {[usageTypeColumn]: line.usageType} : {}),
    }
  })
}

/**
 * Microsoft and Oracle rows of the sample's kind: internet egress, Azure inter-region egress (not internet), and
 * credits with NULL ConsumedQuantity.
 */
export function otherProviderRows(day: string): FocusRow[] {
  const period = {BillingPeriodEnd: monthAfter(day), BillingPeriodStart: `${day.slice(0, 7)}-01 00:00:00`}
  const charge = {
    ChargeClass: null,
    ChargeFrequency: 'Usage-Based',
    ChargePeriodEnd: `${nextDay(day)} 00:00:00`,
    ChargePeriodStart: `${day} 00:00:00`,
    ...period,
  }
  const azure = {
    BillingAccountId: '/providers/Microsoft.Billing/billingAccounts/8611537',
    BillingAccountName: 'Contoso',
    BillingCurrency: 'USD',
    InvoiceIssuerName: 'Microsoft',
    ProviderName: 'Microsoft',
    PublisherName: 'Microsoft',
    RegionId: 'eastus2',
    RegionName: 'East US 2',
    ServiceCategory: 'AI and Machine Learning',
    ServiceName: 'Azure Machine Learning',
    SubAccountId: 'sub-1',
    SubAccountName: 'ml',
  }
  const oracle = {
    AvailabilityZone: 'bzBe:US-SANJOSE-1-AD-1',
    BillingAccountId: '20209880',
    BillingAccountName: '',
    BillingCurrency: 'USD',
    ChargeFrequency: 'Usage-based',
    InvoiceIssuerName: 'Oracle',
    PricingCategory: '',
    ProviderName: 'Oracle',
    PublisherName: 'Oracle',
    RegionId: 'us-sanjose-1',
    RegionName: 'us-sanjose-1',
    ResourceName: '',
    ResourceType: 'vnic',
    ServiceCategory: 'Networking',
    ServiceName: 'NETWORK',
    SkuId: 'B88327',
    SkuPriceId: '',
    SubAccountId: 'ocid1.tenancy',
    SubAccountName: 'acme',
  }
  return [
    {
      ...charge,
      ...azure,
      AvailabilityZone: '0.087',
      BilledCost: 0.87,
      ChargeCategory: 'Usage',
      ChargeDescription: 'Rtn Preference: MGN - Standard Data Transfer Out',
      ConsumedQuantity: 10,
      ConsumedUnit: 'GB',
      EffectiveCost: 0.87,
      ListCost: 0.87,
      PricingQuantity: 10,
      PricingUnit: 'GB',
      SkuId: '1010107',
      SkuPriceId: '1010107',
    },
    {
      ...charge,
      ...azure,
      BilledCost: 0.04,
      ChargeCategory: 'Usage',
      ChargeDescription: 'Bandwidth Inter-Region - Intra Continent Data Transfer Out - North America',
      ConsumedQuantity: 2,
      ConsumedUnit: 'GB',
      EffectiveCost: 0.04,
      ListCost: 0.04,
      PricingQuantity: 2,
      PricingUnit: 'GB',
      SkuId: '1010108',
      SkuPriceId: '1010108',
    },
    {
      ...charge,
      ...azure,
      BilledCost: -0.5,
      ChargeCategory: 'Credit',
      ChargeDescription: 'Azure Credit',
      ChargeFrequency: 'One-Time',
      ConsumedQuantity: null,
      ConsumedUnit: null,
      EffectiveCost: -0.5,
      ListCost: 0,
      PricingQuantity: null,
      PricingUnit: null,
      SkuId: null,
      SkuPriceId: null,
    },
    {
      ...charge,
      ...oracle,
      BilledCost: 0,
      ChargeCategory: 'Usage',
      ChargeDescription: 'Outbound Data Transfer Zone 1',
      ConsumedQuantity: 3,
      ConsumedUnit: 'GB Months',
      EffectiveCost: 0,
      ListCost: 0,
      PricingQuantity: 3,
      PricingUnit: 'GB Months',
    },
    {
      ...charge,
      ...oracle,
      BilledCost: -1.25,
      ChargeCategory: 'Credit',
      ChargeDescription: 'Universal Credits',
      ConsumedQuantity: null,
      ConsumedUnit: null,
      EffectiveCost: -1.25,
      ListCost: 0,
      PricingQuantity: null,
      PricingUnit: null,
      SkuId: null,
    },
  ]
}

/** An AWS credit and tax line of the month, with NULL ConsumedQuantity as the sample writes them. */
export function awsChargeRows(day: string): FocusRow[] {
  const base = {
    BillingAccountId: ACCOUNT,
    BillingAccountName: 'SunBird',
    BillingCurrency: 'USD',
    BillingPeriodEnd: monthAfter(day),
    BillingPeriodStart: `${day.slice(0, 7)}-01 00:00:00`,
    ChargeClass: null,
    ChargePeriodEnd: `${nextDay(day)} 00:00:00`,
    ChargePeriodStart: `${day} 00:00:00`,
    ConsumedQuantity: null,
    ConsumedUnit: null,
    InvoiceIssuerName: 'Amazon Web Services, Inc.',
    PricingQuantity: null,
    PricingUnit: null,
    ProviderName: 'AWS',
    PublisherName: 'Amazon Web Services, Inc.',
    RegionId: 'us-east-1',
    ServiceCategory: 'Compute',
    ServiceName: 'Amazon Elastic Compute Cloud',
    SubAccountId: ACCOUNT,
  }
  return [
    {
      ...base,
      BilledCost: -2,
      ChargeCategory: 'Credit',
      ChargeDescription: 'AWS Promotional Credit',
      ChargeFrequency: 'One-Time',
      EffectiveCost: -2,
      ListCost: 0,
    },
    {
      ...base,
      BilledCost: 0.4,
      ChargeCategory: 'Tax',
      ChargeDescription: 'Tax for product code AmazonEC2',
      ChargeFrequency: 'Recurring',
      EffectiveCost: 0.4,
      ListCost: 0,
    },
  ]
}

/**
 * A FOCUS CSV of `version`'s column set. '1.0-sample' is the FOCUS-Sample-Data shape (extra Id
 * column, NULL unquoted, strings quoted); the others write the spec's columns, empty for null, and
 * the AWS usage type where that version's AWS export puts it.
 */
export function focus(
  version: '1.0' | '1.0-sample' | '1.1' | '1.2',
  days: EgressDay[],
  extra: FocusRow[] = [],
): string {
  const sample = version === '1.0-sample'
  const columns =
    version === '1.1'
      ? FOCUS_11
      : version === '1.2'
        ? [...FOCUS_12, 'x_Discounts', 'x_Operation', 'x_ServiceCode']
        : sample
          ? [
              ...FOCUS_10.slice(0, FOCUS_10.indexOf('ServiceName')),
              'Id',
              ...FOCUS_10.slice(FOCUS_10.indexOf('ServiceName')),
            ]
          : [...FOCUS_10, 'x_CostCategories', 'x_Discounts', 'x_Operation', 'x_ServiceCode', 'x_UsageType']
  const usageTypeColumn = sample ? undefined : version === '1.0' ? 'x_UsageType' : 'SkuMeter'
  const rows = [...awsFocusRows(days, usageTypeColumn), ...extra].map((row) => {
    const withAws =
      row.ProviderName === 'AWS' && !sample ? {x_Operation: 'RunInstances', x_ServiceCode: 'AmazonEC2', ...row} : row
    return columns.map((c) => (c in withAws ? (withAws[c] ?? null) : null))
  })
  if (!sample) return csv([columns, ...rows])
  // The sample quotes strings (its header too) and writes null as a bare NULL.
  return csv([columns, ...rows], {nullText: 'NULL', quoteStrings: true})
}

/**
 * Google Cloud rows as Google's FOCUS BigQuery view writes them (billing-exports-2.md §1.6–1.7):
 * lower-case ChargeCategory, ConsumedUnit `bytes`, PricingUnit `gibibyte`, the SKU description as
 * ChargeDescription. Internet egress, inter-region egress (not internet) and a tax row.
 */
export function googleRows(day: string, egressBytes: number): FocusRow[] {
  const base = {
    BillingAccountId: '01A2B3-C4D5E6-F7G8H9',
    BillingCurrency: 'EUR',
    BillingPeriodEnd: monthAfter(day),
    BillingPeriodStart: `${day.slice(0, 7)}-01 00:00:00`,
    ChargeClass: null,
    ChargeFrequency: 'Usage-Based',
    ChargePeriodEnd: `${nextDay(day)} 00:00:00`,
    ChargePeriodStart: `${day} 00:00:00`,
    InvoiceIssuerName: 'Google',
    ProviderName: 'Google Cloud',
    PublisherName: 'Google',
    RegionId: 'us-central1',
    RegionName: 'us-central1',
    ServiceCategory: 'Networking',
    ServiceName: 'Compute Engine',
    SubAccountId: 'ntp-project',
  }
  return [
    {
      ...base,
      BilledCost: 1.2,
      ChargeCategory: 'usage',
      ChargeDescription: 'Network Internet Data Transfer Out from Americas to EMEA',
      ConsumedQuantity: egressBytes,
      ConsumedUnit: 'bytes',
      EffectiveCost: 1.2,
      ListCost: 1.2,
      PricingQuantity: egressBytes / GB,
      PricingUnit: 'gibibyte',
      SkuId: 'F274-1692-F213',
    },
    {
      ...base,
      BilledCost: 0.1,
      ChargeCategory: 'usage',
      ChargeDescription: 'Network Inter Region Data Transfer Out from Americas to EMEA',
      ConsumedQuantity: 5 * GB,
      ConsumedUnit: 'bytes',
      EffectiveCost: 0.1,
      ListCost: 0.1,
      PricingQuantity: 5,
      PricingUnit: 'gibibyte',
      SkuId: 'DE9E-AFBC-A15A',
    },
    {
      ...base,
      BilledCost: 0.3,
      ChargeCategory: 'tax',
      ChargeDescription: 'VAT',
      ConsumedQuantity: null,
      ConsumedUnit: null,
      EffectiveCost: 0.3,
      ListCost: 0,
      PricingQuantity: null,
      PricingUnit: null,
    },
  ]
}
