/**
 * One flow-record file into the store (called by `billwatch ingest` inside its transaction, so a
 * failure anywhere leaves the store as it was). The same content again is a no-op.
 */
import {fingerprintFile} from '../ingest/fingerprint.js'
import type {Store} from '../store/index.js'
import {readNfcapd} from './nfdump.js'
import type {FlowSniff} from './sniff.js'
import {
  appendFlowRows,
  commitFlows,
  createFlowStaging,
  dropFlowStaging,
  findFlowSource,
  flowRollupFile,
  removeFlowStagingFile,
} from '../store/flow-import.js'
import {stageNativeRollup, stageVpc} from '../store/flow-scan.js'
import {nativeVpcRollup} from './rollup.js'
import {deliveryOf, type FlowCommit} from './stage.js'

export interface FlowIngestOptions {
  /** `--flow-format`: the fields of headerless VPC Flow Logs records. */
  format?: string[]
  /**
   * `--host`: the server address of NetFlow/IPFIX records (default: the busiest), or the interfaces' addresses for flow
   * logs without flow-direction.
   */
  host?: string
  /** `--sampling N`: 1-in-N sampling the exporter did not announce. */
  sampling?: number
}

export interface FlowIngested extends FlowCommit {
  path: string
  format: FlowSniff['kind']
  container: FlowSniff['container']
  status: 'ingested' | 'unchanged'
  contentHash: string
  sampling: null | string
}

/**
 * Folder names of the AWS S3 layouts (`AWSLogs/123…/vpcflowlogs/us-east-1/2014/03/30/`, Hive `year=2014/`): walked
 * whole.
 */
export function isFlowLogFolder(path: string): boolean {
  return /(^|\/)(AWSLogs|vpcflowlogs)(\/|$)|aws-service=vpcflowlogs/.test(path)
}

export async function ingestFlowFile(
  store: Store,
  path: string,
  sniff: FlowSniff,
  options: FlowIngestOptions = {},
): Promise<FlowIngested> {
  await createFlowStaging(store)
  const hosts = options.host === undefined ? [] : [options.host]
  // Text is rolled up natively in the pass that hashes it (the file read once); a record it is not sure of leaves
  // the file to DuckDB's scan below.
  const rollup = nativeVpcRollup(sniff, flowRollupFile(store), {hosts})
  const hashing = fingerprintFile(path, {
    gzip: sniff.container === 'gzip',
    ...(rollup ? {onContent: (chunk: Buffer) => rollup.feed(chunk)} : {}),
  })
  hashing.catch(() => undefined)
  try {
    let sampling: null | string = null
    try {
      if (sniff.kind === 'nfcapd') {
        const scan = await readNfcapd(path, {
          ...(options.host === undefined ? {} : {host: options.host}),
          ...(options.sampling === undefined ? {} : {sampling: options.sampling}),
        })
        await appendFlowRows(store, scan.rows)
        sampling = scan.sampling
      } else if (rollup) {
        await hashing
        const rolled = rollup.finish()
        if (rolled) await stageNativeRollup(store, path, sniff, flowRollupFile(store), rolled.parts)
        else await stageVpc(store, path, sniff, {hosts})
      } else {
        await stageVpc(store, path, sniff, {hosts})
      }
    } catch (error) {
      // A truncated .gz can surface as a broken last record: the gzip verdict is the truer one.
      await hashing
      throw error
    }
    const {bytes, hash} = await hashing
    const base = {container: sniff.container, contentHash: hash, format: sniff.kind, path, sampling}
    const previous = await findFlowSource(store, hash)
    if (previous) {
      await dropFlowStaging(store)
      return {...previous, ...base, status: 'unchanged'}
    }
    const committed = await commitFlows(store, {
      bytes,
      container: sniff.container,
      contentHash: hash,
      clientsRolledUp: sniff.kind !== 'nfcapd',
      delivery: deliveryOf(sniff.kind, sniff.fields),
      format: sniff.kind,
      path,
      sampling,
    })
    await dropFlowStaging(store)
    return {...committed, ...base, status: 'ingested'}
  } finally {
    // The VPC scan's roll-up file, also when the ingest failed (its transaction then runs no more SQL).
    removeFlowStagingFile(store)
  }
}
