import {Flags} from '@oclif/core'

import type {EvidenceOptions} from '../explain/evidence.js'
import {parsePricePerGb, pricePerGbFlag} from './price-flag.js'

/** The evidence inputs `explain` and `report` both take; each falls back to what the store holds. */
export const evidenceFlags = {
  'aws-config': Flags.string({
    description:
      'AWS Config history (files as delivered to S3, or "api") to correlate the step with, as `billwatch correlate --aws-config`.',
    helpValue: 'DIR|api',
  }),
  cloudtrail: Flags.string({
    description:
      'CloudTrail (log files, a Lake/Athena CSV, or "api") to correlate the step with, as `billwatch correlate --cloudtrail`.',
    helpValue: 'DIR|FILE|api',
  }),
  pcap: Flags.string({
    description: 'A capture to analyse now (default: the last `billwatch pcap` result in the store).',
    helpValue: 'FILE',
  }),
  'price-per-gb': pricePerGbFlag,
  probe: Flags.string({
    description: 'Probe this NTP host now (default: the last `billwatch probe` result in the store).',
    helpValue: 'HOST[:PORT]',
  }),
  repo: Flags.string({
    description:
      'Configuration repository (etckeeper /etc) to correlate the step with (default: the last `billwatch correlate` result in the store).',
    helpValue: 'DIR',
  }),
}

export function evidenceOptions(flags: {
  'aws-config'?: string | undefined
  cloudtrail?: string | undefined
  pcap?: string | undefined
  'price-per-gb'?: string | undefined
  probe?: string | undefined
  repo?: string | undefined
}): EvidenceOptions {
  const options: EvidenceOptions = {}
  if (flags.cloudtrail !== undefined) options.cloudtrail = flags.cloudtrail
  if (flags['aws-config'] !== undefined) options.awsConfig = flags['aws-config']
  if (flags.pcap !== undefined) options.pcap = flags.pcap
  if (flags.probe !== undefined) options.probe = flags.probe
  if (flags.repo !== undefined) options.repo = flags.repo
  const price = parsePricePerGb(flags['price-per-gb'])
  if (price !== undefined) options.pricePerGb = price
  return options
}

/**
 * Whether evidence is computed now (--pcap, --probe, --repo) and saved: else explain and report only read the store.
 */
export function computesEvidence(options: EvidenceOptions): boolean {
  return options.pcap !== undefined || options.probe !== undefined || options.repo !== undefined
}
