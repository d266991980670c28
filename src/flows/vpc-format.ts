/**
 * VPC Flow Logs record formats (AWS "Flow log records", versions 2–8 and later fields): a format is
 * the list of fields in record order, from an S3 file's header line, from `--flow-format`, or the
 * default version 2 format. Records are single-space separated; `-` means "not applicable".
 */
import {BillwatchError} from '../errors.js'

/** The default format (version 2), which a flow log without a custom format always uses. */
export const DEFAULT_VPC_FORMAT = [
  'version',
  'account-id',
  'interface-id',
  'srcaddr',
  'dstaddr',
  'srcport',
  'dstport',
  'protocol',
  'packets',
  'bytes',
  'start',
  'end',
  'action',
  'log-status',
]

/**
 * Every field AWS documents (versions 2–8, and the later resource, encryption, next-hop and tag
 * fields): a header line made only of these names is a flow-log header.
 */
export const VPC_FIELDS = new Set([
  ...DEFAULT_VPC_FORMAT,
  'vpc-id',
  'subnet-id',
  'instance-id',
  'tcp-flags',
  'type',
  'pkt-srcaddr',
  'pkt-dstaddr',
  'region',
  'az-id',
  'sublocation-type',
  'sublocation-id',
  'pkt-src-aws-service',
  'pkt-dst-aws-service',
  'flow-direction',
  'traffic-path',
  'ecs-cluster-arn',
  'ecs-cluster-name',
  'ecs-container-instance-arn',
  'ecs-container-instance-id',
  'ecs-container-id',
  'ecs-second-container-id',
  'ecs-service-name',
  'ecs-task-definition-arn',
  'ecs-task-arn',
  'ecs-task-id',
  'reject-reason',
  'resource-id',
  'encryption-status',
  'interface-type',
  'next-hop-interface-id',
  'next-hop-subnet-id',
  'next-hop-az-id',
  'next-hop-vpc-id',
  'next-hop-interface-type',
  'instance-tag',
  'interface-tag',
  'asg-tag',
])

/** Fields billwatch needs to attribute bytes; a format without them cannot be read. */
export const REQUIRED_FIELDS = ['srcaddr', 'dstaddr', 'srcport', 'dstport', 'protocol', 'bytes', 'end'] as const

/** Fields that must hold a whole number in a record whose log-status is OK (or absent). */
export const NUMERIC_FIELDS = ['srcport', 'dstport', 'protocol', 'packets', 'bytes', 'start', 'end']

/** Field names as Parquet and Athena spell them (`account_id`), back to the flow-log spelling. */
export function fieldName(column: string): string {
  return column.trim().toLowerCase().replaceAll('_', '-')
}

/**
 * Parses `--flow-format`: the log format string as AWS shows it (`${version} ${account-id} …`),
 * or the bare names separated by spaces.
 */
export function parseFlowFormat(text: string, field = '--flow-format'): string[] {
  const names = text
    .trim()
    .split(/\s+/)
    .map((token) => token.replace(/^\$+\{/, '').replace(/\}$/, ''))
  const unknown = names.find((name) => !VPC_FIELDS.has(name))
  if (names.length === 0 || names[0] === '' || unknown !== undefined) {
    throw new BillwatchError('E_USAGE', '', {
      expected: 'flow-log field names such as "${version} ${account-id} ${interface-id} …"',
      field,
      got: unknown ?? text,
    })
  }
  checkFormat(names, {field})
  return names
}

export function checkFormat(
  names: string[],
  where: {file?: string | undefined; field?: string | undefined; line?: number | undefined},
): void {
  const missing = REQUIRED_FIELDS.filter((name) => !names.includes(name))
  if (missing.length > 0) {
    throw new BillwatchError('E_HEADER', `flow-log format lacks ${missing.join(', ')}`, {
      ...where,
      expected: `the fields ${REQUIRED_FIELDS.join(', ')} (billwatch attributes bytes by address, port and protocol)`,
    })
  }
}

/** A header line: every token a flow-log field name. */
export function isHeaderLine(line: string): boolean {
  const tokens = line.trim().split(' ')
  return tokens.length >= 2 && tokens.every((token) => VPC_FIELDS.has(token))
}

/** A default-format record: 14 tokens, the third an interface id. */
export function isDefaultRecord(line: string): boolean {
  const tokens = line.trim().split(' ')
  return (
    tokens.length === DEFAULT_VPC_FORMAT.length &&
    /^eni-[0-9a-f]+$/.test(tokens[2] ?? '') &&
    /^\d+$/.test(tokens[0] ?? '')
  )
}

/**
 * The first problem of one record, or undefined when it is sound: the field count, and the numeric
 * fields of a record that carries traffic (NODATA and SKIPDATA records have `-` there).
 */
export function recordProblem(
  tokens: string[],
  format: string[],
): undefined | {field?: string; expected: string; got?: string | undefined} {
  if (tokens.length !== format.length) {
    return {
      expected: `${format.length} space-separated fields (${format.slice(0, 3).join(' ')} …), not ${tokens.length}`,
    }
  }
  const status = format.indexOf('log-status')
  if (status >= 0 && tokens[status] !== 'OK') {
    if (tokens[status] !== 'NODATA' && tokens[status] !== 'SKIPDATA')
      return {expected: 'OK, NODATA or SKIPDATA', field: 'log-status', got: tokens[status]}
    // No traffic: AWS writes '-' where a number would be (and numbers in start and end).
    for (const name of NUMERIC_FIELDS) {
      const value = tokens[format.indexOf(name)] ?? '-'
      if (format.includes(name) && value !== '-' && !/^\d{1,18}$/.test(value))
        return {expected: 'a whole number or -', field: name, got: value}
    }
    return undefined
  }
  for (const name of NUMERIC_FIELDS) {
    const at = format.indexOf(name)
    if (at < 0) continue
    const value = tokens[at] ?? ''
    // ICMP records carry ports 0; `-` is allowed for fields AWS cannot compute, but not for bytes or end.
    if (value === '-' && name !== 'bytes' && name !== 'end') continue
    if (!/^\d{1,18}$/.test(value)) return {expected: 'a whole number', field: name, got: value}
  }
  const action = format.indexOf('action')
  if (action >= 0 && tokens[action] !== 'ACCEPT' && tokens[action] !== 'REJECT' && tokens[action] !== '-') {
    return {expected: 'ACCEPT or REJECT', field: 'action', got: tokens[action]}
  }
  return undefined
}
