/**
 * The usage row and source types (rows.ts) under their former module name; the write path itself is
 * src/store/usage-import.ts.
 */
export type {CommitOutcome, Family, SourceMeta, StoredSource, UsageRow} from './rows.js'
