/**
 * A local AWS endpoint for tests: one HTTP server on 127.0.0.1 that speaks the wire protocols the real
 * SDK clients send (see ../../../shared/research/formats.md §5–§6):
 * - Cost Explorer, AWS JSON 1.1, `X-Amz-Target: AWSInsightsIndexService.GetCostAndUsage`;
 * - CloudWatch, AWS JSON 1.0 (awsQueryCompatible), `X-Amz-Target: GraniteServiceVersion20100801.GetMetricData`
 *   and `.ListMetrics`, timestamps as epoch seconds, legacy error codes in `x-amzn-query-error`;
 * - SNS, the AWS Query protocol: form-encoded `Action=Publish`, XML replies;
 * - CloudTrail, AWS JSON 1.1, `X-Amz-Target: CloudTrail_20131101.LookupEvents`
 *   (docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html): one lookup attribute,
 *   newest first, MaxResults ≤ 50, NextToken bound to the other parameters, events of the region the
 *   request is signed for, and — when `lookupEventsPerSecond` is set — ThrottlingException (HTTP 400)
 *   past that rate per region, as the service does past its 2 requests per second;
 * - AWS Config, AWS JSON 1.1, `X-Amz-Target: StarlingDoveService.GetResourceConfigHistory`
 *   (docs.aws.amazon.com/config/latest/APIReference/API_GetResourceConfigHistory.html): `configuration`
 *   as a JSON string, epoch-second times, limit ≤ 100, ResourceNotDiscoveredException.
 * Every request must carry a valid SigV4 signature for the configured test key (checked here, so a
 * wrong secret really fails). Data, page sizes and faults are set per test; every call is recorded.
 */
import {createHash, createHmac, randomUUID} from 'node:crypto'
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

export const TEST_CREDENTIALS = {accessKeyId: 'AKIDBILLWATCHTEST00', secretAccessKey: 'billwatch-test-secret-key'}
export const TEST_ACCOUNT = '123456789012'

export type AwsAction =
  'GetCostAndUsage' | 'GetMetricData' | 'GetResourceConfigHistory' | 'ListMetrics' | 'LookupEvents' | 'Publish'

/** One day of one usage type, as Cost Explorer would aggregate it. quantity in the CE unit (GB for bytes). */
export interface CostRecord {
  day: string
  usageType: string
  /** CE SERVICE dimension value, e.g. 'EC2 - Other'. */
  service: string
  operation?: string
  quantity: number
  unit: string
  costUsd: number
}

/** Daily sums of one EC2 network metric of one instance, bytes. */
export interface MetricSeries {
  instanceId: string
  metric: 'NetworkIn' | 'NetworkOut'
  daily: Record<string, number>
}

export interface Fault {
  action: AwsAction
  /** 'throttle' answers as the service does when rate-limited; 'deny' as when IAM refuses. */
  kind: 'deny' | 'throttle'
  /** How many calls fail before the next succeeds (Infinity: every one). */
  times: number
}

export interface AwsEndpointOptions {
  costs?: CostRecord[]
  metrics?: MetricSeries[]
  /** Time periods per Cost Explorer page (real pages are sized by bytes; small here to force paging). */
  ceResultsPerPage?: number
  /** Data points per GetMetricData page. */
  cwPointsPerPage?: number
  /** Metrics per ListMetrics page. */
  cwMetricsPerPage?: number
  /** Days on or after this come back `Estimated: true`. */
  estimatedFrom?: string | undefined
  faults?: Fault[]
  /** Topics Publish accepts; anything else is NotFound. */
  topics?: string[]
  /** CloudTrail records (log-file shape) per region, served by LookupEvents. */
  trail?: Record<string, Record<string, any>[]>
  /** Events per LookupEvents page at most (the request's MaxResults may ask fewer). */
  trailEventsPerPage?: number
  /** Throttle LookupEvents past this many requests in any second, per region (the service's limit is 2). */
  lookupEventsPerSecond?: number
  /** Configuration items (history-file shape) served by GetResourceConfigHistory. */
  configItems?: Record<string, any>[]
  configItemsPerPage?: number
}

export interface RecordedCall {
  action: AwsAction
  /** When the request arrived (ms since the epoch) and the region it was signed for. */
  at: number
  region: string
  /** JSON body (CE, CloudWatch) or form fields (SNS). */
  body: Record<string, any>
  headers: IncomingMessage['headers']
  status: number
}

export interface PublishedMessage {
  topicArn: string
  subject: string | undefined
  message: string
}

export interface AwsEndpoint {
  url: string
  region: string
  credentials: typeof TEST_CREDENTIALS
  calls: RecordedCall[]
  published: PublishedMessage[]
  /** Replaces the data served from now on (a "next day" in a test). */
  setData(data: {
    costs?: CostRecord[]
    metrics?: MetricSeries[]
    estimatedFrom?: string | undefined
    trail?: AwsEndpointOptions['trail']
  }): void
  addFault(fault: Fault): void
  callsOf(action: AwsAction): RecordedCall[]
  close(): Promise<void>
}

export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The legacy Query code CloudWatch puts in x-amzn-query-error. */
    readonly queryCode?: string,
  ) {
    super(message)
  }
}

const SERVICE_OF: Record<AwsAction, string> = {
  GetCostAndUsage: 'ce',
  GetMetricData: 'monitoring',
  GetResourceConfigHistory: 'config',
  ListMetrics: 'monitoring',
  LookupEvents: 'cloudtrail',
  Publish: 'sns',
}
const PERMISSION_OF: Record<AwsAction, string> = {
  GetCostAndUsage: 'ce:GetCostAndUsage',
  GetMetricData: 'cloudwatch:GetMetricData',
  GetResourceConfigHistory: 'config:GetResourceConfigHistory',
  ListMetrics: 'cloudwatch:ListMetrics',
  LookupEvents: 'cloudtrail:LookupEvents',
  Publish: 'sns:Publish',
}
/** Services that answer in AWS JSON 1.1 (the others in 1.0 or Query). */
const JSON_11 = new Set<AwsAction>(['GetCostAndUsage', 'GetResourceConfigHistory', 'LookupEvents'])

export async function startAwsEndpoint(options: AwsEndpointOptions = {}): Promise<AwsEndpoint> {
  let costs = options.costs ?? []
  let metrics = options.metrics ?? []
  let estimatedFrom = options.estimatedFrom
  const faults = [...(options.faults ?? [])]
  const calls: RecordedCall[] = []
  const published: PublishedMessage[] = []

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      const at = Date.now()
      let action: AwsAction | undefined
      let body: Record<string, any> = {}
      let region = ''
      try {
        ;({action, body} = parseRequest(req, raw))
        region = verifySignature(req, raw, SERVICE_OF[action])
        const fault = faults.find((f) => f.action === action && f.times > 0)
        if (fault) {
          fault.times--
          throw faultError(fault, action)
        }
        if (action === 'LookupEvents' && options.lookupEventsPerSecond !== undefined) {
          const recent = calls.filter(
            (c) => c.action === 'LookupEvents' && c.region === region && at - c.at < 1000,
          ).length
          if (recent >= options.lookupEventsPerSecond)
            throw new ServiceError(400, 'ThrottlingException', 'Rate exceeded')
        }
        const result = dispatch(action, body, region)
        calls.push({action, at, body, headers: req.headers, region, status: 200})
        reply(res, action, 200, result)
      } catch (error) {
        const failure = error instanceof ServiceError ? error : new ServiceError(500, 'InternalFailure', String(error))
        if (action) calls.push({action, at, body, headers: req.headers, region, status: failure.status})
        replyError(res, action, failure)
      }
    })
  })

  function dispatch(action: AwsAction, body: Record<string, any>, region: string): unknown {
    switch (action) {
      case 'LookupEvents': {
        return lookupEvents(body, options.trail?.[region] ?? [], options.trailEventsPerPage ?? 50)
      }
      case 'GetResourceConfigHistory': {
        return resourceConfigHistory(body, options.configItems ?? [], options.configItemsPerPage ?? 100)
      }
      case 'GetCostAndUsage': {
        return getCostAndUsage(body, costs, options.ceResultsPerPage ?? 31, estimatedFrom)
      }
      case 'GetMetricData': {
        return getMetricData(body, metrics, options.cwPointsPerPage ?? 100_800)
      }
      case 'ListMetrics': {
        return listMetrics(body, metrics, options.cwMetricsPerPage ?? 500)
      }
      case 'Publish': {
        const topicArn = String(body.TopicArn ?? '')
        if (!(options.topics ?? []).includes(topicArn)) throw new ServiceError(404, 'NotFound', 'Topic does not exist')
        published.push({message: String(body.Message ?? ''), subject: body.Subject, topicArn})
        return {MessageId: randomUUID()}
      }
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  return {
    addFault: (fault) => faults.push(fault),
    calls,
    callsOf: (action) => calls.filter((c) => c.action === action),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
    credentials: TEST_CREDENTIALS,
    published,
    region: 'us-east-1',
    setData(data) {
      if (data.costs) costs = data.costs
      if (data.metrics) metrics = data.metrics
      if ('estimatedFrom' in data) estimatedFrom = data.estimatedFrom
      if (data.trail) options.trail = data.trail
    },
    url: `http://127.0.0.1:${port}`,
  }
}

function parseRequest(req: IncomingMessage, raw: Buffer): {action: AwsAction; body: Record<string, any>} {
  const target = String(req.headers['x-amz-target'] ?? '')
  const contentType = String(req.headers['content-type'] ?? '')
  if (target) {
    const expected: Record<string, [string, AwsAction]> = {
      'AWSInsightsIndexService.GetCostAndUsage': ['application/x-amz-json-1.1', 'GetCostAndUsage'],
      'StarlingDoveService.GetResourceConfigHistory': ['application/x-amz-json-1.1', 'GetResourceConfigHistory'],
      // What the SDK sends, and the long form of the older service model.
      'CloudTrail_20131101.LookupEvents': ['application/x-amz-json-1.1', 'LookupEvents'],
      'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents': [
        'application/x-amz-json-1.1',
        'LookupEvents',
      ],
      'GraniteServiceVersion20100801.GetMetricData': ['application/x-amz-json-1.0', 'GetMetricData'],
      'GraniteServiceVersion20100801.ListMetrics': ['application/x-amz-json-1.0', 'ListMetrics'],
    }
    const known = expected[target]
    if (!known) throw new ServiceError(400, 'UnknownOperationException', `unknown target ${target}`)
    if (contentType !== known[0])
      throw new ServiceError(400, 'SerializationException', `expected ${known[0]}, got ${contentType}`)
    return {action: known[1], body: JSON.parse(raw.toString('utf8') || '{}')}
  }
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    const form = Object.fromEntries(new URLSearchParams(raw.toString('utf8')))
    if (form.Action === 'Publish' && form.Version === '2010-03-31') return {action: 'Publish', body: form}
    throw new ServiceError(400, 'InvalidAction', `unknown action ${form.Action}`)
  }
  throw new ServiceError(400, 'UnknownOperationException', 'no X-Amz-Target and not a Query request')
}

/**
 * SigV4 as AWS checks it: unknown key → UnrecognizedClientException, wrong secret → InvalidSignatureException. Returns
 * the signed region.
 */
export function verifySignature(req: IncomingMessage, raw: Buffer, service: string): string {
  const auth = String(req.headers.authorization ?? '')
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
      auth,
    )
  if (!match) throw new ServiceError(400, 'MissingAuthenticationToken', 'Request is missing Authentication Token')
  const [, keyId, date, region, signedService, signedHeaders, signature] = match as unknown as string[]
  if (keyId !== TEST_CREDENTIALS.accessKeyId) {
    throw new ServiceError(
      service === 'ce' ? 400 : 403,
      service === 'ce' ? 'UnrecognizedClientException' : 'InvalidClientTokenId',
      'The security token included in the request is invalid.',
      'InvalidClientTokenId',
    )
  }
  if (signedService !== service)
    throw new ServiceError(
      400,
      'InvalidSignatureException',
      `Credential should be scoped to correct service: '${service}'.`,
    )
  const amzDate = String(req.headers['x-amz-date'] ?? '')
  const headerNames = signedHeaders!.split(';')
  const canonicalHeaders = headerNames
    .map(
      (name) =>
        `${name}:${String(req.headers[name] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('')
  const url = new URL(req.url ?? '/', 'http://localhost')
  const query = [...url.searchParams]
    .map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`)
    .sort()
    .join('&')
  const payloadHash = String(req.headers['x-amz-content-sha256'] ?? sha256(raw))
  const canonicalRequest = [req.method, url.pathname, query, canonicalHeaders, signedHeaders, payloadHash].join('\n')
  const scope = `${date}/${region}/${signedService}/aws4_request`
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n')
  let key: Buffer = hmac(`AWS4${TEST_CREDENTIALS.secretAccessKey}`, date!)
  for (const part of [region!, signedService, 'aws4_request']) key = hmac(key, part)
  if (hmac(key, stringToSign).toString('hex') !== signature) {
    const code = service === 'ce' ? 'InvalidSignatureException' : 'SignatureDoesNotMatch'
    throw new ServiceError(
      service === 'ce' ? 400 : 403,
      code,
      'The request signature we calculated does not match the signature you provided.',
      'SignatureDoesNotMatch',
    )
  }
  return region!
}

function faultError(fault: Fault, action: AwsAction): ServiceError {
  if (fault.kind === 'throttle') {
    if (action === 'LookupEvents') return new ServiceError(400, 'ThrottlingException', 'Rate exceeded')
    return action === 'GetCostAndUsage'
      ? new ServiceError(400, 'LimitExceededException', 'Rate limit exceeded')
      : new ServiceError(400, 'Throttling', 'Rate exceeded', 'Throttling')
  }
  const message = `User: arn:aws:iam::${TEST_ACCOUNT}:user/billwatch is not authorized to perform: ${PERMISSION_OF[action]}`
  if (action === 'GetCostAndUsage') return new ServiceError(400, 'AccessDeniedException', message)
  // CloudTrail and Config word it as IAM's newer messages do.
  if (action === 'LookupEvents' || action === 'GetResourceConfigHistory')
    return new ServiceError(
      400,
      'AccessDeniedException',
      `${message} because no identity-based policy allows the ${PERMISSION_OF[action]} action`,
    )
  if (action === 'Publish') return new ServiceError(403, 'AuthorizationError', message)
  return new ServiceError(403, 'AccessDeniedException', message, 'AccessDenied')
}

function reply(res: ServerResponse, action: AwsAction, status: number, result: unknown): void {
  const requestId = randomUUID()
  if (action === 'Publish') {
    const {MessageId} = result as {MessageId: string}
    const xml = `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${MessageId}</MessageId></PublishResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></PublishResponse>`
    res.writeHead(status, {'content-type': 'text/xml', 'x-amzn-requestid': requestId}).end(xml)
    return
  }
  const version = JSON_11.has(action) ? '1.1' : '1.0'
  res
    .writeHead(status, {'content-type': `application/x-amz-json-${version}`, 'x-amzn-requestid': requestId})
    .end(JSON.stringify(result))
}

function replyError(res: ServerResponse, action: AwsAction | undefined, error: ServiceError): void {
  const requestId = randomUUID()
  const sender = error.status < 500 ? 'Sender' : 'Receiver'
  if (action === 'Publish') {
    const xml = `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>${sender}</Type><Code>${error.code}</Code><Message>${escapeXml(error.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`
    res.writeHead(error.status, {'content-type': 'text/xml', 'x-amzn-requestid': requestId}).end(xml)
    return
  }
  const headers: Record<string, string> = {
    'content-type': `application/x-amz-json-${action && JSON_11.has(action) ? '1.1' : '1.0'}`,
    'x-amzn-requestid': requestId,
  }
  if (error.queryCode && !(action && JSON_11.has(action)))
    headers['x-amzn-query-error'] = `${error.queryCode};${sender}`
  res.writeHead(error.status, headers).end(JSON.stringify({__type: error.code, message: error.message}))
}

// ---- Cost Explorer ---------------------------------------------------------------------------------

const DAY = /^\d{4}-\d{2}-\d{2}$/
const HOUR = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/

/** The USAGE_TYPE_GROUP a usage type belongs to (the few groups billwatch filters on). */
export function usageTypeGroup(record: Pick<CostRecord, 'service' | 'usageType'>): string | undefined {
  const base = record.usageType.replace(/^[A-Z]{2,4}\d?-(?=[A-Z])/, '')
  const s3 = record.service.includes('Simple Storage')
  if (base === 'DataTransfer-Out-Bytes')
    return s3 ? 'S3: Data Transfer - Internet (Out)' : 'EC2: Data Transfer - Internet (Out)'
  if (base === 'DataTransfer-In-Bytes')
    return s3 ? 'S3: Data Transfer - Internet (In)' : 'EC2: Data Transfer - Internet (In)'
  if (base === 'DataTransfer-Regional-Bytes') return 'EC2: Data Transfer - Inter AZ'
  if (base.endsWith('-AWS-Out-Bytes')) return 'EC2: Data Transfer - Region to Region (Out)'
  if (base.endsWith('-AWS-In-Bytes')) return 'EC2: Data Transfer - Region to Region (In)'
  if (/^CloudFront-Out-Bytes$/.test(base)) return 'EC2: Data Transfer - CloudFront (Out)'
  if (/^CloudFront-In-Bytes$/.test(base)) return 'EC2: Data Transfer - CloudFront (In)'
  return undefined
}

function dimensionValue(record: CostRecord, key: string): string {
  switch (key) {
    case 'USAGE_TYPE':
      return record.usageType
    case 'SERVICE':
      return record.service
    case 'OPERATION':
      return record.operation ?? 'Unknown'
    case 'USAGE_TYPE_GROUP':
      return usageTypeGroup(record) ?? 'NoUsageTypeGroup'
    case 'LINKED_ACCOUNT':
      return TEST_ACCOUNT
    case 'RECORD_TYPE':
      return 'Usage'
    default:
      throw new ServiceError(400, 'ValidationException', `dimension ${key} is not supported by this test endpoint`)
  }
}

function matches(record: CostRecord, expression: any): boolean {
  if (!expression) return true
  if (expression.And) return expression.And.every((e: any) => matches(record, e))
  if (expression.Or) return expression.Or.some((e: any) => matches(record, e))
  if (expression.Not) return !matches(record, expression.Not)
  if (expression.Dimensions)
    return (expression.Dimensions.Values as string[]).includes(dimensionValue(record, expression.Dimensions.Key))
  throw new ServiceError(400, 'ValidationException', 'unsupported filter expression')
}

function getCostAndUsage(body: any, costs: CostRecord[], perPage: number, estimatedFrom: string | undefined): unknown {
  const {Granularity: granularity, Metrics: metricNames, TimePeriod: period} = body
  if (
    !period ||
    !['DAILY', 'HOURLY', 'MONTHLY'].includes(granularity) ||
    !Array.isArray(metricNames) ||
    metricNames.length === 0
  ) {
    throw new ServiceError(400, 'ValidationException', 'TimePeriod, Granularity and Metrics are required')
  }
  const pattern = granularity === 'HOURLY' ? HOUR : DAY
  if (!pattern.test(period.Start) || !pattern.test(period.End) || period.Start >= period.End) {
    throw new ServiceError(
      400,
      'ValidationException',
      `Start and End must be ${granularity === 'HOURLY' ? 'yyyy-MM-ddThh:mm:ssZ' : 'yyyy-MM-dd'}, Start before End`,
    )
  }
  const groupKeys: string[] = (body.GroupBy ?? []).map((g: any) => g.Key)
  if (groupKeys.length > 2) throw new ServiceError(400, 'ValidationException', 'GroupBy accepts at most 2 groups')

  // HOURLY: this endpoint spreads each day evenly over its 24 hours.
  const step = granularity === 'HOURLY' ? 3_600_000 : 86_400_000
  const periods: {start: string; end: string}[] = []
  for (let t = Date.parse(period.Start); t < Date.parse(period.End); t += step) {
    const format = (ms: number) =>
      granularity === 'HOURLY'
        ? new Date(ms).toISOString().replace('.000', '')
        : new Date(ms).toISOString().slice(0, 10)
    periods.push({end: format(t + step), start: format(t)})
  }
  const share = granularity === 'HOURLY' ? 1 / 24 : 1

  const offset = body.NextPageToken ? decodeToken(body.NextPageToken, 'InvalidNextTokenException') : 0
  const page = periods.slice(offset, offset + perPage)
  const selected = costs.filter((c) => matches(c, body.Filter))
  const resultsByTime = page.map(({end, start}) => {
    const day = start.slice(0, 10)
    const groups = new Map<string, {keys: string[]; quantity: number; cost: number; unit: string}>()
    for (const record of selected.filter((c) => c.day === day)) {
      const keys = groupKeys.map((k) => dimensionValue(record, k))
      const id = keys.join('\u0000')
      const group = groups.get(id) ?? {cost: 0, keys, quantity: 0, unit: record.unit}
      group.quantity += record.quantity * share
      group.cost += record.costUsd * share
      groups.set(id, group)
    }
    const metricsOf = (g: {cost: number; quantity: number; unit: string}) =>
      Object.fromEntries(
        metricNames.map((m: string) => [
          m,
          m === 'UsageQuantity' ? {Amount: String(g.quantity), Unit: g.unit} : {Amount: String(g.cost), Unit: 'USD'},
        ]),
      )
    const estimated = estimatedFrom !== undefined && day >= estimatedFrom
    if (groupKeys.length === 0) {
      const all = [...groups.values()].reduce(
        (a, g) => ({cost: a.cost + g.cost, quantity: a.quantity + g.quantity, unit: g.unit}),
        {
          cost: 0,
          quantity: 0,
          unit: 'N/A',
        },
      )
      return {Estimated: estimated, Groups: [], TimePeriod: {End: end, Start: start}, Total: metricsOf(all)}
    }
    return {
      Estimated: estimated,
      Groups: [...groups.values()].map((g) => ({Keys: g.keys, Metrics: metricsOf(g)})),
      TimePeriod: {End: end, Start: start},
      Total: {},
    }
  })
  const next = offset + perPage < periods.length ? encodeToken(offset + perPage) : undefined
  return {
    DimensionValueAttributes: [],
    GroupDefinitions: body.GroupBy ?? [],
    ResultsByTime: resultsByTime,
    ...(next ? {NextPageToken: next} : {}),
  }
}

// ---- CloudWatch ------------------------------------------------------------------------------------

function instanceOf(metric: any): string | undefined {
  return (metric?.Dimensions ?? []).find((d: any) => d.Name === 'InstanceId')?.Value
}

function getMetricData(body: any, metrics: MetricSeries[], perPage: number): unknown {
  const queries: any[] = body.MetricDataQueries ?? []
  if (queries.length === 0 || queries.length > 500) {
    throw new ServiceError(
      400,
      'ValidationError',
      `The collection MetricDataQueries must have between 1 and 500 items, got ${queries.length}`,
      'ValidationError',
    )
  }
  if (typeof body.StartTime !== 'number' || typeof body.EndTime !== 'number') {
    throw new ServiceError(400, 'ValidationError', 'StartTime and EndTime must be epoch seconds', 'ValidationError')
  }
  const points: {index: number; t: number; v: number}[] = []
  for (const [index, query] of queries.entries()) {
    if (!/^[a-z][A-Za-z0-9_]*$/.test(query.Id ?? ''))
      throw new ServiceError(400, 'ValidationError', `invalid Id ${query.Id}`, 'ValidationError')
    const stat = query.MetricStat
    if (stat?.Stat !== 'Sum' || stat.Period % 60 !== 0 || stat.Metric?.Namespace !== 'AWS/EC2') {
      throw new ServiceError(
        400,
        'ValidationError',
        'this endpoint serves AWS/EC2 Sum MetricStat queries only',
        'ValidationError',
      )
    }
    const series = metrics.find((m) => m.metric === stat.Metric.MetricName && m.instanceId === instanceOf(stat.Metric))
    for (const [day, value] of Object.entries(series?.daily ?? {})) {
      const t = Date.parse(`${day}T00:00:00Z`) / 1000
      if (t >= body.StartTime && t < body.EndTime) points.push({index, t, v: value})
    }
  }
  const descending = (body.ScanBy ?? 'TimestampDescending') === 'TimestampDescending'
  points.sort((a, b) => a.index - b.index || (descending ? b.t - a.t : a.t - b.t))
  const offset = body.NextToken ? decodeToken(body.NextToken, 'InvalidNextToken') : 0
  const pageSize = Math.min(perPage, body.MaxDatapoints ?? 100_800)
  const page = points.slice(offset, offset + pageSize)
  const more = offset + pageSize < points.length
  return {
    Messages: [],
    MetricDataResults: queries.map((q, index) => {
      const mine = page.filter((p) => p.index === index)
      const unfinished = more && points.slice(offset + pageSize).some((p) => p.index === index)
      return {
        Id: q.Id,
        Label: q.Label ?? q.MetricStat.Metric.MetricName,
        Messages: [],
        StatusCode: unfinished ? 'PartialData' : 'Complete',
        Timestamps: mine.map((p) => p.t),
        Values: mine.map((p) => p.v),
      }
    }),
    ...(more ? {NextToken: encodeToken(offset + pageSize)} : {}),
  }
}

function listMetrics(body: any, metrics: MetricSeries[], perPage: number): unknown {
  const all = metrics
    .filter((m) => (body.Namespace ?? 'AWS/EC2') === 'AWS/EC2' && (!body.MetricName || body.MetricName === m.metric))
    .map((m) => ({Dimensions: [{Name: 'InstanceId', Value: m.instanceId}], MetricName: m.metric, Namespace: 'AWS/EC2'}))
  const offset = body.NextToken ? decodeToken(body.NextToken, 'InvalidNextToken') : 0
  const more = offset + perPage < all.length
  return {Metrics: all.slice(offset, offset + perPage), ...(more ? {NextToken: encodeToken(offset + perPage)} : {})}
}

// ---- CloudTrail ------------------------------------------------------------------------------------

const LOOKUP_KEYS: Record<string, (r: Record<string, any>) => string[]> = {
  AccessKeyId: (r) => [r.userIdentity?.accessKeyId],
  EventId: (r) => [r.eventID],
  EventName: (r) => [r.eventName],
  EventSource: (r) => [r.eventSource],
  ReadOnly: (r) => [String(r.readOnly ?? false)],
  ResourceName: (r) =>
    JSON.stringify([r.requestParameters, r.responseElements])
      .match(/"(?:sg|i|eni|rtb|nat|igw|vpc)-[0-9a-f]+"/g)
      ?.map((m) => m.slice(1, -1)) ?? [],
  Username: (r) => [r.userIdentity?.userName ?? r.userIdentity?.arn?.split('/').at(-1)],
}

function lookupEvents(body: any, records: Record<string, any>[], perPage: number): unknown {
  const attributes: any[] = body.LookupAttributes ?? []
  if (attributes.length > 1)
    throw new ServiceError(
      400,
      'InvalidLookupAttributesException',
      'You cannot specify more than one lookup attribute.',
    )
  const max = body.MaxResults ?? 50
  if (!Number.isInteger(max) || max < 1 || max > 50)
    throw new ServiceError(400, 'InvalidMaxResultsException', 'MaxResults must be between 1 and 50.')
  for (const key of ['StartTime', 'EndTime']) {
    if (body[key] !== undefined && typeof body[key] !== 'number')
      throw new ServiceError(400, 'SerializationException', `${key} must be epoch seconds`)
  }
  const start = body.StartTime === undefined ? -Infinity : body.StartTime * 1000
  const end = body.EndTime === undefined ? Infinity : body.EndTime * 1000
  if (start > end) throw new ServiceError(400, 'InvalidTimeRangeException', 'Start time must be before end time.')
  const [attribute] = attributes
  if (attribute && !LOOKUP_KEYS[attribute.AttributeKey])
    throw new ServiceError(400, 'InvalidLookupAttributesException', `unknown attribute ${attribute.AttributeKey}`)
  const selected = records
    .filter((r) => {
      const t = Date.parse(r.eventTime)
      return (
        t >= start &&
        t <= end &&
        (!attribute || LOOKUP_KEYS[attribute.AttributeKey]!(r).includes(attribute.AttributeValue))
      )
    })
    .sort((a, b) => Date.parse(b.eventTime) - Date.parse(a.eventTime))
  // A token is only valid with the same other parameters, as the service documents.
  const binding = JSON.stringify({a: attributes, e: body.EndTime, m: max, s: body.StartTime})
  let offset = 0
  if (body.NextToken) {
    const token = decodeToken(body.NextToken, 'InvalidNextTokenException')
    if (
      Buffer.from(body.NextToken, 'base64url')
        .toString('utf8')
        .includes(`"b":${JSON.stringify(binding)}`) === false
    ) {
      throw new ServiceError(400, 'InvalidNextTokenException', 'The token is not valid for these parameters.')
    }
    offset = token
  }
  const size = Math.min(max, perPage)
  const page = selected.slice(offset, offset + size)
  const next =
    offset + size < selected.length
      ? Buffer.from(JSON.stringify({b: binding, offset: offset + size})).toString('base64url')
      : undefined
  return {
    Events: page.map((r) => ({
      AccessKeyId: r.userIdentity?.accessKeyId,
      CloudTrailEvent: JSON.stringify(r),
      EventId: r.eventID,
      EventName: r.eventName,
      EventSource: r.eventSource,
      EventTime: Date.parse(r.eventTime) / 1000,
      ReadOnly: String(r.readOnly ?? false),
      Resources: [],
      Username: r.userIdentity?.userName,
    })),
    ...(next ? {NextToken: next} : {}),
  }
}

// ---- AWS Config ------------------------------------------------------------------------------------

function resourceConfigHistory(body: any, items: Record<string, any>[], perPage: number): unknown {
  if (typeof body.resourceType !== 'string' || typeof body.resourceId !== 'string')
    throw new ServiceError(400, 'ValidationException', 'resourceType and resourceId are required')
  // AWS Config: 0 or no limit means its default of 10.
  const limit = body.limit === undefined || body.limit === 0 ? 10 : body.limit
  if (limit > 100) throw new ServiceError(400, 'InvalidLimitException', 'limit must be at most 100')
  const mine = items.filter((i) => i.resourceType === body.resourceType && i.resourceId === body.resourceId)
  if (mine.length === 0)
    throw new ServiceError(
      400,
      'ResourceNotDiscoveredException',
      `Resource ${body.resourceId} of resourceType:${body.resourceType} is unknown or has not been discovered`,
    )
  const later = body.laterTime === undefined ? Infinity : body.laterTime * 1000
  const earlier = body.earlierTime === undefined ? -Infinity : body.earlierTime * 1000
  if (earlier > later) throw new ServiceError(400, 'InvalidTimeRangeException', 'earlierTime must be before laterTime')
  // The API reference: "each call may span at most seven days".
  if (later - earlier > 7 * 86_400_000)
    throw new ServiceError(400, 'InvalidTimeRangeException', 'The time range may span at most 7 days')
  const forward = body.chronologicalOrder === 'Forward'
  const selected = mine
    .filter((i) => {
      const t = Date.parse(i.configurationItemCaptureTime)
      return t >= earlier && t <= later
    })
    .sort(
      (a, b) =>
        (forward ? 1 : -1) * (Date.parse(a.configurationItemCaptureTime) - Date.parse(b.configurationItemCaptureTime)),
    )
  const offset = body.nextToken ? decodeToken(body.nextToken, 'InvalidNextTokenException') : 0
  const size = Math.min(limit, perPage)
  const page = selected.slice(offset, offset + size)
  return {
    // The API's names and shapes: configuration as a JSON string, epoch-second times, relationshipName.
    configurationItems: page.map((i) => ({
      accountId: i.awsAccountId,
      arn: i.ARN,
      availabilityZone: i.availabilityZone,
      awsRegion: i.awsRegion,
      configuration: JSON.stringify(i.configuration),
      configurationItemCaptureTime: Date.parse(i.configurationItemCaptureTime) / 1000,
      configurationItemMD5Hash: '',
      configurationItemStatus: i.configurationItemStatus,
      configurationStateId: String(i.configurationStateId),
      relatedEvents: [],
      relationships: (i.relationships ?? []).map((r: any) => ({
        relationshipName: r.name,
        resourceId: r.resourceId,
        resourceType: r.resourceType,
      })),
      resourceId: i.resourceId,
      resourceName: i.resourceName,
      resourceType: i.resourceType,
      supplementaryConfiguration: {},
      tags: i.tags ?? {},
      version: '1.3',
    })),
    ...(offset + size < selected.length ? {nextToken: encodeToken(offset + size)} : {}),
  }
}

// ---- helpers ---------------------------------------------------------------------------------------

export function encodeToken(offset: number): string {
  return Buffer.from(JSON.stringify({offset})).toString('base64url')
}

export function decodeToken(token: string, code: string): number {
  try {
    const {offset} = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'))
    if (Number.isInteger(offset) && offset >= 0) return offset
  } catch {
    // Not base64url JSON: the same refusal as a bad offset, below.
  }
  throw new ServiceError(400, code, 'The pagination token is invalid', code)
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex')
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest()
}

function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`)
}
