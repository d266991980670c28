import {Flags} from '@oclif/core'

import {BillwatchError} from '../errors.js'

/** `--price-per-gb`, the same flag on anomalies, pcap, explain and report. */
export const pricePerGbFlag = Flags.string({
  description:
    "Price data transfer at this flat USD per GB (2^30 bytes), no free allowance, instead of the store's cost or today's AWS tiers (0.12 was the 2014 price in the NTP pool server incident).",
  helpValue: 'USD',
})

/** The flag's value as a number, or undefined when not given; anything but a number ≥ 0 is a usage error. */
export function parsePricePerGb(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const value = Number(text)
  if (text.trim() === '' || !(value >= 0) || !Number.isFinite(value)) {
    throw new BillwatchError('E_USAGE', '', {
      expected: 'a non-negative number of USD per GB',
      field: '--price-per-gb',
      got: text,
    })
  }
  return value
}
