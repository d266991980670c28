/**
 * Bundles the Lambda handler into one ESM file (esbuild) and zips it (fflate). No native module may
 * end up inside: detection runs on plain arrays, and the DuckDB store stays on the CLI side.
 */
import {existsSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {build} from 'esbuild'
import {zipSync} from 'fflate'

import {BillwatchError} from '../errors.js'

/** The file name inside the zip; the template's Handler is `index.handler`. */
export const BUNDLE_FILE = 'index.mjs'

export interface HandlerBundle {
  code: Uint8Array
  /** Source files and packages that went in (relative paths, as esbuild names them). */
  inputs: string[]
}

/** The handler's source: handler.js next to this file when built, handler.ts when run from sources. */
function handlerEntry(): string {
  for (const name of ['./handler.js', './handler.ts']) {
    const path = fileURLToPath(new URL(name, import.meta.url))
    if (existsSync(path)) return path
  }
  throw new BillwatchError('E_NOT_FOUND', 'the Lambda handler source is missing next to src/lambda/package', {
    expected: 'handler.js or handler.ts',
  })
}

export async function bundleHandler(): Promise<HandlerBundle> {
  const result = await build({
    bundle: true,
    // The AWS SDK still has CommonJS inside; an ESM bundle needs a real `require` for Node built-ins.
    banner: {
      js: "import {createRequire as __billwatchRequire} from 'node:module'; const require = __billwatchRequire(import.meta.url);",
    },
    entryPoints: [handlerEntry()],
    format: 'esm',
    logLevel: 'silent',
    mainFields: ['module', 'main'],
    metafile: true,
    minify: true,
    platform: 'node',
    target: 'node20',
    write: false,
  })
  const output = result.outputFiles[0]
  if (!output) throw new BillwatchError('E_NOT_FOUND', 'esbuild produced no output for the Lambda handler')
  const inputs = Object.keys(result.metafile.inputs)
  const native = inputs.filter((p) => /\.node$|@duckdb\//.test(p))
  if (native.length > 0) {
    throw new BillwatchError(
      'E_FORMAT',
      `the Lambda bundle would contain native code: ${native.slice(0, 3).join(', ')}`,
      {
        expected: 'a handler importing plain-array modules only',
      },
    )
  }
  return {code: output.contents, inputs}
}

/** A zip with the bundle as `index.mjs`, mode 0644, fixed timestamp: the same code gives the same bytes. */
export function zipBundle(code: Uint8Array): Uint8Array {
  const unixFile0644 = 0o100644 * 0x1_0000
  return zipSync({
    [BUNDLE_FILE]: [code, {attrs: unixFile0644, level: 9, mtime: new Date('2000-01-01T00:00:00Z'), os: 3}],
  })
}
