import {readFile} from 'node:fs/promises'

import Papa from 'papaparse'

import {BillwatchError} from '../errors.js'

/** A small CSV read whole with papaparse: rows with their 1-based line numbers, BOM stripped. */
export interface CsvRow {
  line: number
  fields: string[]
}

export async function readSmallCsv(readPath: string, path = readPath): Promise<{header: string[]; rows: CsvRow[]}> {
  const text = (await readFile(readPath, 'utf8')).replace(/^\uFEFF/, '')
  const parsed = Papa.parse<string[]>(text, {header: false, skipEmptyLines: false})
  const all = parsed.data
  if (all.length === 0 || (all[0] ?? []).every((f) => f.trim() === '')) {
    throw new BillwatchError('E_EMPTY', 'no header row', {file: path, line: 1})
  }
  const header = (all[0] ?? []).map((h) => h.trim())
  const rows: CsvRow[] = []
  // Papaparse yields one array per record; records with embedded newlines are rare in these exports.
  for (let i = 1; i < all.length; i++) {
    const fields = all[i] ?? []
    if (fields.every((f) => f.trim() === '')) continue
    rows.push({fields, line: i + 1})
  }
  return {header, rows}
}

/** "1,234,567" → 1234567; undefined for anything that is not a finite number. */
export function parseNumber(text: string): number | undefined {
  const cleaned = text.trim().replaceAll(',', '')
  if (cleaned === '' || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(cleaned)) return undefined
  const value = Number(cleaned)
  return Number.isFinite(value) ? value : undefined
}

/** A real calendar day: rejects 2014-02-30 and friends. */
export function isRealDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate()
  return day <= days
}

export function isoDay(year: number, month: number, day: number): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`
}
