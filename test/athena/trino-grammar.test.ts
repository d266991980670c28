/**
 * The Trino rendering of the daily roll-up, checked by a maintained Trino grammar (dt-sql-parser's
 * TrinoSQL, generated from Trino's own ANTLR grammar), for the columns of every table kind (and the
 * flow-log roll-up of a VPC Flow Logs table). That
 * DuckDB also runs it is shown by athena.test.ts, whose endpoint executes what it receives.
 */
import {describe, expect, it} from 'vitest'

import {flowsQuery} from '../../src/store/athena-flows.js'
import {athenaQuery} from '../../src/athena/index.js'
import type {AthenaTable} from '../../src/athena/catalog.js'
import {athenaColumnName} from './layouts.js'
import {FOCUS_12} from '../ingest/billing-exports.js'

const CUR1 = [
  'identity/LineItemId',
  'bill/BillingPeriodStartDate',
  'bill/BillingPeriodEndDate',
  'lineItem/UsageAccountId',
  'lineItem/LineItemType',
  'lineItem/UsageStartDate',
  'lineItem/ProductCode',
  'lineItem/UsageType',
  'lineItem/Operation',
  'lineItem/ResourceId',
  'lineItem/UsageAmount',
  'lineItem/CurrencyCode',
  'lineItem/UnblendedCost',
  'lineItem/NetUnblendedCost',
  'pricing/publicOnDemandCost',
  'pricing/unit',
  'product/region',
  'reservation/EffectiveCost',
  'reservation/ReservationARN',
  'reservation/UnusedAmortizedUpfrontFeeForBillingPeriod',
  'reservation/UnusedRecurringFee',
  'savingsPlan/SavingsPlanEffectiveCost',
  'savingsPlan/TotalCommitmentToDate',
  'savingsPlan/UsedCommitment',
].map(athenaColumnName)

function table(kind: AthenaTable['kind'], names: string[], partitionKeys: string[]): AthenaTable {
  const type = (name: string) =>
    /date$|periodstart$|periodend$/i.test(name) ? 'timestamp' : /cost|amount|quantity/i.test(name) ? 'double' : 'string'
  return {
    bytes: null,
    columns: names.map((name) => ({name, type: type(name)})),
    database: 'db',
    kind,
    location: null,
    name: 't',
    partitionKeys: partitionKeys.map((name) => ({name, type: 'string'})),
  }
}

describe('the Trino rendering of the daily roll-up', () => {
  it('parses as Trino for CUR 1.0, CUR 2.0 and FOCUS tables, and DuckDB-only spellings do not', async () => {
    const {TrinoSQL} = await import('dt-sql-parser/dist/parser/trino/index.js')
    const parser = new TrinoSQL()
    const range = {end: '2024-04-05', start: '2024-03-27'}
    const tables = [
      table('cur1', CUR1, ['year', 'month']),
      table('cur2', [...CUR1, 'product_region_code'], ['billing_period']),
      table(
        'focus',
        FOCUS_12.map((c) => c.toLowerCase()),
        ['billing_period'],
      ),
    ]
    for (const t of tables) expect(parser.validate(athenaQuery(t, range).sql), t.kind).toEqual([])
    // A VPC Flow Logs table as the Athena integration makes it, and one partitioned by date, with and without
    // flow-direction.
    const flowFields = [
      'version',
      'account_id',
      'interface_id',
      'srcaddr',
      'dstaddr',
      'srcport',
      'dstport',
      'protocol',
      'packets',
      'bytes',
      'start',
      'end',
      'action',
      'log_status',
    ]
    const vpc = table('vpc', flowFields, [
      'aws-account-id',
      'aws-service',
      'aws-region',
      'year',
      'month',
      'day',
      'hour',
    ])
    for (const t of [
      vpc,
      {
        ...vpc,
        columns: [...vpc.columns, {name: 'flow_direction', type: 'string'}],
        partitionKeys: [{name: 'date', type: 'date'}],
      },
    ]) {
      expect(parser.validate(flowsQuery(t, range, ['10.0.1.5'])), 'vpc').toEqual([])
    }
    expect(parser.validate('SELECT x::VARCHAR FROM t GROUP BY ALL').length).toBeGreaterThan(0)
  }, 600_000)
})
