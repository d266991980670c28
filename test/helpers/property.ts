/**
 * How many cases a property test tries. By default the slow properties (each case ingests into a fresh store or
 * scans a capture twice) try a few cases per kind of input, so `npm run test:unit` stays under a minute and
 * `npm test` well under ten; `BILLWATCH_TEST_DEEP=1` tries the deep count, for a run after touching the code a
 * property covers or before a release. Read here, in test code only: billwatch itself never reads it.
 */
export const DEEP = process.env.BILLWATCH_TEST_DEEP === '1'

/** `deep` cases under BILLWATCH_TEST_DEEP=1, else `quick`. */
export function propertyRuns(deep: number, quick: number): number {
  return DEEP ? deep : quick
}
