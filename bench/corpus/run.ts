/**
 * bench/corpus: billwatch on public files no one here wrote (docs/corpus.md says where they come
 * from and how to rebuild the folder; they are never committed). Each file goes through the command
 * that should read it, and the invariants a user relies on are checked:
 *
 * - every command: exit 0 with sane figures, or exit 1 with one line on stderr that names the file
 *   (a `Try:` hint may follow) and `{"error": {code, message, file}}` on stdout — no stack trace, no
 *   library's own text, no run of the file's content;
 * - captures (`pcap/`): `billwatch pcap FILE --json` with the native scanner and with the JavaScript
 *   scanner only give the same bytes, exit code and stderr; the figures add up (inbound + outbound +
 *   other packets = packets; captured ≤ wire bytes; the ports' bytes ≤ outbound's; all finite, ≥ 0);
 * - billing exports (`billing/`): `ingest --json`, then `status --json` and `anomalies --json`; the
 *   stored cost (usage lines and other charges apart, per currency) and bytes equal a sum this runner
 *   computes with DuckDB from the published column definitions (CUR: the amortized cost of AWS's Cloud
 *   Intelligence Dashboards; FOCUS: EffectiveCost, else BilledCost), not from billwatch's code;
 * - flow records (`flows/`): `ingest --json`, then `flows --json`; for VPC Flow Logs with a header
 *   (or the default format's 14 fields) egress + ingress + other + rejected bytes equal the sum of the
 *   `bytes` field over the OK records, and the record counts agree.
 *
 * npm run build && npm run build:native && node --import tsx bench/corpus/run.ts [CORPUS] [--only TEXT] [--skip TEXT]
 * [--jobs N] [--failures]
 *
 * CORPUS defaults to ../shared/corpus (beside the repository). Prints a table, one row per file, and
 * a summary per kind; exits 1 when any invariant breaks.
 */
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative, resolve} from 'node:path'

import {DuckDBInstance} from '@duckdb/node-api'

import type {FlowsCommandResult} from '../../commands/flows.js'
import type {PcapCommandResult} from '../../commands/pcap.js'
import type {StatusCommandResult} from '../../commands/status.js'
import type {IngestResult} from '../../src/ingest/index.js'

const ROOT = join(import.meta.dirname, '..', '..')
const CLI = join(ROOT, 'bin', 'run.js')

interface Options {
  corpus: string
  only: string[]
  skip: string[]
  jobs: number
  failures: boolean
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    corpus: resolve(ROOT, '..', 'shared', 'corpus'),
    failures: false,
    jobs: 2,
    only: [],
    skip: [],
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--only') options.only.push(argv[++i] ?? '')
    else if (arg === '--skip') options.skip.push(argv[++i] ?? '')
    else if (arg === '--jobs') options.jobs = Math.max(1, Number(argv[++i]))
    else if (arg === '--failures') options.failures = true
    else options.corpus = resolve(arg)
  }
  return options
}

type Kind = 'billing' | 'flows' | 'pcap'

interface Outcome {
  file: string
  kind: Kind
  verdict: 'accepted' | 'refused'
  figures: string
  broken: string[]
}

interface Run {
  code: null | number
  stdout: string
  stderr: string
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: {...process.env, BILLWATCH_CONTENT_TYPE: '', ...env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      done({code, stderr, stdout})
    })
  })
}

/** Library and runtime text a user should never see: stack frames, error class names, DuckDB's own words. */
const RAW_TEXT =
  /^\s+at |\b(TypeError|RangeError|ReferenceError|SyntaxError|AssertionError|Error:)|Binder Error|Conversion Error|Invalid Input Error|Parser Error|INTERNAL Error|duckdb|\[object Object\]|\bundefined\b|\bNaN\b|ENOENT|EISDIR|\.c line \d+|\.[ch]:\d+/

/**
 * The refusal invariant: exit 1, stderr one `billwatch: …` line naming the file (then only `Try:`
 * hints), a JSON error naming the file, no raw library text, and no long run of the file's text.
 */
function checkRefusal(run: Run, file: string, command: string, content?: string): string[] {
  const broken: string[] = []
  if (run.code !== 1) broken.push(`${command}: exit ${run.code}, expected 0 or 1`)
  const lines = run.stderr.split('\n').filter((line) => line.trim() !== '')
  const [first, ...rest] = lines
  if (first === undefined) broken.push(`${command}: refused with nothing on stderr`)
  else {
    if (!first.startsWith('billwatch: '))
      broken.push(`${command}: stderr does not start with "billwatch: ": ${clip(first)}`)
    if (!first.includes(file) && !first.includes(file.split('/').pop()!))
      broken.push(`${command}: the error does not name the file: ${clip(first)}`)
  }
  const extra = rest.filter((line) => !/^\s+Try: /.test(line))
  if (extra.length > 0) broken.push(`${command}: ${lines.length} lines on stderr, expected one: ${clip(extra[0]!)}`)
  // Paths are the user's own words (a store named x.duckdb is not DuckDB's text).
  for (const line of lines)
    if (RAW_TEXT.test(line.replaceAll(/(^|[\s"'(])\/[^\s"':]+/g, '$1PATH')))
      broken.push(`${command}: raw text in the error: ${clip(line)}`)
  try {
    const error = (JSON.parse(run.stdout) as {error?: {code?: string; message?: string; file?: string}}).error
    if (!error?.code || !error.message) broken.push(`${command}: --json stdout has no {"error": {code, message}}`)
  } catch {
    broken.push(`${command}: --json stdout is not JSON on a refusal`)
  }
  if (content !== undefined && first !== undefined) {
    // A short `got "…"` (the value or header that was refused, clipped) is the one quote allowed.
    const got = /got "(.*)"$/.exec(first)?.[1] ?? ''
    if (got.length > 80) broken.push(`${command}: the error quotes ${got.length} characters of the file`)
    const leak = longestSharedRun(first.replace(file, '').replace(/got ".*"$/, ''), content)
    if (leak.length >= 40) broken.push(`${command}: the error quotes the file: ${clip(leak)}`)
  }
  return broken
}

/** The longest run of the message (40+ characters) that also appears in the file's text. */
function longestSharedRun(message: string, content: string): string {
  let best = ''
  for (let i = 0; i + 40 <= message.length; i++) {
    let length = 40
    while (i + length <= message.length && content.includes(message.slice(i, i + length))) length++
    if (length - 1 >= 40 && length - 1 > best.length && content.includes(message.slice(i, i + length - 1)))
      best = message.slice(i, i + length - 1)
  }
  return best
}

const clip = (text: string) => (text.length > 140 ? `${text.slice(0, 137)}…` : text)

/** Every number in a JSON value is finite; keys that are counts or byte sums are ≥ 0. */
function checkNumbers(value: unknown, path: string, broken: string[]): void {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) broken.push(`${path} is ${value}`)
    else if (
      /(bytes|packets|Bytes|Packets|records|Records|clients|Clients|requests|Requests|responses|kods|days|lineItems|durationSec)$/.test(
        path,
      ) &&
      value < 0
    )
      broken.push(`${path} = ${value} < 0`)
  } else if (Array.isArray(value)) value.forEach((item, i) => checkNumbers(item, `${path}[${i}]`, broken))
  else if (value && typeof value === 'object')
    for (const [key, item] of Object.entries(value)) checkNumbers(item, path ? `${path}.${key}` : key, broken)
}

/**
 * The command's --json output as its exported result type (the contract test/contract checks against the
 * schemas); what the runner checks here is the arithmetic between its fields, and checkNumbers every number.
 */
function parseJson<T>(run: Run, command: string, broken: string[]): T | undefined {
  try {
    return JSON.parse(run.stdout) as T
  } catch {
    broken.push(`${command}: exit 0 but stdout is not JSON`)
    return undefined
  }
}

// ---------------------------------------------------------------- captures

interface Traffic {
  packets: number
  bytes: number
  capturedBytes: number
  billableBytes?: number
}

async function checkCapture(file: string, work: string): Promise<Outcome> {
  const run = (native: '0' | '1') =>
    cli(['pcap', file, '--json', '--db', join(work, `pcap-${native}.duckdb`)], {BILLWATCH_PCAP_NATIVE: native})
  const native = await run('1')
  const javascript = await run('0')
  const broken: string[] = []
  if (native.code !== javascript.code) broken.push(`native exit ${native.code}, JavaScript exit ${javascript.code}`)
  else if (native.stdout !== javascript.stdout)
    broken.push(`native and JavaScript reports differ${firstDifference(native.stdout, javascript.stdout)}`)
  else if (native.stderr !== javascript.stderr) broken.push('native and JavaScript stderr differ')
  if (native.code !== 0) {
    broken.push(...checkRefusal(native, file, 'pcap'))
    return {
      broken,
      figures: clip(native.stderr.split('\n')[0]?.replace(`billwatch: ${file}`, '') ?? ''),
      file,
      kind: 'pcap',
      verdict: 'refused',
    }
  }
  const report = parseJson<PcapCommandResult>(native, 'pcap', broken)
  if (!report) return {broken, figures: '', file, kind: 'pcap', verdict: 'accepted'}
  if (native.stderr.trim() !== '') broken.push(`pcap --json wrote to stderr: ${clip(native.stderr.trim())}`)
  checkNumbers(report, '', broken)
  const inbound = report.inbound as Traffic
  const outbound = report.outbound as Traffic
  // Every packet is IPv4, IPv6 or not IP; every IP packet is the host's inbound, outbound, or other hosts'.
  const ip = report.ipv4Packets + report.ipv6Packets
  if (ip + report.nonIpPackets !== report.packets)
    broken.push(
      `IPv4 ${report.ipv4Packets} + IPv6 ${report.ipv6Packets} + non-IP ${report.nonIpPackets} packets ≠ ${report.packets}`,
    )
  if (inbound.packets + outbound.packets + report.otherPackets !== ip) {
    broken.push(
      `inbound ${inbound.packets} + outbound ${outbound.packets} + other ${report.otherPackets} packets ≠ ${ip} IP packets`,
    )
  }
  for (const [name, t] of [
    ['all', report],
    ['inbound', inbound],
    ['outbound', outbound],
    ['ntp.outbound', report.ntp?.outbound],
  ] as [string, Traffic | undefined][]) {
    if (!t) continue
    if (t.capturedBytes > t.bytes) broken.push(`${name}: captured ${t.capturedBytes} > wire ${t.bytes} bytes`)
  }
  const ports = (report.byPort ?? []) as Traffic[]
  const portBytes = ports.reduce((sum, p) => sum + p.bytes, 0)
  const portPackets = ports.reduce((sum, p) => sum + p.packets, 0)
  if (portBytes > outbound.bytes || portPackets > outbound.packets)
    broken.push(
      `the ports' ${portPackets} packets / ${portBytes} bytes exceed outbound ${outbound.packets} / ${outbound.bytes}`,
    )
  if (report.ntp && report.ntp.outbound.bytes > outbound.bytes)
    broken.push(`NTP outbound ${report.ntp.outbound.bytes} > outbound ${outbound.bytes} bytes`)
  if (report.start && report.end && report.start > report.end)
    broken.push(`start ${report.start} after end ${report.end}`)
  const figures = `${report.format} ${(report.linkTypes ?? []).join('+') || '-'}: ${report.packets} pkts (v4 ${report.ipv4Packets}, v6 ${report.ipv6Packets}, frag ${report.fragments}), out ${outbound.bytes} B, ntp ${report.ntp?.requests ?? 0} req`
  return {broken, figures, file, kind: 'pcap', verdict: 'accepted'}
}

function firstDifference(a: string, b: string): string {
  let i = 0
  while (i < a.length && a[i] === b[i]) i++
  const line = a.slice(0, i).split('\n').length
  return ` at line ${line}: ${clip(JSON.stringify(a.split('\n')[line - 1] ?? ''))} vs ${clip(JSON.stringify(b.split('\n')[line - 1] ?? ''))}`
}

// ---------------------------------------------------------------- billing exports

let duck: Awaited<ReturnType<typeof DuckDBInstance.create>> | undefined

async function query(sql: string): Promise<Record<string, unknown>[]> {
  duck ??= await DuckDBInstance.create(':memory:', {threads: '1'})
  const connection = await duck.connect()
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS()
  } finally {
    connection.closeSync()
  }
}

const lit = (text: string) => `'${text.replaceAll("'", "''")}'`
const col = (name: string) => `"${name.replaceAll('"', '""')}"`

interface Sums {
  usage: Map<string, number>
  other: Map<string, number>
  bytes: null | number
  lines: number
  split: boolean
}

/**
 * The file's own totals, from the published column definitions: per currency, the cost of the usage
 * lines and of every other line, and (CUR) the bytes of data-transfer usage. Undefined when the file
 * is neither CUR nor FOCUS.
 */
async function independentSums(file: string): Promise<Sums | undefined> {
  const source = `read_csv(${lit(file)}, header = true, all_varchar = true, quote = '"', escape = '"', delim = ',', nullstr = ['NULL', 'null', ''])`
  const header = (await query(`SELECT column_name FROM (DESCRIBE SELECT * FROM ${source})`)).map((row) =>
    String(row.column_name),
  )
  const has = (name: string) => header.includes(name)
  const num = (name: string) => (has(name) ? `TRY_CAST(${col(name)} AS DOUBLE)` : 'NULL::DOUBLE')
  const text = (name: string) => (has(name) ? `coalesce(${col(name)}, '')` : "''")
  let usage: string
  let cost: string
  let currency: string
  let bytes = 'NULL::DOUBLE'
  if (has('lineItem/LineItemType') || has('line_item_line_item_type')) {
    // CUR 1.0 (category/Name) or 2.0 (snake_case): AWS's published amortized cost (Cloud Intelligence Dashboards).
    const c = (cur1: string, cur2: string) => (has(cur1) ? cur1 : cur2)
    const type = text(c('lineItem/LineItemType', 'line_item_line_item_type'))
    const unblended = has(c('lineItem/NetUnblendedCost', 'line_item_net_unblended_cost'))
      ? `coalesce(${num(c('lineItem/NetUnblendedCost', 'line_item_net_unblended_cost'))}, ${num(c('lineItem/UnblendedCost', 'line_item_unblended_cost'))})`
      : num(c('lineItem/UnblendedCost', 'line_item_unblended_cost'))
    const or = (value: string) => `coalesce(${value}, ${unblended})`
    cost = `CASE
      WHEN ${type} = 'Fee' AND ${text(c('reservation/ReservationARN', 'reservation_reservation_a_r_n'))} <> '' AND ${has(c('reservation/ReservationARN', 'reservation_reservation_a_r_n'))} THEN 0
      WHEN ${type} IN ('SavingsPlanNegation', 'SavingsPlanUpfrontFee') THEN 0
      WHEN ${type} = 'SavingsPlanCoveredUsage' THEN ${or(num(c('savingsPlan/SavingsPlanEffectiveCost', 'savings_plan_savings_plan_effective_cost')))}
      WHEN ${type} = 'DiscountedUsage' THEN ${or(num(c('reservation/EffectiveCost', 'reservation_effective_cost')))}
      WHEN ${type} = 'SavingsPlanRecurringFee' THEN ${or(`${num(c('savingsPlan/TotalCommitmentToDate', 'savings_plan_total_commitment_to_date'))} - ${num(c('savingsPlan/UsedCommitment', 'savings_plan_used_commitment'))}`)}
      WHEN ${type} = 'RIFee' THEN ${or(`${num(c('reservation/UnusedAmortizedUpfrontFeeForBillingPeriod', 'reservation_unused_amortized_upfront_fee_for_billing_period'))} + ${num(c('reservation/UnusedRecurringFee', 'reservation_unused_recurring_fee'))}`)}
      ELSE ${unblended} END`
    usage = `${type} IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')`
    currency = text(c('lineItem/CurrencyCode', 'line_item_currency_code'))
    // AWS's data transfer: usage types ending in Bytes, priced per GB of 2^30 bytes.
    const unit = text(c('pricing/unit', 'pricing_unit'))
    bytes = `CASE WHEN ${usage} AND ${text(c('lineItem/UsageType', 'line_item_usage_type'))} LIKE '%Bytes' AND ${unit} IN ('GB', 'GiB') THEN ${num(c('lineItem/UsageAmount', 'line_item_usage_amount'))} * 1073741824 END`
  } else if (has('ChargeCategory') && (has('BilledCost') || has('EffectiveCost'))) {
    // FOCUS: EffectiveCost (amortized), else BilledCost; usage lines are ChargeCategory Usage that are not corrections.
    cost = `coalesce(${num('EffectiveCost')}, ${num('BilledCost')})`
    usage = `lower(${text('ChargeCategory')}) = 'usage' AND lower(${text('ChargeClass')}) <> 'correction'`
    currency = text('BillingCurrency')
  } else return undefined
  const rows = await query(
    `SELECT ${currency} AS currency, (${usage}) AS usage, sum(${cost}) AS cost, sum(${bytes}) AS bytes, count(*) AS lines FROM ${source} GROUP BY ALL`,
  )
  // CUR names each line's type; FOCUS leaves a reversal of usage to the sign of its quantity, so only the bill's total
  // is compared.
  const sums: Sums = {bytes: null, lines: 0, other: new Map(), split: !has('ChargeCategory'), usage: new Map()}
  for (const row of rows) {
    const into = row.usage ? sums.usage : sums.other
    // The currency column is text (or NULL) in every export.
    const key = typeof row.currency === 'string' ? row.currency : ''
    into.set(key, (into.get(key) ?? 0) + Number(row.cost ?? 0))
    if (row.bytes !== null) sums.bytes = (sums.bytes ?? 0) + Number(row.bytes)
    sums.lines += Number(row.lines)
  }
  return sums
}

/** Equal to a cent in a million: the store sums per day and key, in another order. */
const near = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b))

async function checkBilling(file: string, work: string): Promise<Outcome> {
  const db = join(work, 'store.duckdb')
  const broken: string[] = []
  const ingest = await cli(['ingest', file, '--db', db, '--json'])
  const content = readFileSync(file, 'utf8')
  if (ingest.code !== 0) {
    broken.push(...checkRefusal(ingest, file, 'ingest', content))
    const after = await cli(['status', '--db', db, '--json'])
    const status = after.code === 0 ? parseJson<StatusCommandResult>(after, 'status', broken) : undefined
    if (status && status.sources.length > 0) broken.push('a refused ingest left a source in the store')
    return {
      broken,
      figures: clip(ingest.stderr.split('\n')[0]?.replace(`billwatch: ${file}`, '') ?? ''),
      file,
      kind: 'billing',
      verdict: 'refused',
    }
  }
  const result = parseJson<IngestResult>(ingest, 'ingest', broken)
  const entry = result?.files[0]
  const status = await cli(['status', '--db', db, '--json'])
  if (status.code !== 0)
    return {
      broken: [...broken, ...checkRefusal(status, db, 'status'), 'status failed after a good ingest'],
      figures: '',
      file,
      kind: 'billing',
      verdict: 'accepted',
    }
  const stored = parseJson<StatusCommandResult>(status, 'status', broken)
  checkNumbers(stored, 'status', broken)
  const anomalies = await cli(['anomalies', '--db', db, '--json'])
  if (anomalies.code !== 0 && anomalies.code !== 1) broken.push(`anomalies: exit ${anomalies.code}`)
  if (anomalies.code === 1)
    broken.push(...checkRefusal(anomalies, '', 'anomalies').filter((b) => !b.includes('does not name the file')))
  if (anomalies.code === 0) checkNumbers(parseJson<unknown>(anomalies, 'anomalies', broken), 'anomalies', broken)
  // Re-ingesting the same file is a no-op.
  const again = await cli(['ingest', file, '--db', db, '--json'])
  const status2 = await cli(['status', '--db', db, '--json'])
  if (
    again.code !== 0 ||
    status2.stdout.replace(/"ingestedAt": "[^"]*"/g, '') !== status.stdout.replace(/"ingestedAt": "[^"]*"/g, '')
  )
    broken.push('re-ingesting the same file changed the store')

  const sums = await independentSums(file)
  const money = stored?.totals.costs ?? []
  const charges = stored?.charges ?? []
  let figures = `${entry?.format ?? '?'}: ${entry?.lineItems ?? '?'} lines, ${stored?.days ?? 0} days, cost ${money.map((m) => `${m.cost.toFixed(4)} ${m.currency ?? ''}`).join(' + ') || '0'}, charges ${charges.reduce((s, c) => s + c.cost, 0).toFixed(4)}`
  if (!sums) {
    broken.push('accepted a file the runner cannot read as CUR or FOCUS')
    return {broken, figures, file, kind: 'billing', verdict: 'accepted'}
  }
  if (entry?.lineItems !== sums.lines)
    broken.push(`ingest says ${entry?.lineItems} line items, the file has ${sums.lines}`)
  const total = new Map(sums.usage)
  for (const [currency, cost] of sums.other) total.set(currency, (total.get(currency) ?? 0) + cost)
  const comparisons = sums.split
    ? [
        ['usage cost', sums.usage, money],
        ['other charges', sums.other, charges],
      ]
    : [['the bill (usage and other charges)', total, [...money, ...charges]]]
  for (const [label, expected, actual] of comparisons as [
    string,
    Map<string, number>,
    {cost: number; currency: null | string}[],
  ][]) {
    const got = new Map<string, number>()
    for (const m of actual) got.set(m.currency ?? '', (got.get(m.currency ?? '') ?? 0) + m.cost)
    for (const currency of new Set([...expected.keys(), ...got.keys()])) {
      const want = expected.get(currency) ?? 0
      const have = got.get(currency) ?? 0
      if (!near(want, have))
        broken.push(`${label} ${currency || '(no currency)'}: billwatch ${have}, the file's columns sum to ${want}`)
    }
  }
  if (sums.bytes !== null && !near(sums.bytes, stored?.totals.amountBytes ?? 0))
    broken.push(
      `data transfer: billwatch ${stored?.totals.amountBytes} bytes, the file's GB lines sum to ${sums.bytes}`,
    )
  figures += ` (independent: ${[...sums.usage.values()].reduce((a, b) => a + b, 0).toFixed(4)} + ${[...sums.other.values()].reduce((a, b) => a + b, 0).toFixed(4)}${sums.bytes === null ? '' : `, ${sums.bytes.toFixed(0)} B`})`
  return {broken, figures, file, kind: 'billing', verdict: 'accepted'}
}

// ---------------------------------------------------------------- flow records

/** Default-format (v2) fields, the order S3 writes without a header. */
const DEFAULT_FIELDS =
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status'.split(
    ' ',
  )

function flowSums(content: string): undefined | {bytes: number; records: number; nodata: number; skipdata: number} {
  const lines = content.split('\n').filter((line) => line.trim() !== '')
  if (lines.length === 0) return undefined
  let fields = lines[0]!.trim().split(/\s+/)
  let body = lines
  if (fields.includes('bytes') && fields.includes('log-status')) body = lines.slice(1)
  else if (fields.length === DEFAULT_FIELDS.length && /^\d+$/.test(fields[0]!)) fields = DEFAULT_FIELDS
  else return undefined
  const at = (name: string) => fields.indexOf(name)
  const sums = {bytes: 0, nodata: 0, records: body.length, skipdata: 0}
  for (const line of body) {
    const values = line.trim().split(/\s+/)
    const status = values[at('log-status')]
    if (status === 'NODATA') sums.nodata++
    else if (status === 'SKIPDATA') sums.skipdata++
    else sums.bytes += Number(values[at('bytes')])
  }
  return sums
}

/** nfcapd: the file's own statistics record, as nfdump prints it (`nfdump -r FILE -I`). */
async function nfdumpSums(
  file: string,
): Promise<undefined | {bytes: number; records: number; nodata: number; skipdata: number}> {
  const run = await new Promise<string>((done) => {
    const child = spawn('nfdump', ['-r', file, '-I'], {stdio: ['ignore', 'pipe', 'ignore']})
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')))
    child.on('error', () => done(''))
    child.on('close', () => done(out))
  })
  const value = (name: string) => Number(new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(run)?.[1] ?? Number.NaN)
  const bytes = value('Bytes')
  const records = value('Flows')
  return Number.isFinite(bytes) && Number.isFinite(records) ? {bytes, nodata: 0, records, skipdata: 0} : undefined
}

async function checkFlows(file: string, work: string): Promise<Outcome> {
  const db = join(work, 'store.duckdb')
  const broken: string[] = []
  const ingest = await cli(['ingest', file, '--db', db, '--json'])
  const binary = !/\.(log|txt|csv)$/.test(file)
  const content = binary ? undefined : readFileSync(file, 'utf8')
  if (ingest.code !== 0) {
    broken.push(...checkRefusal(ingest, file, 'ingest', content))
    return {
      broken,
      figures: clip(ingest.stderr.split('\n')[0]?.replace(`billwatch: ${file}`, '') ?? ''),
      file,
      kind: 'flows',
      verdict: 'refused',
    }
  }
  const result = parseJson<IngestResult>(ingest, 'ingest', broken)
  const entry = result?.flows[0]
  const flows = await cli(['flows', '--db', db, '--json'])
  if (flows.code !== 0) {
    broken.push(...checkRefusal(flows, '', 'flows').filter((b) => !b.includes('does not name the file')))
    return {
      broken,
      figures: `${entry?.format}: ${entry?.records} records; flows refused: ${clip(flows.stderr.split('\n')[0] ?? '')}`,
      file,
      kind: 'flows',
      verdict: 'accepted',
    }
  }
  const report = parseJson<FlowsCommandResult>(flows, 'flows', broken)
  if (!report) return {broken, figures: '', file, kind: 'flows', verdict: 'accepted'}
  checkNumbers(report, 'flows', broken)
  const counted =
    (report.egressBytes ?? 0) + (report.ingressBytes ?? 0) + (report.otherBytes ?? 0) + (report.rejectedBytes ?? 0)
  const sums =
    content === undefined ? (entry?.format === 'nfcapd' ? await nfdumpSums(file) : undefined) : flowSums(content)
  const interfaces = (entry?.interfaces ?? []).length
  if (sums) {
    if (entry?.records !== sums.records)
      broken.push(`ingest says ${entry?.records} records, the file has ${sums.records}`)
    if (entry?.nodataRecords !== sums.nodata || entry?.skipdataRecords !== sums.skipdata)
      broken.push(
        `NODATA/SKIPDATA ${entry?.nodataRecords}/${entry?.skipdataRecords}, the file has ${sums.nodata}/${sums.skipdata}`,
      )
    // One interface's report covers the whole file only when the file holds one interface.
    if (interfaces === 1 && counted !== sums.bytes)
      broken.push(`egress + ingress + other + rejected = ${counted} bytes, the file's OK records hold ${sums.bytes}`)
  }
  const figures = `${entry?.format}: ${entry?.records} records, ${interfaces} interface(s), out ${report.egressBytes} / in ${report.ingressBytes} / other ${report.otherBytes} / rejected ${report.rejectedBytes} B${sums ? ` (file: ${sums.bytes} B)` : ''}`
  return {broken, figures, file, kind: 'flows', verdict: 'accepted'}
}

// ---------------------------------------------------------------- driver

function listFiles(dir: string): string[] {
  const files: string[] = []
  for (const entry of readdirSync(dir, {withFileTypes: true}).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) files.push(...listFiles(path))
    else if (entry.isFile() && entry.name !== 'SOURCE.md') files.push(path)
  }
  return files
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  if (!existsSync(options.corpus)) throw new Error(`no corpus at ${options.corpus}: see docs/corpus.md`)
  if (!existsSync(join(ROOT, 'dist', 'commands', 'pcap.js')))
    throw new Error('run `npm run build` first: the runner drives the built CLI')
  const files = listFiles(options.corpus)
    .map((path) => ({kind: relative(options.corpus, path).split('/')[0] as Kind, path}))
    .filter(({kind}) => kind === 'pcap' || kind === 'billing' || kind === 'flows')
    .filter(({path}) => options.only.length === 0 || options.only.some((text) => path.includes(text)))
    .filter(({path}) => !options.skip.some((text) => path.includes(text)))
  const outcomes: Outcome[] = []
  let next = 0
  const worker = async () => {
    while (next < files.length) {
      const {kind, path} = files[next++] as {kind: Kind; path: string}
      const work = mkdtempSync(join(tmpdir(), 'bw-corpus-'))
      try {
        const check = kind === 'pcap' ? checkCapture : kind === 'billing' ? checkBilling : checkFlows
        const outcome = await check(path, work)
        outcome.file = relative(options.corpus, path)
        outcomes.push(outcome)
        if (!options.failures || outcome.broken.length > 0) printRow(outcome)
      } finally {
        rmSync(work, {force: true, recursive: true})
      }
    }
  }
  process.stdout.write('| kind | file | verdict | key figures | checks |\n| --- | --- | --- | --- | --- |\n')
  await Promise.all(Array.from({length: options.jobs}, worker))
  process.stdout.write('\n| kind | files | accepted | refused | broken invariants |\n| --- | --- | --- | --- | --- |\n')
  for (const kind of ['pcap', 'billing', 'flows'] as Kind[]) {
    const of = outcomes.filter((o) => o.kind === kind)
    if (of.length === 0) continue
    const count = (test: (o: Outcome) => boolean) => of.filter(test).length
    process.stdout.write(
      `| ${kind} | ${of.length} | ${count((o) => o.verdict === 'accepted')} | ${count((o) => o.verdict === 'refused')} | ${count((o) => o.broken.length > 0)} files |\n`,
    )
  }
  const failed = outcomes.filter((o) => o.broken.length > 0).length
  process.stdout.write(
    `\n${outcomes.length} files, ${failed} with a broken invariant (corpus ${options.corpus}, ${sizeOf(files.map((f) => f.path))})\n`,
  )
  process.exitCode = failed > 0 ? 1 : 0
}

function printRow(o: Outcome): void {
  const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ')
  process.stdout.write(
    `| ${o.kind} | ${cell(o.file)} | ${o.verdict} | ${cell(o.figures)} | ${o.broken.length === 0 ? 'ok' : cell(o.broken.join('; '))} |\n`,
  )
}

function sizeOf(paths: string[]): string {
  return `${(paths.reduce((sum, path) => sum + statSync(path).size, 0) / 1e6).toFixed(1)} MB`
}

await main()
