/**
 * The daily watch the Lambda runs: read the recent window from Cost Explorer (and CloudWatch), find
 * steps with the same detection as `billwatch anomalies`, publish one SNS alert per new step.
 * Plain arrays only (no store), so the bundle carries no native module.
 */
import {PublishCommand} from '@aws-sdk/client-sns'

import type {DailyPoint, DailySeries, SeriesSet} from '../anomalies/series.js'
import type {Step} from '../anomalies/types.js'
import {type AwsConnection, callAws, cloudWatchClient, costExplorerClient, snsClient} from '../aws/clients.js'
import {fetchNetworkMetrics, listInstances, metricRows} from '../aws/cloudwatch.js'
import {costRows, fetchCostAndUsage} from '../aws/cost-explorer.js'
import {isInternetEgress} from '../aws/usage-types.js'
import {addDays, type DayRange, utcDay} from '../aws/window.js'
import type {UsageRow} from '../ingest/write.js'
import {lookupTrailEvents} from '../correlate/cloudtrail.js'
import {loadKnowledge} from '../correlate/knowledge.js'
import {rankChanges} from '../correlate/rank.js'
import type {Candidate} from '../correlate/types.js'
import {describeTable} from '../athena/catalog.js'
import {parseTableName, queryRollup, rollupUsageRows} from '../athena/plan.js'
import {athenaClient, glueClient} from '../aws/clients.js'
import {alertFor} from './alert.js'
import {DEFAULT_NEW_STEP_OPTIONS, type NewStepOptions, newSteps} from './steps.js'

/** The all-region internet egress series, named as in the Step contract (src/anomalies/types.ts). */
const EGRESS = 'DataTransfer-Out'

export interface WatchConfig {
  topicArn: string
  /** Days of history to read: enough before a step to know the old level. */
  windowDays: number
  /** EC2 instances whose NetworkOut is watched too: ids, 'all' (ListMetrics), or none. */
  instances: 'all' | string[]
  now: Date
  connection: AwsConnection
  newStep: NewStepOptions
  /** Name the top account change (CloudTrail LookupEvents, this region) in each alert. */
  cloudtrail?: boolean | undefined
  /** Read the window's daily roll-up from this CUR/FOCUS table through Athena instead of Cost Explorer. */
  athena?: AthenaWatch | undefined
}

export interface AthenaWatch {
  /** DATABASE.TABLE */
  table: string
  workgroup?: string | undefined
  /** s3://bucket/prefix/ for query results. */
  output?: string | undefined
  maxScanGb: number
}

export const DEFAULT_WINDOW_DAYS = 60
const DAY_MS = 86_400_000

export interface WatchAlert {
  date: string
  usageType: string
  resourceId: null | string
  ratio: number
  /** What the new level costs per month, in `currency`. */
  monthlyCost: number
  currency: string
  messageId: null | string
  /** The best-ranked CloudTrail change of the step's window, as one sentence (with cloudtrail on). */
  topChange?: null | string
}

export interface WatchReport {
  window: DayRange
  newestDay: null | string
  requests: {costExplorer: number; cloudWatch: number; athena?: number}
  /** With Athena: the bytes the query scanned and what they cost ($5 per TB, 10 MB minimum). */
  athenaScan?: {bytes: number; costUsd: number; queryExecutionId: string}
  series: number
  steps: number
  alerts: WatchAlert[]
}

export async function runWatch(config: WatchConfig): Promise<WatchReport> {
  const today = utcDay(config.now)
  const window = {end: today, start: addDays(today, -config.windowDays)}
  const usage = config.athena
    ? await readAthena(config.athena, window, config.connection)
    : await readCostExplorer(window, config.connection)
  const egressRows = usage.rows.filter((r) => isInternetEgress(r.usageType))
  const usageTypes = [...new Set(egressRows.map((r) => r.usageType))].sort()
  // The same SeriesSet `anomalies` loads from the store: the total, per usage type when several, per resource.
  const set: SeriesSet = {
    byResource: [],
    byUsageType:
      usageTypes.length > 1
        ? usageTypes.map((t) =>
            seriesOf(
              t,
              null,
              egressRows.filter((r) => r.usageType === t),
            ),
          )
        : [],
    costBases: [usage.costBasis],
    currencies: [...new Set(egressRows.filter((r) => r.cost !== null).map((r) => r.currency ?? 'USD'))],
    total: seriesOf(EGRESS, null, egressRows),
    usageTypes,
  }

  let cloudWatchRequests = 0
  if (config.instances === 'all' || config.instances.length > 0) {
    const client = cloudWatchClient(config.connection)
    let instances = config.instances === 'all' ? [] : config.instances
    if (config.instances === 'all') {
      const listed = await listInstances(client, config.connection)
      cloudWatchRequests += listed.requests
      instances = listed.instances
    }
    if (instances.length > 0) {
      const metrics = await fetchNetworkMetrics(client, instances, window, {connection: config.connection})
      cloudWatchRequests += metrics.requests
      const out = metricRows(metrics.points, null).filter((r) => r.usageType === 'NetworkOut-Bytes')
      for (const id of instances)
        set.byResource.push(
          seriesOf(
            'NetworkOut-Bytes',
            id,
            out.filter((r) => r.resourceId === id),
          ),
        )
    }
  }

  const {current, fresh, newestDay} = newSteps(set, config.newStep)
  const alerts: WatchAlert[] = []
  const sns = snsClient(config.connection)
  for (const group of groupByDate(fresh, config.newStep.sameStepDays)) {
    const topChange = config.cloudtrail ? await topCloudChange(group[0], config.connection) : null
    const alert = alertFor(group, {newestDay: newestDay ?? window.end, topChange, window})
    const published = await callAws('Publish', config.connection, () =>
      sns.send(new PublishCommand({Message: alert.message, Subject: alert.subject, TopicArn: config.topicArn})),
    )
    const messageId = published.MessageId ?? null
    for (const step of group) {
      alerts.push({
        currency: step.currency,
        date: step.date,
        messageId,
        monthlyCost: step.monthlyCost,
        ratio: step.ratio,
        resourceId: step.resourceId,
        usageType: step.usageType,
        ...(config.cloudtrail ? {topChange: topChange?.reason ?? null} : {}),
      })
    }
  }
  return {
    alerts,
    newestDay,
    requests: {
      cloudWatch: cloudWatchRequests,
      costExplorer: usage.costExplorerRequests,
      ...(usage.athena ? {athena: usage.athena.requests} : {}),
    },
    ...(usage.athena ? {athenaScan: usage.athena.scan} : {}),
    series: 1 + set.byUsageType.length + set.byResource.length,
    steps: current.length,
    window,
  }
}

interface WindowUsage {
  rows: UsageRow[]
  costBasis: string
  costExplorerRequests: number
  athena?: {requests: number; scan: {bytes: number; costUsd: number; queryExecutionId: string}}
}

async function readCostExplorer(window: DayRange, connection: AwsConnection): Promise<WindowUsage> {
  const ce = await fetchCostAndUsage(
    costExplorerClient(connection),
    {allUsage: false, granularity: 'DAILY', range: window},
    {connection},
  )
  return {costBasis: 'Cost Explorer: UnblendedCost', costExplorerRequests: ce.requests, rows: costRows(ce.results).rows}
}

/** The organisation's window from its export table: the roll-up `ingest --athena` runs, without a store. */
export async function readAthena(
  athena: AthenaWatch,
  window: DayRange,
  connection: AwsConnection,
): Promise<WindowUsage> {
  const {database, name} = parseTableName(athena.table, undefined)
  const glue = glueClient(connection)
  const table = await describeTable(glue, connection, database, name)
  const {costBasis, result} = await queryRollup(glue, athenaClient(connection), connection, table, window, {
    maxScanGb: athena.maxScanGb,
    ...(athena.output === undefined ? {} : {output: athena.output}),
    ...(athena.workgroup === undefined ? {} : {workgroup: athena.workgroup}),
  })
  return {
    athena: {
      requests: 1 + result.pages,
      scan: {bytes: result.bytesScanned, costUsd: result.costUsd, queryExecutionId: result.queryExecutionId},
    },
    costBasis: `Athena ${athena.table}: ${costBasis}`,
    costExplorerRequests: 0,
    rows: rollupUsageRows(result),
  }
}

/**
 * The account change that best explains a step, from this region's CloudTrail event history: the write
 * events of the week before the step day and the day itself, ranked as `billwatch correlate` ranks them.
 */
async function topCloudChange(step: Step, connection: AwsConnection): Promise<Candidate | null> {
  const start = Date.parse(`${step.date}T00:00:00Z`)
  const window = {since: start - 7 * DAY_MS, until: start + DAY_MS}
  const region = connection.region ?? process.env.AWS_REGION ?? 'us-east-1'
  const trail = await lookupTrailEvents(window, {connection, regions: [region]})
  // Not correlate's stepInput: index.js would bring the IaC parsers (WebAssembly) into the bundle.
  const input = {
    date: step.date,
    direction: step.direction,
    drivers: step.resourceId ? [step.resourceId] : [],
    ratio: step.ratio,
    regions: [region],
    resourceId: step.resourceId,
    usageType: step.usageType,
  }
  const [top] = rankChanges(input, trail.changes, {knowledge: loadKnowledge(), repo: null})
  return top ?? null
}

function seriesOf(usageType: string, resourceId: null | string, rows: UsageRow[]): DailySeries {
  const byDay = new Map<string, DailyPoint>()
  for (const row of rows) {
    const point = byDay.get(row.day) ?? {cost: null, day: row.day, value: 0}
    point.value += row.amount ?? 0
    if (row.cost !== null) point.cost = (point.cost ?? 0) + row.cost
    byDay.set(row.day, point)
  }
  const currencies = [...new Set(rows.filter((r) => r.cost !== null).map((r) => r.currency ?? 'USD'))]
  return {
    currency: currencies.length === 1 ? currencies[0]! : null,
    points: [...byDay.values()].sort((a, b) => a.day.localeCompare(b.day)),
    resourceId,
    unit: 'bytes',
    usageType,
  }
}

/** Steps within `days` of each other are one event (e.g. two regions' usage types the same day): one alert. */
function groupByDate(steps: Step[], days: number): [Step, ...Step[]][] {
  const sorted = [...steps].sort(
    (a, b) => a.date.localeCompare(b.date) || Number(a.resourceId !== null) - Number(b.resourceId !== null),
  )
  const groups: [Step, ...Step[]][] = []
  for (const step of sorted) {
    const last = groups.at(-1)
    if (last && Date.parse(step.date) - Date.parse(last[0].date) <= days * 86_400_000) last.push(step)
    else groups.push([step])
  }
  return groups
}

export const DEFAULTS = {instances: [] as string[], newStep: DEFAULT_NEW_STEP_OPTIONS, windowDays: DEFAULT_WINDOW_DAYS}
