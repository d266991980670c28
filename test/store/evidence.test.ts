import {describe, expect, it} from 'vitest'

import {latestFinding, saveFinding} from '../../src/store/evidence.js'
import {useTempStore} from '../helpers/temp-store.js'

describe('findings read back from the store', () => {
  const temp = useTempStore()

  it('reads a correlation an older billwatch saved (no committer time, no same-change links) as it was written', async () => {
    const older = {steps: [{candidates: [{commit: 'abc1234', subject: 'apt-get install ntp'}], date: '2014-03-29'}]}
    await temp.store.saveEvidence('correlate', '/etc', older)
    const found = await latestFinding(temp.store, 'correlate')
    expect(found?.data).toEqual(older)
    expect(found?.subject).toBe('/etc')
  })

  it('keeps one finding per kind and subject, the newest', async () => {
    const probe = (verdict: string) => ({
      addresses: ['127.0.0.1'],
      host: 'ntp.test',
      results: [],
      summary: `ntp.test ${verdict}`,
      verdict,
    })
    await saveFinding(temp.store, 'probe', 'ntp.test', probe('not-served') as never)
    await saveFinding(temp.store, 'probe', 'ntp.test', probe('served') as never)
    expect((await latestFinding(temp.store, 'probe', 'ntp.test'))?.data.verdict).toBe('served')
    expect(await latestFinding(temp.store, 'pcap')).toBeUndefined()
  })

  it.each([
    ['pcap', {byPort: [], host: null, outbound: {bytes: 'many'}}, '/outbound/bytes'],
    ['pcap', {n: 1}, "must have required property 'byPort'"],
    ['probe', {addresses: '127.0.0.1', host: 'ntp.test', results: [], summary: '', verdict: 'served'}, '/addresses'],
    ['correlate', {steps: [{date: '2014-03-29'}]}, "must have required property 'candidates'"],
  ] as const)(
    'refuses a %s finding of another shape in one line naming the store and what is wrong',
    async (kind, data, problem) => {
      await temp.store.saveEvidence(kind, 'subject', data)
      const refused = latestFinding(temp.store, kind)
      await expect(refused).rejects.toMatchObject({code: 'E_STORE', message: expect.stringContaining(problem)})
      await expect(refused).rejects.toMatchObject({
        message: expect.stringContaining(`the stored ${kind} finding for subject`),
      })
    },
  )
})
