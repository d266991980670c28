/**
 * The Detailed Billing Report (DBR, 2012–2019), with and without resources and tags, as a scan plan
 * for columnar.ts (../shared/research/billing-exports-2.md §4): hourly `LineItem` rows with
 * `UsageStartDate` as `YYYY-MM-DD HH:MM:SS` UTC, `UsageQuantity` in GB for byte usage types (as
 * CUR), `UnBlendedCost` (consolidated billing) or `Cost` (a single account). The report's total
 * rows (InvoiceTotal, AccountTotal, StatementTotal) repeat the line items and are skipped; Rounding
 * and Discount rows are kept as charges. Each delivery restates the whole month.
 */
import {type Columns, requireColumns, type ScanPlan} from './columns.js'

/** DBR ProductName → the service code CUR and the usage report write (CloudFront's prefixes are edge areas). */
const SERVICE_CODES: Record<string, string> = {
  'Amazon CloudFront': 'AmazonCloudFront',
  'Amazon Elastic Compute Cloud': 'AmazonEC2',
  'Amazon RDS Service': 'AmazonRDS',
  'Amazon Relational Database Service': 'AmazonRDS',
  'Amazon Simple Storage Service': 'AmazonS3',
  'AWS Data Transfer': 'AWSDataTransfer',
  'Elastic Load Balancing': 'AWSELB',
}

/**
 * True for a header that is a DBR's (the monthly report shares its first columns but has no UsageQuantity before
 * RateId).
 */
export function isDbrHeader(columns: string[]): boolean {
  const set = new Set(columns)
  return (
    set.has('RecordType') &&
    set.has('LinkedAccountId') &&
    set.has('UsageStartDate') &&
    set.has('UsageQuantity') &&
    (set.has('UnBlendedCost') || set.has('Cost')) &&
    !set.has('BillingPeriodStartDate')
  )
}

export function dbrPlan(cols: Columns, path: string, line: number | undefined): ScanPlan {
  requireColumns(
    cols,
    [
      ['usage start', ['UsageStartDate']],
      ['usage type', ['UsageType']],
      ['usage amount', ['UsageQuantity']],
      ['record type', ['RecordType']],
      ['cost', ['UnBlendedCost', 'Cost']],
    ],
    'a Detailed Billing Report',
    path,
    line,
  )
  const recordType = cols.text('RecordType')
  const usageType = `nullif(${cols.text('UsageType')}, '')`
  const product = cols.text('ProductName')
  const start = cols.timestamp('UsageStartDate')
  const costName = cols.find('UnBlendedCost', 'Cost')!
  const usageLine = `(${recordType} = 'LineItem' AND ${usageType} IS NOT NULL)`
  return {
    account: `coalesce(nullif(${cols.text('LinkedAccountId')}, ''), ${cols.text('PayerAccountId')})`,
    amount: cols.number('UsageQuantity'),
    billingEnd: `date_trunc('month', ${start}) + INTERVAL 1 MONTH`,
    billingStart: `date_trunc('month', ${start})`,
    category: `CASE WHEN ${recordType} = 'LineItem' THEN CASE WHEN ${cols.text('ItemDescription')} ILIKE '%tax%' THEN 'Tax' ELSE 'Other' END ELSE ${recordType} END`,
    chargeLine: `(${recordType} IS NOT NULL AND ${recordType} NOT LIKE '%Total')`,
    cost: cols.number(costName),
    costBasis: `${costName} (the DBR names no currency: AWS billed it in USD); no list cost in the file`,
    currency: `'USD'`,
    listCost: 'NULL::DOUBLE',
    nullStrings: false,
    operation: `nullif(${cols.text('Operation')}, '')`,
    provider: `'AWS'`,
    region: `nullif(regexp_replace(coalesce(${cols.text('AvailabilityZone')}, ''), '[a-z]$', ''), '')`,
    resourceId: `nullif(${cols.text('ResourceId')}, '')`,
    service: `CASE ${product} ${Object.entries(SERVICE_CODES)
      .map(([name, code]) => `WHEN '${name}' THEN '${code}'`)
      .join(' ')} ELSE ${product} END`,
    start: 'UsageStartDate',
    // The DBR has no unit column; its byte usage types are in GB, as CUR's are.
    unit: `CASE WHEN ${usageType} LIKE '%Bytes' THEN 'GB' END`,
    usageBase: 'NULL::VARCHAR',
    usageLine,
    usageType,
  }
}
