import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores in CI; tests that start daemons or spawn the CLI are I/O bound.
    poolOptions: {forks: {maxForks: 3, minForks: 1}},
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/isolated-data-home.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
})
