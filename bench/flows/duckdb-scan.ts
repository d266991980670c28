/**
 * A bare DuckDB scan of a flow-log file: read every record with the same CSV settings billwatch uses,
 * sum the bytes column. No grouping, no store.
 *   node --import tsx bench/flows/duckdb-scan.ts FILE
 */
import {DuckDBInstance} from '@duckdb/node-api'

const file = process.argv[2] as string
const columns = Array.from({length: 14}, (_, i) => `'c${i}': 'VARCHAR'`).join(', ')
const instance = await DuckDBInstance.create(':memory:')
const db = await instance.connect()
const reader = await db.runAndReadAll(`SELECT count(*)::BIGINT AS n, sum(TRY_CAST(c9 AS BIGINT))::BIGINT AS bytes
  FROM read_csv('${file}', delim = ' ', quote = '', escape = '', header = true, auto_detect = false, columns = {${columns}},
                compression = '${file.endsWith('.gz') ? 'gzip' : 'none'}')`)
console.log(JSON.stringify(reader.getRowObjectsJson()[0]))
db.closeSync()
instance.closeSync()
