/**
 * The bare DuckDB scan bench/flows compares ingest with: read_csv of every column of the file (as
 * named by its header line, as VARCHAR), with the same reader settings billwatch uses, and count the
 * records. No casts, no grouping, no store.
 *   node --import tsx bench/flows/duckdb-scan.ts FILE
 */
import {DuckDBInstance} from '@duckdb/node-api'

import {gunzipHead, readHead} from '../../src/ingest/sniff.js'

const file = process.argv[2]!
const gzip = file.endsWith('.gz')
const head = gzip ? await gunzipHead(file) : (await readHead(file)).toString('utf8')
const fields = (head.split('\n', 1)[0] ?? '').trim().split(' ')
const columns = fields.map((_, i) => `'c${i}': 'VARCHAR'`).join(', ')
const instance = await DuckDBInstance.create(':memory:')
const db = await instance.connect()
const reader = await db.runAndReadAll(`SELECT count(*)::BIGINT AS n
  FROM read_csv('${file}', delim = ' ', quote = '', escape = '', header = true, auto_detect = false, columns = {${columns}},
                compression = '${gzip ? 'gzip' : 'none'}', null_padding = false, strict_mode = true)`)
console.log(JSON.stringify(reader.getRowObjectsJson()[0]))
db.closeSync()
instance.closeSync()
