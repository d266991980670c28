/**
 * Per-client flow totals are kept per calendar month: `billwatch flows` over whole months gives the
 * period's clients exactly; a period that cuts a month gives the whole month's and says so.
 */
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {analyseFlows} from '../../src/flows/report.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {Store} from '../../src/store/index.js'
import {tempDir} from '../helpers/cli.js'

const tmp = tempDir('billwatch-flow-clients-')
afterAll(() => tmp.cleanup())

const HEADER =
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status'
const ENI = 'eni-0c0ffee000000c0de'

/** One client a day, its own address, from 2014-03-29 to 2014-04-03: egress of 1000 × (day + 1) bytes. */
const days = ['2014-03-29', '2014-03-30', '2014-03-31', '2014-04-01', '2014-04-02', '2014-04-03']
const clientOf = (i: number) => `203.0.113.${i + 1}`

describe('flows clients per calendar month', () => {
  it('exact for whole months, the whole month said plainly for a period that cuts one', async () => {
    const path = join(tmp.dir, 'eni.log')
    const lines = days.map((day, i) => {
      const end = Date.parse(`${day}T12:00:00Z`) / 1000
      return `2 123456789012 ${ENI} 10.0.0.8 ${clientOf(i)} 123 40000 17 10 ${1000 * (i + 1)} ${end - 60} ${end} ACCEPT OK`
    })
    writeFileSync(path, `${HEADER}\n${lines.join('\n')}\n`)
    const store = await Store.open(join(tmp.dir, 'store.duckdb'))
    try {
      await ingestFiles(store, [path])
      const april = await analyseFlows(store, {since: '2014-04-01', until: '2014-04-30'})
      expect(april.service).toMatchObject({
        clientsFrom: '2014-04-01',
        clientsTo: '2014-04-03',
        egressBytes: 4000 + 5000 + 6000,
        uniqueClients: 3,
      })
      expect(april.service!.topTalkers.map((t) => t.address)).toEqual([clientOf(5), clientOf(4), clientOf(3)])
      expect(april.cannotTell.join(' ')).not.toMatch(/calendar month/)

      const cut = await analyseFlows(store, {since: '2014-03-31', until: '2014-04-01'})
      // Bytes and the daily series are the period's own …
      expect(cut.egressBytes).toBe(3000 + 4000)
      expect(cut.service!.daily.map((d) => d.day)).toEqual(['2014-03-31', '2014-04-01'])
      // … the clients are the two months' (every day of them with traffic), and the report says so.
      expect(cut.service).toMatchObject({clientsFrom: '2014-03-29', clientsTo: '2014-04-03', uniqueClients: 6})
      expect(cut.cannotTell.join(' ')).toContain(
        'per-client totals are kept per calendar month, so clients, top talkers and the blocking table cover 2014-03-29 to 2014-04-03',
      )
    } finally {
      await store.close()
    }
  })
})
