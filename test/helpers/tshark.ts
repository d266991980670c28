/** tshark as the tests' ground truth: fields of the frames a display filter selects, and their sums. */
import {spawnSync} from 'node:child_process'

import {requireTool} from './tools.js'

/**
 * Each selected frame's fields (two-pass, so request/response matching is filled); of a field that
 * occurs more than once (a tunnel's outer and inner IP header), the first, or with `innermost` the last.
 */
export function tsharkRows(
  file: string,
  filter: string,
  fields: string[],
  decodeAs: string[] = [],
  innermost = false,
): string[][] {
  const args = [
    '-n',
    '-2',
    '-r',
    file,
    ...decodeAs.flatMap((d) => ['-d', d]),
    '-Y',
    filter,
    '-T',
    'fields',
    '-E',
    'separator=/t',
    '-E',
    `occurrence=${innermost ? 'l' : 'f'}`,
    ...fields.flatMap((f) => ['-e', f]),
  ]
  const result = spawnSync(requireTool('tshark'), args, {encoding: 'utf8', maxBuffer: 64 * 1024 * 1024})
  if (result.status !== 0) throw new Error(`tshark ${args.join(' ')}: ${result.stderr.trim()}`)
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\t'))
}

/** Frames the filter selects, and the sum of a numeric field over them. */
export function tsharkSum(
  file: string,
  filter: string,
  field: string,
  decodeAs: string[] = [],
): {frames: number; sum: number} {
  const rows = tsharkRows(file, filter, [field], decodeAs)
  return {frames: rows.length, sum: rows.reduce((total, [value]) => total + Number(value ?? 0), 0)}
}
