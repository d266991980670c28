/**
 * Reads of the store's sources (one row per ingested file or fetch), as typed values: which days earlier
 * fetches of a kind recorded as covered, so a live ingest asks AWS only for what the store lacks.
 */
import type {DayRange} from '../aws/window.js'
import type {Family} from '../ingest/write.js'
import {sqlList, type Store} from './index.js'

/** Which sources to read the cover of: any of `formats`, and optionally only one family or one path prefix. */
export interface CoverSelection {
  formats: string[]
  family?: Family
  /** Only sources whose path starts with this (e.g. 'athena:db.table:'). */
  pathPrefix?: string
}

/** The day ranges [start, end) the selected sources recorded as covered (empty days included: they were asked for). */
export async function coveredDayRanges(store: Store, selection: CoverSelection): Promise<DayRange[]> {
  if (selection.formats.length === 0) return []
  const escaped = selection.pathPrefix?.replace(/[\\%_]/g, (c) => `\\${c}`)
  return store.all<DayRange>(
    `SELECT strftime(cover_start, '%Y-%m-%d') AS start, strftime(cover_end, '%Y-%m-%d') AS "end" FROM sources
     WHERE list_contains($formats, format) AND ($family::VARCHAR IS NULL OR family = $family::VARCHAR)
       AND ($prefix::VARCHAR IS NULL OR path LIKE $prefix::VARCHAR ESCAPE '\\')
       AND cover_start IS NOT NULL AND cover_end IS NOT NULL`,
    {
      family: selection.family ?? null,
      formats: sqlList(selection.formats),
      prefix: escaped === undefined ? null : `${escaped}%`,
    },
  )
}
