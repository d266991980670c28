import {checkOutputFile, writeOutputFile} from '../util/files.js'

/**
 * Refuses an --out billwatch would not write (missing folder, a directory, a link …) before any evidence is gathered.
 */
export function checkReportTarget(out: string): void {
  checkOutputFile(out, '--out')
}

/** Writes the report by the one output rule (atomic replace, or in place to a stream). Returns the size. */
export async function writeReportFile(out: string, html: string): Promise<{bytes: number; stream: boolean}> {
  const how = await writeOutputFile(out, html, '--out')
  return {bytes: Buffer.byteLength(html), stream: how !== 'replaced'}
}
