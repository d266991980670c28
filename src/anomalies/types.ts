/**
 * The contract of `billwatch anomalies` that correlate, explain, report and the Lambda build on.
 * Owned by src/anomalies; fields may be added, never renamed.
 */
/** A usage type (region) or resource whose own series stepped the same day as the finding's series. */
export interface Driver {
  usageType: string
  resourceId: null | string
  /** Its own robust level per day before and after, in the finding's unit, and their ratio. */
  levelBefore: number
  levelAfter: number
  ratio: number
  /** Its change over the finding's change (1 = all of it; can exceed 1 when something else moved the other way). */
  shareOfChange: number
}

export interface Step {
  /** The account (payer/usage account id, or the file name of an export without an account column). */
  account: string
  /** The stretch of covered days the step was found in, 'FIRST..LAST'. */
  stretch: string
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
  /** Too little evidence after the change: a step within a week of the end of the data. */
  tentative: boolean
  /** Days with data at the new level (up to the next change or the end of the data). */
  daysAfter: number
  /** What moved, largest share of the change first (empty when the step is a resource's own). */
  drivers: Driver[]
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
  account: string
  stretch: string
  date: string
  usageType: string
  resourceId: null | string
  value: number
  baseline: number
  ratio: number
  unit: string
}

/** A slow change over several days (a ramp), reported instead of a staircase of steps. */
export interface Trend {
  account: string
  stretch: string
  usageType: string
  resourceId: null | string
  /** First and last day of the ramp. */
  firstDay: string
  lastDay: string
  direction: 'down' | 'up'
  ratio: number
  levelBefore: number
  levelAfter: number
  unit: string
}
