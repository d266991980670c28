/** Epoch ms → `2014-03-29T18:41:36Z` (ISO 8601 UTC, whole seconds). */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}
