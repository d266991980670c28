/**
 * The evidence `billwatch explain` narrates and `billwatch report` draws: every finding the store
 * holds or the given inputs yield, gathered by the same library calls the individual commands make,
 * so each figure equals what `anomalies`, `correlate`, `pcap` and `probe` print. Nothing is
 * estimated here that a command did not compute; what is absent is listed in `missing`.
 */
import {resolve} from 'node:path'

import {analyseAnomalies, type AnomaliesResult, type Step} from '../anomalies/index.js'
import {isEgressUsage, isInternetIngress} from '../aws/usage-types.js'
import {
  cloudSources,
  correlate,
  correlationSources,
  type Candidate,
  type CorrelateResult,
  stepInput,
} from '../correlate/index.js'
import {scopeStep} from '../correlate/scope.js'
import {loadKnowledge} from '../correlate/knowledge.js'
import {isoSeconds} from '../correlate/time.js'
import {isBillwatchError} from '../errors.js'
import {type FlowEvidence, flowStepEvidence} from '../flows/evidence.js'
import {analyseCaptureParallel} from '../pcap/analyse.js'
import {buildReportParallel, type PcapReport} from '../pcap/report.js'
import {coolDowns, parseTarget, probeHost, type ProbeResult} from '../probe/index.js'
import {type EvidenceKind, latestFinding, saveFinding, type EvidenceData} from '../store/evidence.js'
import type {Store} from '../store/index.js'
import {dailyBytesSince, monthlyBytes, usageAroundDay} from '../store/usage.js'
import {ntpServiceIds, remediation, type Remediation} from './remediation.js'

export interface EvidenceOptions {
  /** Configuration repository to correlate the step with (else the store's last `correlate`). */
  repo?: string
  /** CloudTrail and AWS Config (a path, or 'api') to correlate the step with, beside or instead of the repository. */
  cloudtrail?: string
  awsConfig?: string
  /** Capture to analyse (else the store's last `pcap`). */
  pcap?: string
  /** Host to probe now (else the store's last `probe`). */
  probe?: string
  /** Flat $/GB instead of the store's cost or today's AWS price, as `anomalies --price-per-gb`. */
  pricePerGb?: number
}

export interface MonthTotal {
  /** YYYY-MM. */
  month: string
  days: number
  egressBytes: number
  ingressBytes: number
  /**
   * Egress cost the exports state, in egressCurrency; null when they carry none (e.g. the legacy usage report) or bill
   * it in several currencies.
   */
  egressCost: null | number
  egressCurrency: null | string
}

export interface BillEvidence {
  /** What the step adds to the bill, from `anomalies` (same pricing, same figures), in `currency`. */
  monthlyDelta: number
  yearlyDelta: number
  currency: string
  /** The same, only when `currency` is USD (never converted). */
  monthlyDeltaUsd?: number
  yearlyDeltaUsd?: number
  pricing: string
  costStepDate: null | string
  months: MonthTotal[]
}

export interface SymmetryEvidence {
  /** Days compared, both directions over each: from the step day (or the first day) over the span both series cover. */
  from: string
  to: string
  egressBytes: number
  ingressBytes: number
  /** egress ÷ ingress. */
  ratio: number
  verdict: 'asymmetric' | 'inbound-dominant' | 'outbound-dominant' | 'symmetric'
}

export interface MissingEvidence {
  evidence: 'capture' | 'change' | 'ingress' | 'probe' | 'step' | 'usage'
  why: string
  how: string
}

export interface Evidence {
  generatedAt: string
  store: string
  anomalies: AnomaliesResult | null
  /** The step the story is about: the largest upward step of the egress total (else of any series). */
  step: null | Step
  bill: BillEvidence | null
  symmetry: null | SymmetryEvidence
  correlation: CorrelateResult | null
  /** The best-ranked change for `step`. */
  change: Candidate | null
  capture: null | PcapReport
  /**
   * What the stored flow records (VPC Flow Logs, NetFlow/IPFIX) say about the step: confirmed, refuted or not covered.
   */
  flows: FlowEvidence | null
  probe: null | ProbeResult
  sources: {correlation: 'repo' | 'store' | null; capture: 'file' | 'store' | null; probe: 'live' | 'store' | null}
  remediation: Remediation
  missing: MissingEvidence[]
}

/** Gathers what the store holds and what the given inputs say. Saves fresh findings back to the store. */
export async function gatherEvidence(store: Store, options: EvidenceOptions = {}): Promise<Evidence> {
  const missing: MissingEvidence[] = []
  const anomalies = await optionalNoData(() =>
    analyseAnomalies(store, options.pricePerGb === undefined ? {} : {pricePerGb: options.pricePerGb}),
  )
  if (!anomalies)
    missing.push({
      evidence: 'usage',
      how: 'billwatch ingest YOUR-EXPORT.csv',
      why: 'the store holds no internet egress usage',
    })
  const step = anomalies ? primaryStep(anomalies.steps) : null
  if (anomalies && !step)
    missing.push({
      evidence: 'step',
      how: 'ingest a longer period, or lower --min-ratio',
      why: `no step in ${anomalies.usageType} between ${anomalies.firstDay} and ${anomalies.lastDay}`,
    })

  // The month totals are only shown with the bill, which needs a step.
  const bill =
    step && anomalies
      ? {
          costStepDate: step.costStepDate,
          currency: step.currency,
          monthlyDelta: step.monthlyCost,
          months: await monthTotals(store),
          pricing: anomalies.pricing.label,
          yearlyDelta: step.yearlyCost,
          ...(step.currency === 'USD' ? {monthlyDeltaUsd: step.monthlyCost, yearlyDeltaUsd: step.yearlyCost} : {}),
        }
      : null
  const symmetry = anomalies ? await symmetryAfter(store, step?.date ?? anomalies.firstDay) : null
  if (anomalies && !symmetry)
    missing.push({
      evidence: 'ingress',
      how: 'ingest a report that includes DataTransfer-In-Bytes',
      why: 'no inbound (DataTransfer-In) usage to compare with egress',
    })

  const freshChanges = options.repo !== undefined || options.cloudtrail !== undefined || options.awsConfig !== undefined
  const correlated = await freshOrStored(
    store,
    'correlate',
    'repo',
    !freshChanges || !anomalies || !step
      ? undefined
      : async () => {
          const steps = await Promise.all(
            anomalies.steps.map(async (s) => scopeStep(stepInput(s), await usageAroundDay(store, s.date))),
          )
          const data = await correlate({
            aptLogs: [],
            daysAfter: 1,
            daysBefore: 7,
            dpkgLogs: [],
            knowledge: loadKnowledge(undefined),
            limit: 5,
            logZone: 'UTC',
            repo: options.repo ?? null,
            steps,
            ...cloudSources({awsConfig: options.awsConfig, cloudtrail: options.cloudtrail}, steps),
          })
          return {data, subject: correlationSources(data)}
        },
  )
  const correlation = correlated.data
  const change =
    step && correlation ? (correlation.steps.find((s) => s.date === step.date)?.candidates[0] ?? null) : null
  if (step && !change) {
    missing.push({
      evidence: 'change',
      how: 'billwatch explain --repo /etc (an etckeeper repository), or billwatch correlate with --repo, --cloudtrail DIR|api or --aws-config DIR|api',
      why: correlation ? `no configuration change found near ${step.date}` : 'no configuration history was read',
    })
  }

  const captured = await freshOrStored(
    store,
    'pcap',
    'file',
    options.pcap === undefined
      ? undefined
      : async () => {
          const file = resolve(options.pcap!)
          return {data: await buildReportParallel(await analyseCaptureParallel(file, {host: 'auto'})), subject: file}
        },
  )
  const capture = captured.data
  const flows = step?.unit === 'bytes' ? await flowStepEvidence(store, step) : null
  if (!capture)
    missing.push({
      evidence: 'capture',
      how: 'tcpdump -w egress.pcap on the server, then billwatch pcap egress.pcap',
      why: 'no packet capture: which protocol and clients make the egress is unknown',
    })

  const probed = await freshOrStored(
    store,
    'probe',
    'live',
    options.probe === undefined
      ? undefined
      : async () => {
          const target = parseTarget(options.probe!)
          const previous = (await latestFinding(store, 'probe', target.host))?.data
          return {
            data: {...(await probeHost(target, {skip: coolDowns(previous, Date.now())})), capture: null},
            subject: target.host,
          }
        },
  )
  const probe = probed.data
  if (!probe)
    missing.push({
      evidence: 'probe',
      how: 'billwatch probe YOUR-SERVER (from outside its network)',
      why: 'nobody checked from outside whether the server answers NTP',
    })

  return {
    anomalies,
    bill,
    capture,
    change,
    correlation,
    flows,
    generatedAt: isoSeconds(Date.now()),
    missing,
    probe,
    remediation: remediation(capture, {change, flows, ntpServices: ntpServiceIds(loadKnowledge(undefined)), probe}),
    sources: {capture: captured.source, correlation: correlated.source, probe: probed.source},
    step,
    store: store.path,
    symmetry,
  }
}

/** The largest upward step of the total series; else the largest step of any series. */
export function primaryStep(steps: Step[]): null | Step {
  const size = (s: Step) => Math.abs(Math.log(s.ratio))
  const ups = steps.filter((s) => s.direction === 'up' && !s.tentative)
  const pool = ups.length > 0 ? ups : steps
  return pool.reduce<null | Step>((best, s) => (best === null || size(s) > size(best) ? s : best), null)
}

/** A finding computed now from a given input (and saved for later commands), else the newest the store holds. */
async function freshOrStored<K extends EvidenceKind, Fresh extends string>(
  store: Store,
  kind: K,
  freshSource: Fresh,
  compute: undefined | (() => Promise<{data: EvidenceData[K]; subject: string}>),
): Promise<{data: EvidenceData[K] | null; source: Fresh | 'store' | null}> {
  if (compute) {
    const {data, subject} = await compute()
    await saveFinding(store, kind, subject, data)
    return {data, source: freshSource}
  }
  const stored = await latestFinding(store, kind)
  return stored ? {data: stored.data, source: 'store'} : {data: null, source: null}
}

async function optionalNoData<T>(fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn()
  } catch (error) {
    if (isBillwatchError(error) && error.code === 'E_NO_DATA') return null
    throw error
  }
}

/** Per month: internet egress and ingress bytes and egress cost, from the store's `usage` view. */
async function monthTotals(store: Store): Promise<MonthTotal[]> {
  const rows = await monthlyBytes(store)
  const byMonth = new Map<string, MonthTotal & {currencies: Set<string>}>()
  for (const row of rows) {
    const egress = isEgressUsage(row.usageType, row.usageBase)
    if (!egress && !isInternetIngress(row.usageType)) continue
    const month = byMonth.get(row.month) ?? {
      currencies: new Set<string>(),
      days: 0,
      egressBytes: 0,
      egressCost: null,
      egressCurrency: null,
      ingressBytes: 0,
      month: row.month,
    }
    month.days = Math.max(month.days, row.days)
    if (egress) {
      month.egressBytes += row.bytes
      if (row.cost !== null) {
        month.egressCost = (month.egressCost ?? 0) + row.cost
        month.currencies.add(row.currency ?? '')
      }
    } else {
      month.ingressBytes += row.bytes
    }
    byMonth.set(row.month, month)
  }
  // Costs in several currencies are not added: the month shows none.
  return [...byMonth.values()].map(({currencies, ...month}) =>
    currencies.size > 1
      ? {...month, egressCost: null, egressCurrency: null}
      : {...month, egressCurrency: [...currencies][0] ?? null},
  )
}

/**
 * The first test of the NTP pool server incident: inbound within a few percent of outbound means every
 * request gets a reply of about its own size (a busy server); outbound far above inbound is what an
 * amplification attack (or a download service) looks like. Both directions are summed over the same
 * days — from `from` over the span both series cover — and a day inside it without a line for one
 * direction counts as zero for it (AWS writes no line for usage it did not see), not as a day to skip.
 */
async function symmetryAfter(store: Store, from: string): Promise<null | SymmetryEvidence> {
  const rows = await dailyBytesSince(store, from)
  const egress = new Map<string, number>()
  const ingress = new Map<string, number>()
  for (const row of rows) {
    if (isEgressUsage(row.usageType, row.usageBase)) egress.set(row.day, (egress.get(row.day) ?? 0) + row.bytes)
    else if (isInternetIngress(row.usageType)) ingress.set(row.day, (ingress.get(row.day) ?? 0) + row.bytes)
  }
  if (egress.size === 0 || ingress.size === 0) return null
  const span = (days: Map<string, number>) => [...days.keys()].sort()
  const [egressDays, ingressDays] = [span(egress), span(ingress)]
  const first = [egressDays[0]!, ingressDays[0]!].sort()[1]!
  const last = [egressDays.at(-1)!, ingressDays.at(-1)!].sort()[0]!
  if (first > last) return null
  const total = (days: Map<string, number>) =>
    [...days].reduce((sum, [day, bytes]) => (day >= first && day <= last ? sum + bytes : sum), 0)
  const egressBytes = total(egress)
  const ingressBytes = total(ingress)
  if (ingressBytes <= 0) return null
  const ratio = egressBytes / ingressBytes
  const verdict =
    ratio > 2
      ? 'outbound-dominant'
      : ratio < 0.5
        ? 'inbound-dominant'
        : Math.abs(ratio - 1) <= 0.1
          ? 'symmetric'
          : 'asymmetric'
  return {egressBytes, from: first, ingressBytes, ratio, to: last, verdict}
}
