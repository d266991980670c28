/**
 * A step in words, led by what moved: "i-0abc went from 30 MB to 9 GB a day, 300x; the account's egress rose
 * 4x". The anomalies table, explain, the HTML report and the Lambda's alert all say it this way.
 */
import {formatBytes, formatCount, formatCountOf, formatRatio} from '../core/units.js'
import {EGRESS_LABEL} from './series.js'
import type {Driver, Step} from './types.js'

/** An amount in its unit, three significant figures: "8.9 GB", "1,230 hours". */
export function formatAmount(value: number, unit: string): string {
  return unit === 'bytes' ? formatBytes(value) : `${formatCount(Number(value.toPrecision(3)))} ${unit}`
}

/** The driver a person acts on: the resource with the largest share, else the usage type with the largest share. */
export function leadDriver(step: Pick<Step, 'drivers'>): Driver | undefined {
  return step.drivers.find((d) => d.resourceId !== null) ?? step.drivers[0]
}

/** "30 MB to 9 GB a day, 300x" (a fall: "9 GB to 30 MB a day, 300x down"). */
export function levelChange(levelBefore: number, levelAfter: number, ratio: number, unit: string): string {
  return `${formatAmount(levelBefore, unit)} to ${formatAmount(levelAfter, unit)} a day, ${magnitude(ratio)}`
}

/** 300x, or "10x down" for a fall to a tenth. */
export function magnitude(ratio: number): string {
  if (ratio >= 1 || !(ratio > 0)) return formatRatio(ratio)
  return `${formatRatio(1 / ratio)} down`
}

/** What the series is, in words: "egress" for the default internet egress sum, else its usage type. */
export function seriesWords(usageType: string): string {
  return usageType === EGRESS_LABEL ? 'egress' : usageType
}

/** The driver (or the series itself) first, then the series' own change. */
export function describeStep(
  step: Pick<
    Step,
    'direction' | 'drivers' | 'levelAfter' | 'levelBefore' | 'ratio' | 'resourceId' | 'unit' | 'usageType'
  >,
): string {
  const lead = leadDriver(step)
  const own = `${seriesWords(step.usageType)} ${step.direction === 'up' ? 'rose' : 'fell'} ${formatRatio(step.ratio >= 1 ? step.ratio : 1 / step.ratio)}`
  if (lead) {
    const who = lead.resourceId ?? lead.usageType
    return `${who} went from ${levelChange(lead.levelBefore, lead.levelAfter, lead.ratio, step.unit)}; the account's ${own}`
  }
  const who =
    step.resourceId === null ? `the account's ${seriesWords(step.usageType)}` : `${step.resourceId} (${step.usageType})`
  return `${who} went from ${levelChange(step.levelBefore, step.levelAfter, step.ratio, step.unit)}`
}

/** "" or " (tentative: only 3 days of data since)". */
export function tentativeNote(step: Pick<Step, 'daysAfter' | 'tentative'>): string {
  return step.tentative ? ` (tentative: only ${formatCountOf(step.daysAfter, 'day')} of data since)` : ''
}
