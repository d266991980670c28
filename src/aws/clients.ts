/**
 * The AWS SDK clients billwatch uses, and the one place their failures become BillwatchErrors.
 * Credentials and region come from the SDK's standard chain (env, shared profile, SSO, instance or
 * Lambda role); `profile`, `region` and `endpoint` only override it.
 */
import {AthenaClient} from '@aws-sdk/client-athena'
import {CloudWatchClient} from '@aws-sdk/client-cloudwatch'
import {CostExplorerClient} from '@aws-sdk/client-cost-explorer'
import {GlueClient} from '@aws-sdk/client-glue'
import {SNSClient} from '@aws-sdk/client-sns'

import {BillwatchError} from '../errors.js'

export interface AwsConnection {
  region?: string
  profile?: string
  /** Service endpoint override (tests, VPC endpoints); otherwise the SDK resolves it, or AWS_ENDPOINT_URL_*. */
  endpoint?: string
  credentials?: {accessKeyId: string; secretAccessKey: string; sessionToken?: string}
  /**
   * Attempts per request, throttling included. The SDK backs off exponentially with jitter
   * (throttling base 500 ms, capped at 20 s) and treats LimitExceededException and Throttling as throttling.
   */
  maxAttempts?: number
}

export const DEFAULT_MAX_ATTEMPTS = 6

/** The SDK client configuration of a connection (the CloudTrail and Config clients are made where they are used). */
export function clientConfig(connection: AwsConnection, region: string | undefined) {
  return {
    maxAttempts: connection.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    ...(region === undefined ? {} : {region}),
    ...(connection.profile === undefined ? {} : {profile: connection.profile}),
    ...(connection.endpoint === undefined ? {} : {endpoint: connection.endpoint}),
    ...(connection.credentials === undefined ? {} : {credentials: connection.credentials}),
  }
}

/** Cost Explorer answers only in us-east-1 (aws partition); the SDK routes other regions there too. */
export function costExplorerClient(connection: AwsConnection = {}): CostExplorerClient {
  return new CostExplorerClient(clientConfig(connection, connection.region ?? 'us-east-1'))
}

export function athenaClient(connection: AwsConnection = {}): AthenaClient {
  return new AthenaClient(clientConfig(connection, connection.region))
}

export function glueClient(connection: AwsConnection = {}): GlueClient {
  return new GlueClient(clientConfig(connection, connection.region))
}

export function cloudWatchClient(connection: AwsConnection = {}): CloudWatchClient {
  return new CloudWatchClient(clientConfig(connection, connection.region))
}

/** Any SDK v3 client's middleware stack (method syntax: each client's `add` takes its own middleware types). */
interface PacedStack {
  add(middleware: unknown, options: {name: string; step: 'deserialize'}): void
}

/**
 * Holds every attempt of a client's requests (the SDK's retries too: they run inside this step) to at
 * most `perSecond` a second.
 */
export function paceAttempts(client: {middlewareStack: PacedStack}, perSecond: number): void {
  // 10% slower than the limit: requests do not reach the service exactly as spaced when they leave.
  const gap = 1100 / perSecond
  let next = 0
  client.middlewareStack.add(
    (handler: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
      const now = Date.now()
      const at = Math.max(now, next)
      next = at + gap
      if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now))
      // A timer that fired late (a busy machine) sent this attempt late: the next waits a whole gap from now.
      next = Math.max(next, Date.now() + gap)
      return handler(args)
    },
    {name: 'billwatchPace', step: 'deserialize'},
  )
}

export function snsClient(connection: AwsConnection = {}): SNSClient {
  return new SNSClient(clientConfig(connection, connection.region))
}

/** The IAM action each API call needs, named in access-denied messages. */
export const PERMISSIONS = {
  GetPartitions: 'glue:GetPartitions',
  GetQueryExecution: 'athena:GetQueryExecution',
  GetQueryResults: 'athena:GetQueryResults',
  GetTable: 'glue:GetTable',
  StartQueryExecution: 'athena:StartQueryExecution',
  StopQueryExecution: 'athena:StopQueryExecution',
  GetCostAndUsage: 'ce:GetCostAndUsage',
  GetMetricData: 'cloudwatch:GetMetricData',
  GetResourceConfigHistory: 'config:GetResourceConfigHistory',
  ListMetrics: 'cloudwatch:ListMetrics',
  LookupEvents: 'cloudtrail:LookupEvents',
  Publish: 'sns:Publish',
} as const

export type AwsAction = keyof typeof PERMISSIONS

const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'AuthorizationError', 'UnauthorizedOperation'])
const BAD_CREDENTIALS = new Set([
  'ExpiredToken',
  'ExpiredTokenException',
  'IncompleteSignature',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'MissingAuthenticationToken',
  'SignatureDoesNotMatch',
  'UnrecognizedClientException',
])
const THROTTLED = new Set(['LimitExceededException', 'Throttling', 'ThrottlingException', 'TooManyRequestsException'])
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'TimeoutError',
])

/** Sends one request; a failure becomes a BillwatchError naming the action (and the permission it needs). */
export async function callAws<T>(
  action: AwsAction,
  connection: AwsConnection | undefined,
  send: () => Promise<T>,
): Promise<T> {
  try {
    return await send()
  } catch (error) {
    throw toBillwatchError(error, action, connection)
  }
}

export interface Pages<P> {
  pages: P[]
  /** Requests that succeeded: one per page (what Cost Explorer bills). */
  requests: number
  /** Attempts the SDK retried after throttling or a transient error (not billed). */
  retries: number
}

/**
 * Every page of one paginated call: `fetchPage(token)` until `nextToken(page)` is empty.
 * Requests counted per page; the SDK's own retries read from each response's metadata.
 */
export async function allPages<P extends {$metadata: {attempts?: number}}>(
  fetchPage: (token: string | undefined) => Promise<P>,
  nextToken: (page: P) => string | undefined,
  onPage?: (pages: number) => void,
): Promise<Pages<P>> {
  const pages: P[] = []
  let retries = 0
  let token: string | undefined
  do {
    const page = await fetchPage(token)
    pages.push(page)
    retries += Math.max(0, (page.$metadata.attempts ?? 1) - 1)
    // An empty token, as some services send on the last page, ends the listing like a missing one.
    const next = nextToken(page)
    token = next === '' ? undefined : next
    onPage?.(pages.length)
  } while (token !== undefined)
  return {pages, requests: pages.length, retries}
}

/** The service's error code: JSON `__type`, the query-compatible `Code`, or the SDK error name. */
export function awsErrorCode(error: unknown): string {
  const e = error as {Code?: string; Error?: {Code?: string}; code?: string; name?: string}
  return e?.Code ?? e?.Error?.Code ?? e?.code ?? e?.name ?? 'Unknown'
}

/**
 * Turns an SDK failure into one clear line: access denied names the missing permission, bad or
 * missing credentials say where the chain looks, throttling says the retries ran out.
 */
export function toBillwatchError(error: unknown, action: AwsAction, connection: AwsConnection = {}): BillwatchError {
  if (error instanceof BillwatchError) return error
  const code = awsErrorCode(error)
  const detail = firstLine(error instanceof Error ? error.message : String(error))
  const permission = PERMISSIONS[action]
  const profile = connection.profile === undefined ? '' : ` (profile ${connection.profile})`
  if (ACCESS_DENIED.has(code)) {
    const principal = /arn:aws[\w-]*:(?:iam|sts)::\d+:[^\s,]+/.exec(detail)?.[0]
    return new BillwatchError(
      'E_AWS',
      `${action}: access denied: ${principal ?? `the credentials${profile}`} lack${principal ? 's' : ''} permission ${permission}`,
      {
        cause: error,
        suggestions: [`attach a policy with "Action": "${permission}" to the user or role billwatch runs as`],
      },
    )
  }
  if (BAD_CREDENTIALS.has(code)) {
    return new BillwatchError('E_AWS', `${action}: AWS rejected the credentials${profile} (${code}): ${detail}`, {
      cause: error,
      suggestions: ['check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --profile; for SSO run `aws sso login`'],
    })
  }
  if (code === 'CredentialsProviderError' || /Could not load credentials/i.test(detail)) {
    return new BillwatchError(
      'E_AWS',
      `${action}: no AWS credentials found${profile} (env, shared profile, SSO, instance role)`,
      {
        cause: error,
        suggestions: ['set AWS_PROFILE or pass --profile NAME, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY'],
      },
    )
  }
  if (THROTTLED.has(code)) {
    const attempts =
      (error as {$metadata?: {attempts?: number}}).$metadata?.attempts ?? connection.maxAttempts ?? DEFAULT_MAX_ATTEMPTS
    return new BillwatchError('E_AWS', `${action}: still throttled (${code}) after ${attempts} attempts with backoff`, {
      cause: error,
      suggestions: ['wait a minute and run again; only successful requests are billed'],
    })
  }
  if (code === 'DataUnavailableException') {
    return new BillwatchError(
      'E_AWS',
      `${action}: Cost Explorer has no data for this account yet (DataUnavailableException)`,
      {
        cause: error,
        suggestions: ['enable Cost Explorer in the Billing console; data appears within 24 hours'],
      },
    )
  }
  const errno = (error as {code?: string})?.code
  if (NETWORK.has(code) || (errno !== undefined && NETWORK.has(errno))) {
    return new BillwatchError(
      'E_NETWORK',
      `${action}: cannot reach the AWS endpoint${connection.endpoint ? ` ${connection.endpoint}` : ''}: ${detail}`,
      {
        cause: error,
      },
    )
  }
  return new BillwatchError('E_AWS', `${action} failed (${code}): ${detail}`, {cause: error})
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? text).trim()
}
