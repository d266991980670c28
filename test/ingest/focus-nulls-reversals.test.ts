/**
 * FOCUS as providers and the specification write it (found on public files by bench/corpus): null
 * spelled `null` (the specification's own examples), `NULL` (the FinOps sample data) or empty, and
 * usage reversed by a negative ConsumedQuantity (FOCUS allows any decimal; Azure writes refunds so).
 * The files are written here from the FOCUS 1.0 column definitions, not copied.
 */
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import fc from 'fast-check'
import {afterAll, describe, expect, it} from 'vitest'

import {ingestFiles} from '../../src/ingest/index.js'
import {Store} from '../../src/store/index.js'
import {storeStatus} from '../../src/store/status.js'
import {runCli, tempDir} from '../helpers/cli.js'

const COLUMNS = [
  'BilledCost',
  'BillingAccountId',
  'BillingCurrency',
  'BillingPeriodEnd',
  'BillingPeriodStart',
  'ChargeCategory',
  'ChargeClass',
  'ChargeDescription',
  'ChargePeriodEnd',
  'ChargePeriodStart',
  'CommitmentDiscountStatus',
  'ConsumedQuantity',
  'ConsumedUnit',
  'EffectiveCost',
  'PricingQuantity',
  'PricingUnit',
  'ProviderName',
  'RegionId',
  'ResourceId',
  'ServiceName',
] as const

type Line = Partial<Record<(typeof COLUMNS)[number], null | number | string>>

/** One FOCUS CSV; `nullText` is how this file spells a null. */
function focusCsv(lines: Line[], nullText: string): string {
  const cell = (value: null | number | string | undefined) =>
    value === null || value === undefined ? nullText : String(value)
  return [COLUMNS.join(','), ...lines.map((line) => COLUMNS.map((c) => cell(line[c])).join(','))].join('\n') + '\n'
}

const period = {BillingPeriodEnd: '2024-10-01T00:00:00Z', BillingPeriodStart: '2024-09-01T00:00:00Z'}
const azure = {
  BillingAccountId: '8611537',
  BillingCurrency: 'USD',
  ProviderName: 'Microsoft',
  RegionId: 'eastus2',
  ServiceName: 'Bandwidth',
  ...period,
}
const day = (d: number) => ({
  ChargePeriodEnd: `2024-09-${String(d + 1).padStart(2, '0')}T00:00:00Z`,
  ChargePeriodStart: `2024-09-${String(d).padStart(2, '0')}T00:00:00Z`,
})

/** Azure internet egress (FOCUS GB = 10^9 bytes). */
const egress = (d: number, gb: number, cost: number): Line => ({
  ...azure,
  ...day(d),
  BilledCost: cost,
  ChargeCategory: 'Usage',
  ChargeClass: null,
  ChargeDescription: 'Standard Data Transfer Out',
  ConsumedQuantity: gb,
  ConsumedUnit: 'GB',
  EffectiveCost: cost,
  PricingQuantity: gb,
  PricingUnit: 'GB',
  ResourceId: 'vm-1',
})

describe('FOCUS null spellings', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it.each(['null', 'NULL', 'Null', ''])(
    'reads %j as null: an unused commitment and a tax line have no quantity',
    async (nullText) => {
      // The specification's commitment-discount example: used and unused hours of one commitment, then tax.
      const used: Line = {
        ...azure,
        ...day(1),
        BilledCost: 0,
        ChargeCategory: 'Usage',
        CommitmentDiscountStatus: 'Used',
        ConsumedQuantity: 1,
        ConsumedUnit: 'Hour',
        EffectiveCost: 0.75,
        ResourceId: 'vm-1',
        ServiceName: 'Virtual Machines',
      }
      const unused: Line = {
        ...used,
        CommitmentDiscountStatus: 'Unused',
        ConsumedQuantity: null,
        ConsumedUnit: null,
        EffectiveCost: 0.25,
        ResourceId: 'commitment-1',
      }
      const tax: Line = {
        ...azure,
        ...day(1),
        BilledCost: 0.1,
        ChargeCategory: 'Tax',
        ChargeDescription: 'VAT',
        EffectiveCost: 0.1,
      }
      const path = join(tmp.dir, `nulls-${nullText || 'empty'}.csv`)
      writeFileSync(path, focusCsv([used, unused, tax], nullText))
      const store = await Store.open(join(tmp.dir, `nulls-${nullText || 'empty'}.duckdb`))
      try {
        expect((await ingestFiles(store, [path])).files[0]).toMatchObject({
          format: 'focus',
          lineItems: 3,
          status: 'ingested',
        })
        const status = await storeStatus(store)
        expect(status.totals.costs).toEqual([{cost: 1, currency: 'USD', listCost: null}])
        expect(status.charges).toEqual([{category: 'Tax', cost: 0.1, currency: 'USD', days: 1, provider: 'Microsoft'}])
      } finally {
        await store.close()
      }
    },
    120_000,
  )

  it('still refuses a quantity that is text other than a null', async () => {
    const path = join(tmp.dir, 'not-null.csv')
    writeFileSync(path, focusCsv([{...egress(1, 1, 0.1), ConsumedQuantity: 'none'}], ''))
    const ingest = await runCli(['ingest', path, '--db', join(tmp.dir, 'not-null.duckdb')])
    expect(ingest.code).toBe(1)
    expect(ingest.stderr).toBe(
      `billwatch: ${path}:2: column "ConsumedQuantity": expected a number, got a value shaped "aaaa"\n`,
    )
  }, 120_000)
})

describe('FOCUS usage reversed by a negative quantity', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('is kept as a correction: the bill adds up, the usage series holds no negative amount', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            day: fc.integer({max: 28, min: 1}),
            gb: fc.integer({max: 500, min: -500}).map((n) => n / 100),
            price: fc.constantFrom(0.05, 0.087),
          }),
          {maxLength: 12, minLength: 1},
        ),
        fc.constantFrom('NULL', 'null', ''),
        async (picks, nullText) => {
          const lines = picks.map((p) => egress(p.day, p.gb, Math.round(p.gb * p.price * 1e6) / 1e6))
          const path = join(tmp.dir, `reversal-${++run}.csv`)
          writeFileSync(path, focusCsv(lines, nullText))
          const store = await Store.open(join(tmp.dir, `reversal-${run}.duckdb`))
          try {
            await ingestFiles(store, [path])
            const status = await storeStatus(store)
            const billed = [...status.totals.costs, ...status.charges].reduce((sum, m) => sum + m.cost, 0)
            expect(billed).toBeCloseTo(
              lines.reduce((sum, l) => sum + Number(l.EffectiveCost), 0),
              9,
            )
            // Egress is the non-negative usage lines, in bytes; every reversal is a correction.
            const positive = picks.filter((p) => p.gb >= 0).reduce((sum, p) => sum + p.gb * 1e9, 0)
            expect(status.totals.amountBytes).toBeCloseTo(positive, 0)
            const negatives = await store.all<{n: number}>(
              'SELECT count(*)::INTEGER AS n FROM usage_daily WHERE amount < 0',
            )
            expect(negatives[0]?.n).toBe(0)
            const corrections = status.charges
              .filter((c) => c.category === 'Correction')
              .reduce((sum, c) => sum + c.cost, 0)
            expect(corrections).toBeCloseTo(
              lines.filter((l) => Number(l.ConsumedQuantity) < 0).reduce((sum, l) => sum + Number(l.EffectiveCost), 0),
              9,
            )
          } finally {
            await store.close()
          }
        },
      ),
      {numRuns: 12},
    )
  }, 240_000)
})
