import {BaseSequencer, type TestSpecification} from 'vitest/node'

/**
 * Test files that take 30 s or more (measured at 466a40e and ef39716), longest first. On a fresh clone vitest has no
 * timings cached and starts the largest files first; these are small files that ran last and set the suite's tail
 * (the ground-truth scenarios started 469 s into a 577 s run). A file not listed keeps vitest's own order after them.
 */
const SLOW_FIRST = [
  'test/ingest/hostile-content.test.ts',
  'test/ingest/billing-formats.test.ts',
  'test/cli/hostile-input.test.ts',
  'test/anomalies/ground-truth.test.ts',
  'test/ingest/cli.test.ts',
  'test/flows/memory.test.ts',
  'test/correlate/correlate-cli.test.ts',
  'test/flows/native-rollup.test.ts',
  'test/pcap/stream.test.ts',
]

/** Runs the files of SLOW_FIRST before the rest, so the long ones overlap the many short ones. */
export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files)
    const rank = (spec: TestSpecification) => {
      const at = SLOW_FIRST.findIndex((path) => spec.moduleId.endsWith(`/${path}`))
      return at === -1 ? SLOW_FIRST.length : at
    }
    // Array.prototype.sort is stable: files not listed keep the base sequencer's order.
    return sorted.sort((a, b) => rank(a) - rank(b))
  }
}
