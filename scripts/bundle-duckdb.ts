/**
 * Bundles DuckDB's JavaScript API (@duckdb/node-api: ~180 CommonJS files) into one file,
 * dist/vendor/duckdb-node-api.cjs, which the store loads when it is there (src/store/index.ts). Resolving, reading and
 * compiling those files one by one was most of the CPU of loading DuckDB (a bundle takes ~0.2 s less here), which
 * every store save pays, `billwatch pcap`'s on a 2-core machine it otherwise keeps busy. The native binding
 * (@duckdb/node-bindings) stays a package, resolved at run time from where @duckdb/node-api is installed, as the
 * package itself resolves it.
 *
 *   node --import tsx scripts/bundle-duckdb.ts [OUT_DIR]     # OUT_DIR defaults to dist (npm run build runs it)
 */
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {build} from 'esbuild'

/** Where the bundle goes under a build's output directory; src/store/index.ts looks for it there. */
export const DUCKDB_BUNDLE = 'vendor/duckdb-node-api.cjs'

export async function bundleDuckDb(outDir: string): Promise<void> {
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

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundleDuckDb(resolve(process.argv[2] ?? 'dist'))
