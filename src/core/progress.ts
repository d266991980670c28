/**
 * How library code reports progress on long work: `done` of `total` units (bytes, rows, commits). The
 * terminal drawing of it lives in the format layer (src/cli/progress.ts); the library only calls back.
 */
export type ProgressCallback = (done: number, total?: number) => void
