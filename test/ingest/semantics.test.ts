import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'

import {beforeEach, describe, expect, it} from 'vitest'

import {ingestFiles} from '../../src/ingest/index.js'
import {Store} from '../../src/store/index.js'
import {useTempStore} from '../helpers/temp-store.js'

const GB = 2 ** 30
const CUR1_HEADER =
  'identity/LineItemId,identity/TimeInterval,bill/PayerAccountId,bill/BillingPeriodStartDate,bill/BillingPeriodEndDate,lineItem/UsageAccountId,lineItem/LineItemType,lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/ProductCode,lineItem/UsageType,lineItem/Operation,lineItem/ResourceId,lineItem/UsageAmount,lineItem/UnblendedCost,lineItem/CurrencyCode,pricing/unit'

/** CUR 1.0 lines for March 2024: [start, usage type, GB, cost]. */
function cur1(lines: [string, string, number, number][], type = 'Usage'): string {
  const rows = lines.map(
    ([start, usageType, gb, cost], i) =>
      `id${i},x,111122223333,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,111122223333,${type},${start},${start},AmazonEC2,${usageType},RunInstances,i-0abc,${gb},${cost},USD,GB`,
  )
  return `${CUR1_HEADER}\n${rows.join('\n')}\n`
}

describe('ingest semantics', () => {
  const temp = useTempStore()
  let store: Store
  beforeEach(() => {
    store = temp.store
  })
  const write = temp.write
  const daily = (usageType = 'DataTransfer-Out-Bytes') =>
    store.all<{day: string; amount: number; cost: number; region: string; unit: string}>(
      `SELECT strftime(day, '%Y-%m-%d') AS day, sum(amount) AS amount, sum(cost) AS cost, any_value(region) AS region, any_value(unit) AS unit
       FROM usage WHERE usage_type = $1 GROUP BY day ORDER BY day`,
      [usageType],
    )

  it('rolls hourly CUR lines up to UTC days and stores GB as 2^30 bytes', async () => {
    const path = write(
      'hourly.csv.gz',
      gzipSync(
        cur1([
          ['2024-03-30T00:00:00Z', 'DataTransfer-Out-Bytes', 1.5, 0.09],
          ['2024-03-30T23:00:00Z', 'DataTransfer-Out-Bytes', 0.5, 0.03],
          ['2024-03-31T00:00:00Z', 'DataTransfer-Out-Bytes', 2, 0.18],
        ]),
      ),
    )
    await ingestFiles(store, [path])
    expect(await daily()).toEqual([
      {amount: 2 * GB, cost: 0.12, day: '2024-03-30', region: 'us-east-1', unit: 'bytes'},
      {amount: 2 * GB, cost: 0.18, day: '2024-03-31', region: 'us-east-1', unit: 'bytes'},
    ])
  })

  it('records the region of prefixed usage types (USW2-, APN1-, none for us-east-1)', async () => {
    const path = write(
      'regions.csv',
      cur1([
        ['2024-03-30T00:00:00Z', 'USW2-DataTransfer-Out-Bytes', 1, 0],
        ['2024-03-30T00:00:00Z', 'APN1-DataTransfer-Out-Bytes', 1, 0],
        ['2024-03-30T00:00:00Z', 'DataTransfer-Out-Bytes', 1, 0],
      ]),
    )
    await ingestFiles(store, [path])
    const rows = await store.all(`SELECT usage_type, usage_base, region FROM usage ORDER BY usage_type`)
    expect(rows).toEqual([
      {region: 'ap-northeast-1', usage_base: 'DataTransfer-Out-Bytes', usage_type: 'APN1-DataTransfer-Out-Bytes'},
      {region: 'us-east-1', usage_base: 'DataTransfer-Out-Bytes', usage_type: 'DataTransfer-Out-Bytes'},
      {region: 'us-west-2', usage_base: 'DataTransfer-Out-Bytes', usage_type: 'USW2-DataTransfer-Out-Bytes'},
    ])
  })

  it('lets a newer export of the same billing period replace the older one (CUR restatement)', async () => {
    const first = write(
      'v1.csv',
      cur1([
        ['2024-03-01T00:00:00Z', 'DataTransfer-Out-Bytes', 1, 0.09],
        ['2024-03-02T00:00:00Z', 'DataTransfer-Out-Bytes', 1, 0.09],
      ]),
    )
    const second = write('v2.csv', cur1([['2024-03-01T00:00:00Z', 'DataTransfer-Out-Bytes', 3, 0.27]]))
    await ingestFiles(store, [first])
    const result = await ingestFiles(store, [second])
    expect(result.files[0]).toMatchObject({replacedRows: 2, status: 'ingested'})
    // The restated month holds only what the newer export says, even for days it no longer lists.
    expect(await daily()).toEqual([{amount: 3 * GB, cost: 0.27, day: '2024-03-01', region: 'us-east-1', unit: 'bytes'}])
  })

  it("reports a file named twice in one call as unchanged the second time, with the first one's figures", async () => {
    const older = write('v0.csv', cur1([['2024-03-05T00:00:00Z', 'DataTransfer-Out-Bytes', 1, 0.09]]))
    const again = write(
      'v1.csv',
      cur1([
        ['2024-03-01T00:00:00Z', 'DataTransfer-Out-Bytes', 1, 0.09],
        ['2024-03-02T00:00:00Z', 'DataTransfer-Out-Bytes', 1, 0.09],
      ]),
    )
    const other = write('v2.csv', cur1([['2024-03-03T00:00:00Z', 'DataTransfer-Out-Bytes', 2, 0.18]]))
    await ingestFiles(store, [older])
    const result = await ingestFiles(store, [again, other, again])
    expect(result.files.map((f) => f.status)).toEqual(['ingested', 'ingested', 'unchanged'])
    expect(result.files[0]).toMatchObject({
      days: 2,
      firstDay: '2024-03-01',
      lastDay: '2024-03-02',
      replacedRows: 1,
      rows: 2,
    })
    expect(result.files[2]).toEqual({...result.files[0], replacedRows: 0, status: 'unchanged'})
  })

  it('reads the report parts a CUR manifest lists as one export', async () => {
    const dir = join(temp.dir, 'report', '20240301-20240401', 'abc-assembly')
    mkdirSync(dir, {recursive: true})
    writeFileSync(
      join(dir, 'report-1.csv.gz'),
      gzipSync(cur1([['2024-03-30T00:00:00Z', 'DataTransfer-Out-Bytes', 1, 0]])),
    )
    writeFileSync(
      join(dir, 'report-2.csv.gz'),
      gzipSync(cur1([['2024-03-31T00:00:00Z', 'DataTransfer-Out-Bytes', 2, 0]])),
    )
    const manifest = write(
      'report/20240301-20240401/report-Manifest.json',
      JSON.stringify({
        assemblyId: 'abc-assembly',
        billingPeriod: {end: '20240401T000000.000Z', start: '20240301T000000.000Z'},
        reportKeys: [
          'billing/report/20240301-20240401/abc-assembly/report-1.csv.gz',
          'billing/report/20240301-20240401/abc-assembly/report-2.csv.gz',
        ],
      }),
    )
    const result = await ingestFiles(store, [manifest])
    expect(result.files[0]).toMatchObject({
      billingPeriod: '2024-03-01/2024-04-01',
      days: 2,
      format: 'cur1-manifest',
      lineItems: 2,
    })
    expect((await daily()).map((d) => d.amount)).toEqual([GB, 2 * GB])
  })

  it('keeps parts of one call together instead of letting them replace each other', async () => {
    const a = write('part-1.csv', cur1([['2024-03-30T00:00:00Z', 'DataTransfer-Out-Bytes', 1, 0]]))
    const b = write('part-2.csv', cur1([['2024-03-31T00:00:00Z', 'DataTransfer-Out-Bytes', 2, 0]]))
    await ingestFiles(store, [a, b])
    expect((await daily()).map((d) => d.day)).toEqual(['2024-03-30', '2024-03-31'])
  })

  it('counts a day once when a usage report of the same account (ingest --account) and a CUR both hold it (the richer CUR wins)', async () => {
    const report = write(
      'report.csv',
      'Service, Operation, UsageType, Resource, StartTime, EndTime, UsageValue\n' +
        `AmazonEC2,RunInstances,DataTransfer-Out-Bytes,,03/30/24 00:00:00,03/31/24 00:00:00,${2 * GB}\n` +
        `AmazonEC2,RunInstances,DataTransfer-Out-Bytes,,03/29/24 00:00:00,03/30/24 00:00:00,${GB}\n`,
    )
    const cur = write('cur.csv', cur1([['2024-03-30T00:00:00Z', 'DataTransfer-Out-Bytes', 2, 0.18]]))
    await ingestFiles(store, [report], {account: '111122223333'})
    await ingestFiles(store, [cur])
    expect(await daily()).toEqual([
      {amount: GB, cost: null, day: '2024-03-29', region: 'us-east-1', unit: 'bytes'},
      {amount: 2 * GB, cost: 0.18, day: '2024-03-30', region: 'us-east-1', unit: 'bytes'},
    ])
  })

  it('reads the legacy 6-column variant, quoted thousands separators and spreadsheet dates', async () => {
    const path = write(
      'old.csv',
      'Service, Operation, UsageType, StartTime, EndTime, UsageValue\n' +
        'AmazonEC2,RunInstances,DataTransfer-Out-Bytes,3/30/2014 0:00,3/31/2014 0:00,"1,234,567"\n,,,,,\n',
    )
    await ingestFiles(store, [path])
    expect(await daily()).toEqual([
      {amount: 1_234_567, cost: null, day: '2014-03-30', region: 'us-east-1', unit: 'bytes'},
    ])
  })

  it('reads the Cost Explorer console CSV (cost per usage type per day, BOM and total row)', async () => {
    const path = write(
      'ce.csv',
      '\uFEFF"Usage type","DataTransfer-Out-Bytes($)","USW2-DataTransfer-Out-Bytes($)","Total costs($)"\n' +
        '"Usage type total","1.2110","0.0034","1.2144"\n"2024-03-29","0.0000","0.0011","0.0011"\n"2024-03-30","0.4652","0.0011","0.4663"\n',
    )
    const result = await ingestFiles(store, [path])
    expect(result.files[0]).toMatchObject({days: 2, format: 'cost-explorer-csv'})
    expect((await daily()).map((d) => [d.day, d.cost, d.amount])).toEqual([
      ['2024-03-29', 0, null],
      ['2024-03-30', 0.4652, null],
    ])
    expect((await daily('USW2-DataTransfer-Out-Bytes'))[0]).toMatchObject({cost: 0.0011, region: 'us-west-2'})
  })

  it('lets --format override detection and says so when the content does not fit', async () => {
    const path = write(
      'report.csv',
      'Service, Operation, UsageType, Resource, StartTime, EndTime, UsageValue\nAmazonEC2,RunInstances,DataTransfer-Out-Bytes,,03/30/24 00:00:00,03/31/24 00:00:00,5\n',
    )
    await expect(ingestFiles(store, [path], {format: 'focus'})).rejects.toMatchObject({
      code: 'E_HEADER',
      field: 'ChargePeriodStart',
    })
    const ok = await ingestFiles(store, [path], {format: 'usage-report'})
    expect(ok.files[0]?.format).toBe('usage-report')
  })

  it('skips FOCUS corrections and non-usage charges', async () => {
    const header =
      'ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeClass,BillingPeriodStart,BillingPeriodEnd,SubAccountId,RegionId,ConsumedQuantity,ConsumedUnit,BilledCost,BillingCurrency,x_ServiceCode,x_UsageType,x_Operation'
    const path = write(
      'focus.csv',
      `${header}\n` +
        '2024-03-30T00:00:00Z,2024-03-31T00:00:00Z,Usage,,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,1,us-east-1,4,GB,0.36,USD,AmazonEC2,DataTransfer-Out-Bytes,RunInstances\n' +
        '2024-03-30T00:00:00Z,2024-03-31T00:00:00Z,Usage,Correction,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,1,us-east-1,9,GB,0.81,USD,AmazonEC2,DataTransfer-Out-Bytes,RunInstances\n' +
        '2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,Tax,,2024-03-01T00:00:00Z,2024-04-01T00:00:00Z,1,us-east-1,,,-1.5,USD,AmazonEC2,,\n',
    )
    const result = await ingestFiles(store, [path])
    expect(result.files[0]).toMatchObject({format: 'focus', lineItems: 3})
    expect(await daily()).toEqual([{amount: 4 * GB, cost: 0.36, day: '2024-03-30', region: 'us-east-1', unit: 'bytes'}])
  })
})
