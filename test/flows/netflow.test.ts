import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {BillwatchError} from '../../src/errors.js'
import {analyseFlows} from '../../src/flows/report.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {analyseCapture} from '../../src/pcap/analyse.js'
import {buildReport} from '../../src/pcap/report.js'
import {Store} from '../../src/store/index.js'
import {SAMPLES, tempDir} from '../helpers/cli.js'
import {collectNetflow, type ExportVersion} from '../helpers/netflow.js'
import {storeSnapshot} from '../helpers/store-snapshot.js'

const tmp = tempDir('billwatch-netflow-')
afterAll(() => tmp.cleanup())
const CAPTURES = ['ntp-server.pcap', 'ntp-control.pcap']

async function storeOf<T>(name: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await Store.open(join(tmp.dir, `${name}.duckdb`))
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

function captureTruth(capture: string): {byPort: Record<string, number>; host: string; outbound: number} {
  const report = buildReport(analyseCapture(join(SAMPLES, 'captures', capture)), {behaviour: false})
  return {
    byPort: Object.fromEntries(
      report.byPort.filter((p) => p.billableBytes > 0).map((p) => [`${p.protocol}/${p.port ?? '-'}`, p.billableBytes]),
    ),
    host: report.host!.address,
    outbound: report.outbound.billableBytes,
  }
}

describe('NetFlow v5, v9 and IPFIX: softflowd → nfcapd (loopback) → billwatch', () => {
  for (const capture of CAPTURES) {
    for (const version of [5, 9, 10] as ExportVersion[]) {
      it(`${capture}, ${version === 10 ? 'IPFIX' : `v${version}`}: egress bytes by port equal billwatch pcap's billable bytes, unsampled`, async () => {
        const truth = captureTruth(capture)
        const files = await collectNetflow(
          join(SAMPLES, 'captures', capture),
          join(tmp.dir, `${capture}-v${version}`),
          version,
        )
        expect(files.length).toBeGreaterThan(0)
        await storeOf(`${capture}-v${version}`, async (store) => {
          const result = await ingestFiles(store, files)
          expect(result.flows.every((f) => f.format === 'nfcapd' && f.sampling === null)).toBe(true)
          const rows = await store.all<{service: string; bytes: number}>(
            `SELECT protocol || '/' || coalesce(port::VARCHAR, '-') AS service, sum(bytes) AS bytes FROM flow_daily
             WHERE direction = 'egress' AND action = 'ACCEPT' GROUP BY ALL`,
          )
          expect(Object.fromEntries(rows.map((r) => [r.service, r.bytes]))).toEqual(truth.byPort)
          const report = await analyseFlows(store)
          expect(report.interface).toBe(truth.host)
          expect(report.egressBytes).toBe(truth.outbound)
          expect(report.estimated).toBe(false)
          expect(report.cannotTell.join(' ')).toMatch(/Kiss-o'-Death/)
        })
      }, 120_000)
    }
  }

  it('1-in-N sampling the exporter does not announce is applied with --sampling and stated as an estimate', async () => {
    const truth = captureTruth('ntp-server.pcap')
    const files = await collectNetflow(join(SAMPLES, 'captures', 'ntp-server.pcap'), join(tmp.dir, 'sampled'), 10, {
      sampling: 4,
    })
    await storeOf('sampled', async (store) => {
      const result = await ingestFiles(store, files, {flows: {sampling: 4}})
      expect(result.flows[0]!.sampling).toMatch(/1:4 .*estimates/)
      const report = await analyseFlows(store)
      expect(report.estimated).toBe(true)
      expect(report.cannotTell.join(' ')).toMatch(/estimates/)
      // Every counted packet stands for four: whole multiples of 4 × 76-byte NTP replies, near the truth.
      const ntp = report.byPort.find((p) => p.protocol === 'udp' && p.port === 123)!
      expect(ntp.egressBytes % (4 * 76)).toBe(0)
      expect(ntp.egressBytes / truth.byPort['udp/123']!).toBeGreaterThan(0.5)
      expect(ntp.egressBytes / truth.byPort['udp/123']!).toBeLessThan(1.5)
    })
  }, 120_000)

  it('an nfcapd file cut short (nfdump reads what it can and exits 0) is refused as cut short, the store unchanged', async () => {
    const [whole] = await collectNetflow(join(SAMPLES, 'captures', 'ntp-server.pcap'), join(tmp.dir, 'cut'), 9)
    const bytes = readFileSync(whole!)
    const cut = join(tmp.dir, 'cut', 'nfcapd.cut-short')
    await storeOf('cut', async (store) => {
      const before = await storeSnapshot(store)
      for (const length of [Math.floor(bytes.length / 2), bytes.length - 7]) {
        writeFileSync(cut, bytes.subarray(0, length))
        const error = await ingestFiles(store, [cut]).then(
          () => undefined,
          (error: unknown) => error,
        )
        expect(error).toBeInstanceOf(BillwatchError)
        expect((error as BillwatchError).message).toMatch(/cut short/)
        expect((error as BillwatchError).message).not.toMatch(/\.c line \d/)
        expect((error as BillwatchError).file).toBe(cut)
        expect(await storeSnapshot(store)).toBe(before)
      }
    })
  }, 120_000)
})
