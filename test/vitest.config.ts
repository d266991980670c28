import {defineConfig} from 'vitest/config'

import {SlowFirstSequencer} from './helpers/slow-first-sequencer.js'

/**
 * Test files that drive real daemons, capture tools, git/etckeeper or Chromium, need root, or spawn the CLI
 * from a hook (for the whole file), or take minutes (the fuzz run and the hostile-input properties, a
 * million-row store, the native scanner against the JavaScript one, a TypeScript program for the schemas). `npm run
 * test:unit` leaves them out; `npm test` (CI) runs everything. A new end-to-end file
 * can instead be named `*.e2e.test.ts`. Single tests that need a tool inside a unit file call requireTool
 * (test/helpers/tools.ts), which skips them in the unit tier.
 */
export const END_TO_END = [
  'test/**/*.e2e.test.ts',
  'test/anomalies/anomalies.test.ts',
  'test/cli/hostile-input.test.ts',
  'test/contract/json-schemas.test.ts',
  'test/correlate/correlate-cli.test.ts',
  'test/correlate/etckeeper.test.ts',
  'test/correlate/git-log.test.ts',
  'test/correlate/history-property.test.ts',
  'test/correlate/history.test.ts',
  'test/correlate/iac.test.ts',
  'test/correlate/rank.test.ts',
  'test/flows/netflow.test.ts',
  'test/fuzz/fuzz.test.ts',
  'test/ingest/billing-formats.test.ts',
  'test/ingest/cli.test.ts',
  'test/ingest/hostile-content.test.ts',
  'test/lambda/schedule.test.ts',
  'test/explain/explain.test.ts',
  'test/pcap/attribution.test.ts',
  'test/pcap/cli.test.ts',
  'test/pcap/formats.test.ts',
  'test/pcap/host-role.test.ts',
  'test/pcap/live-capture.test.ts',
  'test/pcap/native.test.ts',
  'test/pcap/short-captures.test.ts',
  'test/pcap/tunnels.test.ts',
  'test/probe/cli.test.ts',
  'test/probe/ntp-daemons.test.ts',
  'test/probe/real-servers.test.ts',
  'test/ratelimit/daemons.test.ts',
  'test/report/report.test.ts',
  'test/store/status-stable.test.ts',
  // Added by issue 23's non-root, no-Debian-package run: the CLI or tcpdump in a hook, the native scanner
  // (built with g++, make and python3), zstd (not in .ci/setup-debian) or cfn-lint (pip); and the labelled
  // anomaly scenarios in a real store, which take minutes (280 s of the unit tier's 480 s at load average 30).
  'test/anomalies/ground-truth.test.ts',
  'test/anomalies/store-scenario.test.ts',
  'test/lambda/schedule-athena.test.ts',
  'test/pcap/capture-set.test.ts',
  'test/pcap/compressed.test.ts',
  'test/pcap/damaged-lengths.test.ts',
  'test/pcap/stream.test.ts',
]

const shared = {
  testTimeout: 60_000,
  hookTimeout: 120_000,
  globalSetup: ['test/helpers/global-setup.ts'],
  setupFiles: ['test/helpers/isolated-data-home.ts'],
}

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    pool: 'forks',
    // Two cores in CI; tests that start daemons or spawn the CLI are I/O bound.
    poolOptions: {forks: {maxForks: 3, minForks: 1}},
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    sequence: {sequencer: SlowFirstSequencer},
    projects: [
      {extends: true, test: {...shared, name: 'unit', include: ['test/**/*.test.ts'], exclude: END_TO_END}},
      {extends: true, test: {...shared, name: 'e2e', include: END_TO_END}},
    ],
  },
})
