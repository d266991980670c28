/**
 * The usage row and source types (rows.ts) under their former module name, and the store's batched INSERT that
 * src/flows still imports from here; the write path itself is src/store/usage-import.ts.
 */
export type {CommitOutcome, Family, SourceMeta, StoredSource, UsageRow} from './rows.js'
export {insertValues} from '../store/usage-import.js'
