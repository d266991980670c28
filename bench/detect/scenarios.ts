/**
 * Labelled daily-usage scenarios for scoring `billwatch anomalies`, seeded and reproducible, written into a real
 * store through the ingest write path, and the scorer that compares what the detector found with the labels.
 *
 * A scenario is one account (or, for an export without an account column, one file): a few resources' daily
 * internet egress over one or more stretches of covered days, with the true steps (day, the total's ratio, the
 * resource that stepped and its own ratio), spikes (days) and ramps (day ranges) it holds.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {dayNumber, dayString} from '../../src/detect/index.js'
import type {AnomaliesResult, Step} from '../../src/anomalies/index.js'
import type {Family, UsageRow} from '../../src/ingest/rows.js'
import {commitStaged, createStaging, STAGING_TABLE} from '../../src/store/usage-import.js'
import {seededRandom} from '../../src/ratelimit/limiters.js'
import type {Store} from '../../src/store/index.js'

export const SCENARIO_CLASSES = [
  'flat',
  'step',
  'multi-step',
  'weekly-step',
  'spike',
  'weekly-spike',
  'ramp',
  'gaps',
  'accounts',
  'zeros',
  'free-tier',
  'partial-day',
  'restatement',
  'mixture',
] as const
export type ScenarioClass = (typeof SCENARIO_CLASSES)[number]

export interface TrueStep {
  account: string
  day: number
  /** The account total's ratio: medians of its days between the events around the step. */
  totalRatio: number
  /** The same for the resource's usage type (region) and for the resource itself. */
  typeRatio: number
  usageType: string
  resourceId: string
  ratio: number
}

export interface Scenario {
  id: number
  kind: ScenarioClass
  accounts: string[]
  /**
   * Its exports: `shared` ones are this scenario's part of a month's CUR that every such scenario's accounts
   * share (as a payer's CUR holds its member accounts); the others are files of their own.
   */
  sources: {path: string; family: Family; cover: [number, number]; rows: UsageRow[]; shared: boolean; early: boolean}[]
  steps: TrueStep[]
  /** Days (per account) that are spikes, or inside a ramp: a step reported there is false, a spike there is true. */
  spikeDays: {account: string; days: number[]}[]
  rampDays: {account: string; first: number; last: number}[]
  /** Series-years the scenario holds (resources plus each account's total, over its covered days). */
  seriesYears: number
}

const GB = 2 ** 30

interface Resource {
  id: string
  usageType: string
  level: Float64Array
  /** Multiplier per weekday (0 = Sunday). */
  weekly: number[]
  noise: number
}

/** `count` scenarios, the classes in turn, all drawn from `seed`. */
export function generateScenarios(count: number, seed: number): Scenario[] {
  const scenarios: Scenario[] = []
  for (let id = 0; id < count; id++)
    scenarios.push(generateScenario(id, SCENARIO_CLASSES[id % SCENARIO_CLASSES.length]!, seed * 1_000_003 + id))
  return scenarios
}

export function generateScenario(id: number, kind: ScenarioClass, seed: number): Scenario {
  const random = seededRandom(seed)
  const uniform = (a: number, b: number) => a + (b - a) * random()
  const int = (a: number, b: number) => Math.floor(uniform(a, b + 1))
  const logUniform = (a: number, b: number) => Math.exp(uniform(Math.log(a), Math.log(b)))
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
  const pick = <T>(items: readonly T[]) => items[int(0, items.length - 1)]!

  const account = `acct-${String(id).padStart(5, '0')}`
  // Whole calendar months, as monthly exports hold them.
  const firstMonth = int(0, 23)
  const months = int(5, 18)
  const start = Date.UTC(2023, firstMonth, 1) / 86_400_000
  const days = Date.UTC(2023, firstMonth + months, 1) / 86_400_000 - start
  const scenario: Scenario = {
    accounts: [account],
    id,
    kind,
    rampDays: [],
    seriesYears: 0,
    sources: [],
    spikeDays: [{account, days: []}],
    steps: [],
  }
  const spikes = scenario.spikeDays[0]!.days
  const tiny = kind === 'free-tier'
  const resourceCount = kind === 'flat' ? int(1, 4) : int(1, 5)
  const regions = ['DataTransfer-Out-Bytes', 'USW2-DataTransfer-Out-Bytes', 'EU-DataTransfer-Out-Bytes']
  const resources: Resource[] = []
  for (let r = 0; r < resourceCount; r++) {
    const base = tiny ? logUniform(2e3, 2e6) : logUniform(5e6, 50 * GB)
    resources.push({
      id: `i-${account.slice(5)}${String(r).padStart(3, '0')}`,
      level: new Float64Array(days).fill(base),
      noise: uniform(0.05, 0.35),
      usageType: pick(regions),
      weekly: [1, 1, 1, 1, 1, 1, 1],
    })
  }
  const weeklyKinds = kind === 'weekly-step' || kind === 'weekly-spike' || (kind === 'mixture' && random() < 0.5)
  if (weeklyKinds) {
    for (const r of resources) {
      if (random() < 0.3 && resources.length > 1) continue
      // Office hours (weekends low), or a fleet that polls on Sundays (the hard-coded IoT fleet).
      if (random() < 0.7) {
        const weekend = uniform(0.03, 0.5)
        r.weekly = [weekend, 1, 1, 1, 1, 1, weekend]
      } else {
        r.weekly = [uniform(3, 30), 1, 1, 1, 1, 1, 1]
      }
    }
  }
  // Events are placed at least `spacing` days apart and from the ends.
  const taken: number[] = []
  const place = (margin: number, spacing: number, width = 1): number | undefined => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const day = int(margin, days - margin - width)
      if (taken.every((t) => Math.abs(t - day) >= spacing + width)) {
        taken.push(day)
        return day
      }
    }
    return undefined
  }
  const stepCount =
    kind === 'step' ||
    kind === 'weekly-step' ||
    kind === 'gaps' ||
    kind === 'accounts' ||
    kind === 'free-tier' ||
    kind === 'restatement' ||
    kind === 'zeros' ||
    kind === 'partial-day'
      ? 1
      : kind === 'multi-step'
        ? int(2, 3)
        : kind === 'mixture'
          ? int(0, 2)
          : 0
  const stepEvents: {day: number; resource: Resource; ratio: number}[] = []
  for (let s = 0; s < stepCount; s++) {
    const day = place(28, 30)
    if (day === undefined) continue
    const resource = pick(resources)
    const magnitude = random() < 0.5 ? logUniform(1.5, 20) : logUniform(20, 10_000)
    const ratio = random() < 0.65 ? magnitude : 1 / magnitude
    for (let d = day; d < days; d++) resource.level[d] = resource.level[d]! * ratio
    stepEvents.push({day, ratio, resource})
  }
  const spikeCount =
    kind === 'spike' || kind === 'weekly-spike' ? int(1, 3) : kind === 'mixture' || kind === 'zeros' ? int(0, 2) : 0
  const spikeEvents: {day: number; width: number; resource: Resource; factor: number}[] = []
  for (let s = 0; s < spikeCount; s++) {
    const width = int(1, 3)
    const day = place(10, 10, width)
    if (day === undefined) continue
    const resource = pick(resources)
    // An outage (to zero) in the zeros class; else up or down by 3x to 1000x.
    const factor = kind === 'zeros' ? 0 : random() < 0.7 ? logUniform(4, 1000) : 1 / logUniform(4, 50)
    spikeEvents.push({day, factor, resource, width})
  }
  const rampEvents: {day: number; width: number; resource: Resource; ratio: number}[] = []
  if (kind === 'ramp' || (kind === 'mixture' && random() < 0.3)) {
    const width = int(21, 90)
    const day = place(21, 30, width)
    if (day !== undefined) {
      const resource = pick(resources)
      const ratio = (random() < 0.7 ? 1 : -1) * Math.log(logUniform(3, 100))
      for (let d = day; d < days; d++)
        resource.level[d] = resource.level[d]! * Math.exp(ratio * Math.min(1, (d - day + 1) / width))
      rampEvents.push({day, ratio, resource, width})
    }
  }

  // Values, noise and the events that are not level changes.
  const values = resources.map((r) =>
    Float64Array.from(
      r.level,
      (level, d) => level * r.weekly[new Date((start + d) * 86_400_000).getUTCDay()]! * Math.exp(r.noise * normal()),
    ),
  )
  for (const e of spikeEvents) {
    const series = values[resources.indexOf(e.resource)]!
    for (let d = e.day; d < e.day + e.width; d++) {
      series[d] = series[d]! * e.factor
      spikes.push(start + d)
    }
  }
  // A step that starts mid-day: the first day carries part of the new level.
  for (const e of stepEvents) {
    if (random() < 0.3) {
      const series = values[resources.indexOf(e.resource)]!
      const part = uniform(0.3, 0.9)
      series[e.day] = series[e.day]! * (part + (1 - part) / e.ratio)
    }
  }
  const partial = kind === 'partial-day' || (kind === 'mixture' && random() < 0.3)
  if (partial) {
    const part = uniform(0.05, 0.6)
    for (const series of values) series[days - 1] = series[days - 1]! * part
  }
  const zeroType = kind === 'zeros' && random() < 0.5

  // Covered days: one stretch, or gaps (short ones inside, a long one that starts a new stretch).
  const covered = new Uint8Array(days).fill(1)
  const stretches: [number, number][] = [[0, days]]
  if (kind === 'gaps' || (kind === 'mixture' && random() < 0.3)) {
    const short = place(10, 10, 10)
    if (short !== undefined) covered.fill(0, short, short + int(1, 14))
    if (random() < 0.6 && days > 300) {
      const long = place(60, 40, 60)
      if (long !== undefined) {
        const length = int(40, 400)
        covered.fill(0, long, Math.min(days, long + Math.min(length, 60)))
        stretches.splice(0, 1, [0, long], [Math.min(days, long + Math.min(length, 60)), days])
      }
    }
  }

  // Truth, on the realized values: medians between the events around each step (spike days, uncovered days and a
  // partial last day left out), for the total, the resource's usage type and the resource.
  const excluded = new Uint8Array(days)
  for (const d of spikes) excluded[d - start] = 1
  if (partial) excluded[days - 1] = 1
  const boundaries = [...stepEvents.map((e) => e.day), ...rampEvents.flatMap((e) => [e.day, e.day + e.width])].sort(
    (a, b) => a - b,
  )
  const median = (series: (d: number) => number, from: number, to: number) => {
    const xs: number[] = []
    for (let d = Math.max(0, from); d < Math.min(days, to); d++) if (covered[d] && !excluded[d]) xs.push(series(d))
    xs.sort((a, b) => a - b)
    return xs.length % 2 ? xs[xs.length >> 1]! : (xs[xs.length / 2 - 1]! + xs[xs.length / 2]!) / 2
  }
  const sumOf = (members: number[]) => (d: number) => members.reduce((sum, k) => sum + values[k]![d]!, 0)
  const stretchOf = (d: number) => stretches.find(([a, b]) => d >= a && d < b)
  for (const e of stepEvents) {
    const stretch = stretchOf(e.day)
    // A step no covered day shows on both sides of cannot be seen: it is not labelled.
    if (!stretch || e.day - stretch[0] < 14 || stretch[1] - e.day < 14 || !covered[e.day]) continue
    const from = Math.max(stretch[0], ...boundaries.filter((b) => b < e.day))
    const to = Math.min(stretch[1], ...boundaries.filter((b) => b > e.day))
    // The first day of a step that began mid-day is neither level.
    const ratioOf = (series: (d: number) => number) => median(series, e.day + 1, to) / median(series, from, e.day)
    const k = resources.indexOf(e.resource)
    const sameType = resources.map((r, i) => (r.usageType === e.resource.usageType ? i : -1)).filter((i) => i >= 0)
    scenario.steps.push({
      account,
      day: start + e.day,
      ratio: ratioOf(sumOf([k])),
      resourceId: e.resource.id,
      totalRatio: ratioOf(sumOf(resources.map((_, i) => i))),
      typeRatio: ratioOf(sumOf(sameType)),
      usageType: e.resource.usageType,
    })
  }
  for (const e of rampEvents)
    scenario.rampDays.push({account, first: start + e.day - 2, last: start + e.day + e.width + 2})

  // Exports: per month, one piece per run of covered days; an earlier, partial version of the month first in the
  // restatement class; a usage report without an account column in the free-tier class (and some mixtures).
  const accountless = kind === 'free-tier' || (kind === 'mixture' && random() < 0.2)
  const name = accountless ? `${account}.csv` : account
  if (accountless) {
    scenario.accounts = [name]
    scenario.steps.forEach((s) => (s.account = name))
    scenario.spikeDays[0]!.account = name
    scenario.rampDays.forEach((r) => (r.account = name))
  }
  const ownFiles = accountless || covered.some((c) => c === 0)
  const rowsOf = (from: number, to: number, scale = 1): UsageRow[] => {
    const rows: UsageRow[] = []
    resources.forEach((r, k) => {
      for (let d = from; d < to; d++) {
        const amount = values[k]![d]! * scale
        // Zero usage has no line: inside the export's period it is still zero.
        if (amount === 0) continue
        rows.push({
          account: accountless ? null : account,
          amount: amount / GB,
          cost: null,
          currency: null,
          day: dayString(start + d),
          operation: null,
          region: null,
          resourceId: r.id,
          service: 'AmazonEC2',
          unit: 'GB',
          usageType: r.usageType,
        })
      }
    })
    if (zeroType)
      rows.push({
        account: accountless ? null : account,
        amount: 0,
        cost: null,
        currency: null,
        day: dayString(start + from),
        operation: null,
        region: null,
        resourceId: null,
        service: 'AmazonEC2',
        unit: 'GB',
        usageType: 'APN1-DataTransfer-Out-Bytes',
      })
    return rows
  }
  const restated = kind === 'restatement' || (kind === 'mixture' && random() < 0.2)
  /** The runs of covered days in [from, to), as [first, end) pairs. */
  const coveredRuns = (from: number, to: number): [number, number][] => {
    const runs: [number, number][] = []
    for (let a = from; a < to;) {
      if (!covered[a]) {
        a++
        continue
      }
      let b = a
      while (b < to && covered[b]) b++
      runs.push([a, b])
      a = b
    }
    return runs
  }
  for (let m = 0; m < days;) {
    const monthStart = new Date((start + m) * 86_400_000)
    const next = Date.UTC(monthStart.getUTCFullYear(), monthStart.getUTCMonth() + 1, 1) / 86_400_000 - start
    if (restated) {
      // The early version is cut at the same day and scaled alike in every run of covered days; an uncovered day is
      // in no version of the month, so the truth's gaps are the store's gaps.
      const cut = m + Math.floor((next - m) * uniform(0.3, 0.9))
      const scale = uniform(0.5, 0.9)
      for (const [a, b] of coveredRuns(m, next))
        scenario.sources.push({
          cover: [start + a, start + b],
          early: true,
          family: 'cur',
          path: `/bench/${a}-early.csv`,
          rows: rowsOf(a, Math.min(b, Math.max(a, cut)), scale),
          shared: !ownFiles,
        })
    }
    for (const [a, b] of coveredRuns(m, next)) {
      const file = accountless ? `/bench/${stretches.length > 1 ? `${a}/` : ''}${name}` : `/bench/${account}/${a}.csv`
      scenario.sources.push({
        cover: [start + a, start + b],
        early: false,
        family: accountless ? 'usage-report' : 'cur',
        path: file,
        rows: rowsOf(a, b),
        shared: !ownFiles,
      })
    }
    m = next
  }
  if (accountless && stretches.length > 1) {
    // Each file without an account column would be an account of its own: the bench names them as ingest --account
    // would.
    for (const source of scenario.sources) source.rows.forEach((row) => (row.account = name))
  }
  if (accountless) {
    // A usage report is one file for the whole period, not one per month.
    const merged = new Map<string, (typeof scenario.sources)[number]>()
    for (const source of scenario.sources.filter((x) => !x.early)) {
      const key =
        stretches.length > 1
          ? String(stretches.findIndex(([a, b]) => source.cover[0] - start >= a && source.cover[0] - start < b))
          : '0'
      const into = merged.get(key)
      // Days between two pieces stay uncovered: such a report is two files.
      if (into && into.cover[1] !== source.cover[0]) {
        merged.set(`${key}-${source.cover[0]}`, {
          ...source,
          cover: [...source.cover],
          path: `/bench/${source.cover[0]}/${name}`,
          rows: [...source.rows],
        })
      } else if (into) {
        into.rows.push(...source.rows)
        into.cover[1] = source.cover[1]
      } else
        merged.set(key, {
          ...source,
          cover: [...source.cover],
          path: stretches.length > 1 ? `/bench/${key}/${name}` : `/bench/${name}`,
          rows: [...source.rows],
        })
    }
    scenario.sources = [...merged.values()]
  }
  if (kind === 'accounts') {
    // A second account in the same exports, steady: its usage must neither hide nor make a step.
    const other = `${account}-b`
    scenario.accounts.push(other)
    scenario.spikeDays.push({account: other, days: []})
    const base = logUniform(5e6, 50 * GB)
    const noise = uniform(0.05, 0.3)
    for (const source of scenario.sources) {
      for (let d = source.cover[0]; d < source.cover[1]; d++) {
        source.rows.push({
          account: other,
          amount: (base * Math.exp(noise * normal())) / GB,
          cost: null,
          currency: null,
          day: dayString(d),
          operation: null,
          region: null,
          resourceId: `i-${other.slice(5)}`,
          service: 'AmazonEC2',
          unit: 'GB',
          usageType: 'DataTransfer-Out-Bytes',
        })
      }
    }
  }
  const coveredDays = covered.reduce((a, v) => a + v, 0)
  scenario.seriesYears =
    ((resources.length + 1 + scenario.accounts.length - 1 + (zeroType ? 1 : 0)) * coveredDays) / 365
  return scenario
}

/**
 * Writes every scenario's exports into `store` through the ingest write path: the shared pieces as one CUR per
 * month holding every such account (its early version first, when there is one), then each scenario's own files.
 */
export async function writeScenarios(
  store: Store,
  scenarios: Scenario[],
  onProgress?: (done: number, total: number) => void,
): Promise<void> {
  const files = new Map<
    string,
    {cover: [number, number]; family: Family; path: string; rows: UsageRow[]; order: number}
  >()
  for (const scenario of scenarios) {
    for (const source of scenario.sources) {
      const key = source.shared
        ? `${source.cover[0]}-${source.early ? 'a' : 'b'}`
        : `${scenario.id}:${source.path}:${source.cover[0]}`
      const file = files.get(key)
      if (file) {
        file.rows.push(...source.rows)
        file.cover = [Math.min(file.cover[0], source.cover[0]), Math.max(file.cover[1], source.cover[1])]
      } else {
        files.set(key, {
          cover: [...source.cover],
          family: source.family,
          order: source.cover[0] * 2 + (source.early ? 0 : 1),
          path: source.shared
            ? `/bench/cur/${dayString(source.cover[0])}${source.early ? '-early' : ''}.csv`
            : source.path,
          rows: [...source.rows],
        })
      }
    }
  }
  const ordered = [...files.values()].sort((a, b) => a.order - b.order)
  let hash = 0
  // Rows reach the staging table through a CSV file DuckDB reads (parameterised inserts take minutes at this size);
  // from there on it is ingest's own commit: unit conversion, regions, restatements replacing older exports.
  const dir = mkdtempSync(join(tmpdir(), 'billwatch-detect-rows-'))
  try {
    for (const file of ordered) {
      const csv = join(dir, 'rows.csv')
      const cell = (v: null | number | string) => (v === null ? '' : String(v))
      writeFileSync(
        csv,
        `day,account,region,service,usage_type,operation,resource_id,amount,unit,cost,currency\n${file.rows.map((r) => [r.day, r.account, r.region, r.service, r.usageType, r.operation, r.resourceId, r.amount, r.unit, r.cost, r.currency].map(cell).join(',')).join('\n')}\n`,
      )
      await store.transaction(async () => {
        await createStaging(store)
        await store.run(
          `INSERT INTO ${STAGING_TABLE} (day, account, region, service, usage_type, operation, resource_id, amount, unit, cost, currency) SELECT * FROM read_csv($1, header = true, columns = {'day': 'DATE', 'account': 'VARCHAR', 'region': 'VARCHAR', 'service': 'VARCHAR', 'usage_type': 'VARCHAR', 'operation': 'VARCHAR', 'resource_id': 'VARCHAR', 'amount': 'DOUBLE', 'unit': 'VARCHAR', 'cost': 'DOUBLE', 'currency': 'VARCHAR'})`,
          [csv],
        )
        await commitStaged(store, {
          bytes: 0,
          container: 'csv',
          contentHash: `bench-${hash++}`,
          coverEnd: dayString(file.cover[1]),
          coverStart: dayString(file.cover[0]),
          family: file.family,
          format: file.family === 'cur' ? 'cur1' : 'usage-report',
          lineItems: file.rows.length,
          path: file.path,
          scope: file.family === 'cur' ? 'all' : 'listed',
        })
      })
      onProgress?.(hash, ordered.length)
    }
  } finally {
    rmSync(dir, {force: true, recursive: true})
  }
}

export interface ClassScore {
  scenarios: number
  trueSteps: number
  found: number
  reported: number
  correct: number
  falseSteps: number
  falseSpikes: number
  seriesYears: number
  withDriver: number
  driverRight: number
}

export interface Score {
  byClass: Map<string, ClassScore>
  total: ClassScore
  misses: string[]
}

const STEP_DAYS = 1
const RATIO_TOLERANCE = 0.25

function ratioClose(found: number, truth: number): boolean {
  if (!Number.isFinite(found) || !Number.isFinite(truth)) return false
  return Math.abs(Math.log(found / truth)) <= Math.log(1 + RATIO_TOLERANCE)
}

/**
 * Matches the findings to the labels per account: a step is right when its day is within a day of a true step's
 * and its ratio within 25% of the total's (or, for a resource's own finding, of that resource's). A step that
 * matches nothing is false; so is a spike on a day that is not a true spike's.
 */
export function score(scenarios: Scenario[], result: Pick<AnomaliesResult, 'spikes' | 'steps'>): Score {
  const empty = (): ClassScore => ({
    correct: 0,
    driverRight: 0,
    falseSpikes: 0,
    falseSteps: 0,
    found: 0,
    reported: 0,
    scenarios: 0,
    seriesYears: 0,
    trueSteps: 0,
    withDriver: 0,
  })
  const byClass = new Map<string, ClassScore>()
  const total = empty()
  const misses: string[] = []
  const stepsByAccount = new Map<string, Step[]>()
  for (const step of result.steps) stepsByAccount.set(step.account, [...(stepsByAccount.get(step.account) ?? []), step])
  const spikesByAccount = new Map<string, string[]>()
  for (const spike of result.spikes)
    spikesByAccount.set(spike.account, [...(spikesByAccount.get(spike.account) ?? []), spike.date])
  for (const scenario of scenarios) {
    const score = byClass.get(scenario.kind) ?? empty()
    byClass.set(scenario.kind, score)
    const add = (key: keyof ClassScore, n = 1) => {
      score[key] += n
      total[key] += n
    }
    add('scenarios')
    add('seriesYears', scenario.seriesYears)
    add('trueSteps', scenario.steps.length)
    for (const account of scenario.accounts) {
      const reported = stepsByAccount.get(account) ?? []
      add('reported', reported.length)
      const used = new Set<Step>()
      for (const truth of scenario.steps.filter((s) => s.account === account)) {
        const candidates = reported.filter((s) => !used.has(s) && Math.abs(dayNumber(s.date) - truth.day) <= STEP_DAYS)
        const resourceOwn = (s: Step) => s.drivers.length === 0 && s.resourceId === truth.resourceId
        // The finding's ratio is its own series': the account total's, a usage type's, or a resource's.
        const expected = (s: Step) =>
          resourceOwn(s) ? truth.ratio : s.usageType === truth.usageType ? truth.typeRatio : truth.totalRatio
        const match = candidates.find((s) => ratioClose(s.ratio, expected(s)))
        const near = match ?? candidates[0]
        if (near) {
          used.add(near)
          add('found')
        }
        if (!match) {
          misses.push(
            `${scenario.kind} #${scenario.id} ${account}: step ${dayString(truth.day)} total ${truth.totalRatio.toPrecision(3)}x (${truth.resourceId} ${truth.ratio.toPrecision(3)}x) ${near ? `found ${near.date} ${near.ratio}x` : 'missed'}`,
          )
          continue
        }
        add('correct')
        add('withDriver')
        const lead = resourceOwn(match)
          ? {ratio: match.ratio, resourceId: match.resourceId}
          : (match.drivers.find((d) => d.resourceId !== null) ?? null)
        if (lead !== null && ratioClose(lead.ratio, truth.ratio) && lead.resourceId === truth.resourceId)
          add('driverRight')
        else
          misses.push(
            `${scenario.kind} #${scenario.id} ${account}: driver of ${match.date}: ${lead ? `${lead.resourceId} ${lead.ratio}x` : 'none'}, truth ${truth.resourceId} ${truth.ratio.toPrecision(3)}x`,
          )
      }
      for (const step of reported) {
        if (used.has(step)) continue
        add('falseSteps')
        misses.push(
          `${scenario.kind} #${scenario.id} ${account}: false step ${step.date} ${step.ratio}x ${step.resourceId ?? ''}${step.tentative ? ' (tentative)' : ''}`,
        )
      }
      const spikeDays = new Set(
        scenario.spikeDays.find((s) => s.account === account)?.days.flatMap((d) => [d - 1, d, d + 1]) ?? [],
      )
      // One false spike per day, however many series show it.
      for (const date of new Set(spikesByAccount.get(account) ?? [])) {
        if (spikeDays.has(dayNumber(date))) continue
        add('falseSpikes')
        misses.push(`${scenario.kind} #${scenario.id} ${account}: false spike ${date}`)
      }
    }
  }
  return {byClass, misses, total}
}

/** The per-class table and the totals against the issue's targets. */
export function renderScore(result: Score): string {
  const row = (name: string, s: ClassScore) => {
    const precision = s.reported === 0 ? 1 : s.correct / Math.max(1, s.correct + s.falseSteps + (s.found - s.correct))
    const recall = s.trueSteps === 0 ? 1 : s.correct / s.trueSteps
    return [
      name.padEnd(12),
      String(s.scenarios).padStart(5),
      String(s.trueSteps).padStart(6),
      precision.toFixed(3).padStart(9),
      recall.toFixed(3).padStart(7),
      (s.falseSteps / s.seriesYears).toFixed(3).padStart(12),
      (s.falseSpikes / s.seriesYears).toFixed(3).padStart(13),
      (s.withDriver === 0 ? '-' : (s.driverRight / s.withDriver).toFixed(3)).padStart(12),
    ].join(' ')
  }
  const head = [
    'class'.padEnd(12),
    'scen.'.padStart(5),
    'steps'.padStart(6),
    'precision'.padStart(9),
    'recall'.padStart(7),
    'false st./sy'.padStart(12),
    'false sp./sy'.padStart(13),
    'driver right'.padStart(12),
  ].join(' ')
  const lines = [head, '-'.repeat(head.length)]
  for (const kind of SCENARIO_CLASSES) {
    const s = result.byClass.get(kind)
    if (s) lines.push(row(kind, s))
  }
  lines.push('-'.repeat(head.length), row('all', result.total))
  return lines.join('\n')
}

/** The headline figures the issue sets targets for. */
export function headline(result: Score): {
  precision: number
  recall: number
  falseStepsPerSeriesYear: number
  falseSpikesPerSeriesYear: number
  driverRight: number
} {
  const s = result.total
  return {
    driverRight: s.withDriver === 0 ? 1 : s.driverRight / s.withDriver,
    falseSpikesPerSeriesYear: s.falseSpikes / s.seriesYears,
    falseStepsPerSeriesYear: s.falseSteps / s.seriesYears,
    precision: s.correct / Math.max(1, s.correct + s.falseSteps + (s.found - s.correct)),
    recall: s.trueSteps === 0 ? 1 : s.correct / s.trueSteps,
  }
}
