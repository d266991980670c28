/**
 * The native roll-up of VPC Flow Logs text (src/pcap/native/vpc.c): fed the file's content in the pass that hashes
 * it, it sums the daily series and the per-client totals of each month as the DuckDB scan does (src/store/flow-scan.ts)
 * and writes its rows to a file the store reads. It gives up at the first record whose meaning is not certain (see
 * vpc.c); the DuckDB scan then reads the file and judges it as before. Without the addon (not built, or
 * BILLWATCH_FLOWS_NATIVE=0), the DuckDB scan reads every file.
 */
import {nativeScanner} from '../pcap/native.js'
import type {FlowSniff} from './sniff.js'

/** The fields vpc.c reads, in its role order. */
const ROLES = [
  'account-id',
  'interface-id',
  'instance-id',
  'srcaddr',
  'dstaddr',
  'pkt-srcaddr',
  'pkt-dstaddr',
  'srcport',
  'dstport',
  'protocol',
  'packets',
  'bytes',
  'start',
  'end',
  'action',
  'log-status',
  'flow-direction',
]

/**
 * Groups the roll-up holds before it writes its tables out and empties them: about 40 bytes a group (hash tables at
 * most three quarters full), so at most ~280 MB, beside its strings (at most 128 MB, vpc.c's ARENA_BOUND, and their
 * index), which DuckDB's memory limit need not share (they are freed first).
 */
const GROUP_BOUND = Number(process.env.BILLWATCH_FLOWS_GROUPS ?? 3_000_000)

export interface NativeRollup {
  /** Feeds the next bytes of the content (used at once: the caller may reuse the buffer). */
  feed(chunk: Uint8Array): void
  /** The records read and which rows were written in parts (see vpcFinish); undefined when it gave up. */
  finish(): undefined | {records: number; parts: {daily: boolean; clients: boolean}}
}

/**
 * A roll-up of a VPC Flow Logs text file into `out`, or undefined when the native roll-up cannot take the file (not
 * text, `--host` given, or the addon is not there).
 */
export function nativeVpcRollup(sniff: FlowSniff, out: string, options: {hosts?: string[]}): NativeRollup | undefined {
  if (sniff.kind !== 'vpc-text' || (options.hosts?.length ?? 0) > 0 || process.env.BILLWATCH_FLOWS_NATIVE === '0')
    return undefined
  const addon = nativeScanner()
  if (!addon?.vpcCreate || !addon.vpcFeed || !addon.vpcFinish) return undefined
  const {vpcFeed, vpcFinish} = addon
  const config = Int32Array.from([
    sniff.fields.length,
    sniff.header ? 1 : 0,
    ...ROLES.map((field) => sniff.fields.indexOf(field)),
  ])
  const rollup = addon.vpcCreate(config, out, GROUP_BOUND)
  let going = true
  return {
    feed(chunk) {
      if (going) going = vpcFeed(rollup, chunk)
    },
    finish() {
      const done = vpcFinish(rollup)
      return done ? {parts: {clients: done[2] === 1, daily: done[1] === 1}, records: done[0]} : undefined
    },
  }
}
