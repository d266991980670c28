/**
 * The store's write path for usage: per-file staging tables that the ingest scans and API clients fill, and the
 * commit that normalizes the staged lines into daily usage as one new source, replacing what it restates. Every
 * statement of it is here; what a line means and which file restates which is decided in src/ingest.
 */
import {BillwatchError} from '../errors.js'
import {parseUsageType} from '../aws/usage-types.js'
import {BYTES_PER_GB} from '../pricing/egress.js'
import type {CommitOutcome, SourceMeta, StoredSource, UsageRow} from '../ingest/rows.js'
import type {Store} from './index.js'
import {unnamedAccountSql} from './schema.js'
import {
  checkUsageRow,
  EXPECTED_AMOUNT,
  EXPECTED_COST,
  expectedDay,
  type UsageField,
  usageError,
  usageProblemSql,
} from '../ingest/validate.js'

export const STAGING_TABLE = 'staged_usage'
export const STAGED_CHARGES = 'staged_charges'

/**
 * Fresh per-file staging tables; parsers fill them, `commitStaged` normalizes them into the store.
 * usage_base is set only where the parser knows it (another provider's internet egress); AWS usage
 * types are parsed on commit.
 */
export async function createStaging(store: Store): Promise<void> {
  await store.run(`CREATE OR REPLACE TEMP TABLE ${STAGING_TABLE} (
    day DATE NOT NULL, account VARCHAR, region VARCHAR, service VARCHAR, usage_type VARCHAR NOT NULL,
    operation VARCHAR, resource_id VARCHAR, amount DOUBLE, unit VARCHAR, cost DOUBLE, currency VARCHAR,
    provider VARCHAR NOT NULL DEFAULT 'AWS', usage_base VARCHAR, list_cost DOUBLE)`)
  await store.run(`CREATE OR REPLACE TEMP TABLE ${STAGED_CHARGES} (
    day DATE NOT NULL, provider VARCHAR NOT NULL DEFAULT 'AWS', account VARCHAR, region VARCHAR, service VARCHAR,
    category VARCHAR NOT NULL, cost DOUBLE, list_cost DOUBLE, currency VARCHAR)`)
}

const APPEND_BATCH = 500

/** Appends rows to the staging table through DuckDB's appender (a million rows in seconds, not minutes of INSERTs). */
export async function appendRows(store: Store, rows: Iterable<UsageRow>): Promise<void> {
  const appender = await store.appendToTemp(STAGING_TABLE)
  const text = (value: null | string) => (value === null ? appender.appendNull() : appender.appendVarchar(value))
  const number = (value: null | number) => (value === null ? appender.appendNull() : appender.appendDouble(value))
  try {
    for (const row of rows) {
      appender.appendVarchar(row.day)
      text(row.account)
      text(row.region)
      text(row.service)
      appender.appendVarchar(row.usageType)
      text(row.operation)
      text(row.resourceId)
      number(row.amount)
      text(row.unit)
      number(row.cost)
      text(row.currency)
      appender.appendVarchar(row.provider ?? 'AWS')
      appender.appendNull() // usage_base: AWS rows take it from the usage type on commit
      number(row.listCost ?? null)
      appender.endRow()
    }
    appender.flushSync()
  } finally {
    appender.closeSync()
  }
}

/** `${sqlPrefix} VALUES ($1, $2, …), (…)`, APPEND_BATCH tuples per statement, every value a parameter. */
export async function insertValues(
  store: Store,
  sqlPrefix: string,
  tuples: (null | number | string)[][],
): Promise<void> {
  for (let start = 0; start < tuples.length; start += APPEND_BATCH) {
    const params: (null | number | string)[] = []
    const placeholders = tuples.slice(start, start + APPEND_BATCH).map((tuple) => {
      const base = params.length
      params.push(...tuple)
      return `(${tuple.map((_, i) => `$${base + i + 1}`).join(', ')})`
    })
    await store.run(`${sqlPrefix} VALUES ${placeholders.join(', ')}`, params)
  }
}

/**
 * Moves the staged rows into usage_daily as one new source: rolls hourly lines up to UTC days,
 * converts GB to bytes, derives region and base usage type, and deletes what this source restates
 * from older sources of the same family (not from `batchSourceIds`: parts of one export).
 * Call inside a transaction.
 */
export async function commitStaged(
  store: Store,
  source: SourceMeta,
  batchSourceIds: number[] = [],
  options: {daily?: boolean} = {},
): Promise<CommitOutcome> {
  // Rows a DuckDB scan already rolled up are one per daily key; re-grouping a million of them costs seconds.
  const total = (expression: string) => (options.daily ? expression : `sum(${expression})`)
  await checkStaged(store, source.path)
  const span = await store.one<{first: null | string; last: null | string; after: null | string; days: number}>(
    `SELECT strftime(min(day), '%Y-%m-%d') AS first, strftime(max(day), '%Y-%m-%d') AS last,
            strftime(max(day) + INTERVAL 1 DAY, '%Y-%m-%d') AS after, count(DISTINCT day) AS days FROM ${STAGING_TABLE}`,
  )
  const coverStart = source.coverStart ?? span?.first ?? null
  const coverEnd = source.coverEnd ?? span?.after ?? null

  const inserted = await store.one<{id: number}>(
    `INSERT INTO sources (path, format, family, content_hash, bytes, cover_start, cover_end, scope, billing_period, line_items, cost_basis)
     VALUES ($1, $2, $3, $4, $5, $6::DATE, $7::DATE, $8, $9, $10, $11) RETURNING id`,
    [
      source.path,
      `${source.format}`,
      source.family,
      source.contentHash,
      source.bytes,
      coverStart,
      coverEnd,
      source.scope,
      source.billingPeriod ?? null,
      source.lineItems,
      source.costBasis ?? null,
    ],
  )
  if (!inserted) throw new BillwatchError('E_STORE', `could not record source ${source.path}`)
  const sourceId = inserted.id

  await normalizeUsageTypes(store)

  let replacedRows = 0
  if (coverStart && coverEnd) {
    const others = [sourceId, ...batchSourceIds]
    const listed =
      source.scope === 'listed' || source.scope === 'resources'
        ? `AND (coalesce(u.service, ''), u.usage_type) IN (SELECT DISTINCT coalesce(service, ''), usage_type FROM ${STAGING_TABLE})`
        : ''
    // Another instance's (or region's) CloudWatch rows stay when this fetch did not name it.
    const resources =
      source.scope === 'resources' ? `AND u.resource_id IN (SELECT DISTINCT resource_id FROM ${STAGING_TABLE})` : ''
    // A source without an account column is an account of its own, named after its file: it restates older
    // unnamed rows of a file of the same name only. A source with accounts restates those accounts' rows (and
    // unnamed rows of a file of its name).
    const sameFile = `u.account IS NULL AND u.source_id IN (SELECT id FROM sources WHERE ${unnamedAccountSql('path')} = ${unnamedAccountSql('$4')})`
    const accounts = `AND (${sameFile} OR u.account IN (SELECT DISTINCT account FROM ${STAGING_TABLE} WHERE account IS NOT NULL))`
    // A FOCUS file of one provider restates that provider only (one file may hold several).
    const providers = `AND coalesce(u.provider, 'AWS') IN (SELECT provider FROM ${STAGING_TABLE} UNION SELECT provider FROM ${STAGED_CHARGES})`
    const where = `u.day >= $1::DATE AND u.day < $2::DATE
      AND u.source_id IN (SELECT id FROM sources WHERE family = $3 AND id NOT IN (${others.join(', ')})) ${listed} ${resources} ${accounts} ${providers}`
    replacedRows = await store.run(`DELETE FROM usage_daily u WHERE ${where}`, [
      coverStart,
      coverEnd,
      source.family,
      source.path,
    ])
    // Only sources that restate everything (CUR, FOCUS, DBR) carry charges, so only they replace them.
    if (source.scope === 'all') {
      await store.run(`DELETE FROM charges_daily u WHERE ${where}`, [coverStart, coverEnd, source.family, source.path])
    }
  }

  // Every staged row joins its staged_types row, so the inserted rows span the staged days.
  // AWS usage types are parsed (staged_types); another provider's rows keep their own base and region.
  const rows = await store.run(
    `INSERT INTO usage_daily (source_id, day, account, region, service, usage_type, usage_base, operation, resource_id, amount, unit, cost, currency, provider, list_cost)
     SELECT $1 AS source_id, s.day, s.account,
            coalesce(t.prefix_region, s.region, t.default_region) AS region,
            s.service, s.usage_type, coalesce(s.usage_base, t.base, s.usage_type) AS usage_base, s.operation, s.resource_id,
            ${total(`CASE WHEN coalesce(s.usage_base, t.base) LIKE '%Bytes' AND s.unit IN ('GB', 'GiB') THEN s.amount * ${BYTES_PER_GB} ELSE s.amount END`)} AS amount,
            CASE WHEN coalesce(s.usage_base, t.base) LIKE '%Bytes' AND s.unit IN ('GB', 'GiB', 'bytes') THEN 'bytes'
                 WHEN s.unit IN ('Hrs', 'Hours', 'hours') THEN 'hours' ELSE s.unit END AS unit,
            ${total('s.cost')} AS cost, s.currency, s.provider, ${total('s.list_cost')} AS list_cost
     FROM ${STAGING_TABLE} s LEFT JOIN staged_types t
       ON s.provider = 'AWS' AND coalesce(t.service, '') = coalesce(s.service, '') AND t.usage_type = s.usage_type
     ${options.daily ? '' : 'GROUP BY ALL'}`,
    [sourceId],
  )
  await store.run(
    `INSERT INTO charges_daily (source_id, day, provider, account, region, service, category, cost, list_cost, currency)
     SELECT $1, day, provider, account, region, service, category, sum(cost), sum(list_cost), currency FROM ${STAGED_CHARGES} GROUP BY ALL`,
    [sourceId],
  )
  return {
    days: span?.days ?? 0,
    firstDay: span?.first ?? null,
    lastDay: span?.last ?? null,
    replacedRows,
    rows,
    sourceId,
  }
}

/**
 * The source stored with this content hash, if any: re-ingesting the same content is a no-op.
 * Inside a transaction it also finds sources written earlier in that transaction.
 */
export async function findSourceByHash(store: Store, contentHash: string): Promise<StoredSource | undefined> {
  const row = await store.one<{
    id: number
    billing_period: null | string
    line_items: number
    rows: number
    days: number
    first_day: null | string
    last_day: null | string
  }>(
    `SELECT s.id, s.billing_period, s.line_items, count(u.day) AS rows, count(DISTINCT u.day) AS days,
            strftime(min(u.day), '%Y-%m-%d') AS first_day, strftime(max(u.day), '%Y-%m-%d') AS last_day
     FROM sources s LEFT JOIN usage_daily u ON u.source_id = s.id WHERE s.content_hash = $1 GROUP BY ALL`,
    [contentHash],
  )
  if (!row) return undefined
  return {
    billingPeriod: row.billing_period ?? null,
    days: row.days,
    firstDay: row.first_day ?? null,
    lastDay: row.last_day ?? null,
    lineItems: row.line_items,
    rows: row.rows,
    sourceId: row.id,
  }
}

/**
 * The usage rule (validate.ts) over whatever a path staged, summed per day: the backstop every path
 * passes, whose parsers have already checked each line with its line number.
 */
async function checkStaged(store: Store, path: string): Promise<void> {
  const bad = await store.one<{day: string; problem: UsageField}>(
    `SELECT day::VARCHAR AS day, problem FROM (
       SELECT day, ${usageProblemSql({amount: 'sum(amount)', cost: 'sum(cost)', day: 'day'})} AS problem
       FROM ${STAGING_TABLE} GROUP BY day, coalesce(service, ''), usage_type, coalesce(resource_id, ''))
     WHERE problem IS NOT NULL LIMIT 1`,
  )
  if (bad)
    throw usageError(
      {
        expected: bad.problem === 'day' ? expectedDay() : bad.problem === 'amount' ? EXPECTED_AMOUNT : EXPECTED_COST,
        field: bad.problem,
      },
      {fields: {}, file: path, got: bad.day},
    )
}

/** Writes rows from an API (Cost Explorer, CloudWatch) as one source, in one transaction. */
export async function writeUsage(store: Store, source: SourceMeta, rows: UsageRow[]): Promise<CommitOutcome> {
  // An API answer has no lines: the error names the source and the day.
  for (const row of rows)
    checkUsageRow(row, {
      fields: {amount: 'amount', cost: 'cost', day: 'day'},
      file: source.path,
      raw: {amount: String(row.amount), cost: String(row.cost), day: row.day},
    })
  return store.transaction(async () => {
    await createStaging(store)
    await appendRows(store, rows)
    return commitStaged(store, source)
  })
}

/** The few hundred distinct usage types of a file, parsed once in JS (src/aws/usage-types.ts). */
async function normalizeUsageTypes(store: Store): Promise<void> {
  const distinct = await store.all<{service: null | string; usage_type: string}>(
    `SELECT DISTINCT service, usage_type FROM ${STAGING_TABLE} WHERE provider = 'AWS'`,
  )
  await store.run(
    `CREATE OR REPLACE TEMP TABLE staged_types (service VARCHAR, usage_type VARCHAR, base VARCHAR, prefix_region VARCHAR, default_region VARCHAR)`,
  )
  await insertValues(
    store,
    'INSERT INTO staged_types',
    distinct.map((row) => {
      const parsed = parseUsageType(row.usage_type, row.service ?? undefined)
      return [
        row.service,
        row.usage_type,
        parsed.base,
        parsed.prefix === undefined ? null : (parsed.region ?? null),
        parsed.prefix === undefined ? (parsed.region ?? null) : null,
      ]
    }),
  )
}

/** Names the account of every staged line that has none (ingest --account: a usage report's account). */
export async function nameStagedAccount(store: Store, account: string): Promise<void> {
  await store.run(`UPDATE ${STAGING_TABLE} SET account = $1 WHERE account IS NULL`, [account])
}

/**
 * The daily usage keys two sources are compared on: with scope 'all' (CUR, FOCUS) the whole daily line, else
 * (day, service, usage type).
 */
function stagedKey(scope: SourceMeta['scope'], alias: string): string {
  const key = scope === 'all' ? 'day, account, service, usage_type, operation, resource_id' : 'day, service, usage_type'
  return key
    .split(', ')
    .map((c) => `coalesce(${alias}.${c}::VARCHAR, '')`)
    .join(', ')
}

/** How many distinct daily keys the staged lines and a stored source have, and how many of them both. */
export async function stagedOverlap(
  store: Store,
  sourceId: number,
  scope: SourceMeta['scope'],
): Promise<{mine: number; theirs: number; shared: number}> {
  const overlap = await store.one<{mine: number; theirs: number; shared: number}>(
    `WITH mine AS (SELECT DISTINCT ${stagedKey(scope, 's')} FROM ${STAGING_TABLE} s),
          theirs AS (SELECT DISTINCT ${stagedKey(scope, 'u')} FROM usage_daily u WHERE u.source_id = $1)
     SELECT (SELECT count(*) FROM mine)::BIGINT AS mine, (SELECT count(*) FROM theirs)::BIGINT AS theirs,
            (SELECT count(*) FROM (SELECT * FROM mine INTERSECT SELECT * FROM theirs))::BIGINT AS shared`,
    [sourceId],
  )
  return overlap ?? {mine: 0, shared: 0, theirs: 0}
}

/**
 * Drops from the staging table what a newer stored source restates: with scope 'all' every staged line, else the
 * staged lines whose (day, service, usage type) the source holds.
 */
export async function dropStagedRestatedBy(store: Store, sourceId: number, scope: SourceMeta['scope']): Promise<void> {
  await store.run(
    scope === 'all'
      ? `DELETE FROM ${STAGING_TABLE}`
      : `DELETE FROM ${STAGING_TABLE} s
         WHERE (${stagedKey(scope, 's')}) IN (SELECT ${stagedKey(scope, 'u')} FROM usage_daily u WHERE u.source_id = $1)`,
    scope === 'all' ? [] : [sourceId],
  )
}
