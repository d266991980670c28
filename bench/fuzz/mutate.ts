/**
 * Mutations of a sample: byte-level (flips, interesting integers, cuts, splices) for binary inputs,
 * and text-level (a field replaced by a hostile value, lines dropped, doubled or cut) for CSV, JSON
 * and logs. Each input stacks one to four of them.
 */
import {parse} from 'csv-parse/sync'

import type {Random} from './random.js'

/** Values that broke parsers before: numbers out of range, dates that do not exist, quoting, escapes. */
export const HOSTILE_TEXT = [
  '',
  ' ',
  '-1',
  '0',
  '-0',
  'NaN',
  'inf',
  '-inf',
  'Infinity',
  '1e309',
  '-1e309',
  '1e-400',
  '9007199254740993',
  '1,234',
  '"1,234"',
  '0x10',
  '١٢٣',
  '2014-02-30',
  '2014-13-01',
  '0000-01-01',
  '-0001-03-30',
  '9999-12-31',
  '2014-03-30T25:00:00Z',
  '03/30/14 24:00:00',
  '"',
  '""',
  '"unterminated',
  'a\nb',
  '\r',
  ',',
  ';',
  '\t',
  '\u0000',
  '\u001b]52;c;cHduZWQ=\u0007',
  '\u001b[2J',
  '<img src=x onerror=alert(1)>',
  '\u202e',
  '\ufffd',
  '\ud800',
  'ÿþ',
  '../../../../etc/passwd',
  '/dev/zero',
  '%s%n',
  '${jndi:x}',
  'A'.repeat(5000),
]

const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x1_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff]

export function mutateBytes(input: Buffer, random: Random): Buffer {
  let out = Buffer.from(input)
  const rounds = 1 + random.int(4)
  for (let r = 0; r < rounds; r++) {
    const at = out.length === 0 ? 0 : random.int(out.length)
    switch (random.int(7)) {
      case 0: {
        // flip a few bits
        for (let i = 0; i < 1 + random.int(8) && out.length > 0; i++) out[random.int(out.length)]! ^= 1 << random.int(8)
        break
      }
      case 1: {
        // an interesting 32-bit value, either byte order
        if (out.length >= 4) {
          const value = random.pick(INTERESTING_U32)
          const where = Math.min(at, out.length - 4)
          if (random.chance(0.5)) out.writeUInt32LE(value >>> 0, where)
          else out.writeUInt32BE(value >>> 0, where)
        }
        break
      }
      case 2: {
        out = out.subarray(0, at) // cut the end off
        break
      }
      case 3: {
        // delete a range
        const length = random.int(Math.min(256, out.length - at) + 1)
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + length)])
        break
      }
      case 4: {
        // duplicate a range
        const length = random.int(Math.min(512, out.length - at) + 1)
        out = Buffer.concat([out.subarray(0, at + length), out.subarray(at, at + length), out.subarray(at + length)])
        break
      }
      case 5: {
        out = Buffer.concat([out.subarray(0, at), random.bytes(1 + random.int(32)), out.subarray(at)])
        break
      }
      default: {
        // trailing garbage
        out = Buffer.concat([out, random.bytes(1 + random.int(64))])
      }
    }
  }
  return out
}

export function mutateText(input: string, random: Random, separator = ','): string {
  let lines = input.split('\n')
  const rounds = 1 + random.int(4)
  for (let r = 0; r < rounds; r++) {
    const index = random.int(lines.length)
    const line = lines[index] ?? ''
    switch (random.int(8)) {
      case 0:
      case 1:
      case 2: {
        // replace one field with a hostile value (quoted or not)
        const fields = line.split(separator)
        const value = random.pick(HOSTILE_TEXT)
        fields[random.int(fields.length)] = random.chance(0.3) ? `"${value.replaceAll('"', '""')}"` : value
        lines[index] = fields.join(separator)
        break
      }
      case 3: {
        lines.splice(index, 1)
        break
      }
      case 4: {
        lines.splice(index, 0, line)
        break
      }
      case 5: {
        lines[index] = line.slice(0, random.int(line.length + 1))
        break
      }
      case 6: {
        // drop or add a field
        const fields = line.split(separator)
        if (random.chance(0.5)) fields.splice(random.int(fields.length), 1)
        else fields.splice(random.int(fields.length + 1), 0, random.pick(HOSTILE_TEXT))
        lines[index] = fields.join(separator)
        break
      }
      default: {
        lines = lines.slice(0, index + 1)
      }
    }
  }
  return lines.join(random.chance(0.1) ? '\r\n' : '\n')
}

/**
 * A CSV that is still valid, written differently: columns in another order, fields quoted that need
 * not be, a BOM, CRLF, blank lines. A reader that refuses these is too strict.
 */
export function oddCsv(input: string, random: Random): string {
  let rows: string[][] = parse(input, {bom: true, relax_column_count: true, skip_empty_lines: true})
  let bom = false
  let newline = '\n'
  let blankLines = false
  const quoted = new Set<string>()
  for (let r = 0; r < 1 + random.int(3); r++) {
    switch (random.int(5)) {
      case 0: {
        // swap two columns on every line
        const width = rows[0]?.length ?? 0
        const [a, b] = [random.int(width), random.int(width)]
        rows = rows.map((row) => row.map((field, i) => (i === a ? row[b]! : i === b ? row[a]! : field)))
        break
      }
      case 1: {
        for (let i = 0; i < 1 + random.int(20); i++)
          quoted.add(`${random.int(rows.length)}:${random.int(rows[0]?.length ?? 1)}`)
        break
      }
      case 2: {
        bom = true
        break
      }
      case 3: {
        newline = '\r\n'
        break
      }
      default: {
        blankLines = true
      }
    }
  }
  const lines = rows.map((row, r) =>
    row
      .map((field, c) =>
        quoted.has(`${r}:${c}`) || /[",\r\n]/.test(field) ? `"${field.replaceAll('"', '""')}"` : field,
      )
      .join(','),
  )
  const body = lines.join(blankLines ? `${newline}${newline}` : newline)
  return `${bom ? '\uFEFF' : ''}${body}${newline}${blankLines ? newline : ''}`
}
