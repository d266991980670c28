/**
 * Bundles the two JavaScript packages every command loads at start into one file each, under dist/vendor, because
 * resolving, reading and compiling their files one by one was most of their cost (Node 20 has no compile cache):
 *
 * - DuckDB's JavaScript API (@duckdb/node-api, ~180 CommonJS files) into dist/vendor/duckdb-node-api.cjs, which the
 *   store loads when it is there (src/store/index.ts): 0.35–0.39 s of CPU instead of 0.56–0.66 s. The native binding
 *   (@duckdb/node-bindings) stays a package, resolved at run time from where @duckdb/node-api is installed, as the
 *   package itself resolves it.
 * - oclif (@oclif/core, ~150 files) into dist/vendor/oclif-core/lib/index.cjs beside a copy of its package.json (it
 *   reads its own version from `../package.json`): ~65 ms of CPU to load instead of ~165 ms. The built commands,
 *   src/cli and bin/run.js then import that file instead of the package, so that one copy of oclif's classes is
 *   loaded (a command must extend the Command class of the oclif that runs it). `typescript`, which oclif loads only
 *   to run TypeScript sources (bin/dev.js), stays outside.
 *
 *   node --import tsx scripts/bundle-vendor.ts [OUT_DIR]     # OUT_DIR defaults to dist (npm run build runs it)
 */
import {copyFileSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join, relative, resolve, sep} from 'node:path'
import {fileURLToPath} from 'node:url'

import {build} from 'esbuild'

/** Where the bundles go under a build's output directory; src/store/index.ts and bin/run.js look for them there. */
export const DUCKDB_BUNDLE = 'vendor/duckdb-node-api.cjs'
export const OCLIF_BUNDLE = 'vendor/oclif-core/lib/index.cjs'

// tsc keeps the source's quotes; esbuild (bench/pcap's build) writes double ones.
const OCLIF_IMPORT = /from (['"])@oclif\/core\1/g

export async function bundleVendor(outDir: string): Promise<void> {
  await bundleDuckDb(outDir)
  await bundleOclif(outDir)
  pointBuiltModulesAtOclifBundle(outDir)
}

async function bundleDuckDb(outDir: string): Promise<void> {
  await build({
    bundle: true,
    entryPoints: ['@duckdb/node-api'],
    format: 'cjs',
    logLevel: 'warning',
    outfile: join(outDir, DUCKDB_BUNDLE),
    platform: 'node',
    plugins: [
      {
        name: 'duckdb-binding-from-node-api',
        setup(context) {
          context.onResolve({filter: /^@duckdb\/node-bindings$/}, () => ({namespace: 'binding', path: 'binding'}))
          context.onLoad({filter: /.*/, namespace: 'binding'}, () => ({
            contents:
              // A name esbuild leaves alone: resolved when the bundle runs, from where the package is installed.
              "const api = '@duckdb/node-api'; module.exports = require('node:module').createRequire(require.resolve(api))('@duckdb/node-bindings')",
            loader: 'js',
          }))
        },
      },
    ],
    target: 'node20',
  })
}

async function bundleOclif(outDir: string): Promise<void> {
  const outfile = join(outDir, OCLIF_BUNDLE)
  await build({
    bundle: true,
    entryPoints: ['@oclif/core'],
    external: ['typescript'],
    format: 'cjs',
    logLevel: 'warning',
    outfile,
    platform: 'node',
    target: 'node20',
  })
  const packageJson = createRequire(import.meta.url).resolve('@oclif/core/package.json')
  copyFileSync(packageJson, join(dirname(dirname(outfile)), 'package.json'))
}

/** Rewrites `from '@oclif/core'` in every built module to the bundle's relative path. */
function pointBuiltModulesAtOclifBundle(outDir: string): void {
  const bundle = join(outDir, OCLIF_BUNDLE)
  let rewritten = 0
  for (const entry of readdirSync(outDir, {recursive: true, withFileTypes: true})) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue
    const file = join(entry.parentPath, entry.name)
    if (file.startsWith(join(outDir, 'vendor') + sep)) continue
    const text = readFileSync(file, 'utf8')
    if (!text.match(OCLIF_IMPORT)) continue
    const path = relative(dirname(file), bundle).split(sep).join('/')
    writeFileSync(file, text.replace(OCLIF_IMPORT, `from '${path.startsWith('.') ? path : `./${path}`}'`))
    rewritten++
  }
  // The commands and src/cli import oclif; none found means tsc wrote them differently and this must change.
  if (rewritten === 0) throw new Error(`no built module under ${outDir} imports '@oclif/core'`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundleVendor(resolve(process.argv[2] ?? 'dist'))
