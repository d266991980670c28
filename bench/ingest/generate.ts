/**
 * Writes a CUR 1.0 CSV of N hourly line items (default 2M, ~1 GB) with the real CUR column set
 * used by samples/billing: several accounts, regions and usage types over one month.
 *   node --import tsx bench/ingest/generate.ts OUT.csv [ROWS]
 */
import {createWriteStream} from 'node:fs'

const COLUMNS = [
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
  'product/fromLocationType',
  'product/instanceType',
  'product/location',
  'product/locationType',
  'product/operation',
  'product/productFamily',
  'product/region',
  'product/servicecode',
  'product/servicename',
  'product/sku',
  'product/toLocation',
  'product/toLocationType',
  'product/transferType',
  'product/usagetype',
  'pricing/LeaseContractLength',
  'pricing/OfferingClass',
  'pricing/PurchaseOption',
  'pricing/RateCode',
  'pricing/RateId',
  'pricing/currency',
  'pricing/publicOnDemandCost',
  'pricing/publicOnDemandRate',
  'pricing/term',
  'pricing/unit',
  'reservation/AmortizedUpfrontCostForUsage',
  'reservation/EffectiveCost',
  'reservation/ReservationARN',
  'savingsPlan/SavingsPlanARN',
  'savingsPlan/SavingsPlanEffectiveCost',
]

const TYPES: [string, string, string, number][] = [
  ['DataTransfer-Out-Bytes', 'RunInstances', 'GB', 0.09],
  ['USW2-DataTransfer-Out-Bytes', 'RunInstances', 'GB', 0.09],
  ['EU-DataTransfer-Out-Bytes', 'RunInstances', 'GB', 0.09],
  ['DataTransfer-In-Bytes', 'RunInstances', 'GB', 0],
  ['BoxUsage:t3.micro', 'RunInstances', 'Hrs', 0.0104],
  ['USW2-BoxUsage:m5.large', 'RunInstances', 'Hrs', 0.096],
  ['EBS:VolumeUsage.gp3', 'CreateVolume-Gp3', 'GB-Mo', 0.08],
  ['DataTransfer-Regional-Bytes', 'PublicIP-Out', 'GB', 0.01],
]

export async function generateCur(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path, {highWaterMark: 1 << 22})
  const write = (text: string) =>
    out.write(text) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r()))
  await write(`${COLUMNS.join(',')}\n`)
  let seed = 7
  const rand = () => (seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff) / 0x7fffffff
  const chunk: string[] = []
  // Hourly CUR: every (account, resource, usage type) line item recurs each hour of the month.
  const hours = 31 * 24
  const seriesCount = Math.max(1, Math.ceil(rows / hours))
  for (let i = 0; i < rows; i++) {
    const series = i % seriesCount
    const [usageType, operation, unit, rate] = TYPES[series % TYPES.length]!
    const hour = Math.floor(i / seriesCount) % hours
    const day = String(1 + Math.floor(hour / 24)).padStart(2, '0')
    const hh = String(hour % 24).padStart(2, '0')
    const start = `2024-03-${day}T${hh}:00:00Z`
    const account = `1111222233${String(series % 7).padStart(2, '0')}`
    const amount = rand() * (unit === 'Hrs' ? 1 : 3)
    const cost = amount * rate
    const values = [
      i.toString(36).padStart(12, '0'),
      `${start}/${start}`,
      '',
      '"Amazon Web Services, Inc."',
      'AWS',
      'Anniversary',
      '111122223333',
      '2024-03-01T00:00:00Z',
      '2024-04-01T00:00:00Z',
      account,
      'Usage',
      start,
      start,
      'AmazonEC2',
      usageType,
      operation,
      'us-east-1a',
      `i-0${Math.floor(series / TYPES.length)
        .toString(16)
        .padStart(8, '0')}`,
      amount.toFixed(8),
      '',
      '',
      'USD',
      rate.toFixed(4),
      cost.toFixed(8),
      rate.toFixed(4),
      cost.toFixed(8),
      `$${rate.toFixed(3)} per ${unit}`,
      '',
      '"Amazon Web Services, Inc."',
      'Amazon Elastic Compute Cloud',
      'US East (N. Virginia)',
      'AWS Region',
      '',
      'US East (N. Virginia)',
      'AWS Region',
      operation,
      'Data Transfer',
      'us-east-1',
      'AWSDataTransfer',
      'AWS Data Transfer',
      'AQK7HJ4J5BVG7RDK',
      'External',
      'Other',
      'AWS Outbound',
      usageType,
      '',
      '',
      '',
      'JRTCKXETXF.6YS6EN2CT7',
      '',
      'USD',
      cost.toFixed(8),
      rate.toFixed(4),
      'OnDemand',
      unit,
      '',
      '',
      '',
      '',
      '',
    ]
    chunk.push(values.join(','))
    if (chunk.length === 5000) {
      await write(`${chunk.join('\n')}\n`)
      chunk.length = 0
    }
  }
  if (chunk.length > 0) await write(`${chunk.join('\n')}\n`)
  await new Promise<void>((resolve) => out.end(resolve))
}

if (process.argv[1]?.endsWith('generate.ts') && process.argv[2]) {
  await generateCur(process.argv[2], Number(process.argv[3] ?? 2_000_000))
}
