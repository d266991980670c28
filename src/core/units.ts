/**
 * Amounts in words: bytes, money, counts, shares, ratios. Pure and below every layer, because a domain's
 * result carries sentences (a correlation's reason, a probe's conclusion) as well as the terminal does.
 */

/** 8900113820 → "8.29 GB" (binary units, as AWS bills: 1 GB = 2^30 bytes). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes)
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB']
  let value = Math.abs(bytes)
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  const digits = unit === 0 ? 0 : value >= 100 ? 0 : value >= 10 ? 1 : 2
  return `${bytes < 0 ? '-' : ''}${value.toFixed(digits)} ${units[unit]}`
}

/** What a figure reads as when the evidence cannot support it (null in JSON; the report's warnings say why). */
export const WITHHELD = 'withheld'

/** 480 → "$480.00"; 0.0042 → "$0.0042"; null → "withheld". */
export function formatUsd(usd: null | number): string {
  if (usd === null) return WITHHELD
  if (!Number.isFinite(usd)) return String(usd)
  const abs = Math.abs(usd)
  const digits = abs !== 0 && abs < 0.01 ? 4 : 2
  return `${usd < 0 ? '-' : ''}$${abs.toLocaleString('en-US', {maximumFractionDigits: digits, minimumFractionDigits: digits})}`
}

/**
 * An amount in the currency it was billed in: "$480.00" for USD only, "NOK 30.00" (the ISO code)
 * for any other, the bare number when the currency is unknown. Never converts.
 */
export function formatMoney(amount: number, currency: null | string | undefined): string {
  if (currency === 'USD') return formatUsd(amount)
  if (!Number.isFinite(amount)) return String(amount)
  const abs = Math.abs(amount)
  const digits = abs !== 0 && abs < 0.01 ? 4 : 2
  const number = `${amount < 0 ? '-' : ''}${abs.toLocaleString('en-US', {maximumFractionDigits: digits, minimumFractionDigits: digits})}`
  return currency ? `${currency} ${number}` : `${number} (currency not stated)`
}

/** An amount in its usage unit: bytes as formatBytes does, anything else as "1,234 Requests". */
export function formatAmount(value: number, unit: string): string {
  return unit === 'bytes' ? formatBytes(value) : `${formatCount(value)} ${unit}`
}

/** n.toFixed(digits), or "withheld" for a figure the evidence cannot support. */
export function formatFixed(n: null | number, digits: number): string {
  return n === null ? WITHHELD : n.toFixed(digits)
}

/** 248777 → "248,777". */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US', {maximumFractionDigits: 2})
}

/** (1, 'client') → "1 client"; (1079, 'request') → "1,079 requests"; (2, 'reply', 'replies') → "2 replies". */
export function formatCountOf(n: number, singular: string, plural = `${singular}s`): string {
  return `${formatCount(n)} ${n === 1 ? singular : plural}`
}

/** 0.9965 → "99.6%". */
export function formatShare(share: number, digits = 1): string {
  return `${(share * 100).toFixed(digits)}%`
}

/** 2137.4 → "2137x"; 1.83 → "1.8x". */
export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return '∞'
  return ratio >= 10 ? `${Math.round(ratio)}x` : `${ratio.toFixed(1)}x`
}

/** `text` cut to at most `max` characters, the cut marked with an ellipsis. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}
