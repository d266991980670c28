/**
 * Where a step happened: the regions and resources whose usage grew from the week before to the step
 * day. The account's history is asked about those regions (CloudTrail is per region), and a change to
 * one of those resources ranks above a change elsewhere.
 */
import {EGRESS_LABEL} from '../anomalies/series.js'
import {isInternetEgress} from '../aws/usage-types.js'
import type {StepInput} from './types.js'

const DRIVERS_KEPT = 5

/** One usage line around the step day: its mean daily amount over the week before, and its amount on the day. */
export interface UsageLineAround {
  usageType: string
  region: null | string
  resourceId: null | string
  dailyBefore: number
  onDay: number
}

/** The step with `regions` and `drivers` (largest growth first) filled in from the usage lines around its day. */
export function scopeStep(step: StepInput, lines: UsageLineAround[]): StepInput {
  const selected = lines.filter((r) =>
    step.usageType === EGRESS_LABEL ? isInternetEgress(r.usageType) : r.usageType === step.usageType,
  )
  const grew = (r: UsageLineAround) => (step.direction === 'up' ? r.onDay - r.dailyBefore : r.dailyBefore - r.onDay)
  const sum = (key: 'region' | 'resourceId') => {
    const out = new Map<string, number>()
    for (const r of selected) {
      const name = r[key]
      if (name !== null) out.set(name, (out.get(name) ?? 0) + grew(r))
    }
    return [...out]
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([k]) => k)
  }
  const drivers = [...new Set([...(step.resourceId ? [step.resourceId] : []), ...sum('resourceId')])].slice(
    0,
    DRIVERS_KEPT,
  )
  return {...step, drivers, regions: sum('region')}
}
