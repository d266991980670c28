/**
 * The JSON contract: each command exports `<Command>CommandResult`, the type its `--json` prints. This script
 * generates a JSON Schema per command from those types (ts-json-schema-generator, which reads the TypeScript
 * types and their doc comments) into schemas/<command>.json, the key reference docs/json-reference.md, and the
 * README's "JSON keys" section from the schemas.
 *
 *   npm run schemas            # regenerate after changing a result type
 *   npm run schemas -- --check # exit 1 naming each generated file that differs (test/contract runs this)
 */
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {createGenerator, type Schema} from 'ts-json-schema-generator'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
const README_START = '<!-- json-schemas -->'
const README_END = '<!-- json-schemasstop -->'

type Definition = Schema & {definitions?: Record<string, Schema>}

/** Command ids, as oclif names them: the files in commands/. */
export function commandIds(): string[] {
  return readdirSync(join(ROOT, 'commands'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.replace(/\.ts$/, ''))
    .sort()
}

/** `flows` → `FlowsCommandResult`. */
export function resultTypeName(id: string): string {
  return `${id
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('')}CommandResult`
}

/** One schema per command, keyed by command id. */
export function generateSchemas(): Map<string, Definition> {
  const generator = createGenerator({
    additionalProperties: false,
    expose: 'export',
    jsDoc: 'extended',
    path: join(ROOT, 'commands/*.ts'),
    skipTypeCheck: true, // npm run typecheck does that; here only the types' shapes matter
    sortProps: true,
    topRef: true,
    tsconfig: join(ROOT, 'tsconfig.json'),
  })
  const schemas = new Map<string, Definition>()
  for (const id of commandIds()) {
    const schema = generator.createSchema(resultTypeName(id)) as Definition
    schemas.set(id, {$id: `https://billwatch.invalid/schemas/${id}.json`, title: `billwatch ${id} --json`, ...schema})
  }
  return schemas
}

function resolve(schema: Schema, root: Definition): Schema {
  let current = schema
  for (let hops = 0; current.$ref && hops < 20; hops++) {
    current = root.definitions?.[decodeURIComponent(current.$ref.replace('#/definitions/', ''))] ?? {}
  }
  return current
}

/** A short type name for the reference table. */
function typeOf(schema: Schema, root: Definition): string {
  const s = resolve(schema, root)
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ')
  if (s.const !== undefined) return JSON.stringify(s.const)
  const variants = s.anyOf ?? s.oneOf
  if (variants) return variants.map((v) => typeOf(v as Schema, root)).join(' \\| ')
  if (s.type === 'array') return `${typeOf((s.items as Schema) ?? {}, root)}[]`
  if (Array.isArray(s.type)) return s.type.join(' \\| ')
  return s.type ? String(s.type) : 'any'
}

interface Row {
  path: string
  type: string
  required: boolean
  description: string
}

/** Every key path of the schema, depth first (arrays as `[]`), each definition expanded once per path. */
function rows(schema: Schema, root: Definition, path = '', seen: string[] = []): Row[] {
  const s = resolve(schema, root)
  if (schema.$ref && seen.includes(schema.$ref)) return []
  const trail = schema.$ref ? [...seen, schema.$ref] : seen
  const out: Row[] = []
  const variants = (s.anyOf ?? s.oneOf ?? s.allOf) as Schema[] | undefined
  if (variants) for (const variant of variants) out.push(...rows(variant, root, path, trail))
  if (s.type === 'array' && s.items) out.push(...rows(s.items as Schema, root, `${path}[]`, trail))
  for (const [key, child] of Object.entries(s.properties ?? {})) {
    const childPath = path ? `${path}.${key}` : key
    const resolved = resolve(child as Schema, root)
    out.push({
      description: ((child as Schema).description ?? resolved.description ?? '')
        .replace(/\s+/g, ' ')
        .replace(/\|/g, '\\|'),
      path: childPath,
      required: (s.required ?? []).includes(key),
      type: typeOf(child as Schema, root),
    })
    out.push(...rows(child as Schema, root, childPath, trail))
  }
  return out
}

/** The same path can come from two variants of a union: keep the first. */
function unique(list: Row[]): Row[] {
  const seen = new Set<string>()
  return list.filter((row) => !seen.has(row.path) && seen.add(row.path))
}

/** `{a, b: {c}, d: [{e}]}` to `depth` levels, the top-level shape the README shows. */
function shape(schema: Schema, root: Definition, depth: number): string {
  const s = resolve(schema, root)
  const variants = (s.anyOf ?? s.oneOf) as Schema[] | undefined
  if (variants) {
    const objects = variants
      .map((v) => resolve(v, root))
      .filter((v) => v.properties !== undefined || v.type === 'array')
    return objects.length ? objects.map((v) => shape(v, root, depth)).join(' | ') : ''
  }
  if (s.type === 'array') {
    const inner = shape((s.items as Schema) ?? {}, root, depth)
    return inner ? `[${inner}]` : ''
  }
  const keys = Object.entries(s.properties ?? {})
  if (!keys.length) return ''
  if (depth === 0) return '{…}'
  return `{${keys
    .map(([key, child]) => {
      const inner = shape(child as Schema, root, depth - 1)
      return inner ? `${key}: ${inner}` : key
    })
    .join(', ')}}`
}

export function renderReference(schemas: Map<string, Definition>): string {
  const parts = [
    '# JSON reference',
    '',
    "<!-- Generated by `npm run schemas` from the commands' result types (schemas/*.json); do not edit by hand. -->",
    '',
    'Every key each command prints under `--json`, from its JSON Schema in `schemas/`. A key marked optional may be',
    'absent; `null` is listed as a type where the key is present and null. The naming rules these keys are moving to',
    'are in [json-contract.md](json-contract.md).',
    '',
  ]
  for (const [id, schema] of schemas) {
    parts.push(
      `## \`billwatch ${id} --json\``,
      '',
      `Schema: [schemas/${id}.json](../schemas/${id}.json)`,
      '',
      '| key | type | | description |',
      '| --- | --- | --- | --- |',
    )
    for (const row of unique(rows(schema, schema)))
      parts.push(`| \`${row.path}\` | ${row.type} | ${row.required ? '' : 'optional'} | ${row.description} |`)
    parts.push('')
  }
  return parts.join('\n')
}

export function renderReadmeSection(schemas: Map<string, Definition>): string {
  const lines = [
    README_START,
    '',
    "The top-level shape of each command's `--json`, generated from `schemas/<command>.json` (`npm run schemas`); every key",
    'with its type and meaning is in [docs/json-reference.md](docs/json-reference.md).',
    '',
  ]
  for (const [id, schema] of schemas) lines.push(`- \`${id}\`: \`${shape(schema, schema, 1)}\``)
  lines.push('', README_END)
  return lines.join('\n')
}

function replaceReadmeSection(readme: string, section: string): string {
  const start = readme.indexOf(README_START)
  const end = readme.indexOf(README_END)
  if (start < 0 || end < start) throw new Error(`README.md has no ${README_START} … ${README_END} section`)
  return readme.slice(0, start) + section + readme.slice(end + README_END.length)
}

/** Each generated file and the text it should hold. */
export function generatedFiles(schemas = generateSchemas()): Map<string, string> {
  const files = new Map<string, string>()
  for (const [id, schema] of schemas) files.set(`schemas/${id}.json`, `${JSON.stringify(schema, null, 2)}\n`)
  files.set('docs/json-reference.md', renderReference(schemas))
  files.set(
    'README.md',
    replaceReadmeSection(readFileSync(join(ROOT, 'README.md'), 'utf8'), renderReadmeSection(schemas)),
  )
  return files
}

/** Generated files whose committed text differs (or that are missing). */
export function driftedFiles(files = generatedFiles()): string[] {
  const drifted: string[] = []
  for (const [path, text] of files) {
    let committed: string | undefined
    try {
      committed = readFileSync(join(ROOT, path), 'utf8')
    } catch {
      committed = undefined
    }
    if (committed !== text) drifted.push(path)
  }
  const expected = new Set(
    [...files.keys()].filter((p) => p.startsWith('schemas/')).map((p) => p.slice('schemas/'.length)),
  )
  for (const file of readdirSync(join(ROOT, 'schemas')))
    if (!expected.has(file)) drifted.push(`schemas/${file} (no command prints it)`)
  return drifted
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = generatedFiles()
  if (process.argv.includes('--check')) {
    const drifted = driftedFiles(files)
    if (drifted.length) {
      console.error(
        `JSON contract drift: ${drifted.join(', ')} differ from the result types; run npm run schemas and review the diff`,
      )
      process.exit(1)
    }
  } else {
    for (const [path, text] of files) writeFileSync(join(ROOT, path), text)
    console.log(`wrote ${[...files.keys()].join(', ')}`)
  }
}
