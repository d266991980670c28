/**
 * AWS Lambda entry (Node.js 20+, ESM): a thin adapter over src/lambda/watch.ts, like hono's Lambda
 * adapter over its app. Configuration comes from the environment the template sets; credentials,
 * region and endpoints from the SDK's standard chain (the function's role, AWS_REGION, AWS_ENDPOINT_URL_*).
 * Writes exactly one structured JSON line per run (CloudWatch Logs).
 */
import {BillwatchError, isBillwatchError} from '../errors.js'
import {DEFAULT_MAX_SCAN_GB} from '../athena/plan.js'
import {DEFAULTS, runWatch, type WatchConfig, type WatchReport} from './watch.js'

/** Environment variables the template sets. */
export const ENV = {
  /** DATABASE.TABLE of a CUR/FOCUS export: read through Athena instead of Cost Explorer. */
  athenaTable: 'BILLWATCH_ATHENA_TABLE',
  athenaWorkgroup: 'BILLWATCH_ATHENA_WORKGROUP',
  athenaOutput: 'BILLWATCH_ATHENA_OUTPUT',
  athenaMaxScanGb: 'BILLWATCH_ATHENA_MAX_SCAN_GB',
  /** "1": look up the write events of each new step's window in CloudTrail and name the top change. */
  cloudtrail: 'BILLWATCH_CLOUDTRAIL',
  instances: 'BILLWATCH_INSTANCES',
  recentDays: 'BILLWATCH_RECENT_DAYS',
  topicArn: 'BILLWATCH_TOPIC_ARN',
  windowDays: 'BILLWATCH_WINDOW_DAYS',
} as const

/** The EventBridge scheduled event; `time` is when the schedule fired. */
export interface ScheduledEvent {
  time?: string
  'detail-type'?: string
}

export function configFromEnv(env: Record<string, string | undefined>, event: ScheduledEvent = {}): WatchConfig {
  const topicArn = env[ENV.topicArn]
  if (!topicArn)
    throw new BillwatchError('E_USAGE', `${ENV.topicArn} is not set`, {expected: 'the ARN of the SNS topic to alert'})
  const number = (name: string, fallback: number) => {
    const text = env[name]
    if (text === undefined || text === '') return fallback
    const value = Number(text)
    if (!Number.isInteger(value) || value < 1)
      throw new BillwatchError('E_USAGE', `${name} is not a positive whole number`, {got: text})
    return value
  }
  const instances = (env[ENV.instances] ?? '').trim()
  const now = event.time === undefined ? new Date() : new Date(event.time)
  if (Number.isNaN(now.getTime()))
    throw new BillwatchError('E_VALUE', 'event time is not a timestamp', {got: String(event.time)})
  const athenaTable = env[ENV.athenaTable]
  return {
    ...(athenaTable
      ? {
          athena: {
            maxScanGb: number(ENV.athenaMaxScanGb, DEFAULT_MAX_SCAN_GB),
            table: athenaTable,
            ...(env[ENV.athenaOutput] ? {output: env[ENV.athenaOutput]} : {}),
            ...(env[ENV.athenaWorkgroup] ? {workgroup: env[ENV.athenaWorkgroup]} : {}),
          },
        }
      : {}),
    cloudtrail: env[ENV.cloudtrail] === '1',
    connection: {},
    instances:
      instances === 'all' ? 'all' : instances === '' ? DEFAULTS.instances : instances.split(',').map((s) => s.trim()),
    newStep: {...DEFAULTS.newStep, recentDays: number(ENV.recentDays, DEFAULTS.newStep.recentDays)},
    now,
    topicArn,
    windowDays: number(ENV.windowDays, DEFAULTS.windowDays),
  }
}

export interface HandlerOptions {
  env?: Record<string, string | undefined>
  log?: (line: string) => void
}

export function createHandler(options: HandlerOptions = {}): (event?: ScheduledEvent) => Promise<WatchReport> {
  return async (event = {}) => {
    const log = options.log ?? ((line: string) => console.log(line))
    const started = Date.now()
    try {
      const report = await runWatch(configFromEnv(options.env ?? process.env, event))
      log(JSON.stringify({level: 'info', msg: 'billwatch watch', ...report, durationMs: Date.now() - started}))
      return report
    } catch (error) {
      const detail = isBillwatchError(error)
        ? error.toJSON()
        : {code: 'E_INTERNAL', message: error instanceof Error ? error.message : String(error)}
      log(
        JSON.stringify({
          durationMs: Date.now() - started,
          error: detail,
          level: 'error',
          msg: 'billwatch watch failed',
        }),
      )
      // Rethrown so the invocation counts as failed: EventBridge's async invoke retries it (twice).
      throw error
    }
  }
}

export const handler = createHandler()
