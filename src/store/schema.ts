import {usageProblemSql} from '../ingest/validate.js'

/**
 * Forward-only migrations of the store. Each entry moves the schema from `version - 1` to `version`;
 * `schema_version` records every step applied. Never edit a released step: add a new one.
 */
export interface Migration {
  version: number
  statements: string[]
}

export const MIGRATIONS: Migration[] = [
  {
    statements: [
      `CREATE SEQUENCE source_id_seq START 1`,
      // One row per ingested file (or API fetch). cover_* is the day range [start, end) the source
      // restates; scope 'all' restates every usage type there (CUR, FOCUS), 'listed' only its own.
      `CREATE TABLE sources (
        id INTEGER PRIMARY KEY DEFAULT nextval('source_id_seq'),
        path VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        family VARCHAR NOT NULL,
        content_hash VARCHAR NOT NULL UNIQUE,
        bytes BIGINT,
        ingested_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        cover_start DATE,
        cover_end DATE,
        scope VARCHAR NOT NULL,
        billing_period VARCHAR,
        line_items BIGINT NOT NULL DEFAULT 0
      )`,
      // Normalized daily usage. amount is in the canonical unit named in unit: data transfer in bytes
      // (AWS "GB" = 2^30 bytes), instance time in hours, anything else as the export states it.
      `CREATE TABLE usage_daily (
        source_id INTEGER NOT NULL,
        day DATE NOT NULL,
        account VARCHAR,
        region VARCHAR,
        service VARCHAR,
        usage_type VARCHAR NOT NULL,
        usage_base VARCHAR NOT NULL,
        operation VARCHAR,
        resource_id VARCHAR,
        amount DOUBLE,
        unit VARCHAR,
        cost DOUBLE,
        currency VARCHAR
      )`,
      `CREATE INDEX usage_daily_day ON usage_daily(day)`,
      // Findings of other commands (pcap summaries, probe verdicts, correlations) that later commands
      // (explain, report, probe --pcap) read back instead of recomputing.
      `CREATE TABLE evidence (
        kind VARCHAR NOT NULL,
        subject VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        data JSON NOT NULL
      )`,
    ],
    version: 1,
  },
  {
    statements: [
      // One finding per kind and subject (only the newest is ever read): the table keeps the newest of
      // the runs version 1 kept, and its key holds the rule, so a save replaces in one statement.
      `CREATE TABLE evidence_v2 (
        kind VARCHAR NOT NULL,
        subject VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        data JSON NOT NULL,
        PRIMARY KEY (kind, subject)
      )`,
      // The newest rows are picked on the small columns first: findings can be large.
      `INSERT INTO evidence_v2 SELECT kind, subject, created_at, data FROM evidence WHERE rowid IN (
        SELECT rowid FROM (SELECT rowid, row_number() OVER (PARTITION BY kind, subject ORDER BY created_at DESC, rowid DESC) AS rank FROM evidence)
        WHERE rank = 1
      )`,
      `DROP TABLE evidence`,
      `ALTER TABLE evidence_v2 RENAME TO evidence`,
    ],
    version: 2,
  },
  {
    statements: [
      // Every provider's rows (FOCUS from Azure, Google Cloud, Oracle …); rows before this are AWS.
      `ALTER TABLE usage_daily ADD COLUMN provider VARCHAR DEFAULT 'AWS'`,
      // The list (public, on-demand) price beside the cost actually charged (cost).
      `ALTER TABLE usage_daily ADD COLUMN list_cost DOUBLE`,
      // Which column of the export cost holds, in words a user can check against the file.
      `ALTER TABLE sources ADD COLUMN cost_basis VARCHAR`,
      // Charges that are not usage (Credit, Tax, Purchase, Adjustment, fees, corrections of earlier
      // periods): kept as cost, per day, provider and currency, never in a usage series.
      `CREATE TABLE charges_daily (
        source_id INTEGER NOT NULL,
        day DATE NOT NULL,
        provider VARCHAR,
        account VARCHAR,
        region VARCHAR,
        service VARCHAR,
        category VARCHAR NOT NULL,
        cost DOUBLE,
        list_cost DOUBLE,
        currency VARCHAR
      )`,
    ],
    version: 3,
  },
  {
    statements: [
      // Rows no bill can hold (a day before AWS billed or years ahead, an amount or cost that is not a
      // finite number) were let in before the usage rule (src/ingest/validate.ts) and broke every
      // reading command; they are dropped, and a source's cover is cut back to the days it still holds.
      `DELETE FROM usage_daily WHERE ${usageProblemSql({cost: 'cost', day: 'day'})} IS NOT NULL OR NOT isfinite(amount)`,
      `UPDATE sources SET cover_start = (SELECT min(day) FROM usage_daily u WHERE u.source_id = sources.id),
         cover_end = (SELECT max(day) + 1 FROM usage_daily u WHERE u.source_id = sources.id)
       WHERE ${usageProblemSql({day: 'cover_start', extraDays: ['cover_end - 1']})} IS NOT NULL`,
    ],
    version: 4,
  },
  {
    statements: [
      `CREATE SEQUENCE flow_source_id_seq START 1`,
      // One row per flow-record file (VPC Flow Logs, nfcapd): re-ingesting the same content is a no-op.
      // NODATA/SKIPDATA windows and REJECTed traffic are counted here and in flow_status, never as traffic.
      `CREATE TABLE flow_sources (
        id INTEGER PRIMARY KEY DEFAULT nextval('flow_source_id_seq'),
        path VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        container VARCHAR NOT NULL,
        content_hash VARCHAR NOT NULL UNIQUE,
        bytes BIGINT,
        ingested_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        records BIGINT NOT NULL,
        nodata_records BIGINT NOT NULL DEFAULT 0,
        skipdata_records BIGINT NOT NULL DEFAULT 0,
        rejected_records BIGINT NOT NULL DEFAULT 0,
        sampling VARCHAR
      )`,
      // Flow bytes per UTC day (of the record's end), interface or host, direction and the server-side
      // port (the interface's own port when the direction is known, else the lower, well-known one).
      `CREATE TABLE flow_daily (
        source_id INTEGER NOT NULL,
        day DATE NOT NULL,
        exporter VARCHAR NOT NULL,
        interface VARCHAR NOT NULL,
        account VARCHAR,
        direction VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        protocol VARCHAR NOT NULL,
        port INTEGER,
        bytes DOUBLE NOT NULL,
        packets DOUBLE NOT NULL,
        records BIGINT NOT NULL
      )`,
      `CREATE INDEX flow_daily_day ON flow_daily(day)`,
      // Accepted traffic per day and peer (the client of the interface's service port).
      `CREATE TABLE flow_clients (
        source_id INTEGER NOT NULL,
        day DATE NOT NULL,
        interface VARCHAR NOT NULL,
        direction VARCHAR NOT NULL,
        protocol VARCHAR NOT NULL,
        port INTEGER,
        client VARCHAR NOT NULL,
        bytes DOUBLE NOT NULL,
        packets DOUBLE NOT NULL,
        records BIGINT NOT NULL
      )`,
      `CREATE TABLE flow_status (
        source_id INTEGER NOT NULL,
        day DATE,
        interface VARCHAR,
        status VARCHAR NOT NULL,
        records BIGINT NOT NULL
      )`,
    ],
    version: 5,
  },
  {
    // No table changes: the usage view (recreated after every migration) now ranks families within an account.
    statements: [],
    version: 6,
  },
  {
    statements: [
      // Per-client flow totals per calendar month (the grain of a bill), not per day: per day they were
      // nearly as many rows as the records, and rolling them up was most of an ingest's time.
      `CREATE TABLE flow_clients_by_month (
        source_id INTEGER NOT NULL,
        month DATE NOT NULL,
        interface VARCHAR NOT NULL,
        direction VARCHAR NOT NULL,
        protocol VARCHAR NOT NULL,
        port INTEGER,
        client VARCHAR NOT NULL,
        bytes DOUBLE NOT NULL,
        packets DOUBLE NOT NULL,
        records BIGINT NOT NULL
      )`,
      `INSERT INTO flow_clients_by_month SELECT source_id, date_trunc('month', day)::DATE, interface, direction, protocol, port, client,
         sum(bytes), sum(packets), sum(records) FROM flow_clients GROUP BY ALL`,
      `DROP TABLE flow_clients`,
      `ALTER TABLE flow_clients_by_month RENAME TO flow_clients`,
      // How the records were delivered (format and fields): the same interface's days delivered in two
      // ways (an S3 delivery and a CloudWatch Logs export of one flow log) count once.
      `ALTER TABLE flow_sources ADD COLUMN delivery VARCHAR`,
    ],
    version: 7,
  },
  {
    statements: [
      // The day index cost an ingest of a month's CUR (83,000 daily rows) about 0.3 s of its insert and commit, and no
      // read used it: the day ranges are read by DuckDB's zone maps, and the usage view ranks whole families.
      `DROP INDEX IF EXISTS usage_daily_day`,
    ],
    version: 8,
  },
]

/** Families rank the formats by richness: when two families hold the same day and usage type, the richer wins. */
export const FAMILY_RANK: Record<string, number> = {
  cur: 1,
  focus: 2,
  dbr: 3,
  'cost-explorer-api': 4,
  'usage-report': 5,
  cloudwatch: 6,
  'cost-explorer-csv': 7,
}

/** The account of a usage row: its own, or for an export without an account column, the export's file name. */
/**
 * The account a source without an account column stands for: its file's name, or for a live AWS fetch
 * (`aws:cost-explorer:DAILY:2014-04-13..2014-04-16`) the service without the days fetched, so each day's
 * incremental fetch restates the last one's days instead of adding an account.
 */
export function unnamedAccountSql(path: string): string {
  return `regexp_replace(regexp_extract(${path}, '[^/\\\\]+$'), ':(DAILY|HOURLY)?:?[0-9]{4}-[0-9]{2}-[0-9]{2}[.][.][0-9]{4}-[0-9]{2}-[0-9]{2}.*$', '')`
}

export const ACCOUNT_OF_ROW = `coalesce(u.account, ${unnamedAccountSql('s.path')})`

/**
 * The view every query reads: per (day, usage type, account) only the richest family's rows, so ingesting a
 * usage report (named with ingest --account) and a CUR of the same month never double-counts, while a usage
 * report without an account is an account of its own and never hides another account's CUR.
 */
export const USAGE_VIEW = `CREATE OR REPLACE VIEW usage AS
  WITH tagged AS (
    SELECT u.*, s.family, ${ACCOUNT_OF_ROW} AS account_key,
      CASE s.family ${Object.entries(FAMILY_RANK)
        .map(([f, r]) => `WHEN '${f}' THEN ${r}`)
        .join(' ')} ELSE 99 END AS family_rank
    FROM usage_daily u JOIN sources s ON s.id = u.source_id
  ), best AS (
    SELECT day, provider, usage_type, account_key, min(family_rank) AS family_rank
    FROM tagged GROUP BY day, provider, usage_type, account_key
  )
  SELECT t.* EXCLUDE (family_rank, account_key) FROM tagged t JOIN best b USING (day, provider, usage_type, account_key, family_rank)`

/**
 * The views every flow analysis reads: the same interface's traffic delivered twice (an S3 delivery
 * and a CloudWatch Logs export of one flow log, Parquet beside text, a second flow log with other
 * fields) counts once. Like `usage` for billing families, per interface and day (per month for the
 * per-client totals, their grain) one delivery counts: the one with the most records there, so a
 * partial export never hides a full delivery; on a tie, the one ingested first. Identical files are
 * one source already (the content hash of the inflated bytes). A delivery is a reader and its fields
 * in order: the part files of one S3 delivery are one delivery.
 */
export const FLOW_VIEWS = [
  `CREATE OR REPLACE VIEW flow_delivery_days AS
    WITH per AS (
      SELECT x.interface, x.day, coalesce(s.delivery, s.format) AS delivery, sum(x.records) AS records, min(s.id) AS first_source
      FROM (SELECT source_id, interface, day, records FROM flow_daily
            UNION ALL SELECT source_id, interface, day, records FROM flow_status WHERE interface IS NOT NULL AND day IS NOT NULL) x
      JOIN flow_sources s ON s.id = x.source_id GROUP BY ALL
    )
    SELECT interface, day, date_trunc('month', day)::DATE AS month, delivery, records, first_source FROM per`,
  `CREATE OR REPLACE VIEW flow_daily_counted AS
    WITH chosen AS (SELECT interface, day, first(delivery ORDER BY records DESC, first_source) AS delivery FROM flow_delivery_days GROUP BY ALL)
    SELECT d.* FROM flow_daily d JOIN flow_sources s ON s.id = d.source_id
    JOIN chosen c ON c.interface = d.interface AND c.day = d.day AND c.delivery = coalesce(s.delivery, s.format)`,
  `CREATE OR REPLACE VIEW flow_status_counted AS
    WITH chosen AS (SELECT interface, day, first(delivery ORDER BY records DESC, first_source) AS delivery FROM flow_delivery_days GROUP BY ALL)
    SELECT f.* FROM flow_status f JOIN flow_sources s ON s.id = f.source_id
    LEFT JOIN chosen c ON c.interface = f.interface AND c.day = f.day
    WHERE c.delivery IS NULL OR c.delivery = coalesce(s.delivery, s.format)`,
  `CREATE OR REPLACE VIEW flow_clients_counted AS
    WITH monthly AS (SELECT interface, month, delivery, sum(records) AS records, min(first_source) AS first_source FROM flow_delivery_days GROUP BY ALL),
    chosen AS (SELECT interface, month, first(delivery ORDER BY records DESC, first_source) AS delivery FROM monthly GROUP BY ALL)
    SELECT f.* FROM flow_clients f JOIN flow_sources s ON s.id = f.source_id
    JOIN chosen c ON c.interface = f.interface AND c.month = f.month AND c.delivery = coalesce(s.delivery, s.format)`,
]
