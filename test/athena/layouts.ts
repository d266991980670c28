/**
 * Billing exports as Parquet, laid out as AWS writes them for Athena, from the labelled CSV writers
 * of test/ingest/billing-exports.ts (so every layout holds the same known egress):
 * - CUR 1.0 Athena integration (billing-exports-2.md §3.1): `<report>/year=YYYY/month=M/<report>-00001.snappy.parquet`,
 *   names by the integration's rule (lineItem/UsageType → line_item_usage_type), dates timestamp,
 *   costs and amounts double, rates string, the identity_* columns kept.
 * - CUR 2.0 Data Export (§2.1): `BILLING_PERIOD=YYYY-MM/<export>-00001.snappy.parquet`, product as map<string,string>.
 * - FOCUS 1.0 Data Export (§2.2): `BILLING_PERIOD=YYYY-MM/…`, FOCUS names as written (Glue lower-cases them).
 * DuckDB converts each CSV, one file per month.
 */
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {DuckDBInstance} from '@duckdb/node-api'

import {cur1, cur2, type EgressDay, focus} from '../ingest/billing-exports.js'

/** The CUR 1.0 Athena integration's column-name rule (billing-exports-2.md §3.1). */
export function athenaColumnName(name: string): string {
  return name
    .replaceAll(/([A-Z])/g, '_$1')
    .toLowerCase()
    .replaceAll(/[^a-z0-9]/g, '_')
    .replaceAll(/_+/g, '_')
    .replace(/^_|_$/g, '')
}

const isDate = (name: string) => /date$|(period|charge)_?(start|end)$|PeriodStart$|PeriodEnd$/i.test(name)
const isNumber = (name: string) => /(cost|amount|quantity|factor)$/i.test(name) && !/unit|rate|price/i.test(name)

export type Layout = 'cur1' | 'cur2' | 'focus'

export interface WrittenLayout {
  root: string
  partitionKeys: string[]
  files: string[]
}

/** Writes `days` (grouped by month) in `layout` under `dir`; returns the table folder and its files. */
export async function writeLayout(dir: string, layout: Layout, days: EgressDay[]): Promise<WrittenLayout> {
  const root = join(dir, layout)
  const db = await DuckDBInstance.create(':memory:')
  const sql = await db.connect()
  const files: string[] = []
  try {
    const months = [...new Set(days.map((d) => d.day.slice(0, 7)))]
    for (const month of months) {
      const mine = days.filter((d) => d.day.startsWith(month))
      const text = layout === 'cur1' ? cur1(mine) : layout === 'cur2' ? cur2(mine) : focus('1.0', mine)
      const csvPath = join(dir, `${layout}-${month}.csv`)
      writeFileSync(csvPath, text)
      const header = text.slice(0, text.indexOf('\n')).split(',')
      const select = header.map((column) => {
        const name = layout === 'cur1' ? athenaColumnName(column) : column
        const quoted = `"${column.replaceAll('"', '""')}"`
        if (layout === 'cur2' && column === 'product')
          return `MAP(['product_name', 'region'], [json_extract_string(${quoted}, '$.product_name'), json_extract_string(${quoted}, '$.region')]) AS product`
        const read = layout === 'focus' ? `nullif(${quoted}, '')` : quoted
        if (isDate(column)) return `CAST(CAST(${read} AS TIMESTAMPTZ) AS TIMESTAMP) AS "${name}"`
        if (isNumber(column)) return `CAST(nullif(${quoted}, '') AS DOUBLE) AS "${name}"`
        return `${read} AS "${name}"`
      })
      const folder =
        layout === 'cur1'
          ? join(root, `year=${month.slice(0, 4)}`, `month=${Number(month.slice(5))}`)
          : join(root, `BILLING_PERIOD=${month}`)
      mkdirSync(folder, {recursive: true})
      const file = join(
        folder,
        `${layout === 'cur1' ? 'myreport' : layout === 'cur2' ? 'cur2-export' : 'focus-export'}-00001.snappy.parquet`,
      )
      await sql.run(`SET TimeZone = 'UTC'`)
      await sql.run(
        `COPY (SELECT ${select.join(', ')} FROM read_csv('${csvPath}', header = true, all_varchar = true)) TO '${file}' (FORMAT parquet, COMPRESSION snappy)`,
      )
      files.push(file)
    }
  } finally {
    sql.closeSync()
    db.closeSync()
  }
  return {files, partitionKeys: layout === 'cur1' ? ['year', 'month'] : ['billing_period'], root}
}
