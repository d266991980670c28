/**
 * Cost Explorer GetCostAndUsage: the request billwatch sends, paging, and conversion of the answer
 * to daily usage rows in canonical units. Wire format: ../shared/research/formats.md §5.
 */
import {
  type CostExplorerClient,
  type Expression,
  GetCostAndUsageCommand,
  type GetCostAndUsageCommandInput,
  type ResultByTime,
} from '@aws-sdk/client-cost-explorer'

import {BYTES_PER_GB} from '../pricing/egress.js'
import {allPages, type AwsConnection, callAws} from './clients.js'
import type {UsageRow} from '../ingest/write.js'
import {isByteUsage} from './usage-types.js'
import type {DayRange} from './window.js'

export type Granularity = 'DAILY' | 'HOURLY'

/** Each GetCostAndUsage request (every page) is billed $0.01; failed (throttled) ones are not. */
export const USD_PER_CE_REQUEST = 0.01

/** The usage-type groups that are data transfer (formats.md §5.2). */
export const DATA_TRANSFER_GROUPS = [
  'EC2: Data Transfer - Internet (Out)',
  'EC2: Data Transfer - Internet (In)',
  'EC2: Data Transfer - Region to Region (Out)',
  'EC2: Data Transfer - Region to Region (In)',
  'EC2: Data Transfer - CloudFront (Out)',
  'EC2: Data Transfer - CloudFront (In)',
  'EC2: Data Transfer - Inter AZ',
  'S3: Data Transfer - Internet (Out)',
  'S3: Data Transfer - Internet (In)',
]

/** Cost Explorer's SERVICE names → the service codes the usage report, CUR and FOCUS use. */
const SERVICE_CODES: Record<string, string> = {
  'AWS Data Transfer': 'AWSDataTransfer',
  'Amazon CloudFront': 'AmazonCloudFront',
  'Amazon Elastic Compute Cloud - Compute': 'AmazonEC2',
  'Amazon Lightsail': 'AmazonLightsail',
  'Amazon Relational Database Service': 'AmazonRDS',
  'Amazon Simple Storage Service': 'AmazonS3',
  'Amazon Virtual Private Cloud': 'AmazonVPC',
  AmazonCloudWatch: 'AmazonCloudWatch',
  'EC2 - Other': 'AmazonEC2',
  'Elastic Load Balancing': 'AWSELB',
}

export function serviceCode(ceService: string): string {
  return SERVICE_CODES[ceService] ?? ceService
}

export interface CostQuery {
  range: DayRange
  granularity: Granularity
  /** Every usage type, not only data transfer. */
  allUsage: boolean
}

/**
 * The request for one page. Grouped by USAGE_TYPE and SERVICE: the service tells how to read the
 * usage type's prefix (a CloudFront `EU-` is an edge area, an EC2 `EU-` is eu-west-1). Credits and
 * refunds are excluded so cost is what the usage cost, as in the usage report and CUR usage lines.
 */
export function costRequest(query: CostQuery, nextPageToken?: string): GetCostAndUsageCommandInput {
  const noCredits: Expression = {Not: {Dimensions: {Key: 'RECORD_TYPE', Values: ['Credit', 'Refund']}}}
  const filter: Expression = query.allUsage
    ? noCredits
    : {And: [{Dimensions: {Key: 'USAGE_TYPE_GROUP', Values: DATA_TRANSFER_GROUPS}}, noCredits]}
  const hourly = query.granularity === 'HOURLY'
  return {
    Filter: filter,
    Granularity: query.granularity,
    GroupBy: [
      {Key: 'USAGE_TYPE', Type: 'DIMENSION'},
      {Key: 'SERVICE', Type: 'DIMENSION'},
    ],
    Metrics: ['UsageQuantity', 'UnblendedCost'],
    TimePeriod: hourly
      ? {End: `${query.range.end}T00:00:00Z`, Start: `${query.range.start}T00:00:00Z`}
      : {End: query.range.end, Start: query.range.start},
    ...(nextPageToken === undefined ? {} : {NextPageToken: nextPageToken}),
  }
}

export interface CostFetch {
  results: ResultByTime[]
  /** Billed requests: one per page. */
  requests: number
  /** Attempts the SDK retried after throttling (not billed). */
  retries: number
}

/** Fetches every page of one query, following NextPageToken. */
export async function fetchCostAndUsage(
  client: CostExplorerClient,
  query: CostQuery,
  options: {connection?: AwsConnection; onPage?: (pages: number) => void} = {},
): Promise<CostFetch> {
  const {pages, requests, retries} = await allPages(
    (token) =>
      callAws('GetCostAndUsage', options.connection, () =>
        client.send(new GetCostAndUsageCommand(costRequest(query, token))),
      ),
    (page) => page.NextPageToken,
    options.onPage,
  )
  return {requests, results: pages.flatMap((page) => page.ResultsByTime ?? []), retries}
}

export interface CostRows {
  rows: UsageRow[]
  /** Days the answer covered, with or without usage. */
  days: string[]
  /** Days Cost Explorer marked Estimated (still subject to change). */
  estimatedDays: string[]
}

/**
 * Plain daily rows from Cost Explorer results. Byte usage types come in GB (2^30 bytes, formats.md
 * §7.4) and leave in bytes, which detection on plain arrays (the Lambda) needs; region and base
 * usage type are left to the store's commit, which derives them from the usage-type prefix.
 * HOURLY periods are summed into their UTC day, since the store keeps days.
 */
export function costRows(results: ResultByTime[]): CostRows {
  const byKey = new Map<string, UsageRow>()
  const days = new Set<string>()
  const estimated = new Set<string>()
  for (const period of results) {
    const day = (period.TimePeriod?.Start ?? '').slice(0, 10)
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) continue
    days.add(day)
    if (period.Estimated) estimated.add(day)
    for (const group of period.Groups ?? []) {
      const [usageType = '', ceService = ''] = group.Keys ?? []
      const quantity = group.Metrics?.UsageQuantity
      const cost = Number(group.Metrics?.UnblendedCost?.Amount ?? 0)
      const service = serviceCode(ceService)
      const inGb = isByteUsage(usageType) && /^GB$/i.test(quantity?.Unit ?? '')
      const amount = Number(quantity?.Amount ?? 0) * (inGb ? BYTES_PER_GB : 1)
      const key = `${day}\u0000${usageType}\u0000${service}`
      const row = byKey.get(key)
      if (row) {
        row.amount = (row.amount ?? 0) + amount
        row.cost = (row.cost ?? 0) + cost
        continue
      }
      byKey.set(key, {
        account: null,
        amount,
        cost,
        currency: group.Metrics?.UnblendedCost?.Unit ?? 'USD',
        day,
        operation: null,
        region: null,
        resourceId: null,
        service,
        unit: inGb ? 'bytes' : (quantity?.Unit ?? null),
        usageType,
      })
    }
  }
  const rows = [...byKey.values()].sort(
    (a, b) =>
      a.day.localeCompare(b.day) ||
      a.usageType.localeCompare(b.usageType) ||
      (a.service ?? '').localeCompare(b.service ?? ''),
  )
  return {days: [...days].sort(), estimatedDays: [...estimated].sort(), rows}
}
