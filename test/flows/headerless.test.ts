/**
 * VPC Flow Log records of a custom format without their header line, as CloudWatch Logs and
 * Firehose deliver them (found on public test files by bench/corpus: they were refused as an
 * "unknown header" of a billing export, quoting the record). Records written here from the field
 * list in AWS's flow-log documentation (versions 2–5).
 */
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {runCli, tempDir} from '../helpers/cli.js'

const V5_FIELDS =
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path'.split(
    ' ',
  )
const record = (bytes: number, direction: string) =>
  `5 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.5 198.51.100.7 123 40000 17 3 ${bytes} 1711756800 1711756860 ACCEPT OK vpc-0a1b2c3d subnet-0a1b2c3d i-0a1b2c3d4e5f60718 0 IPv4 10.0.1.5 198.51.100.7 us-east-1 use1-az1 - - - - ${direction} 1`

describe('headerless records of a custom format', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())
  const path = join(tmp.dir, 'cloudwatch-v5.log')
  writeFileSync(path, `${record(228, 'egress')}\n${record(456, 'egress')}\n`)

  it('are refused as flow records without their header, in one line that quotes no record', async () => {
    const ingest = await runCli(['ingest', path, '--db', join(tmp.dir, 'refused.duckdb')])
    expect(ingest.code).toBe(1)
    expect(ingest.stderr).toBe(
      `billwatch: ${path}:1: VPC Flow Log records of 29 fields without a header line, not in the default format, expected the header line S3 writes, or the log format given with --flow-format '\${version} \${account-id} …'\n`,
    )
  }, 120_000)

  it('are read with --flow-format naming their fields', async () => {
    const db = join(tmp.dir, 'read.duckdb')
    const format = V5_FIELDS.map((f) => `\${${f}}`).join(' ')
    const ingest = await runCli(['ingest', path, '--db', db, '--json', '--flow-format', format])
    expect(ingest.stderr).toBe('')
    expect(ingest.json().flows[0]).toMatchObject({records: 2, status: 'ingested'})
    const flows = (await runCli(['flows', '--db', db, '--json'])).json()
    expect(flows.egressBytes).toBe(228 + 456)
  }, 120_000)
})
