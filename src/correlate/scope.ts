/**
 * Where a step happened: the regions and resources whose usage grew from the week before to the step
 * day. The account's history is asked about those regions (CloudTrail is per region), and a change to
 * one of those resources ranks above a change elsewhere.
 */
import {EGRESS_LABEL} from '../anomalies/series.js'
import {isInternetEgress} from '../aws/usage-types.js'
import type {Store} from '../store/index.js'
import type {StepInput} from './types.js'

const DRIVERS_KEPT = 5

interface Row {
  usage_type: string
  region: null | string
  resource_id: null | string
  before: number
  after: number
}

/** The step with `regions` and `drivers` (largest growth first) filled in from the store's usage. */
export async function scopeStep(store: Store, step: StepInput): Promise<StepInput> {
  const rows = await store.all<Row>(
    `SELECT usage_type, region, resource_id,
            coalesce(sum(amount) FILTER (WHERE day < $day::DATE), 0) / 7 AS before,
            coalesce(sum(amount) FILTER (WHERE day = $day::DATE), 0) AS after
     FROM usage WHERE day >= $day::DATE - INTERVAL 7 DAY AND day <= $day::DATE GROUP BY ALL`,
    {day: step.date},
  )
  const selected = rows.filter((r) => (step.usageType === EGRESS_LABEL ? isInternetEgress(r.usage_type) : r.usage_type === step.usageType))
  const grew = (r: Row) => (step.direction === 'up' ? r.after - r.before : r.before - r.after)
  const sum = (key: 'region' | 'resource_id') => {
    const out = new Map<string, number>()
    for (const r of selected) if (r[key] !== null) out.set(r[key]!, (out.get(r[key]!) ?? 0) + grew(r))
    return [...out].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).map(([k]) => k)
  }
  const drivers = [...new Set([...(step.resourceId ? [step.resourceId] : []), ...sum('resource_id')])].slice(0, DRIVERS_KEPT)
  return {...step, drivers, regions: sum('region')}
}
