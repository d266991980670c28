/**
 * Tells flow-record files from billing exports by content (never by name): an nfcapd file's magic, a
 * Parquet schema with flow-log columns, a flow-log header line, a default-format record, or JSON
 * lines (CloudWatch Logs events) whose `message` is a record.
 */
import {gunzipHead, looksBinary, readHead} from '../ingest/sniff.js'
import {stringAt} from '../core/json.js'
import {BillwatchError} from '../errors.js'
import {DEFAULT_VPC_FORMAT, fieldName, isDefaultRecord, isHeaderLine, VPC_FIELDS} from './vpc-format.js'

export type FlowKind = 'nfcapd' | 'vpc-cloudwatch' | 'vpc-parquet' | 'vpc-text'
export type FlowContainer = 'gzip' | 'nfcapd' | 'parquet' | 'text'

export interface FlowSniff {
  kind: FlowKind
  container: FlowContainer
  /** Record fields in order (text: from the header line, else the given or default format). */
  fields: string[]
  /** Whether line 1 is a header line (S3 text delivery). */
  header: boolean
  /** Parquet: the flow-log field → the file's column name. */
  columns?: Map<string, string>
}

export interface FlowSniffOptions {
  /** `--flow-format`: the fields of headerless records (CloudWatch Logs events, Firehose). */
  format?: string[]
  parquetColumns: (path: string) => Promise<string[]>
}

/** nfcapd's file magic 0xA50C, little-endian (nfdump 1.6 and 1.7 layouts). */
const NFCAPD_MAGIC = '0ca5'

/** The flow-record kind of a file, or undefined when it is not one (a billing export, a capture …). */
export async function sniffFlowFile(path: string, options: FlowSniffOptions): Promise<FlowSniff | undefined> {
  const raw = await readHead(path)
  if (raw.length === 0) return undefined
  const magic = raw.subarray(0, 4).toString('hex')
  if (magic.startsWith(NFCAPD_MAGIC)) return {container: 'nfcapd', fields: [], header: false, kind: 'nfcapd'}
  if (magic === '50415231') {
    const columns = await options.parquetColumns(path)
    const byField = new Map(columns.map((column) => [fieldName(column), column]))
    const known = [...byField.keys()].filter((name) => VPC_FIELDS.has(name))
    if (!byField.has('interface-id') || !byField.has('srcaddr') || !byField.has('bytes')) return undefined
    return {columns: byField, container: 'parquet', fields: known, header: false, kind: 'vpc-parquet'}
  }
  let text: string
  let container: FlowContainer = 'text'
  if (magic.startsWith('1f8b')) {
    try {
      text = await gunzipHead(path)
    } catch {
      return undefined
    }
    container = 'gzip'
  } else {
    if (looksBinary(raw)) return undefined
    text = raw.toString('utf8')
  }
  const firstLine = (text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? '').trim()
  if (isHeaderLine(firstLine)) return {container, fields: firstLine.split(' '), header: true, kind: 'vpc-text'}
  if (firstLine.startsWith('{') && /"message"\s*:/.test(firstLine)) {
    return {
      container,
      fields: options.format ?? cloudWatchFormat(path, firstLine),
      header: false,
      kind: 'vpc-cloudwatch',
    }
  }
  if (options.format?.length === firstLine.split(' ').length) {
    return {container, fields: options.format, header: false, kind: 'vpc-text'}
  }
  if (isDefaultRecord(firstLine)) return {container, fields: DEFAULT_VPC_FORMAT, header: false, kind: 'vpc-text'}
  // Custom-format records without their header line (CloudWatch Logs, Firehose): say what is missing
  // rather than let them pass for an unknown billing export.
  if (looksLikeFlowRecord(firstLine)) {
    const fields = firstLine.split(/\s+/).length
    // The field count is billwatch's reading, not the file's content: it goes in the message, not `got`.
    throw new BillwatchError(
      'E_HEADER',
      `VPC Flow Log records of ${fields} fields without a header line, not in the default format`,
      {
        expected: options.format
          ? `records of the ${options.format.length} fields --flow-format names`
          : "the header line S3 writes, or the log format given with --flow-format '${version} ${account-id} …'",
        file: path,
        line: 1,
      },
    )
  }
  return undefined
}

/** Space-separated tokens, a version number first, and a VPC resource id among them (eni-…, tgw-…, vpc-…). */
function looksLikeFlowRecord(line: string): boolean {
  const tokens = line.split(/\s+/)
  return (
    tokens.length >= 5 &&
    /^\d{1,2}$/.test(tokens[0] ?? '') &&
    !line.includes(',') &&
    tokens.some((token) => /^(eni|tgw|tgw-attach|vpc|subnet)-[0-9a-z]+$/.test(token))
  )
}

/** Without --flow-format, a CloudWatch Logs event must be a default-format record. */
function cloudWatchFormat(path: string, firstLine: string): string[] {
  let message = ''
  try {
    message = stringAt(JSON.parse(firstLine), 'message') ?? ''
  } catch {
    // Not JSON after all: no default-format record, refused below.
  }
  if (isDefaultRecord(message)) return DEFAULT_VPC_FORMAT
  throw new BillwatchError('E_HEADER', 'CloudWatch Logs events of a custom flow-log format', {
    expected: "the log group's format, given with --flow-format '${version} ${account-id} …'",
    file: path,
    line: 1,
  })
}
