/** The alert a new step sends: a subject line and a short narrative a person can act on. */
import {describeStep, leadDriver, magnitude, tentativeNote} from '../anomalies/describe.js'
import type {Step} from '../anomalies/types.js'
import type {DayRange} from '../aws/window.js'
import {formatMoney, formatRatio} from '../cli/format.js'

export interface Alert {
  /** SNS subjects: ASCII, at most 100 characters. */
  subject: string
  message: string
}

function line(step: Step): string {
  // What moved first (the resource and its own levels), then the series it moved.
  return `  From ${step.date}: ${describeStep(step)}${tentativeNote(step)}`
}

/**
 * One alert for steps that belong together (same days). The first step is the headline; a resource
 * named on it is the instance whose own series stepped the same day.
 */
export function alertFor(
  steps: [Step, ...Step[]],
  context: {window: DayRange; newestDay: string; topChange?: null | {reason: string; score: number}},
): Alert {
  const [head] = steps
  const monthly = steps.reduce((max, s) => Math.max(max, s.monthlyCost), 0)
  const currency = head.currency
  const yearly = monthly * 12
  const costStep = steps.map((s) => s.costStepDate).find((d) => d !== null)
  const lead = leadDriver(head)
  const subject = (
    lead
      ? `billwatch: ${lead.resourceId ?? lead.usageType} ${magnitude(lead.ratio)} from ${head.date}; ${head.usageType} ${head.direction} ${formatRatio(head.ratio)}`
      : `billwatch: ${head.usageType} ${head.direction} ${formatRatio(head.ratio)} from ${head.date}${head.resourceId === null ? '' : ` (${head.resourceId})`}`
  ).slice(0, 100)
  const cost =
    monthly > 0
      ? `At the new level this costs about ${formatMoney(monthly, currency)}/month (${formatMoney(yearly, currency)}/year) more${costStep ? `, billed from ${costStep}` : ''}.`
      : 'At the new level this costs nothing extra yet (within the free allowance or not priced).'
  const message = [
    'A new step in AWS usage (billwatch daily watch):',
    '',
    ...steps.map(line),
    '',
    cost,
    '',
    ...(context.topChange === undefined
      ? []
      : context.topChange === null
        ? ['No change in CloudTrail (this region, the week before) can explain it.', '']
        : [
            `Most likely change (CloudTrail, score ${context.topChange.score.toFixed(2)}):`,
            `  ${context.topChange.reason}`,
            '',
          ]),
    `Data: Cost Explorer and CloudWatch, ${context.window.start} to ${context.newestDay} (recent days are estimates and may still change).`,
    'Next: billwatch ingest --cost-explorer; billwatch anomalies; billwatch correlate (which change caused it).',
  ].join('\n')
  return {message, subject}
}
