/**
 * The papaparse streaming baseline: the same daily internet-egress sums billwatch computes,
 * done the JavaScript way (one object per row). Prints JSON {day: bytes}.
 *   node --import tsx bench/ingest/papaparse-baseline.ts FILE
 */
import {createReadStream} from 'node:fs'

import Papa from 'papaparse'

import {isInternetEgress} from '../../src/aws/usage-types.js'

const file = process.argv[2]!
const sums = new Map<string, number>()
await new Promise<void>((resolve, reject) => {
  Papa.parse<Record<string, string>>(createReadStream(file) as unknown as File, {
    complete: () => resolve(),
    error: reject,
    header: true,
    skipEmptyLines: true,
    step: (result) => {
      const row = result.data
      if (row['lineItem/LineItemType'] !== 'Usage' || !isInternetEgress(row['lineItem/UsageType'] ?? '')) return
      const day = (row['lineItem/UsageStartDate'] ?? '').slice(0, 10)
      sums.set(day, (sums.get(day) ?? 0) + Number(row['lineItem/UsageAmount']) * 2 ** 30)
    },
  })
})
console.log(JSON.stringify(Object.fromEntries([...sums].sort())))
