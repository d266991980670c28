/**
 * Seed samples of every input kind, small so that a run costs what the parser does: the first lines
 * of the bundled exports (samples/billing), the first packets of the bundled capture as pcap and as
 * pcapng, a CUR 1.0 manifest with its part, an apt history.log, the built-in knowledge base, and the
 * Cost Explorer console CSV as its column set is documented (../shared/research/formats.md).
 */
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {gunzipSync, gzipSync} from 'node:zlib'

import {capturePackets} from '../../src/pcap/reader.js'
import {CaptureWriter} from '../../src/pcap/writer.js'
import {Store} from '../../src/store/index.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const BILLING = join(ROOT, 'samples/billing')

export interface Corpus {
  dir: string
  /** Kind → the bytes of the sample each mutation starts from (text kinds are UTF-8). */
  seeds: Record<string, Buffer>
}

function headLines(text: string, n: number): string {
  return `${text.split('\n').slice(0, n).join('\n')}\n`
}

export async function buildCorpus(dir: string): Promise<Corpus> {
  mkdirSync(dir, {recursive: true})
  const usageReport = headLines(readFileSync(join(BILLING, 'usage-report-ec2-2013-06-01_2014-06-01.csv'), 'utf8'), 40)
  const cur1 = headLines(gunzipSync(readFileSync(join(BILLING, 'cur1-hourly-2014-03.csv.gz'))).toString('utf8'), 30)
  const focus = headLines(readFileSync(join(BILLING, 'focus1-daily-2014-05.csv'), 'utf8'), 30)
  const costExplorer =
    '\uFEFF"Usage type","DataTransfer-Out-Bytes($)","USW2-DataTransfer-Out-Bytes($)","Total costs($)"\n' +
    '"Usage type total","1.2110","0.0034","1.2144"\n"2024-03-29","0.0000","0.0011","0.0011"\n"2024-03-30","0.4652","0.0011","0.4663"\n'

  // CUR 2.0 as Parquet and as CSV: the first rows of the bundled Parquet export, rewritten by DuckDB.
  const parquet = join(dir, 'cur2.parquet')
  const cur2Csv = join(dir, 'cur2.csv')
  const store = await Store.open(':memory:')
  try {
    const source = join(BILLING, 'cur2-daily-2014-04.parquet').replaceAll("'", "''")
    await store.run(`COPY (SELECT * FROM read_parquet('${source}') LIMIT 30) TO '${parquet}' (FORMAT parquet)`)
    await store.run(`COPY (SELECT * FROM read_parquet('${source}') LIMIT 30) TO '${cur2Csv}' (FORMAT csv, HEADER)`)
  } finally {
    await store.close()
  }

  // The first 300 packets of the bundled NTP server capture, as pcap and as pcapng.
  const packets = [...capturePackets(join(ROOT, 'samples/captures/ntp-server.pcap'))].slice(0, 300)
  const captures: Record<string, Buffer> = {}
  for (const format of ['pcap', 'pcapng'] as const) {
    const writer = new CaptureWriter(undefined, {format})
    for (const p of packets) writer.packet(p.timeSec, p.frame, {origlen: p.origlen})
    captures[format] = writer.bytes()
  }

  const manifest = JSON.stringify(
    {
      assemblyId: 'a1b2c3d4',
      billingPeriod: {end: '20140401T000000.000Z', start: '20140301T000000.000Z'},
      bucket: 'bills',
      reportKeys: ['cur/bw/20140301-20140401/a1b2c3d4/bw-1.csv.gz'],
      reportName: 'bw',
    },
    null,
    2,
  )

  const aptLog = [
    'Start-Date: 2014-03-29  14:41:36',
    'Commandline: apt-get install ntp',
    'Install: ntp:amd64 (1:4.2.6.p5+dfsg-3ubuntu2), libopts25:amd64 (1:5.18-2ubuntu2, automatic)',
    'End-Date: 2014-03-29  14:41:39',
    '',
    'Start-Date: 2014-03-30  09:02:05',
    'Commandline: apt-get upgrade',
    'Upgrade: openssl:amd64 (1.0.1f-1ubuntu2, 1.0.1f-1ubuntu2.1)',
    'End-Date: 2014-03-30  09:02:09',
    '',
  ].join('\n')

  return {
    dir,
    seeds: {
      'apt-log': Buffer.from(aptLog),
      'cost-explorer-csv': Buffer.from(costExplorer),
      'cur1-csv': Buffer.from(cur1),
      'cur1-gz': gzipSync(cur1),
      'cur2-csv': readFileSync(cur2Csv),
      'cur2-parquet': readFileSync(parquet),
      'focus-csv': Buffer.from(focus),
      knowledge: readFileSync(join(ROOT, 'src/correlate/knowledge.json')),
      manifest: Buffer.from(manifest),
      pcap: captures.pcap!,
      pcapng: captures.pcapng!,
      'usage-report': Buffer.from(usageReport),
    },
  }
}

/** The store every job starts from (and returns to after each run): one ingested usage report. */
export function seedStoreInput(corpus: Corpus): string {
  const path = join(corpus.dir, 'seed-usage.csv')
  writeFileSync(path, corpus.seeds['usage-report']!)
  return path
}
