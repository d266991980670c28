/** The alert a new step sends: a subject line and a short narrative a person can act on. */
import type {Step} from '../anomalies/types.js'
import type {DayRange} from '../aws/window.js'
import {formatBytes, formatMoney, formatRatio} from '../cli/format.js'

export interface Alert {
  /** SNS subjects: ASCII, at most 100 characters. */
  subject: string
  message: string
}

function level(value: number, unit: string): string {
  return unit === 'bytes' ? `${formatBytes(value)}/day` : `${value.toFixed(2)} ${unit}/day`
}

function line(step: Step): string {
  const what = step.resourceId === null ? step.usageType : `${step.usageType} (${step.resourceId})`
  const evidence = step.tentative ? ' (tentative: few days at the new level yet)' : ''
  return `  ${what}: ${step.direction} ${formatRatio(step.ratio)} from ${step.date}, ${level(step.levelBefore, step.unit)} -> ${level(step.levelAfter, step.unit)}${evidence}`
}

/**
 * One alert for steps that belong together (same days). The first step is the headline; a resource
 * named on it is the instance whose own series stepped the same day.
 */
export function alertFor(steps: [Step, ...Step[]], context: {window: DayRange; newestDay: string; topChange?: null | {reason: string; score: number}}): Alert {
  const [head] = steps
  const monthly = steps.reduce((max, s) => Math.max(max, s.monthlyCost), 0)
  const currency = head.currency
  const yearly = monthly * 12
  const costStep = steps.map((s) => s.costStepDate).find((d) => d !== null)
  const subject = `billwatch: ${head.usageType} ${head.direction} ${formatRatio(head.ratio)} from ${head.date}${head.resourceId === null ? '' : ` (${head.resourceId})`}`.slice(0, 100)
  const cost = monthly > 0
    ? `At the new level this costs about ${formatMoney(monthly, currency)}/month (${formatMoney(yearly, currency)}/year) more${costStep ? `, billed from ${costStep}` : ''}.`
    : 'At the new level this costs nothing extra yet (within the free allowance or not priced).'
  const message = [
    'A new step in AWS usage (billwatch daily watch):',
    '',
    ...steps.map(line),
    '',
    cost,
    '',
    ...(context.topChange === undefined ? [] : context.topChange === null ? ['No change in CloudTrail (this region, the week before) can explain it.', ''] : [`Most likely change (CloudTrail, score ${context.topChange.score.toFixed(2)}):`, `  ${context.topChange.reason}`, '']),
    `Data: Cost Explorer and CloudWatch, ${context.window.start} to ${context.newestDay} (recent days are estimates and may still change).`,
    'Next: billwatch ingest --cost-explorer; billwatch anomalies; billwatch correlate (which change caused it).',
  ].join('\n')
  return {message, subject}
}
