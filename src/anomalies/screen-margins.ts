/**
 * Margins of the screen, on the natural log of daily usage, as screenMargins (analyse.ts) sets them and the store's
 * screenResourceSeries applies them: a series whose every fortnight, first and last days (up to six) and day stays
 * within them of its neighbours' means cannot hold a finding.
 */
export interface ScreenMargins {
  /** A series whose largest day is less than this multiple of its smallest holds no change of that size. */
  minRatio: number
  /**
   * Two neighbouring fortnights' means (shorter at the ends of the data): more than step apart, and more than
   * stepNoise × noise × √(1/days before + 1/days after).
   */
  step: number
  stepNoise: number
  /** The highest and lowest whole fortnight: max(step, spreadNoise × noise). */
  spreadNoise: number
  /**
   * The means of all days before and after a week's end: more than split apart, and more than
   * splitNoise × √(3 ln n) × noise × √(1/days before + 1/days after) in a series of n days.
   */
  split: number
  splitNoise: number
  /**
   * The mean of the last k days (k = 1 … edgeDays) against the fourteen days before them, and of the first k
   * (k = 2 … edgeDays) against the fourteen after: max(tail, tailNoise × noise / √k).
   */
  edgeDays: number
  tail: number
  tailNoise: number
  /**
   * A day against the mean of its week and the weeks on either side: max(spike, spikeNoise × spikeShare(n) × noise)
   * in a series of n days; the mean of two or three days ending on a day: max(spike, spikeNoise × noise / √k).
   */
  spike: number
  spikeNoise: number
}
