/**
 * Writes the billing samples under samples/billing/ (committed; rerun only to change them):
 * one year of the NTP pool server incident's EC2 usage as a legacy Usage Report, and the same days again as CUR 1.0
 * (.csv.gz, hourly, March 2014), CUR 2.0 (Parquet, daily, April 2014) and FOCUS 1.0 (CSV, daily,
 * May 2014), so every format tells one story. Deterministic: a seeded PRNG, fixed dates.
 *
 *   node --import tsx samples/scripts/make-billing-samples.ts
 */
import {mkdirSync, writeFileSync} from 'node:fs'
import {gzipSync} from 'node:zlib'
import {join} from 'node:path'

import {DuckDBInstance} from '@duckdb/node-api'

import {seededRandom} from '../../src/ratelimit/index.js'

const OUT = join(import.meta.dirname, '..', 'billing')
const GB = 2 ** 30
const ACCOUNT = '123456789012'
const INSTANCE = 'i-0a1b2c3d'

const random = seededRandom(20_140_330)
const between = (lo: number, hi: number) => lo + (hi - lo) * random()

interface Day {
  day: string
  outBytes: number
  inBytes: number
  regionalIn: number
  regionalOut: number
}

/** 2013-06-01 .. 2014-05-31: 2–6 MB/day of egress, then 8–12 GB/day from 2014-03-30 (the NTP pool server incident). */
function seedDays(): Day[] {
  const days: Day[] = []
  for (let t = Date.UTC(2013, 5, 1); t < Date.UTC(2014, 5, 1); t += 86_400_000) {
    const day = new Date(t).toISOString().slice(0, 10)
    let outBytes = day < '2014-03-30' ? Math.round(between(2e6, 6e6)) : Math.round(between(8e9, 12e9))
    // The figures the incident's write-up quotes for the two days around the step.
    if (day === '2014-03-29') outBytes = 4_404_019
    if (day === '2014-03-30') outBytes = 8_900_113_820
    const inBytes = Math.round(outBytes * between(0.96, 1.04))
    days.push({day, inBytes, outBytes, regionalIn: Math.round(between(400, 900)), regionalOut: Math.round(between(600, 1200))})
  }
  return days
}

const mmddyy = (day: string) => `${day.slice(5, 7)}/${day.slice(8, 10)}/${day.slice(2, 4)} 00:00:00`
const nextDay = (day: string) => new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10)

function usageReport(days: Day[]): string {
  const lines = ['Service, Operation, UsageType, Resource, StartTime, EndTime, UsageValue']
  for (const d of days) {
    const span = `${mmddyy(d.day)},${mmddyy(nextDay(d.day))}`
    lines.push(
      `AmazonEC2,RunInstances,BoxUsage:t1.micro,,${span},24`,
      `AmazonEC2,RunInstances,DataTransfer-In-Bytes,,${span},${d.inBytes}`,
      `AmazonEC2,RunInstances,DataTransfer-Out-Bytes,,${span},${d.outBytes}`,
      `AmazonEC2,PublicIP-In,DataTransfer-Regional-Bytes,,${span},${d.regionalIn}`,
      `AmazonEC2,PublicIP-Out,DataTransfer-Regional-Bytes,,${span},${d.regionalOut}`,
      `AmazonEC2,CreateVolume,EBS:VolumeUsage,,${span},${(8 / 30).toFixed(8)}`,
    )
  }
  return `${lines.join('\n')}\n`
}

// 2014 pricing (formats.md §7.2): first GB of the month free, then $0.12/GB; t1.micro $0.02/h.
const PRICE_OUT = 0.12
const PRICE_BOX = 0.02

interface Line {
  start: string
  end: string
  usageType: string
  operation: string
  amountGb: number
  unit: string
  rate: number
  description: string
  transferType: string
  from: string
  to: string
  family: string
}

/** Line items of one month, with the free first GB split off like AWS does. */
function monthLines(days: Day[], month: string, hourly: boolean): Line[] {
  const lines: Line[] = []
  let monthOutGb = 0
  for (const d of days.filter((x) => x.day.startsWith(month))) {
    const slots = hourly ? 24 : 1
    const weights = Array.from({length: slots}, () => between(0.8, 1.2))
    const sum = weights.reduce((a, b) => a + b, 0)
    for (let h = 0; h < slots; h++) {
      const start = hourly ? `${d.day}T${String(h).padStart(2, '0')}:00:00Z` : `${d.day}T00:00:00Z`
      const end = hourly ? (h === 23 ? `${nextDay(d.day)}T00:00:00Z` : `${d.day}T${String(h + 1).padStart(2, '0')}:00:00Z`) : `${nextDay(d.day)}T00:00:00Z`
      const share = (weights[h] as number) / sum
      const outGb = (d.outBytes * share) / GB
      const freeGb = Math.max(0, Math.min(outGb, 1 - monthOutGb))
      monthOutGb += outGb
      const ec2 = {end, family: 'Data Transfer', start}
      if (freeGb > 0) {
        lines.push({...ec2, amountGb: freeGb, description: '$0.000 per GB - first 1 GB / month data transfer out', from: 'US East (N. Virginia)', operation: 'RunInstances', rate: 0, to: 'External', transferType: 'AWS Outbound', unit: 'GB', usageType: 'DataTransfer-Out-Bytes'})
      }
      if (outGb - freeGb > 0) {
        lines.push({...ec2, amountGb: outGb - freeGb, description: '$0.120 per GB - up to 10 TB / month data transfer out', from: 'US East (N. Virginia)', operation: 'RunInstances', rate: PRICE_OUT, to: 'External', transferType: 'AWS Outbound', unit: 'GB', usageType: 'DataTransfer-Out-Bytes'})
      }
      lines.push(
        {...ec2, amountGb: (d.inBytes * share) / GB, description: '$0.000 per GB - data transfer in per month', from: 'External', operation: 'RunInstances', rate: 0, to: 'US East (N. Virginia)', transferType: 'AWS Inbound', unit: 'GB', usageType: 'DataTransfer-In-Bytes'},
        {amountGb: 24 / slots, description: '$0.020 per On Demand Linux t1.micro Instance Hour', end, family: 'Compute Instance', from: '', operation: 'RunInstances', rate: PRICE_BOX, start, to: '', transferType: '', unit: 'Hrs', usageType: 'BoxUsage:t1.micro'},
      )
    }
  }
  return lines
}

const CUR1_COLUMNS = [
  'identity/LineItemId', 'identity/TimeInterval', 'bill/InvoiceId', 'bill/InvoicingEntity', 'bill/BillingEntity', 'bill/BillType',
  'bill/PayerAccountId', 'bill/BillingPeriodStartDate', 'bill/BillingPeriodEndDate', 'lineItem/UsageAccountId',
  'lineItem/LineItemType', 'lineItem/UsageStartDate', 'lineItem/UsageEndDate', 'lineItem/ProductCode', 'lineItem/UsageType',
  'lineItem/Operation', 'lineItem/AvailabilityZone', 'lineItem/ResourceId', 'lineItem/UsageAmount', 'lineItem/NormalizationFactor',
  'lineItem/NormalizedUsageAmount', 'lineItem/CurrencyCode', 'lineItem/UnblendedRate', 'lineItem/UnblendedCost',
  'lineItem/BlendedRate', 'lineItem/BlendedCost', 'lineItem/LineItemDescription', 'lineItem/TaxType', 'lineItem/LegalEntity',
  'product/ProductName', 'product/fromLocation', 'product/fromLocationType', 'product/instanceType', 'product/location',
  'product/locationType', 'product/operation', 'product/productFamily', 'product/region', 'product/servicecode',
  'product/servicename', 'product/sku', 'product/toLocation', 'product/toLocationType', 'product/transferType', 'product/usagetype',
  'pricing/LeaseContractLength', 'pricing/OfferingClass', 'pricing/PurchaseOption', 'pricing/RateCode', 'pricing/RateId',
  'pricing/currency', 'pricing/publicOnDemandCost', 'pricing/publicOnDemandRate', 'pricing/term', 'pricing/unit',
  'reservation/AmortizedUpfrontCostForUsage', 'reservation/EffectiveCost', 'reservation/ReservationARN',
  'savingsPlan/SavingsPlanARN', 'savingsPlan/SavingsPlanEffectiveCost',
]

const csvCell = (value: number | string) => {
  const text = String(value)
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

const hexId = () => Array.from({length: 52}, () => '0123456789abcdefghijklmnopqrstuvwxyz'[Math.floor(random() * 36)]).join('')

function cur1(days: Day[]): string {
  const lines = monthLines(days, '2014-03', true)
  const rows = [CUR1_COLUMNS.join(',')]
  const period = {end: '2014-04-01T00:00:00Z', start: '2014-03-01T00:00:00Z'}
  const push = (values: Record<string, number | string>) => rows.push(CUR1_COLUMNS.map((c) => csvCell(values[c] ?? '')).join(','))
  for (const l of lines) {
    const cost = l.amountGb * l.rate
    const isTransfer = l.family === 'Data Transfer'
    push({
      'bill/BillType': 'Anniversary', 'bill/BillingEntity': 'AWS', 'bill/BillingPeriodEndDate': period.end,
      'bill/BillingPeriodStartDate': period.start, 'bill/InvoicingEntity': 'Amazon Web Services, Inc.', 'bill/PayerAccountId': ACCOUNT,
      'identity/LineItemId': hexId(), 'identity/TimeInterval': `${l.start}/${l.end}`, 'lineItem/AvailabilityZone': isTransfer ? '' : 'us-east-1a',
      'lineItem/BlendedCost': cost.toFixed(10), 'lineItem/BlendedRate': l.rate.toFixed(10), 'lineItem/CurrencyCode': 'USD',
      'lineItem/LegalEntity': 'Amazon Web Services, Inc.', 'lineItem/LineItemDescription': l.description, 'lineItem/LineItemType': 'Usage',
      'lineItem/NormalizationFactor': isTransfer ? '' : '0.5', 'lineItem/NormalizedUsageAmount': isTransfer ? '' : (l.amountGb * 0.5).toFixed(10),
      'lineItem/Operation': l.operation, 'lineItem/ProductCode': 'AmazonEC2', 'lineItem/ResourceId': INSTANCE, 'lineItem/UnblendedCost': cost.toFixed(10),
      'lineItem/UnblendedRate': l.rate.toFixed(10), 'lineItem/UsageAccountId': ACCOUNT, 'lineItem/UsageAmount': l.amountGb.toFixed(10),
      'lineItem/UsageEndDate': l.end, 'lineItem/UsageStartDate': l.start, 'lineItem/UsageType': l.usageType,
      'pricing/RateCode': 'JRTCKXETXF.6YS6EN2CT7', 'pricing/currency': 'USD', 'pricing/publicOnDemandCost': cost.toFixed(10),
      'pricing/publicOnDemandRate': l.rate.toFixed(10), 'pricing/term': 'OnDemand', 'pricing/unit': l.unit,
      'product/ProductName': 'Amazon Elastic Compute Cloud', 'product/fromLocation': l.from, 'product/fromLocationType': l.from ? 'AWS Region' : '',
      'product/instanceType': isTransfer ? '' : 't1.micro', 'product/location': isTransfer ? '' : 'US East (N. Virginia)',
      'product/operation': l.operation, 'product/productFamily': l.family, 'product/region': 'us-east-1', 'product/servicecode': isTransfer ? 'AWSDataTransfer' : 'AmazonEC2',
      'product/servicename': 'Amazon Elastic Compute Cloud', 'product/sku': 'AQK7HJ4J5BVG7RDK', 'product/toLocation': l.to,
      'product/toLocationType': l.to === 'External' ? 'Other' : l.to ? 'AWS Region' : '', 'product/transferType': l.transferType, 'product/usagetype': l.usageType,
    })
  }
  // A tax line: counted as a line item, never as usage.
  push({'bill/BillingPeriodEndDate': period.end, 'bill/BillingPeriodStartDate': period.start, 'bill/PayerAccountId': ACCOUNT, 'identity/LineItemId': hexId(),
    'identity/TimeInterval': `${period.start}/${period.end}`, 'lineItem/CurrencyCode': 'USD', 'lineItem/LineItemDescription': 'Tax for product code AmazonEC2',
    'lineItem/LineItemType': 'Tax', 'lineItem/ProductCode': 'AmazonEC2', 'lineItem/TaxType': 'Sales', 'lineItem/UnblendedCost': '1.2300000000',
    'lineItem/UsageAccountId': ACCOUNT, 'lineItem/UsageAmount': '1.0000000000', 'lineItem/UsageEndDate': period.end, 'lineItem/UsageStartDate': period.start,
    'lineItem/UsageType': 'DataTransfer-Out-Bytes'})
  return `${rows.join('\n')}\n`
}

const CUR2_RESERVATION = ['amortized_upfront_cost_for_usage', 'amortized_upfront_fee_for_billing_period', 'availability_zone', 'effective_cost', 'end_time',
  'modification_status', 'net_amortized_upfront_cost_for_usage', 'net_amortized_upfront_fee_for_billing_period', 'net_effective_cost', 'net_recurring_fee_for_usage',
  'net_unused_amortized_upfront_fee_for_billing_period', 'net_unused_recurring_fee', 'net_upfront_value', 'normalized_units_per_reservation', 'number_of_reservations',
  'recurring_fee_for_usage', 'reservation_a_r_n', 'start_time', 'subscription_id', 'total_reserved_normalized_units', 'total_reserved_units', 'units_per_reservation',
  'unused_amortized_upfront_fee_for_billing_period', 'unused_normalized_unit_quantity', 'unused_quantity', 'unused_recurring_fee', 'upfront_value'].map((c) => `reservation_${c}`)
const CUR2_SAVINGS = ['amortized_upfront_commitment_for_billing_period', 'end_time', 'instance_type_family', 'net_amortized_upfront_commitment_for_billing_period',
  'net_recurring_commitment_for_billing_period', 'net_savings_plan_effective_cost', 'offering_type', 'payment_option', 'purchase_term',
  'recurring_commitment_for_billing_period', 'region', 'savings_plan_a_r_n', 'savings_plan_effective_cost', 'savings_plan_rate', 'start_time',
  'total_commitment_to_date', 'used_commitment'].map((c) => `savings_plan_${c}`)
// The CUR 2.0 default SELECT (formats.md §3), alphabetical, with line_item_resource_id (INCLUDE_RESOURCES).
const CUR2_COLUMNS = ['bill_bill_type', 'bill_billing_entity', 'bill_billing_period_end_date', 'bill_billing_period_start_date', 'bill_invoice_id',
  'bill_invoicing_entity', 'bill_payer_account_id', 'bill_payer_account_name', 'cost_category', 'discount', 'discount_bundled_discount',
  'discount_total_discount', 'identity_line_item_id', 'identity_time_interval', 'line_item_availability_zone', 'line_item_blended_cost',
  'line_item_blended_rate', 'line_item_currency_code', 'line_item_legal_entity', 'line_item_line_item_description', 'line_item_line_item_type',
  'line_item_net_unblended_cost', 'line_item_net_unblended_rate', 'line_item_normalization_factor', 'line_item_normalized_usage_amount',
  'line_item_operation', 'line_item_product_code', 'line_item_resource_id', 'line_item_tax_type', 'line_item_unblended_cost', 'line_item_unblended_rate',
  'line_item_usage_account_id', 'line_item_usage_account_name', 'line_item_usage_amount', 'line_item_usage_end_date', 'line_item_usage_start_date',
  'line_item_usage_type', 'pricing_currency', 'pricing_lease_contract_length', 'pricing_offering_class', 'pricing_public_on_demand_cost',
  'pricing_public_on_demand_rate', 'pricing_purchase_option', 'pricing_rate_code', 'pricing_rate_id', 'pricing_term', 'pricing_unit', 'product',
  'product_comment', 'product_fee_code', 'product_fee_description', 'product_from_location', 'product_from_location_type', 'product_from_region_code',
  'product_instance_family', 'product_instance_type', 'product_instancesku', 'product_location', 'product_location_type', 'product_operation',
  'product_pricing_unit', 'product_product_family', 'product_region_code', 'product_servicecode', 'product_sku', 'product_to_location',
  'product_to_location_type', 'product_to_region_code', 'product_usagetype', ...CUR2_RESERVATION, 'resource_tags', ...CUR2_SAVINGS]

const DOUBLES = new Set(['line_item_blended_cost', 'line_item_blended_rate', 'line_item_net_unblended_cost', 'line_item_net_unblended_rate',
  'line_item_normalization_factor', 'line_item_normalized_usage_amount', 'line_item_unblended_cost', 'line_item_unblended_rate', 'line_item_usage_amount',
  'pricing_public_on_demand_cost', 'pricing_public_on_demand_rate', 'discount_bundled_discount', 'discount_total_discount'])
const TIMESTAMPS = new Set(['bill_billing_period_end_date', 'bill_billing_period_start_date', 'line_item_usage_end_date', 'line_item_usage_start_date'])
const MAPS = new Set(['cost_category', 'discount', 'product', 'resource_tags'])

async function cur2Parquet(days: Day[], path: string): Promise<void> {
  const lines = monthLines(days, '2014-04', false)
  const instance = await DuckDBInstance.create(':memory:')
  const db = await instance.connect()
  const type = (c: string) => (MAPS.has(c) ? (c === 'discount' ? 'MAP(VARCHAR, DOUBLE)' : 'MAP(VARCHAR, VARCHAR)') : DOUBLES.has(c) ? 'DOUBLE' : TIMESTAMPS.has(c) ? 'TIMESTAMP' : 'VARCHAR')
  await db.run(`CREATE TABLE cur2 (${CUR2_COLUMNS.map((c) => `"${c}" ${type(c)}`).join(', ')})`)
  const literal = (c: string, v: number | string | undefined) => {
    if (v === undefined || v === '') return MAPS.has(c) ? 'MAP {}' : 'NULL'
    if (DOUBLES.has(c)) return String(v)
    if (TIMESTAMPS.has(c)) return `TIMESTAMP '${String(v).replace('T', ' ').replace('Z', '')}'`
    return `'${String(v).replaceAll("'", "''")}'`
  }
  const values: string[] = []
  for (const l of lines) {
    const cost = l.amountGb * l.rate
    const row: Record<string, number | string> = {
      bill_bill_type: 'Anniversary', bill_billing_entity: 'AWS', bill_billing_period_end_date: '2014-05-01T00:00:00Z',
      bill_billing_period_start_date: '2014-04-01T00:00:00Z', bill_invoicing_entity: 'Amazon Web Services, Inc.', bill_payer_account_id: ACCOUNT,
      identity_line_item_id: hexId(), identity_time_interval: `${l.start}/${l.end}`, line_item_blended_cost: cost, line_item_blended_rate: l.rate,
      line_item_currency_code: 'USD', line_item_legal_entity: 'Amazon Web Services, Inc.', line_item_line_item_description: l.description,
      line_item_line_item_type: 'Usage', line_item_net_unblended_cost: cost, line_item_net_unblended_rate: l.rate, line_item_operation: l.operation,
      line_item_product_code: 'AmazonEC2', line_item_resource_id: INSTANCE, line_item_unblended_cost: cost, line_item_unblended_rate: l.rate,
      line_item_usage_account_id: ACCOUNT, line_item_usage_amount: l.amountGb, line_item_usage_end_date: l.end, line_item_usage_start_date: l.start,
      line_item_usage_type: l.usageType, pricing_currency: 'USD', pricing_public_on_demand_cost: cost, pricing_public_on_demand_rate: l.rate,
      pricing_term: 'OnDemand', pricing_unit: l.unit, product_from_location: l.from, product_operation: l.operation, product_product_family: l.family,
      product_region_code: 'us-east-1', product_servicecode: l.family === 'Data Transfer' ? 'AWSDataTransfer' : 'AmazonEC2', product_to_location: l.to,
      product_usagetype: l.usageType,
    }
    const product = `MAP {'product_name': 'Amazon Elastic Compute Cloud', 'transfer_type': '${l.transferType}', 'region': 'us-east-1'}`
    values.push(`(${CUR2_COLUMNS.map((c) => (c === 'product' ? product : literal(c, row[c]))).join(', ')})`)
  }
  await db.run(`INSERT INTO cur2 VALUES ${values.join(',\n')}`)
  await db.run(`COPY cur2 TO '${path}' (FORMAT parquet, COMPRESSION zstd)`)
  db.closeSync()
  instance.closeSync()
}

const FOCUS_COLUMNS = ['AvailabilityZone', 'BilledCost', 'BillingAccountId', 'BillingAccountName', 'BillingCurrency', 'BillingPeriodEnd',
  'BillingPeriodStart', 'ChargeCategory', 'ChargeClass', 'ChargeDescription', 'ChargeFrequency', 'ChargePeriodEnd', 'ChargePeriodStart',
  'CommitmentDiscountCategory', 'CommitmentDiscountId', 'CommitmentDiscountName', 'CommitmentDiscountStatus', 'CommitmentDiscountType',
  'ConsumedQuantity', 'ConsumedUnit', 'ContractedCost', 'ContractedUnitPrice', 'EffectiveCost', 'InvoiceIssuerName', 'ListCost', 'ListUnitPrice',
  'PricingCategory', 'PricingQuantity', 'PricingUnit', 'ProviderName', 'PublisherName', 'RegionId', 'RegionName', 'ResourceId', 'ResourceName',
  'ResourceType', 'ServiceCategory', 'ServiceName', 'SkuId', 'SkuPriceId', 'SubAccountId', 'SubAccountName', 'Tags', 'x_CostCategories',
  'x_Discounts', 'x_Operation', 'x_ServiceCode', 'x_UsageType']

function focusCsv(days: Day[]): string {
  const lines = monthLines(days, '2014-05', false)
  const rows = [FOCUS_COLUMNS.join(',')]
  for (const l of lines) {
    const cost = (l.amountGb * l.rate).toFixed(10)
    const values: Record<string, string> = {
      BilledCost: cost, BillingAccountId: ACCOUNT, BillingAccountName: 'ntp-team', BillingCurrency: 'USD', BillingPeriodEnd: '2014-06-01T00:00:00Z',
      BillingPeriodStart: '2014-05-01T00:00:00Z', ChargeCategory: 'Usage', ChargeDescription: l.description, ChargeFrequency: 'Usage-Based',
      ChargePeriodEnd: l.end, ChargePeriodStart: l.start, ConsumedQuantity: l.amountGb.toFixed(10), ConsumedUnit: l.unit, ContractedCost: cost,
      ContractedUnitPrice: l.rate.toFixed(10), EffectiveCost: cost, InvoiceIssuerName: 'Amazon Web Services, Inc.', ListCost: cost,
      ListUnitPrice: l.rate.toFixed(10), PricingCategory: 'Standard', PricingQuantity: l.amountGb.toFixed(10), PricingUnit: l.unit,
      ProviderName: 'AWS', PublisherName: 'Amazon Web Services, Inc.', RegionId: 'us-east-1', RegionName: 'US East (N. Virginia)', ResourceId: INSTANCE,
      ResourceName: INSTANCE, ResourceType: 'Instance', ServiceCategory: 'Compute', ServiceName: 'Amazon Elastic Compute Cloud', SkuId: 'AQK7HJ4J5BVG7RDK',
      SkuPriceId: 'AQK7HJ4J5BVG7RDK.JRTCKXETXF.6YS6EN2CT7', SubAccountId: ACCOUNT, SubAccountName: 'ntp-team', Tags: '{}', x_CostCategories: '{}',
      x_Discounts: '{}', x_Operation: l.operation, x_ServiceCode: 'AmazonEC2', x_UsageType: l.usageType,
    }
    rows.push(FOCUS_COLUMNS.map((c) => csvCell(values[c] ?? '')).join(','))
  }
  return `${rows.join('\n')}\n`
}

mkdirSync(OUT, {recursive: true})
const days = seedDays()
writeFileSync(join(OUT, 'usage-report-ec2-2013-06-01_2014-06-01.csv'), usageReport(days))
writeFileSync(join(OUT, 'cur1-hourly-2014-03.csv.gz'), gzipSync(cur1(days), {level: 9}))
await cur2Parquet(days, join(OUT, 'cur2-daily-2014-04.parquet'))
writeFileSync(join(OUT, 'focus1-daily-2014-05.csv'), focusCsv(days))
console.log(`wrote samples to ${OUT}`)
