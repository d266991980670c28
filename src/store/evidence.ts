/**
 * The findings one command saves for others to read back (evidence): a capture's report (`pcap`), a probe
 * (`probe`), a correlation (`correlate`), each the command's own `--json` result. A finding is checked on
 * read against the shape every billwatch so far has saved for its kind (ajv, over the keys its readers
 * rely on), so a damaged or foreign row is refused in one line instead of failing somewhere later.
 * Older billwatch versions saved fewer keys (a correlation without committer times, a capture report
 * without its NTP port): readers cope with those, so the check asks only for what all versions wrote.
 */
import {Ajv, type ValidateFunction} from 'ajv'

import type {CorrelateResult} from '../correlate/index.js'
import {BillwatchError} from '../errors.js'
import type {PcapReport} from '../pcap/report.js'
import type {ProbeResult} from '../probe/index.js'
import type {Store} from './index.js'

/** What each kind of finding holds. */
export interface EvidenceData {
  correlate: CorrelateResult
  pcap: PcapReport
  probe: ProbeResult
}

export type EvidenceKind = keyof EvidenceData

export interface Finding<K extends EvidenceKind> {
  /** When it was saved, ISO 8601 UTC to the second. */
  createdAt: string
  /** What it is about: the capture file, the probed host, the correlated sources. */
  subject: string
  data: EvidenceData[K]
}

const object = (properties: Record<string, unknown>) => ({
  properties,
  required: Object.keys(properties),
  type: 'object',
})
const arrayOf = (items: unknown) => ({items, type: 'array'})
const number = {type: 'number'}
const text = {type: 'string'}

/** Per kind, the keys every saved version has (JSON Schema, draft-07). */
const SHAPES: Record<EvidenceKind, object> = {
  correlate: object({steps: arrayOf(object({candidates: arrayOf({type: 'object'}), date: text}))}),
  pcap: object({
    byPort: arrayOf({type: 'object'}),
    host: {type: ['object', 'null']},
    outbound: object({bytes: number}),
  }),
  probe: object({
    addresses: arrayOf(text),
    host: text,
    results: arrayOf({type: 'object'}),
    summary: text,
    verdict: text,
  }),
}

let validators: Map<EvidenceKind, ValidateFunction> | undefined

function validator(kind: EvidenceKind): ValidateFunction {
  validators ??= new Map()
  let validate = validators.get(kind)
  if (!validate) {
    validate = new Ajv({allErrors: false, strict: true}).compile(SHAPES[kind])
    validators.set(kind, validate)
  }
  return validate
}

/** Saves a finding in place of the previous one of the same kind and subject. */
export async function saveFinding<K extends EvidenceKind>(
  store: Store,
  kind: K,
  subject: string,
  data: EvidenceData[K],
): Promise<void> {
  await store.saveEvidence(kind, subject, data)
}

/** The newest finding of a kind (for one subject, if given), checked against its kind's shape. */
export async function latestFinding<K extends EvidenceKind>(
  store: Store,
  kind: K,
  subject?: string,
): Promise<Finding<K> | undefined> {
  const row = await store.latestEvidence<unknown>(kind, subject)
  if (!row) return undefined
  const validate = validator(kind)
  if (!validate(row.data)) {
    const error = validate.errors?.[0]
    const where = error?.instancePath ? ` at ${error.instancePath}` : ''
    throw new BillwatchError(
      'E_STORE',
      `the stored ${kind} finding for ${row.subject} (saved ${row.createdAt}) is not one billwatch wrote: ${error?.message ?? 'unexpected shape'}${where}`,
      {
        field: 'evidence',
        file: store.path,
        suggestions: [`run billwatch ${kind} again: its new finding replaces this one`],
      },
    )
  }
  return {createdAt: row.createdAt, data: row.data as EvidenceData[K], subject: row.subject}
}
