/** Plain-text tables for the terminal: pure string building, usable by any layer that renders. */
export type Align = 'left' | 'right'

/**
 * A plain-text table: a header row, a rule, then rows. Numbers are right-aligned by default.
 * Returns a string for `this.log` (so --json suppresses it).
 */
export function renderTable(headers: string[], rows: (number | string)[][], align?: Align[]): string {
  const cells = rows.map((row) => row.map(String))
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => (row[i] ?? '').length)))
  const aligns = headers.map(
    (_, i) => align?.[i] ?? (rows.every((row) => typeof row[i] === 'number') && rows.length > 0 ? 'right' : 'left'),
  )
  const line = (values: string[]) =>
    values
      .map((v, i) => (aligns[i] === 'right' ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map((row) => line(row))].join('\n')
}
