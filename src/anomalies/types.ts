/**
 * The contract of `billwatch anomalies` that correlate, explain, report and the Lambda build on.
 * Owned by src/anomalies; fields may be added, never renamed.
 */
export interface Step {
  /** First UTC day at the new level, YYYY-MM-DD. */
  date: string
  /** Last day with usage before it (differs from the day before `date` across a gap). */
  lastDayBefore: string
  /** The series that stepped: a usage type, or 'DataTransfer-Out' for the all-region egress sum. */
  usageType: string
  resourceId: null | string
  direction: 'down' | 'up'
  /** levelAfter / levelBefore. */
  ratio: number
  /** Robust level per day before and after, in `unit`. */
  levelBefore: number
  levelAfter: number
  unit: string
  /** 0..1. */
  confidence: number
  /** Too little evidence after the change (e.g. a step on the last day). */
  tentative: boolean
  /** First day the step costs money (after the month's free allowance), YYYY-MM-DD or null. */
  costStepDate: null | string
  /** Cost change of the new level, per month and per year, in `currency` (the exports' own, or USD when priced). */
  monthlyCost: number
  yearlyCost: number
  currency: string
  /** The same in USD, present only when `currency` is USD: billwatch never converts currencies. */
  monthlyCostUsd?: number
  yearlyCostUsd?: number
}

export interface Spike {
  date: string
  usageType: string
  resourceId: null | string
  value: number
  baseline: number
  ratio: number
  unit: string
}
