import {existsSync, readdirSync, realpathSync, statSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {basename, dirname, isAbsolute, join, resolve, sep} from 'node:path'

import type {ProgressCallback} from '../core/progress.js'
import {arrayAt, field} from '../core/json.js'
import {BillwatchError} from '../errors.js'
import {type FlowIngested, type FlowIngestOptions, ingestFlowFile, isFlowLogFolder} from '../flows/ingest.js'
import {sniffFlowFile} from '../flows/sniff.js'
import type {Store} from '../store/index.js'
import {
  appendRows,
  commitStaged,
  createStaging,
  dropStagedRestatedBy,
  findSourceByHash,
  nameStagedAccount,
  stagedOverlap,
} from '../store/usage-import.js'
import {parquetColumns, stageColumnar} from '../store/usage-scan.js'
import {parseCostExplorerCsv} from './cost-explorer-csv.js'
import {isRealDate} from './csv-text.js'
import {combineFingerprints, type Fingerprint, fingerprintFile} from './fingerprint.js'
import {type Container, type FormatKind, sniffFile} from './sniff.js'
import {stageUsageReport} from './usage-report.js'
import {expectedDay, usageProblem} from './validate.js'
import type {Family, SourceMeta} from './rows.js'
import {extractZip} from './zip.js'
import {fileKind, jsonErrorPosition, readInputFile, SIDE_INPUT_MAX_BYTES} from '../util/files.js'

export {FORMAT_KINDS, type FormatKind} from './sniff.js'

export interface IngestOptions {
  /** Overrides content detection of the export kind (--format). */
  format?: FormatKind
  /** The account of lines that name none (a usage report, a Cost Explorer CSV); default: the file's own name. */
  account?: string
  onProgress?: (file: string) => ProgressCallback
  /** How to read flow records (VPC Flow Logs, nfcapd files) found among the files. */
  flows?: FlowIngestOptions
}

export interface IngestedFile {
  path: string
  format: FormatKind
  container: Container
  /** 'ingested', or 'unchanged' when the same content was ingested before (a no-op). */
  status: 'ingested' | 'unchanged'
  sourceId: number
  contentHash: string
  lineItems: number
  /** Daily rows stored (after rolling hours up to days). */
  rows: number
  days: number
  firstDay: null | string
  lastDay: null | string
  billingPeriod: null | string
  /** Rows of older exports of the same period that this one replaced. */
  replacedRows: number
  /** Files of this call that restate the same usage and are older: this file's figures replace theirs. */
  replaces: string[]
  /** The newer file of this call that restates this one's usage (its rows are not stored), or null. */
  replacedBy: null | string
}

export interface IngestResult {
  store: string
  files: IngestedFile[]
  /** Flow-record files (VPC Flow Logs, NetFlow/IPFIX from nfcapd), detected from content like the exports. */
  flows: FlowIngested[]
  /** Files found in a named directory that are not billing exports (captures, scripts …), and subdirectories. */
  skipped: {path: string; reason: string}[]
}

const FAMILY: Record<FormatKind, Family> = {
  'cost-explorer-csv': 'cost-explorer-csv',
  cur1: 'cur',
  'cur1-manifest': 'cur',
  cur2: 'cur',
  dbr: 'dbr',
  focus: 'focus',
  'usage-report': 'usage-report',
}

/**
 * Ingests exports into the store in ONE transaction: any bad file rolls back every file of the
 * call, so a failed ingest leaves the store exactly as it was.
 */
export async function ingestFiles(store: Store, paths: string[], options: IngestOptions = {}): Promise<IngestResult> {
  if (paths.length === 0)
    throw new BillwatchError('E_USAGE', 'no files given', {suggestions: ['billwatch ingest samples/billing/*']})
  const skipped: IngestResult['skipped'] = []
  const flows: FlowIngested[] = []
  const files = await store.transaction(async () => {
    const results: IngestedFile[] = []
    const call: CallState = {batch: [], manifestParts: new Map()}
    for (const {path, inDirectory} of expandPaths(paths, skipped)) {
      const readBy = call.manifestParts.get(realPath(path))
      if (readBy) {
        skipped.push({path, reason: `a report part of ${readBy}, read through it`})
        continue
      }
      let result: IngestedFile
      try {
        const flow =
          options.format === undefined
            ? await sniffFlowFile(path, {
                ...(options.flows?.format ? {format: options.flows.format} : {}),
                parquetColumns: (p) => parquetColumns(store, p),
              })
            : undefined
        if (flow) {
          flows.push(await ingestFlowFile(store, path, flow, options.flows))
          continue
        }
        result = await ingestOne(store, path, options, call)
      } catch (error) {
        // A file named on the command line must be an export; one found in a named directory may be anything.
        if (!inDirectory || !isNotAnExport(error)) throw error
        skipped.push({path, reason: skipReason(error as BillwatchError, path)})
        continue
      }
      for (const older of result.replaces) {
        const replaced = results.find((r) => r.path === older)
        if (replaced) replaced.replacedBy = path
      }
      results.push(result)
    }
    return results
  })
  return {files, flows, skipped, store: store.path}
}

/** What one call has ingested so far: its sources (parts of one export, or restatements), and the manifests' parts. */
interface CallState {
  batch: BatchSource[]
  /** Real path of each report part a manifest of this call read → that manifest. */
  manifestParts: Map<string, string>
}

interface BatchSource {
  sourceId: number
  path: string
  family: Family
  scope: SourceMeta['scope']
  billingPeriod: null | string
  /** When the file was last written (`aws s3 sync` sets it to the object's delivery time). */
  modifiedMs: number
}

function realPath(path: string): string {
  try {
    return realpathSync(path)
  } catch {
    return path
  }
}

/** Named files as given; a named directory stands for the files directly in it, in name order. */
interface NamedPath {
  path: string
  inDirectory: boolean
}

function expandPaths(paths: string[], skipped: IngestResult['skipped']): NamedPath[] {
  const named = paths.flatMap((given): NamedPath[] => {
    // resolve('') is the current folder: an empty argument (an unset shell variable) is a mistake.
    if (given.trim() === '')
      throw new BillwatchError('E_USAGE', 'an empty file name', {expected: 'a file or folder', field: 'FILE'})
    const path = resolve(given)
    if (!existsSync(path) || !statSync(path).isDirectory()) return [{inDirectory: false, path}]
    // Manifests first, so the report parts beside them are read through them, never twice.
    const manifestFirst = (name: string) => (name.toLowerCase().endsWith('.json') ? 0 : 1)
    const entries = readdirSync(path, {withFileTypes: true}).sort(
      (a, b) => manifestFirst(a.name) - manifestFirst(b.name) || a.name.localeCompare(b.name),
    )
    if (entries.length === 0)
      throw new BillwatchError('E_EMPTY', 'an empty folder', {expected: 'billing exports in it', file: path})
    return entries.flatMap((entry): NamedPath[] => {
      const child = join(path, entry.name)
      // A link to a file counts as the file; pipes, devices and sockets are never read (they may never end).
      const stat = entry.isSymbolicLink() ? statSync(child, {throwIfNoEntry: false}) : undefined
      if (entry.isFile() || stat?.isFile()) return [{inDirectory: true, path: child}]
      // Flow logs as S3 delivers them: a folder per account, region and day.
      if (entry.isDirectory() && isFlowLogFolder(child))
        return expandPaths([child], skipped).map((p) => ({...p, inDirectory: true}))
      const kind =
        entry.isDirectory() || stat?.isDirectory()
          ? 'a directory (not searched further)'
          : stat
            ? `${fileKind(stat)}, not a regular file`
            : entry.isSymbolicLink()
              ? 'a broken symbolic link'
              : 'not a regular file'
      skipped.push({path: child, reason: kind})
      return []
    })
  })
  return named
}

function skipReason(error: BillwatchError, path: string): string {
  if (error.code === 'E_HEADER') return 'not a billing export (a header billwatch does not know)'
  // The message leads with the file (and line), already named by the caller.
  return error.message.startsWith(path) ? error.message.slice(path.length).replace(/^(:\d+)?: /, '') : error.message
}

function isNotAnExport(error: unknown): boolean {
  return (
    error instanceof BillwatchError &&
    (error.code === 'E_FORMAT' || error.code === 'E_EMPTY' || (error.code === 'E_HEADER' && error.field === undefined))
  )
}

async function ingestOne(store: Store, path: string, options: IngestOptions, call: CallState): Promise<IngestedFile> {
  const sniffed = await sniffFile(path, (p) => parquetColumns(store, p), options.format)
  const progress = options.onProgress?.(path)
  const withProgress = progress ? {onProgress: progress} : {}
  let parts: Part[]
  let manifestPeriod: undefined | {start: string; end: string}
  let hashing: Promise<Fingerprint>
  if (sniffed.kind === 'cur1-manifest') {
    const manifest = readManifest(path)
    manifestPeriod = manifest.period
    parts = []
    const hashes = [await fingerprintFile(path)]
    const seen = new Set<string>()
    for (const [i, part] of manifest.parts.entries()) {
      let partSniff
      try {
        partSniff = await sniffFile(part, (p) => parquetColumns(store, p))
      } catch (error) {
        // Never what a part holds: only that it is not a report part.
        // A part that is not a regular file, or cannot be opened, is said as such (that names no content).
        if (error instanceof BillwatchError && error.code === 'E_NOT_FOUND' && error.file === part) throw error
        if (error instanceof BillwatchError && error.code !== 'E_TRUNCATED')
          throw new BillwatchError('E_FORMAT', `report part ${i + 1} (${basename(part)}) is not a CUR export`, {
            field: 'reportKeys',
            file: path,
            jsonKey: true,
          })
        throw error
      }
      if (partSniff.kind !== 'cur1' && partSniff.kind !== 'cur2') {
        throw new BillwatchError('E_FORMAT', `report part ${i + 1} (${basename(part)}) is ${partSniff.kind}`, {
          expected: 'CUR line items',
          field: 'reportKeys',
          file: path,
          jsonKey: true,
        })
      }
      const fingerprint = await fingerprintFile(part, {gzip: partSniff.container === 'csv.gz', ...withProgress})
      // A part listed twice, or two copies of one part, is read once: a manifest's parts are a set.
      if (seen.has(fingerprint.hash)) continue
      seen.add(fingerprint.hash)
      hashes.push(fingerprint)
      parts.push({columns: partSniff.columns, container: partSniff.container, kind: partSniff.kind, path: part})
      call.manifestParts.set(realPath(part), path)
    }
    hashing = combineFingerprints(hashes)
  } else {
    parts = [{columns: sniffed.columns, container: sniffed.container, kind: sniffed.kind, path}]
    // Hashing runs beside the DuckDB scan, on the CPU DuckDB leaves idle while it waits on I/O:
    // a first ingest pays no extra pass, a re-ingest costs one scan and is then dropped.
    hashing = fingerprintFile(path, {gzip: sniffed.container === 'csv.gz', ...withProgress})
  }

  // A damaged .gz or a gzip bomb found by the hashing stops the scan of the same bytes at once. The
  // handler is attached at once: hashing can fail before the scan starts, and is awaited below.
  let scanning = true
  hashing.catch(() => {
    if (scanning) store.interrupt()
  })
  const meta: SourceMeta = {
    bytes: 0,
    container: sniffed.container,
    contentHash: '',
    family: FAMILY[sniffed.kind],
    format: sniffed.kind,
    lineItems: 0,
    path,
    scope: 'listed',
  }
  // A zipped export is read from a temporary copy of its CSV; errors still name the zip.
  const unzipped = sniffed.container === 'csv.zip' ? await mkdtemp(join(tmpdir(), 'billwatch-zip-')) : undefined
  try {
    // Inside the try: an interrupt from a failed hashing can land on any query, this one included.
    await createStaging(store)
    if (unzipped) {
      const member = join(unzipped, 'export.csv')
      await extractZip(path, member)
      parts = parts.map((part) => ({...part, container: 'csv', readPath: member}))
    }
    await stage(store, sniffed.kind, parts, meta, manifestPeriod)
  } catch (error) {
    scanning = false
    // A truncated .gz can also surface as a malformed last row: the gzip verdict is the truer one.
    await hashing
    throw error
  } finally {
    if (unzipped) await rm(unzipped, {force: true, recursive: true})
  }
  scanning = false
  const {bytes, hash: contentHash} = await hashing
  Object.assign(meta, {bytes, contentHash})
  // The same content again, from an earlier call or earlier in this one (same transaction).
  const previous = await findSourceByHash(store, contentHash)
  if (previous) {
    return {
      billingPeriod: previous.billingPeriod,
      container: sniffed.container,
      contentHash,
      days: previous.days,
      firstDay: previous.firstDay,
      format: sniffed.kind,
      lastDay: previous.lastDay,
      lineItems: previous.lineItems,
      path,
      replacedBy: null,
      replacedRows: 0,
      replaces: [],
      rows: previous.rows,
      sourceId: previous.sourceId,
      status: 'unchanged',
    }
  }

  if (options.account !== undefined) await nameStagedAccount(store, options.account)
  const modifiedMs = statSync(path).mtimeMs
  const restated = await restatementsInCall(store, meta, call.batch, modifiedMs)
  // A DuckDB scan (CUR, FOCUS, the usage report) already rolled its file up to one row per daily key.
  const scanned = sniffed.kind !== 'cost-explorer-csv'
  const protectedIds = call.batch.filter((b) => !restated.replaces.includes(b)).map((b) => b.sourceId)
  // A manifest's parts may repeat keys.
  const outcome = await commitStaged(store, meta, protectedIds, {daily: scanned && parts.length === 1})
  call.batch.push({
    billingPeriod: meta.billingPeriod ?? null,
    family: meta.family,
    modifiedMs,
    path,
    scope: meta.scope,
    sourceId: outcome.sourceId,
  })
  return {
    billingPeriod: meta.billingPeriod ?? null,
    container: sniffed.container,
    contentHash,
    days: outcome.days,
    firstDay: outcome.firstDay,
    format: sniffed.kind,
    lastDay: outcome.lastDay,
    lineItems: meta.lineItems,
    path,
    replacedBy: restated.replacedBy?.path ?? null,
    replacedRows: outcome.replacedRows,
    replaces: restated.replaces.map((b) => b.path),
    rows: outcome.rows,
    sourceId: outcome.sourceId,
    status: 'ingested',
  }
}

/**
 * Files of one call are parts of one export unless they restate the same usage: two CUR/FOCUS
 * files of one billing period that share most of their daily usage lines (half or more of the
 * smaller one's), or two usage reports / Cost Explorer CSVs that share any (day, service, usage
 * type). Of two restatements the newer counts: the one written later (`aws s3 sync` keeps the
 * delivery time), or on a tie the one named later. An older file's restated rows leave the staging
 * table here; a newer one's commit replaces the older's rows like any later ingest would.
 */
async function restatementsInCall(
  store: Store,
  meta: SourceMeta,
  batch: BatchSource[],
  modifiedMs: number,
): Promise<{replaces: BatchSource[]; replacedBy?: BatchSource}> {
  const replaces: BatchSource[] = []
  let replacedBy: BatchSource | undefined
  for (const other of batch) {
    if (other.family !== meta.family || other.scope !== meta.scope) continue
    if (meta.scope === 'all' && (!meta.billingPeriod || other.billingPeriod !== meta.billingPeriod)) continue
    const overlap = await stagedOverlap(store, other.sourceId, meta.scope)
    if (overlap.shared === 0) continue
    if (meta.scope === 'all' && overlap.shared * 2 < Math.min(overlap.mine, overlap.theirs)) continue
    if (modifiedMs >= other.modifiedMs) {
      replaces.push(other)
      continue
    }
    replacedBy = other
    await dropStagedRestatedBy(store, other.sourceId, meta.scope)
  }
  return replacedBy ? {replacedBy, replaces} : {replaces}
}

interface Part {
  path: string
  columns: string[]
  container: Container
  kind: FormatKind
  /** Where the bytes are read from, when not `path` (a zip's member, extracted). */
  readPath?: string
}

/** Fills the staging table from the file(s) and sets the source's cover and line-item count. */
async function stage(
  store: Store,
  kind: FormatKind,
  parts: Part[],
  meta: SourceMeta,
  manifestPeriod?: {start: string; end: string},
): Promise<void> {
  const readPath = parts[0]?.readPath ?? meta.path
  if (kind === 'usage-report') {
    const staged = await stageUsageReport(store, meta.path, parts[0]?.columns ?? [], {
      gzip: meta.container === 'csv.gz',
      readPath,
    })
    Object.assign(meta, {coverEnd: staged.coverEnd, coverStart: staged.coverStart, lineItems: staged.lineItems})
    return
  }
  if (kind === 'cost-explorer-csv') {
    const parsed = await parseCostExplorerCsv(readPath, {file: meta.path, gzip: meta.container === 'csv.gz'})
    await appendRows(store, parsed.rows)
    meta.lineItems = parsed.lineItems
    return
  }
  let billingStart: null | string = manifestPeriod?.start ?? null
  let billingEnd: null | string = manifestPeriod?.end ?? null
  for (const part of parts) {
    const scan = await stageColumnar(store, part.path, part.kind, part.container, part.columns, part.readPath)
    meta.lineItems += scan.lineItems
    billingStart ??= scan.billingStart
    billingEnd ??= scan.billingEnd
    meta.costBasis ??= scan.costBasis
  }
  // CUR, FOCUS and the DBR restate the whole billing period each time they are delivered.
  if (billingStart && billingEnd) {
    Object.assign(meta, {
      billingPeriod: `${billingStart}/${billingEnd}`,
      coverEnd: billingEnd,
      coverStart: billingStart,
      scope: 'all',
    })
  }
}

/**
 * A CUR 1.0 manifest: its report parts (S3 keys, found beside the manifest) and billing period.
 * A key never leads out of the manifest's folder: no absolute keys, no `..`, no symlink out.
 */
function readManifest(path: string): {parts: string[]; period?: {start: string; end: string}} {
  let manifest: unknown
  try {
    manifest = JSON.parse(
      readInputFile(path, {expected: 'a CUR manifest', maxBytes: SIDE_INPUT_MAX_BYTES.manifest}).toString('utf8'),
    )
  } catch (error) {
    if (error instanceof BillwatchError) throw error
    throw new BillwatchError('E_FORMAT', `manifest is not valid JSON${jsonErrorPosition(error)}`, {file: path})
  }
  const reportKeys = arrayAt(manifest, 'reportKeys')
  if (reportKeys.length === 0) {
    throw new BillwatchError('E_HEADER', 'manifest lists no report parts', {
      expected: 'a non-empty array',
      field: 'reportKeys',
      file: path,
      jsonKey: true,
    })
  }
  const dir = dirname(path)
  const realDir = realPath(dir)
  const parts = new Set<string>()
  for (const [i, key] of reportKeys.entries()) {
    const where = `report key ${i + 1}`
    if (typeof key !== 'string' || key === '' || key.includes('\0')) {
      throw new BillwatchError('E_FORMAT', `${where} is not an S3 key`, {
        expected: 'a string like billing/report/20240301-20240401/…/report-1.csv.gz',
        field: 'reportKeys',
        file: path,
        jsonKey: true,
      })
    }
    const segments = key.split('/').filter((s) => s !== '')
    if (isAbsolute(key) || /^[a-z]:/i.test(key) || segments.some((s) => s === '..' || s === '.' || s.includes('\\'))) {
      throw new BillwatchError('E_FORMAT', `${where} leads out of the manifest's folder`, {
        expected: 'a key without absolute paths or ..',
        field: 'reportKeys',
        file: path,
        jsonKey: true,
      })
    }
    // Keys are S3 paths; locally the parts sit beside the manifest, or under the same relative folders.
    const candidates = segments.map((_, s) => join(dir, ...segments.slice(s)))
    const found = candidates.find((c) => existsSync(c))
    if (!found)
      throw new BillwatchError('E_NOT_FOUND', `${where} (${basename(key)}) not found beside the manifest`, {
        field: 'reportKeys',
        file: path,
        jsonKey: true,
      })
    const real = realPath(found)
    if (!real.startsWith(realDir + sep)) {
      throw new BillwatchError('E_FORMAT', `${where} (${basename(key)}) is a link out of the manifest's folder`, {
        expected: "report parts inside the manifest's folder",
        field: 'reportKeys',
        file: path,
        jsonKey: true,
      })
    }
    parts.add(real)
  }
  const start = manifestDay(path, field(manifest, 'billingPeriod', 'start'), 'billingPeriod.start')
  const end = manifestDay(path, field(manifest, 'billingPeriod', 'end'), 'billingPeriod.end')
  return start && end ? {parts: [...parts], period: {end, start}} : {parts: [...parts]}
}

/** `20240301T000000.000Z` → `2024-03-01`; a day no bill can hold is an error, an absent one undefined. */
function manifestDay(path: string, value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined
  const text = typeof value === 'string' ? value : undefined
  const match = text === undefined ? null : /^(\d{4})(\d{2})(\d{2})T/.exec(text)
  const day = match ? `${match[1]}-${match[2]}-${match[3]}` : undefined
  if (match && !isRealDate(Number(match[1]), Number(match[2]), Number(match[3]))) {
    // A day that does not exist would reach DuckDB's date cast as a raw conversion error.
    throw new BillwatchError('E_VALUE', 'not a real day', {
      expected: 'YYYYMMDDTHHMMSS.sssZ',
      field,
      file: path,
      jsonKey: true,
      got: text,
    })
  }
  if (!match || day === undefined || usageProblem({amount: null, cost: null, day})) {
    throw new BillwatchError('E_VALUE', '', {
      expected: `a day like 20240301T000000.000Z, ${expectedDay()}`,
      field,
      file: path,
      jsonKey: true,
    })
  }
  return day
}
