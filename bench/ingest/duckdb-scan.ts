/**
 * A bare DuckDB scan of the same file: read every row, sum one column. No grouping, no store.
 *   node --import tsx bench/ingest/duckdb-scan.ts FILE
 */
import {DuckDBInstance} from '@duckdb/node-api'

const file = process.argv[2]!
const instance = await DuckDBInstance.create(':memory:')
const db = await instance.connect()
const reader =
  await db.runAndReadAll(`SELECT count(*)::BIGINT AS n, sum(TRY_CAST("lineItem/UsageAmount" AS DOUBLE)) AS s
  FROM read_csv('${file}', header = true, all_varchar = true)`)
console.log(JSON.stringify(reader.getRowObjectsJson()[0]))
db.closeSync()
instance.closeSync()
