import {Flags} from '@oclif/core'

import type {EvidenceOptions} from '../explain/evidence.js'

/** The evidence inputs `explain` and `report` both take; each falls back to what the store holds. */
export const evidenceFlags = {
  pcap: Flags.string({description: 'A capture to analyse now (default: the last `billwatch pcap` result in the store).', helpValue: 'FILE'}),
  'price-per-gb': Flags.string({description: 'Flat USD per GB (2^30 bytes) instead of the store\'s cost or today\'s AWS price, as in anomalies.', helpValue: 'USD'}),
  probe: Flags.string({description: 'Probe this NTP host now (default: the last `billwatch probe` result in the store).', helpValue: 'HOST[:PORT]'}),
  repo: Flags.string({description: 'Configuration repository (etckeeper /etc) to correlate the step with (default: the last `billwatch correlate` result in the store).', helpValue: 'DIR'}),
}

export function evidenceOptions(flags: {pcap?: string; 'price-per-gb'?: string; probe?: string; repo?: string}, usage: (message: string, field: string) => never): EvidenceOptions {
  const options: EvidenceOptions = {}
  if (flags.pcap !== undefined) options.pcap = flags.pcap
  if (flags.probe !== undefined) options.probe = flags.probe
  if (flags.repo !== undefined) options.repo = flags.repo
  if (flags['price-per-gb'] !== undefined) {
    const price = Number(flags['price-per-gb'])
    if (flags['price-per-gb'].trim() === '' || !(price >= 0)) usage(`--price-per-gb must be a non-negative number of USD per GB, got "${flags['price-per-gb']}"`, 'price-per-gb')
    options.pricePerGb = price
  }
  return options
}
