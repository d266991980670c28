/**
 * Reading JSON that billwatch did not write (CloudTrail records, AWS Config items, Terraform and CloudFormation
 * documents) without `any`. Each accessor walks only the object's own keys and answers `undefined` for any other
 * shape, so a record of an unexpected shape reads as missing fields instead of throwing, and keys such as
 * `__proto__` or `constructor` never reach Object.prototype.
 */

/** A JSON object (not null, not an array). */
export type JsonRecord = Record<string, unknown>

export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The value at a path of keys (`field(record, 'userIdentity', 'arn')`), undefined where a step is missing. */
export function field(value: unknown, ...path: string[]): unknown {
  let at = value
  for (const key of path) {
    if (!isRecord(at) || !Object.hasOwn(at, key)) return undefined
    at = at[key]
  }
  return at
}

/** The string at a path, undefined for a missing key or a value of another type. */
export function stringAt(value: unknown, ...path: string[]): string | undefined {
  const at = field(value, ...path)
  return typeof at === 'string' ? at : undefined
}

/** A string or a finite number at a path (ports, protocols and rule numbers come as either). */
export function scalarAt(value: unknown, ...path: string[]): number | string | undefined {
  const at = field(value, ...path)
  return typeof at === 'string' || (typeof at === 'number' && Number.isFinite(at)) ? at : undefined
}

export function recordAt(value: unknown, ...path: string[]): JsonRecord | undefined {
  const at = field(value, ...path)
  return isRecord(at) ? at : undefined
}

/** The array at a path, or an empty one for any other value. */
export function arrayAt(value: unknown, ...path: string[]): readonly unknown[] {
  const at = field(value, ...path)
  return Array.isArray(at) ? at : []
}

/** The first of the values that is a string (for fields that several spellings of a record name). */
export function firstString(...values: unknown[]): string | undefined {
  for (const value of values) if (typeof value === 'string') return value
  return undefined
}

/** The values that are strings, in order. */
export function stringsOf(values: readonly unknown[]): string[] {
  return values.filter((value): value is string => typeof value === 'string')
}

/** The values that are non-empty strings, in order (what `.filter(Boolean)` kept of a list of names). */
export function namesOf(values: readonly unknown[]): string[] {
  return values.filter((value): value is string => typeof value === 'string' && value !== '')
}

/**
 * Every string value inside a JSON value, depth first in key order. Iterative: a hostile document nested
 * a hundred thousand levels deep (which JSON.parse accepts) would overflow the stack of a recursive walk.
 */
export function stringsIn(value: unknown): string[] {
  const out: string[] = []
  const stack: unknown[] = [value]
  while (stack.length > 0) {
    const at = stack.pop()
    if (typeof at === 'string') out.push(at)
    else if (Array.isArray(at)) for (let i = at.length - 1; i >= 0; i--) stack.push(at[i])
    else if (isRecord(at)) {
      const values = Object.values(at)
      for (let i = values.length - 1; i >= 0; i--) stack.push(values[i])
    }
  }
  return out
}

/** The key-value pairs of a JSON object, none for any other value. */
export function entriesOf(value: unknown): [string, unknown][] {
  return isRecord(value) ? Object.entries(value) : []
}
