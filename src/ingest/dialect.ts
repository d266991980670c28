/**
 * The few SQL spellings where DuckDB (the local store) and Trino (Amazon Athena) differ. Everything
 * else the scan plans write (CAST, TRY_CAST, CASE, coalesce, substr, FILTER (WHERE …), positional
 * GROUP BY) is common to both, so one plan renders to either engine.
 */
export interface SqlDialect {
  readonly name: 'duckdb' | 'trino'
  /** True when the RE2/Java pattern matches anywhere in the text (NULL for NULL text). */
  regexMatches(text: string, pattern: string): string
  /** One of a group's non-NULL values, for columns that follow from the grouping keys. */
  anyValue(expression: string): string
  isFinite(expression: string): string
}

export const DUCKDB: SqlDialect = {
  anyValue: (expression) => `any_value(${expression})`,
  isFinite: (expression) => `isfinite(${expression})`,
  name: 'duckdb',
  regexMatches: (text, pattern) => `regexp_matches(${text}, ${pattern})`,
}

export const TRINO: SqlDialect = {
  // Trino's arbitrary() skips NULLs but any engine may pick a different value; max() is the same on every run.
  anyValue: (expression) => `max(${expression})`,
  isFinite: (expression) => `is_finite(${expression})`,
  name: 'trino',
  regexMatches: (text, pattern) => `regexp_like(${text}, ${pattern})`,
}
