/**
 * The layers of billwatch (ARCHITECTURE.md), lowest first; a module imports only its own layer or lower ones:
 *   core     src/errors.ts, src/util, src/core             pure helpers: days, statistics, globbing, files
 *   domains  src/{ingest,detect,anomalies,correlate,pcap,flows,ntp,probe,behaviour,ratelimit,aws,athena,pricing}
 *   store    src/store                                     the DuckDB store: the only place with SQL
 *   format   src/{explain,report,cli}                      narrative, renderers, the oclif base command
 *   entries  commands/, src/lambda                         thin adapters: oclif commands, the Lambda handler
 * Today's violations are listed in .dependency-cruiser-known-violations.json; `npm run deps` fails on any
 * other, so the list may only shrink (regenerate it with `npm run deps:baseline` after removing some).
 */
const CORE = '^src/(errors\\.ts|util/|core/)'
const DOMAINS = '^src/(ingest|detect|anomalies|correlate|pcap|flows|ntp|probe|behaviour|ratelimit|aws|athena|pricing)/'
const STORE = '^src/store/'
const FORMAT = '^src/(explain|report|cli)/'
const ENTRIES = '^(commands/|src/lambda/)'

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-imports-upward',
      comment:
        'core (errors, util, core) is the bottom layer: it imports no domain, the store, a renderer or a command',
      severity: 'error',
      from: {path: CORE},
      to: {path: [DOMAINS, STORE, FORMAT, ENTRIES]},
    },
    {
      name: 'cli-below-format',
      comment: 'src/cli (terminal formatting, the base command) is the format layer: nothing below it imports it',
      severity: 'error',
      from: {path: [CORE, DOMAINS, STORE]},
      to: {path: '^src/cli/'},
    },
    {
      name: 'domain-imports-format',
      comment: 'a domain returns data; the narrative and its renderers (explain, report) sit above it',
      severity: 'error',
      from: {path: DOMAINS},
      to: {path: '^src/(explain|report)/'},
    },
    {
      name: 'domain-imports-store',
      comment: 'domains are pure over their inputs; the store (above them) reads and writes their results',
      severity: 'error',
      from: {path: DOMAINS},
      to: {path: STORE},
    },
    {
      name: 'store-imports-format',
      comment: 'the store holds data, never its rendering',
      severity: 'error',
      from: {path: STORE},
      to: {path: FORMAT},
    },
    {
      name: 'library-imports-entry',
      comment: 'commands and the Lambda handler are the top: nothing in the library imports them',
      severity: 'error',
      from: {path: '^src/', pathNot: '^src/lambda/'},
      to: {path: ENTRIES},
    },
    {
      name: 'duckdb-outside-store',
      comment: 'DuckDB (and so SQL) is used through src/store only',
      severity: 'error',
      from: {pathNot: [STORE, '^test/', '^bench/']},
      to: {path: 'node_modules/@duckdb/'},
    },
    {
      name: 'no-circular',
      comment: 'a cycle makes two modules one; split what both need into the lower one',
      severity: 'error',
      from: {path: '^(src|commands)/'},
      to: {circular: true},
    },
  ],
  options: {
    doNotFollow: {path: 'node_modules'},
    exclude: {path: '(^dist/|\\.d\\.ts$|^src/pcap/native/build/)'},
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'tsconfig.json'},
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js', '.json'],
    },
    reporterOptions: {text: {highlightFocused: true}},
  },
}
