/**
 * Billing exports as real accounts write them: FOCUS from every provider, the Detailed Billing
 * Report, currencies and effective cost, and the exports billwatch refuses by name. The files come
 * from test/ingest/billing-exports.ts (published column sets, one ground truth).
 */
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {DuckDBInstance} from '@duckdb/node-api'
import {zipSync} from 'fflate'
import Papa from 'papaparse'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadSeries} from '../../src/anomalies/series.js'
import {ingestFiles} from '../../src/ingest/index.js'
import {Store} from '../../src/store/index.js'
import {storeStatus} from '../../src/store/status.js'
import {runCli, tempDir} from '../helpers/cli.js'
import {storeSnapshot} from '../helpers/store-snapshot.js'
import {
  awsChargeRows,
  cur1,
  cur2,
  dbr,
  type EgressDay,
  focus,
  GB,
  googleRows,
  otherProviderRows,
  usageReport,
  zipOf,
} from './billing-exports.js'

/** Ground truth: AWS internet egress per day and region (a step on the 30th, as in the NTP pool server incident). */
const DAYS: EgressDay[] = [
  {bytes: {'eu-west-1': 123_456, 'us-east-1': 3_981_442, 'us-west-2': 1_000_001}, day: '2024-03-28'},
  {bytes: {'eu-west-1': 654_321, 'us-east-1': 4_404_019, 'us-west-2': 999_999}, day: '2024-03-29'},
  {bytes: {'eu-west-1': 7, 'us-east-1': 8_900_113_820, 'us-west-2': 2_000_000}, day: '2024-03-30'},
]
function lowerCaseHeader(text: string): string {
  const newline = text.indexOf('\n')
  return text.slice(0, newline).toLowerCase() + text.slice(newline)
}

/** Google Cloud's internet egress in the FOCUS 1.1 file, in bytes as its view writes them. */
const GOOGLE_EGRESS = 7_777_777_777
const dailyEgress = (days: EgressDay[]) =>
  days.map((d) => ({day: d.day, value: Object.values(d.bytes).reduce((a, b) => a + b, 0)}))

describe('the same days from every AWS export', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())
  const files: [string, string | Uint8Array][] = [
    ['usage-report.csv', usageReport(DAYS)],
    ['cur1-hourly.csv', cur1(DAYS)],
    ['cur2-daily.csv', cur2(DAYS)],
    [
      '123456789012-aws-billing-detailed-line-items-with-resources-and-tags-2024-03.csv.zip',
      zipOf('123456789012-aws-billing-detailed-line-items-with-resources-and-tags-2024-03.csv', dbr(DAYS)),
    ],
    ['123456789012-aws-billing-detailed-line-items-2024-03.csv', dbr(DAYS, {resources: false})],
    ['focus-1.0-aws.csv', focus('1.0', DAYS)],
    ['focus-1.0-sample-shape.csv', focus('1.0-sample', DAYS, otherProviderRows('2024-03-30'))],
    ['focus-1.1-with-google.csv', focus('1.1', DAYS, googleRows('2024-03-29', GOOGLE_EGRESS))],
    ['focus-1.2-aws.csv', focus('1.2', DAYS)],
    // As an Athena/Glue table's CSV: every name lower-cased.
    ['focus-1.2-glue-lowercase.csv', lowerCaseHeader(focus('1.2', DAYS))],
  ]

  it('reads FOCUS as Parquet too (typed columns, not text)', async () => {
    const csvPath = join(tmp.dir, 'focus-for-parquet.csv')
    writeFileSync(csvPath, focus('1.0', DAYS))
    const path = join(tmp.dir, 'focus-1.0.parquet')
    const db = await DuckDBInstance.create(':memory:')
    const connection = await db.connect()
    await connection.run(`COPY (SELECT * FROM read_csv('${csvPath}', header = true)) TO '${path}' (FORMAT parquet)`)
    connection.closeSync()
    db.closeSync()
    const store = await Store.open(join(tmp.dir, 'parquet.duckdb'))
    try {
      expect((await ingestFiles(store, [path])).files[0]).toMatchObject({container: 'parquet', format: 'focus'})
      const series = await loadSeries(store, {})
      series.total.points.forEach((p, i) => expect(Math.abs(p.value - dailyEgress(DAYS)[i]!.value)).toBeLessThan(1))
    } finally {
      await store.close()
    }
  })

  it("reads Oracle's FOCUS with the 1.0-preview names it still writes (Provider, Region, UsageQuantity, UsageUnit)", async () => {
    const path = join(tmp.dir, 'oci-focus-preview.csv')
    const preview = {
      ConsumedQuantity: 'UsageQuantity',
      ConsumedUnit: 'UsageUnit',
      ProviderName: 'Provider',
      RegionId: 'Region',
    } as Record<string, string>
    const text = focus(
      '1.0',
      [],
      otherProviderRows('2024-03-30').filter((r) => r.ProviderName === 'Oracle'),
    )
    const [header, ...rest] = text.split('\n')
    writeFileSync(
      path,
      [
        header!
          .split(',')
          .map((c) => preview[c] ?? c)
          .join(','),
        ...rest,
      ].join('\n'),
    )
    const store = await Store.open(join(tmp.dir, 'oci-preview.duckdb'))
    try {
      await ingestFiles(store, [path])
      const status = await storeStatus(store)
      expect(status.usageTypes).toEqual([
        {
          amount: 3 * GB,
          cost: 0,
          currency: 'USD',
          days: 1,
          provider: 'Oracle',
          unit: 'bytes',
          usageType: 'Outbound Data Transfer Zone 1',
        },
      ])
      expect(status.charges).toEqual([{category: 'Credit', cost: -1.25, currency: 'USD', days: 1, provider: 'Oracle'}])
    } finally {
      await store.close()
    }
  })

  it.each(files)('%s gives the daily internet egress bytes of the ground truth', async (name, content) => {
    const path = join(tmp.dir, name)
    writeFileSync(path, content)
    const store = await Store.open(join(tmp.dir, `${name}.duckdb`))
    try {
      await ingestFiles(store, [path])
      const series = await loadSeries(store, {})
      const aws = await store.all<{day: string; bytes: number}>(
        `SELECT strftime(day, '%Y-%m-%d') AS day, sum(amount) AS bytes FROM usage WHERE provider = 'AWS' AND usage_base = 'DataTransfer-Out-Bytes' GROUP BY ALL ORDER BY day`,
      )
      const want = dailyEgress(DAYS)
      expect(aws.map((r) => r.day)).toEqual(want.map((w) => w.day))
      // To the byte: GB with 12 decimals, split over 24 hours, adds up to well under one.
      aws.forEach((row, i) => expect(Math.abs(row.bytes - want[i]!.value)).toBeLessThan(1))
      // Inbound too (half the outbound in every file), so explain can compare the two whatever the export.
      const inbound = await store.all<{bytes: number}>(
        `SELECT sum(amount) AS bytes FROM usage WHERE provider = 'AWS' AND usage_base = 'DataTransfer-In-Bytes' AND unit = 'bytes' GROUP BY day ORDER BY day`,
      )
      // (The usage report writes whole bytes: up to half a byte off per region.)
      inbound.forEach((row, i) => expect(Math.abs(row.bytes - want[i]!.value / 2)).toBeLessThan(2))
      expect(inbound).toHaveLength(want.length)
      // What anomalies reads is the same (plus, in the sample-shaped file, other providers' egress).
      const others = name.includes('sample')
        ? {'2024-03-30': 10e9 + 3 * GB}
        : name.includes('google')
          ? {'2024-03-29': GOOGLE_EGRESS}
          : {}
      if (name.includes('google')) {
        // Google's bytes are egress; its inter-region SKU is not; nor are the EUR costs added to the USD ones.
        expect(series.usageTypes).toContain('Network Internet Data Transfer Out from Americas to EMEA')
        expect(series.usageTypes).not.toContain('Network Inter Region Data Transfer Out from Americas to EMEA')
        expect(series.currencies).toEqual(['EUR', 'USD'])
        expect(series.total.points.every((p) => p.cost === null)).toBe(true)
      }
      series.total.points.forEach((p, i) =>
        expect(Math.abs(p.value - want[i]!.value - (others[p.day as keyof typeof others] ?? 0))).toBeLessThan(1),
      )
    } finally {
      await store.close()
    }
  })

  it('the DBR counts line items once: its total rows are skipped, its rounding kept as a charge', async () => {
    const path = join(tmp.dir, 'dbr-totals.csv')
    writeFileSync(path, dbr(DAYS))
    const store = await Store.open(join(tmp.dir, 'dbr-totals.duckdb'))
    try {
      await ingestFiles(store, [path])
      const status = await storeStatus(store)
      const rows = Papa.parse<Record<string, string>>(readFileSync(path, 'utf8').trim(), {header: true}).data
      const lineCosts = rows
        .filter((r) => r.RecordType === 'LineItem')
        .reduce((sum, r) => sum + Number(r.UnBlendedCost), 0)
      expect(rows.filter((r) => r.RecordType === 'LineItem').length).toBe(status.sources[0]!.lineItems - 3)
      expect(status.sources[0]).toMatchObject({currency: 'USD', format: 'dbr', providers: ['AWS']})
      expect(status.sources[0]!.cost).toBeCloseTo(lineCosts, 9)
      expect(status.charges).toEqual([{category: 'Rounding', cost: 0.01, currency: 'USD', days: 1, provider: 'AWS'}])
      expect(status.sources[0]!.costBasis).toMatch(/^UnBlendedCost/)
    } finally {
      await store.close()
    }
  })
})

describe('a FOCUS 1.0 file shaped like the FinOps Foundation sample (AWS, Azure and OCI rows)', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())
  const db = join(tmp.dir, 'store.duckdb')
  const path = join(tmp.dir, 'focus_sample.csv')
  // 30 days so anomalies has a series to analyse; the other providers bill every day from the 15th.
  const days: EgressDay[] = Array.from({length: 30}, (_, i) => ({
    bytes: {'us-east-1': (i < 14 ? 5e6 : 9e9) + i},
    day: `2024-09-${String(i + 1).padStart(2, '0')}`,
  }))
  const others = days.slice(14).flatMap((d) => otherProviderRows(d.day))
  writeFileSync(path, focus('1.0-sample', days, [...others, ...awsChargeRows('2024-09-01')]))
  const dataRows = readFileSync(path, 'utf8').trim().split('\n').length - 1

  it('ingests every usage row, per provider and region, and keeps Credit and Tax rows as cost', async () => {
    const ingest = await runCli(['ingest', path, '--db', db, '--json'])
    expect(ingest.stderr).toBe('')
    expect(ingest.code).toBe(0)
    expect(ingest.json().files[0]).toMatchObject({format: 'focus', lineItems: dataRows, status: 'ingested'})
    const status = (await runCli(['status', '--db', db, '--json'])).json()
    const usage = (provider: string, usageType: string) =>
      status.usageTypes.find((u: any) => u.provider === provider && u.usageType === usageType)
    expect(status.sources[0].providers).toEqual(['AWS', 'Microsoft', 'Oracle'])
    expect(usage('AWS', 'DataTransfer-Out-Bytes')).toMatchObject({days: 30, unit: 'bytes'})
    expect(usage('AWS', 'DataTransfer-Out-Bytes').amount).toBeCloseTo(
      days.reduce((s, d) => s + d.bytes['us-east-1']!, 0),
      0,
    )
    // Azure internet egress in bytes (GB = 10^9, FOCUS's unit); its inter-region meter is usage but not egress.
    expect(usage('Microsoft', 'Rtn Preference: MGN - Standard Data Transfer Out')).toMatchObject({
      amount: 16 * 10e9,
      days: 16,
      unit: 'bytes',
      currency: 'USD',
    })
    expect(
      usage('Microsoft', 'Bandwidth Inter-Region - Intra Continent Data Transfer Out - North America'),
    ).toMatchObject({amount: 32, unit: 'GB'})
    expect(usage('Oracle', 'Outbound Data Transfer Zone 1')).toMatchObject({amount: 16 * 3 * GB, unit: 'bytes'})
    const charges = Object.fromEntries(status.charges.map((c: any) => [`${c.provider} ${c.category}`, c.cost]))
    expect(charges).toEqual({
      'AWS Credit': -2,
      'AWS Tax': 0.4,
      'Microsoft Credit': -0.5 * 16,
      'Oracle Credit': -1.25 * 16,
    })
    const stored = await Store.open(db)
    try {
      const regions = await stored.all<{provider: string; region: string}>(
        `SELECT DISTINCT provider, region FROM usage_daily WHERE usage_base = 'DataTransfer-Out-Bytes' ORDER BY ALL`,
      )
      expect(regions).toEqual([
        {provider: 'AWS', region: 'us-east-1'},
        {provider: 'Microsoft', region: 'eastus2'},
        {provider: 'Oracle', region: 'us-sanjose-1'},
      ])
    } finally {
      await stored.close()
    }
  }, 300_000)

  // Each provider's account is its own series (anomalies never adds accounts together): every one is analysed.
  it('anomalies analyses the Azure and OCI egress beside the AWS egress', async () => {
    const anomalies = await runCli(['anomalies', '--db', db, '--json'])
    expect(anomalies.code).toBe(0)
    const result = anomalies.json()
    expect(result.usageTypes).toEqual([
      'DataTransfer-Out-Bytes',
      'Outbound Data Transfer Zone 1',
      'Rtn Preference: MGN - Standard Data Transfer Out',
    ])
    expect(result.stretches.map((s: any) => `${s.provider} ${s.account}`).sort()).toEqual([
      'AWS 123456789012',
      'Microsoft sub-1',
      'Oracle ocid1.tenancy',
    ])
    const day15 = async (account: string) => {
      const one = await runCli(['anomalies', '--db', db, '--json', '--account', account])
      expect(one.code, one.stderr).toBe(0)
      return one.json().series.find((p: any) => p.day === '2024-09-15').value as number
    }
    expect(await day15('123456789012')).toBeCloseTo(9e9 + 14, 0)
    expect(await day15('sub-1')).toBeCloseTo(10e9, 0)
    expect(await day15('ocid1.tenancy')).toBeCloseTo(3 * GB, 0)
    expect(
      result.steps.some((s: any) => s.date === '2024-09-15' && s.direction === 'up' && s.account === '123456789012'),
    ).toBe(true)
  }, 300_000)
})

describe('money as billed', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('a CUR billed in NOK shows NOK in status, anomalies, explain and report, never $ or a …Usd key', async () => {
    const db = join(tmp.dir, 'nok.duckdb')
    const path = join(tmp.dir, 'cur-nok.csv')
    const days: EgressDay[] = Array.from({length: 30}, (_, i) => ({
      bytes: {'us-east-1': i < 15 ? 4e6 + i * 1000 : 9e9 + i * 1000},
      day: `2024-04-${String(i + 1).padStart(2, '0')}`,
    }))
    writeFileSync(path, cur1(days, {currency: 'NOK', hourly: false}))
    expect((await runCli(['ingest', path, '--db', db])).code).toBe(0)
    const html = join(tmp.dir, 'report.html')
    const runs = {
      anomalies: await runCli(['anomalies', '--db', db]),
      anomaliesJson: await runCli(['anomalies', '--db', db, '--json']),
      explain: await runCli(['explain', '--db', db]),
      explainJson: await runCli(['explain', '--db', db, '--json']),
      report: await runCli(['report', '--db', db, '--out', html]),
      status: await runCli(['status', '--db', db]),
      statusJson: await runCli(['status', '--db', db, '--json']),
    }
    for (const [name, run] of Object.entries(runs)) {
      expect(run.code, `${name}: ${run.stderr}`).toBe(0)
      expect(run.stdout, name).not.toMatch(/\$\s?\d/)
      expect(run.stdout, name).not.toMatch(/Usd"/)
    }
    expect(runs.status.stdout).toMatch(/NOK \d/)
    expect(runs.anomalies.stdout).toMatch(/NOK \d/)
    expect(runs.explain.stdout).toMatch(/NOK \d/)
    // What the report shows (its inlined chart library's source is not money).
    const report = readFileSync(html, 'utf8').replaceAll(/<script[\s\S]*?<\/script>/g, '')
    expect(report).toMatch(/NOK \d/)
    expect(report).not.toMatch(/\$\s?\d/)
    const status = runs.statusJson.json()
    expect(status.sources[0]).toMatchObject({currency: 'NOK'})
    expect(status.totals.costs.map((c: any) => c.currency)).toEqual(['NOK'])
    const step = runs.anomaliesJson.json().steps.find((s: any) => s.date === '2024-04-16')
    expect(step).toMatchObject({currency: 'NOK'})
    expect(step.monthlyCost).toBeGreaterThan(0)
    expect(step).not.toHaveProperty('monthlyCostUsd')
    expect(runs.anomaliesJson.json().pricing).toMatchObject({currency: 'NOK', source: 'store'})
    expect(runs.explainJson.json().bill).toMatchObject({currency: 'NOK'})
  }, 600_000)

  it('costs Savings Plan covered usage at its effective cost and says which column it used, list cost beside it', async () => {
    const path = join(tmp.dir, 'cur-sp.csv')
    const covered = {
      'lineItem/LineItemType': 'SavingsPlanCoveredUsage',
      'lineItem/ProductCode': 'AmazonEC2',
      'lineItem/UnblendedCost': 2.304,
      'lineItem/UsageAmount': 24,
      'lineItem/UsageEndDate': '2024-03-29T00:00:00Z',
      'lineItem/UsageStartDate': '2024-03-28T00:00:00Z',
      'lineItem/UsageType': 'BoxUsage:m5.large',
      'pricing/publicOnDemandCost': 2.304,
      'pricing/unit': 'Hrs',
      'savingsPlan/SavingsPlanEffectiveCost': 1.5,
    }
    const negation = {
      ...covered,
      'lineItem/LineItemType': 'SavingsPlanNegation',
      'lineItem/UnblendedCost': -2.304,
      'pricing/publicOnDemandCost': '',
      'savingsPlan/SavingsPlanEffectiveCost': '',
    }
    const credit = {
      ...covered,
      'lineItem/LineItemType': 'Credit',
      'lineItem/UnblendedCost': -0.25,
      'lineItem/UsageAmount': 0,
      'lineItem/UsageType': 'DataTransfer-Out-Bytes',
      'pricing/publicOnDemandCost': '',
      'savingsPlan/SavingsPlanEffectiveCost': '',
    }
    writeFileSync(path, cur1(DAYS, {extra: [covered, negation, credit], hourly: false}))
    const store = await Store.open(join(tmp.dir, 'sp.duckdb'))
    try {
      await ingestFiles(store, [path])
      const status = await storeStatus(store)
      expect(status.usageTypes.find((u) => u.usageType === 'BoxUsage:m5.large')).toMatchObject({
        amount: 24,
        cost: 1.5,
        currency: 'USD',
      })
      expect(status.charges).toEqual([
        {category: 'Credit', cost: -0.25, currency: 'USD', days: 1, provider: 'AWS'},
        {category: 'SavingsPlanNegation', cost: 0, currency: 'USD', days: 1, provider: 'AWS'},
      ])
      // The credit against egress is a charge: it adds no bytes.
      const egress = await loadSeries(store, {})
      expect(egress.total.points[0]!.value / dailyEgress(DAYS)[0]!.value).toBeCloseTo(1, 9)
      expect(status.sources[0]!.costBasis).toContain(
        'savingsPlan/SavingsPlanEffectiveCost on Savings Plan covered lines',
      )
      const usageCosts = status.sources[0]!.costs[0]!
      expect(usageCosts.listCost! - usageCosts.cost).toBeCloseTo(2.304 - 1.5, 9)
    } finally {
      await store.close()
    }
  })
})

/**
 * Headers as the providers document them (billing-exports-2.md §6; Microsoft Learn cost-usage-details-ea / -mca,
 * koku/nise for GCP, Oracle's cost report docs).
 */
const REFUSED: [string, string, RegExp, RegExp][] = [
  [
    'azure-ea.csv',
    'InvoiceSectionName,AccountName,AccountOwnerId,SubscriptionId,SubscriptionName,ResourceGroup,ResourceLocation,Date,ProductName,MeterCategory,MeterSubCategory,MeterId,MeterName,MeterRegion,UnitOfMeasure,Quantity,EffectivePrice,CostInBillingCurrency,CostCenter,ConsumedService,ResourceId,Tags,OfferId,AdditionalInfo,ServiceInfo1,ServiceInfo2,ResourceName,ReservationId,ReservationName,UnitPrice,ProductOrderId,ProductOrderName,Term,PublisherType,PublisherName,ChargeType,Frequency,PricingModel,AvailabilityZone,BillingAccountId,BillingAccountName,BillingCurrencyCode,BillingPeriodStartDate,BillingPeriodEndDate,BillingProfileId,BillingProfileName\nsec,acct,owner@example.com,sub,subname,rg,eastus2,9/2/2023,Bandwidth,Bandwidth,,1010107,Standard Data Transfer Out,,1 GB,10,0.087,0.87,,Microsoft.Network,/subscriptions/x,,MS-AZR-0017P,,,,,,,0.087,,,,Azure,Microsoft,Usage,UsageBased,OnDemand,,8611537,Contoso,USD,9/1/2023,9/30/2023,8611537,Contoso\n',
    /an Azure Enterprise Agreement \(EA\) cost details export/,
    /FOCUS/,
  ],
  [
    'azure-mca.csv',
    'invoiceId,previousInvoiceId,billingAccountId,billingAccountName,billingProfileId,billingProfileName,invoiceSectionId,invoiceSectionName,resellerName,resellerMpnId,costCenter,billingPeriodEndDate,billingPeriodStartDate,servicePeriodEndDate,servicePeriodStartDate,date,serviceFamily,productOrderId,productOrderName,consumedService,meterId,meterName,meterCategory,meterSubCategory,meterRegion,ProductId,ProductName,SubscriptionId,subscriptionName,publisherType,publisherId,publisherName,resourceGroupName,ResourceId,resourceLocation,location,effectivePrice,quantity,unitOfMeasure,chargeType,billingCurrency,pricingCurrency,costInBillingCurrency\nINV1,,acct,Contoso,prof,Profile,sec,Section,,,,09/30/2023,09/01/2023,09/30/2023,09/01/2023,09/02/2023,Networking,,,Microsoft.Network,1010107,Standard Data Transfer Out,Bandwidth,,,1,Bandwidth,sub,subname,Azure,,Microsoft,rg,/subscriptions/x,eastus2,eastus2,0.087,10,1 GB,Usage,USD,USD,0.87\n',
    /an Azure Microsoft Customer Agreement \(MCA\) cost details export/,
    /FOCUS/,
  ],
  [
    'gcp-billing.csv',
    'billing_account_id,service.id,service.description,sku.id,sku.description,usage_start_time,usage_end_time,project.id,project.name,project.labels,project.ancestry_numbers,labels,system_labels,location.location,location.country,location.region,location.zone,export_time,cost,currency,currency_conversion_rate,usage.amount,usage.unit,usage.amount_in_pricing_units,usage.pricing_unit,credits,invoice.month,cost_type,partition_date\n01A2B3-C4D5E6-F7G8H9,6F81-5844-456A,Compute Engine,F274-1692-F213,Network Internet Data Transfer Out from Americas to EMEA,2024-03-30 00:00:00 UTC,2024-03-30 01:00:00 UTC,p,p,[],,[],[],us-central1,US,us-central1,,2024-03-30 05:00:00 UTC,0.12,USD,1,1073741824,bytes,1,gibibyte,[],202403,regular,2024-03-30\n',
    /a Google Cloud billing export \(BigQuery\) saved as CSV/,
    /FOCUS/,
  ],
  [
    'oci-cost.csv',
    'lineItem/referenceNo,lineItem/tenantId,lineItem/intervalUsageStart,lineItem/intervalUsageEnd,product/service,product/compartmentId,product/compartmentName,product/region,product/availabilityDomain,product/resourceId,usage/billedQuantity,usage/billedQuantityOverage,cost/subscriptionId,cost/productSku,product/Description,cost/unitPrice,cost/unitPriceOverage,cost/myCost,cost/myCostOverage,cost/currencyCode,cost/billingUnitReadable,cost/skuUnitDescription,cost/overageFlag,lineItem/isCorrection,lineItem/backreferenceNo\nref1,ocid1.tenancy,2023-11-13T10:00Z,2023-11-13T11:00:00Z,NETWORK,ocid1.compartment,acme,us-sanjose-1,AD-1,ocid1.vnic,0.000214,,sub1,B88327,Outbound Data Transfer Zone 1,0.0085,,2.27205938461E-7,,USD,1 GiB HOURS DATA_TRANSFERRED,GB Months,,false,\n',
    /an Oracle Cloud \(OCI\) cost report/,
    /FOCUS/,
  ],
  [
    'ce-total.csv',
    '"","Total costs($)"\n"Total","123.45"\n',
    /a Cost Explorer download without a grouping: it holds only the total cost/,
    /Group by "Usage type"/,
  ],
  [
    'ce-total-daily.csv',
    '"","Total costs($)"\n"Total costs($)","3.30"\n"2024-03-29","1.10"\n"2024-03-30","2.20"\n',
    /without a grouping: it holds only the total cost of every service per day, 2024-03-29 to 2024-03-30/,
    /Group by "Usage type"/,
  ],
  [
    'ce-no-days.csv',
    '"Usage type","DataTransfer-Out-Bytes($)","Total costs($)"\n"Usage type total","1.21","1.21"\n',
    /a Cost Explorer download without days: it holds one total per group for the whole period/,
    /Granularity "Daily"/,
  ],
]

describe('exports billwatch does not read are named, with the export to make instead', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())
  const db = join(tmp.dir, 'store.duckdb')
  beforeAll(async () => {
    // A store that already holds something: a refusal must leave it exactly as it was.
    writeFileSync(join(tmp.dir, 'seed.csv'), usageReport(DAYS))
    expect((await runCli(['ingest', join(tmp.dir, 'seed.csv'), '--db', db])).code).toBe(0)
  })

  it.each(REFUSED)(
    '%s: one line naming it, a hint, exit 1, the store unchanged',
    async (name, content, what, hint) => {
      const path = join(tmp.dir, name)
      writeFileSync(path, content)
      const before = await storeSnapshot(db)
      const run = await runCli(['ingest', path, '--db', db])
      expect(run.code).toBe(1)
      const lines = run.stderr.trim().split('\n')
      expect(lines).toHaveLength(2)
      expect(lines[0]).toMatch(new RegExp(`^billwatch: ${path.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `))
      expect(lines[0]).toMatch(what)
      expect(lines[1]).toMatch(/^ {2}Try: /)
      expect(lines[1]).toMatch(hint)
      expect(await storeSnapshot(db)).toBe(before)
    },
    300_000,
  )
})

describe('zipped exports that are not one whole CSV', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('refuses a zip of two files, and a zip cut short, naming the zip; nothing is stored', async () => {
    const store = await Store.open(join(tmp.dir, 'zip.duckdb'))
    try {
      const two = join(tmp.dir, 'two.csv.zip')
      writeFileSync(
        two,
        zipSync({'a.csv': new TextEncoder().encode(dbr(DAYS)), 'b.csv': new TextEncoder().encode(dbr(DAYS))}),
      )
      await expect(ingestFiles(store, [two])).rejects.toMatchObject({
        code: 'E_FORMAT',
        file: two,
        message: expect.stringContaining('zip archive holds more than one file (a.csv, b.csv)'),
      })
      const whole = zipOf('dbr.csv', dbr(DAYS))
      const cut = join(tmp.dir, 'cut.csv.zip')
      writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.6)))
      await expect(ingestFiles(store, [cut])).rejects.toMatchObject({code: 'E_TRUNCATED', file: cut})
      expect((await storeStatus(store)).sources).toEqual([])
    } finally {
      await store.close()
    }
  })
})
