/**
 * A synthetic organisation's CUR 2.0 Data Export, written once by DuckDB (COPY from range()) and laid
 * out as Data Exports write it (billing-exports-2.md §2.1):
 *   <export>/data/BILLING_PERIOD=YYYY-MM/<export>-0000N.snappy.parquet
 * 2,000 member accounts × 7 resources each (14,000 hourly line-item series: EC2 instances and their
 * data transfer, EBS volumes, S3 buckets, NAT gateways, RDS, Lambda …) over consecutive months; every
 * series has a line each hour, so a 31-day month holds 10.4M line items. A period is split into four
 * parts by account range, hour-major within a part. Types as the Glue table has them: timestamps,
 * double costs and amounts, string rates, `product` and `resource_tags` as map<string,string>.
 * node --import tsx bench/org/generate.ts OUT_DIR MONTHS [FIRST [reverse]]   (months from FIRST, default 2025-01; parts
 * last
 *   first with reverse, so two writers of one month meet in the middle)
 */
import {existsSync, mkdirSync, readdirSync, renameSync} from 'node:fs'
import {basename, join} from 'node:path'

import {DuckDBInstance} from '@duckdb/node-api'

export const ACCOUNTS = 2000
export const RESOURCES_PER_ACCOUNT = 7
export const SERIES = ACCOUNTS * RESOURCES_PER_ACCOUNT
export const PARTS = 4
export const EXPORT = 'org-cur2'

/** [usage type, operation, product code, unit, rate (USD per unit), resource prefix, mean amount per hour]. */
const TYPES: [string, string, string, string, number, string, number][] = [
  ['USE1-BoxUsage:m5.large', 'RunInstances', 'AmazonEC2', 'Hrs', 0.096, 'i-', 1],
  ['USE1-DataTransfer-Out-Bytes', 'RunInstances', 'AmazonEC2', 'GB', 0.09, 'i-', 0.4],
  ['USE1-EBS:VolumeUsage.gp3', 'CreateVolume-Gp3', 'AmazonEC2', 'GB-Mo', 0.08, 'vol-', 0.14],
  ['USW2-BoxUsage:c6g.xlarge', 'RunInstances', 'AmazonEC2', 'Hrs', 0.136, 'i-', 1],
  ['USW2-DataTransfer-Out-Bytes', 'RunInstances', 'AmazonEC2', 'GB', 0.09, 'i-', 0.2],
  ['USE1-NatGateway-Bytes', 'NatGateway', 'AmazonEC2', 'GB', 0.045, 'nat-', 1.5],
  ['USE1-TimedStorage-ByteHrs', 'StandardStorage', 'AmazonS3', 'GB-Mo', 0.023, 'arn:aws:s3:::bucket-', 2.7],
  ['USE1-DataTransfer-Regional-Bytes', 'PublicIP-Out', 'AmazonEC2', 'GB', 0.01, 'i-', 0.8],
  ['EU-DataTransfer-Out-Bytes', 'RunInstances', 'AmazonEC2', 'GB', 0.09, 'i-', 0.3],
  ['USE1-InstanceUsage:db.r6g.large', 'CreateDBInstance', 'AmazonRDS', 'Hrs', 0.225, 'arn:aws:rds:us-east-1:db:db-', 1],
  [
    'USE1-Lambda-GB-Second',
    'Invoke',
    'AWSLambda',
    'Lambda-GB-Second',
    0.0000166667,
    'arn:aws:lambda:us-east-1:function:fn-',
    3600,
  ],
  [
    'USE1-CW:MetricMonitorUsage',
    'MetricStorage',
    'AmazonCloudWatch',
    'Metrics',
    0.0004,
    'arn:aws:cloudwatch:metric-',
    10,
  ],
]

const TYPE_FIELDS = [
  'usage_type',
  'operation',
  'product_code',
  'unit',
  'rate',
  'prefix',
  'mean',
  'region',
  'product_name',
  'description',
]
const REGION_OF = (usageType: string) =>
  usageType.startsWith('USW2') ? 'us-west-2' : usageType.startsWith('EU') ? 'eu-west-1' : 'us-east-1'
const PRODUCT_NAME: Record<string, string> = {
  AWSLambda: 'AWS Lambda',
  AmazonCloudWatch: 'AmazonCloudWatch',
  AmazonEC2: 'Amazon Elastic Compute Cloud',
  AmazonRDS: 'Amazon Relational Database Service',
  AmazonS3: 'Amazon Simple Storage Service',
}

export function monthsFrom(first: string, count: number): string[] {
  const [y, m] = first.split('-').map(Number) as [number, number]
  return Array.from({length: count}, (_, i) => new Date(Date.UTC(y, m - 1 + i, 1)).toISOString().slice(0, 7))
}

export function hoursIn(month: string): number {
  const [y, m] = month.split('-').map(Number) as [number, number]
  return (Date.UTC(y, m, 1) - Date.UTC(y, m - 1, 1)) / 3_600_000
}

export const linesIn = (month: string) => SERIES * hoursIn(month)

export function periodFolder(root: string, month: string): string {
  return join(root, EXPORT, 'data', `BILLING_PERIOD=${month}`)
}

const lit = (s: string) => `'${s.replaceAll("'", "''")}'`

/**
 * Writes the months not yet written; a part is written under a temporary name of its own and renamed when whole (so
 * several writers may share the months).
 */
export async function generateOrg(
  root: string,
  months: string[],
  log: (line: string) => void = () => undefined,
  options: {reverse?: boolean} = {},
): Promise<void> {
  const db = await DuckDBInstance.create(':memory:', {threads: '2'})
  const sql = await db.connect()
  try {
    await sql.run(`SET TimeZone = 'UTC'`)
    // Constant lists indexed per line: a join would not keep the hour-major order of range().
    const rows = TYPES.map(([t, op, code, unit, rate, prefix, mean]) => [
      lit(t),
      lit(op),
      lit(code),
      lit(unit),
      String(rate),
      lit(prefix),
      String(mean),
      lit(REGION_OF(t)),
      lit(PRODUCT_NAME[code] ?? code),
      lit(`$${rate} per ${unit}`),
    ])
    const lists = Object.fromEntries(TYPE_FIELDS.map((f, i) => [f, `[${rows.map((r) => r[i]).join(', ')}]`]))
    for (const month of months) {
      const folder = periodFolder(root, month)
      mkdirSync(folder, {recursive: true})
      const hours = hoursIn(month)
      const start = `${month}-01 00:00:00`
      const [y, m] = month.split('-').map(Number) as [number, number]
      const end = new Date(Date.UTC(y, m, 1)).toISOString().slice(0, 19).replace('T', ' ')
      const perPart = SERIES / PARTS
      const order = Array.from({length: PARTS}, (_, i) => i)
      for (const part of options.reverse ? order.reverse() : order) {
        const file = join(folder, `${EXPORT}-${String(part + 1).padStart(5, '0')}.snappy.parquet`)
        // Written, or being written by another writer.
        if (existsSync(file) || readdirSync(folder).some((name) => name.startsWith(`${basename(file)}.part`))) continue
        const began = Date.now()
        // Series s belongs to account s / 7; its type cycles through TYPES so every account mixes services.
        await sql.run(`COPY (
          WITH lines AS (
            SELECT i, i // ${perPart} AS hour, ${part * perPart} + i % ${perPart} AS s FROM range(${perPart * hours}) r(i)
          ), typed AS (
            SELECT l.*, TIMESTAMP '${start}' + to_hours(l.hour) AS t0, 100000000000 + l.s // ${RESOURCES_PER_ACCOUNT} AS account,
                   CASE WHEN l.s % 20 = 3 THEN 'DiscountedUsage' WHEN l.s % 20 = 7 THEN 'SavingsPlanCoveredUsage' ELSE 'Usage' END AS kind,
                   mean * (0.5 + (hash(l.s, l.hour, '${month}') % 1000000) / 1000000.0) * (1 + 0.3 * sin(l.hour * pi() / 12)) AS amount
            FROM (SELECT *, ${TYPE_FIELDS.map((f) => `${lists[f]}[(s * 5 + s // ${RESOURCES_PER_ACCOUNT}) % ${TYPES.length} + 1] AS ${f}`).join(', ')} FROM lines) l
          )
          SELECT 'Anniversary' AS bill_bill_type, 'AWS' AS bill_billing_entity,
            TIMESTAMP '${end}' AS bill_billing_period_end_date, TIMESTAMP '${start}' AS bill_billing_period_start_date,
            '${month.replace('-', '')}00001' AS bill_invoice_id, '999988887777' AS bill_payer_account_id,
            md5(concat('${month}', i, '/', s)) AS identity_line_item_id,
            concat(strftime(t0, '%Y-%m-%dT%H:%M:%SZ'), '/', strftime(t0 + INTERVAL 1 HOUR, '%Y-%m-%dT%H:%M:%SZ')) AS identity_time_interval,
            CASE WHEN prefix = 'i-' THEN concat(region, 'a') ELSE '' END AS line_item_availability_zone,
            amount * rate AS line_item_blended_cost, CAST(rate AS VARCHAR) AS line_item_blended_rate,
            'USD' AS line_item_currency_code, description AS line_item_line_item_description, kind AS line_item_line_item_type,
            amount * rate AS line_item_net_unblended_cost, CAST(rate AS VARCHAR) AS line_item_net_unblended_rate,
            operation AS line_item_operation, product_code AS line_item_product_code,
            concat(prefix, lpad(lower(hex(s)), 17, '0')) AS line_item_resource_id,
            amount * rate AS line_item_unblended_cost, CAST(rate AS VARCHAR) AS line_item_unblended_rate,
            CAST(account AS VARCHAR) AS line_item_usage_account_id, amount AS line_item_usage_amount,
            t0 + INTERVAL 1 HOUR AS line_item_usage_end_date, t0 AS line_item_usage_start_date, usage_type AS line_item_usage_type,
            'USD' AS pricing_currency, amount * rate AS pricing_public_on_demand_cost, CAST(rate AS VARCHAR) AS pricing_public_on_demand_rate,
            CASE WHEN kind = 'Usage' THEN 'OnDemand' ELSE 'Reserved' END AS pricing_term, unit AS pricing_unit,
            MAP {'product_name': product_name, 'region': region, 'servicecode': product_code} AS product,
            region AS product_region_code, CASE WHEN usage_type LIKE '%DataTransfer-Out%' THEN 'External' ELSE '' END AS product_to_location,
            CASE WHEN kind = 'DiscountedUsage' THEN amount * rate * 0.6 END AS reservation_effective_cost,
            CASE WHEN kind = 'SavingsPlanCoveredUsage' THEN amount * rate * 0.7 END AS savings_plan_savings_plan_effective_cost,
            MAP {'user_team': concat('team-', account % 40), 'user_env': CASE WHEN s % 3 = 0 THEN 'prod' ELSE 'dev' END} AS resource_tags
          FROM typed
        ) TO ${lit(`${file}.part-${process.pid}`)} (FORMAT parquet, COMPRESSION snappy)`)
        renameSync(`${file}.part-${process.pid}`, file)
        log(
          `${month} part ${part + 1}/${PARTS}: ${(perPart * hours).toLocaleString('en-US')} lines in ${((Date.now() - began) / 1000).toFixed(0)} s`,
        )
      }
    }
  } finally {
    sql.closeSync()
    db.closeSync()
  }
}

if (process.argv[1]?.endsWith('generate.ts') && process.argv[2]) {
  await generateOrg(
    process.argv[2],
    monthsFrom(process.argv[4] ?? '2025-01', Number(process.argv[3] ?? 10)),
    (line) => process.stderr.write(`${line}\n`),
    {
      reverse: process.argv[5] === 'reverse',
    },
  )
}
