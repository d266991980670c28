/**
 * The dependency rule (.dependency-cruiser.cjs) against its baseline of today's violations
 * (.dependency-cruiser-known-violations.json): fails on a violation that is not in the baseline (a new upward
 * import) and on a baseline entry that no longer occurs (a fixed one: take it out, so the list only shrinks).
 * The same for SQL: a file outside src/store that writes SQL text must be listed in .sql-outside-store.json.
 *
 *   npm run deps              # check (npm test runs it)
 *   npm run deps:baseline     # rewrite the baseline from today's violations (review the diff: it may only shrink)
 */
import {execFileSync} from 'node:child_process'
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BASELINE = '.dependency-cruiser-known-violations.json'
const SQL_BASELINE = '.sql-outside-store.json'
/** SQL statements as billwatch writes them: the keyword that starts each kind of statement it issues. */
const SQL =
  /\b(SELECT|INSERT INTO|DELETE FROM|CREATE (TEMP |OR REPLACE )?(TABLE|VIEW)|UPDATE [a-z_]+ SET|COPY \(|ATTACH|DROP TABLE)\b/

/** Source files outside src/store whose text holds SQL. */
export function filesWithSql(): string[] {
  const found: string[] = []
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(ROOT, dir), {withFileTypes: true})) {
      const path = `${dir}/${entry.name}`
      if (entry.isDirectory()) {
        if (path !== 'src/store' && entry.name !== 'build') walk(path)
      } else if (entry.name.endsWith('.ts') && SQL.test(readFileSync(join(ROOT, path), 'utf8'))) {
        found.push(path)
      }
    }
  }
  walk('src')
  walk('commands')
  return found.sort()
}

interface Violation {
  from: string
  to: string
  rule: {name: string}
  cycle?: ({name: string} | string)[]
}

/** One line per violation, the same for the baseline's entries and a fresh run's. */
export function describeViolation(violation: Violation): string {
  const cycle = violation.cycle?.map((step) => (typeof step === 'string' ? step : step.name))
  return `${violation.rule.name}: ${violation.from} → ${cycle?.length ? cycle.join(' → ') : violation.to}`
}

export function currentViolations(): Violation[] {
  const bin = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs')
  let output: string
  try {
    output = execFileSync(
      process.execPath,
      [bin, '--config', '.dependency-cruiser.cjs', '--output-type', 'json', 'src', 'commands'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        maxBuffer: 256 * 1024 * 1024,
      },
    )
  } catch (error) {
    // dependency-cruiser exits non-zero when it finds violations; its JSON is on stdout all the same.
    output = (error as {stdout?: string}).stdout ?? ''
    if (!output) throw error
  }
  return (JSON.parse(output) as {summary: {violations: Violation[]}}).summary.violations
}

export function compareWithBaseline(current = currentViolations()): {added: string[]; fixed: string[]} {
  const known = new Set((JSON.parse(readFileSync(join(ROOT, BASELINE), 'utf8')) as Violation[]).map(describeViolation))
  const now = new Set(current.map(describeViolation))
  return {added: [...now].filter((v) => !known.has(v)).sort(), fixed: [...known].filter((v) => !now.has(v)).sort()}
}

export function compareSqlWithBaseline(current = filesWithSql()): {added: string[]; fixed: string[]} {
  const known = new Set(JSON.parse(readFileSync(join(ROOT, SQL_BASELINE), 'utf8')) as string[])
  return {
    added: current.filter((f) => !known.has(f)).map((f) => `sql-outside-store: ${f}`),
    fixed: [...known].filter((f) => !current.includes(f)).map((f) => `sql-outside-store: ${f}`),
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--write-sql-baseline')) {
    writeFileSync(join(ROOT, SQL_BASELINE), `${JSON.stringify(filesWithSql(), null, 2)}\n`)
    process.exit(0)
  }
  const imports = compareWithBaseline()
  const sql = compareSqlWithBaseline()
  const added = [...imports.added, ...sql.added]
  const fixed = [...imports.fixed, ...sql.fixed]
  for (const v of added) console.error(`new: ${v}`)
  for (const v of fixed) console.error(`fixed, take it out of the baseline (${BASELINE} or ${SQL_BASELINE}): ${v}`)
  if (added.length || fixed.length) {
    console.error(
      `${added.length} new and ${fixed.length} fixed dependency violations (ARCHITECTURE.md says where code goes)`,
    )
    process.exit(1)
  }
  console.log(`dependency rule: no violation beyond the baselines (${BASELINE}, ${SQL_BASELINE})`)
}
