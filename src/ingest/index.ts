import {existsSync, readdirSync, statSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'

import type {ProgressCallback} from '../cli/progress.js'
import {BillwatchError} from '../errors.js'
import type {Store} from '../store/index.js'
import {parquetColumns, stageColumnar} from './columnar.js'
import {parseCostExplorerCsv} from './cost-explorer-csv.js'
import {combineFingerprints, type Fingerprint, fingerprintFile} from './fingerprint.js'
import {type Container, type FormatKind, sniffFile} from './sniff.js'
import {parseUsageReport} from './usage-report.js'
import {appendRows, commitStaged, createStaging, type Family, findSourceByHash, type SourceMeta, STAGING_TABLE} from './write.js'

export {FORMAT_KINDS, type FormatKind} from './sniff.js'

export interface IngestOptions {
  /** Overrides content detection of the export kind (--format). */
  format?: FormatKind
  /** The account of lines that name none (a usage report, a Cost Explorer CSV); default: the file's own name. */
  account?: string
  onProgress?: (file: string) => ProgressCallback
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
}

export interface IngestResult {
  store: string
  files: IngestedFile[]
  /** Files found in a named directory that are not billing exports (captures, scripts …), and subdirectories. */
  skipped: Array<{path: string; reason: string}>
}

const FAMILY: Record<FormatKind, Family> = {
  'cost-explorer-csv': 'cost-explorer-csv',
  'cur1': 'cur',
  'cur1-manifest': 'cur',
  'cur2': 'cur',
  'focus': 'focus',
  'usage-report': 'usage-report',
}

/**
 * Ingests exports into the store in ONE transaction: any bad file rolls back every file of the
 * call, so a failed ingest leaves the store exactly as it was.
 */
export async function ingestFiles(store: Store, paths: string[], options: IngestOptions = {}): Promise<IngestResult> {
  if (paths.length === 0) throw new BillwatchError('E_USAGE', 'no files given', {suggestions: ['billwatch ingest samples/billing/*']})
  const skipped: IngestResult['skipped'] = []
  const files = await store.transaction(async () => {
    const results: IngestedFile[] = []
    const batchIds: number[] = []
    for (const {path, inDirectory} of expandPaths(paths, skipped)) {
      let result: IngestedFile
      try {
        result = await ingestOne(store, path, options, batchIds)
      } catch (error) {
        // A file named on the command line must be an export; one found in a named directory may be anything.
        if (!inDirectory || !isNotAnExport(error)) throw error
        skipped.push({path, reason: skipReason(error as BillwatchError, path)})
        continue
      }
      if (result.status === 'ingested') batchIds.push(result.sourceId)
      results.push(result)
    }
    return results
  })
  return {files, skipped, store: store.path}
}

/** Named files as given; a named directory stands for the files directly in it, in name order. */
interface NamedPath {
  path: string
  inDirectory: boolean
}

function expandPaths(paths: string[], skipped: IngestResult['skipped']): NamedPath[] {
  return paths.flatMap((given): NamedPath[] => {
    const path = resolve(given)
    if (!existsSync(path) || !statSync(path).isDirectory()) return [{inDirectory: false, path}]
    return readdirSync(path, {withFileTypes: true})
      .sort((a, b) => a.name.localeCompare(b.name))
      .flatMap((entry): NamedPath[] => {
        const child = join(path, entry.name)
        if (entry.isFile()) return [{inDirectory: true, path: child}]
        skipped.push({path: child, reason: 'a directory (not searched further)'})
        return []
      })
  })
}

function skipReason(error: BillwatchError, path: string): string {
  if (error.code === 'E_HEADER') return `not a billing export (header starts ${JSON.stringify(error.got ?? '')})`
  // The message leads with the file (and line), already named by the caller.
  return error.message.startsWith(path) ? error.message.slice(path.length).replace(/^(:\d+)?: /, '') : error.message
}

function isNotAnExport(error: unknown): boolean {
  return error instanceof BillwatchError && (error.code === 'E_FORMAT' || error.code === 'E_EMPTY' || (error.code === 'E_HEADER' && error.field === undefined))
}

async function ingestOne(store: Store, path: string, options: IngestOptions, batchIds: number[]): Promise<IngestedFile> {
  const sniffed = await sniffFile(path, (p) => parquetColumns(store, p), options.format)
  const progress = options.onProgress?.(path)
  const withProgress = progress ? {onProgress: progress} : {}
  let parts: Part[]
  let manifestPeriod: undefined | {start: string; end: string}
  let hashing: Promise<Fingerprint>
  if (sniffed.kind === 'cur1-manifest') {
    const manifest = await readManifest(path)
    manifestPeriod = manifest.period
    parts = []
    const hashes = [await fingerprintFile(path)]
    for (const part of manifest.parts) {
      const partSniff = await sniffFile(part, (p) => parquetColumns(store, p))
      if (partSniff.kind !== 'cur1' && partSniff.kind !== 'cur2') {
        throw new BillwatchError('E_FORMAT', `report part is ${partSniff.kind}`, {expected: 'CUR line items', file: part})
      }
      hashes.push(await fingerprintFile(part, {gzip: partSniff.container === 'csv.gz', ...withProgress}))
      parts.push({columns: partSniff.columns, container: partSniff.container, kind: partSniff.kind, path: part})
    }
    hashing = combineFingerprints(hashes)
  } else {
    parts = [{columns: sniffed.columns, container: sniffed.container, kind: sniffed.kind, path}]
    // Hashing runs beside the DuckDB scan, on the CPU DuckDB leaves idle while it waits on I/O:
    // a first ingest pays no extra pass, a re-ingest costs one scan and is then dropped.
    hashing = fingerprintFile(path, {gzip: sniffed.container === 'csv.gz', ...withProgress})
    hashing.catch(() => {})
  }

  await createStaging(store)
  const meta: SourceMeta = {
    bytes: 0, container: sniffed.container, contentHash: '', family: FAMILY[sniffed.kind], format: sniffed.kind,
    lineItems: 0, path, scope: 'listed',
  }
  try {
    await stage(store, sniffed.kind, parts, meta, manifestPeriod)
  } catch (error) {
    // A truncated .gz can also surface as a malformed last row: the gzip verdict is the truer one.
    await hashing
    throw error
  }
  const {bytes, hash: contentHash} = await hashing
  Object.assign(meta, {bytes, contentHash})
  // The same content again, from an earlier call or earlier in this one (same transaction).
  const previous = await findSourceByHash(store, contentHash)
  if (previous) {
    return {
      billingPeriod: previous.billingPeriod, container: sniffed.container, contentHash, days: previous.days, firstDay: previous.firstDay,
      format: sniffed.kind, lastDay: previous.lastDay, lineItems: previous.lineItems, path, replacedRows: 0, rows: previous.rows,
      sourceId: previous.sourceId, status: 'unchanged',
    }
  }

  if (options.account !== undefined) await store.run(`UPDATE ${STAGING_TABLE} SET account = $1 WHERE account IS NULL`, [options.account])
  const columnar = sniffed.kind !== 'usage-report' && sniffed.kind !== 'cost-explorer-csv'
  // One columnar file is already one row per daily key; a manifest's parts may repeat keys.
  const outcome = await commitStaged(store, meta, batchIds, {daily: columnar && parts.length === 1})
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
    replacedRows: outcome.replacedRows,
    rows: outcome.rows,
    sourceId: outcome.sourceId,
    status: 'ingested',
  }
}

interface Part {
  path: string
  columns: string[]
  container: Container
  kind: FormatKind
}

/** Fills the staging table from the file(s) and sets the source's cover and line-item count. */
async function stage(store: Store, kind: FormatKind, parts: Part[], meta: SourceMeta, manifestPeriod?: {start: string; end: string}): Promise<void> {
  if (kind === 'usage-report') {
    const parsed = await parseUsageReport(meta.path)
    await appendRows(store, parsed.rows)
    Object.assign(meta, {coverEnd: parsed.coverEnd, coverStart: parsed.coverStart, lineItems: parsed.lineItems})
    return
  }
  if (kind === 'cost-explorer-csv') {
    const parsed = await parseCostExplorerCsv(meta.path)
    await appendRows(store, parsed.rows)
    meta.lineItems = parsed.lineItems
    return
  }
  let billingStart: null | string = manifestPeriod?.start ?? null
  let billingEnd: null | string = manifestPeriod?.end ?? null
  for (const part of parts) {
    const scan = await stageColumnar(store, part.path, part.kind, part.container, part.columns)
    meta.lineItems += scan.lineItems
    billingStart ??= scan.billingStart
    billingEnd ??= scan.billingEnd
  }
  // CUR and FOCUS restate the whole billing period each time they are delivered.
  if (billingStart && billingEnd) {
    Object.assign(meta, {billingPeriod: `${billingStart}/${billingEnd}`, coverEnd: billingEnd, coverStart: billingStart, scope: 'all'})
  }
}

/** A CUR 1.0 manifest: its report parts (S3 keys, found beside the manifest) and billing period. */
async function readManifest(path: string): Promise<{parts: string[]; period?: {start: string; end: string}}> {
  let manifest: {reportKeys?: unknown; billingPeriod?: {start?: string; end?: string}}
  try {
    manifest = JSON.parse(await readFile(path, 'utf8'))
  } catch (error) {
    throw new BillwatchError('E_FORMAT', `manifest is not valid JSON (${(error as Error).message})`, {file: path})
  }
  if (!Array.isArray(manifest.reportKeys) || manifest.reportKeys.length === 0) {
    throw new BillwatchError('E_HEADER', 'manifest lists no report parts', {expected: 'a non-empty array', field: 'reportKeys', file: path})
  }
  const dir = dirname(path)
  const parts = manifest.reportKeys.map((key) => {
    const segments = String(key).split('/')
    // Keys are S3 paths; locally the parts sit beside the manifest, or under the same relative folders.
    const candidates = segments.map((_, i) => join(dir, ...segments.slice(i)))
    const found = candidates.find((c) => existsSync(c))
    if (!found) throw new BillwatchError('E_NOT_FOUND', `report part ${basename(String(key))} not found beside the manifest`, {field: 'reportKeys', file: path})
    return found
  })
  const compact = (text?: string) => (text && /^\d{8}T/.test(text) ? `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6, 8)}` : undefined)
  const start = compact(manifest.billingPeriod?.start)
  const end = compact(manifest.billingPeriod?.end)
  return start && end ? {parts, period: {end, start}} : {parts}
}
