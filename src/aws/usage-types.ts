/**
 * AWS usage-type names: `[PREFIX-]Base`, where the prefix is a region billing code (none for old
 * us-east-1) or, for CloudFront, an edge area. See ../shared/research/formats.md §1.3–1.4.
 */
const REGION_CODES: Record<string, string> = {
  AFS1: 'af-south-1',
  APE1: 'ap-east-1',
  APE2: 'ap-east-2',
  APN1: 'ap-northeast-1',
  APN2: 'ap-northeast-2',
  APN3: 'ap-northeast-3',
  APS1: 'ap-southeast-1',
  APS2: 'ap-southeast-2',
  APS3: 'ap-south-1',
  APS4: 'ap-southeast-3',
  APS5: 'ap-south-2',
  APS6: 'ap-southeast-4',
  APS7: 'ap-southeast-5',
  APS8: 'ap-southeast-6',
  APS9: 'ap-southeast-7',
  CAN1: 'ca-central-1',
  CAN2: 'ca-west-1',
  CNN1: 'cn-north-1',
  CNW1: 'cn-northwest-1',
  CPT: 'af-south-1',
  EU: 'eu-west-1',
  EUC1: 'eu-central-1',
  EUC2: 'eu-central-2',
  EUN1: 'eu-north-1',
  EUS1: 'eu-south-1',
  EUS2: 'eu-south-2',
  EUW1: 'eu-west-1',
  EUW2: 'eu-west-2',
  EUW3: 'eu-west-3',
  ILC1: 'il-central-1',
  MEC1: 'me-central-1',
  MES1: 'me-south-1',
  MXC1: 'mx-central-1',
  SAE1: 'sa-east-1',
  UGE1: 'us-gov-east-1',
  UGW1: 'us-gov-west-1',
  USE1: 'us-east-1',
  USE2: 'us-east-2',
  USW1: 'us-west-1',
  USW2: 'us-west-2',
}

const CLOUDFRONT_EDGES: Record<string, string> = {
  AP: 'edge-asia-pacific',
  AU: 'edge-australia',
  CA: 'edge-canada',
  EU: 'edge-europe',
  IN: 'edge-india',
  JP: 'edge-japan',
  ME: 'edge-middle-east',
  SA: 'edge-south-america',
  US: 'edge-united-states',
  ZA: 'edge-south-africa',
}

export interface ParsedUsageType {
  /** The usage type without its region prefix, e.g. `DataTransfer-Out-Bytes`. */
  base: string
  /** Region (or CloudFront edge area); us-east-1 when no prefix; undefined when the prefix is unknown. */
  region: string | undefined
  prefix: string | undefined
}

export function parseUsageType(usageType: string, service?: string): ParsedUsageType {
  const trimmed = usageType.trim()
  const match = /^([A-Z]{2,4}\d?)-(.+)$/.exec(trimmed)
  const isCloudFront = service === 'AmazonCloudFront'
  if (match) {
    const prefix = match[1]!
    const rest = match[2]!
    const region = isCloudFront ? CLOUDFRONT_EDGES[prefix] : REGION_CODES[prefix]
    // A pair like USW2-USE1-AWS-Out-Bytes: the first code is the billing region.
    if (region !== undefined) return {base: rest, prefix, region}
  }
  return {base: trimmed, prefix: undefined, region: isCloudFront ? undefined : 'us-east-1'}
}

/** Internet egress: `[REGION-]DataTransfer-Out-Bytes` (not inter-region `-AWS-Out-`, not CloudFront). */
export function isInternetEgress(usageType: string): boolean {
  return /^(?:[A-Z]{2,4}\d?-)?DataTransfer-Out-Bytes$/.test(usageType.trim())
}

export function isInternetIngress(usageType: string): boolean {
  return /^(?:[A-Z]{2,4}\d?-)?DataTransfer-In-Bytes$/.test(usageType.trim())
}

/** True for usage types measured in bytes (billed in GB by CUR/FOCUS/CE; bytes in the legacy report). */
export function isByteUsage(usageType: string): boolean {
  return usageType.trim().endsWith('Bytes')
}

/** The base of internet egress in every provider's rows (AWS usage types end in it). */
export const EGRESS_BASE = 'DataTransfer-Out-Bytes'

/** Internet egress as stored: an AWS usage type, or another provider's meter that ingest marked as egress. */
export function isEgressUsage(usageType: string, usageBase?: null | string): boolean {
  return usageBase === EGRESS_BASE || isInternetEgress(usageType)
}

/**
 * The usage-type prefix AWS writes for a region (`USW2-`), '' for us-east-1 (written without one),
 * undefined for a region without a known billing code. Older and ambiguous codes (CPT, EUW1) are
 * read but never written.
 */
export function usageTypePrefix(region: string): string | undefined {
  if (region === 'us-east-1') return ''
  const code = Object.entries(REGION_CODES).find(
    ([code, r]) => r === region && code !== 'CPT' && code !== 'EUW1' && code !== 'USE1',
  )?.[0]
  return code === undefined ? undefined : `${code}-`
}

/** Every region with a billing code, and the prefix AWS writes for it. */
export function regionPrefixes(): [string, string][] {
  const regions = [...new Set(Object.values(REGION_CODES))]
  return regions.map((region) => [region, usageTypePrefix(region) ?? ''] as [string, string])
}
