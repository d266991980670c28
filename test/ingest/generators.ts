/**
 * Labelled generators of billing files for the hostile-input tests: usage lines, each export's
 * layout around them (column sets from ../shared/research/formats.md), and the damage a careless
 * user or a fuzzer does to them (bad values, bytes that are not UTF-8, broken .gz).
 */
import fc from 'fast-check'

export const GB = 2 ** 30

/** One usage line of March 2024: what every format below writes in its own layout. */
export interface Line {
  day: number
  hour: number
  usageType: string
  gb: number
  cost: number
  resource: string
}

export const lineArb: fc.Arbitrary<Line> = fc.record({
  cost: fc.double({max: 50, min: 0, noDefaultInfinity: true, noNaN: true}).map((c) => Math.round(c * 1e4) / 1e4),
  day: fc.integer({max: 31, min: 1}),
  gb: fc.double({max: 500, min: 0, noDefaultInfinity: true, noNaN: true}).map((g) => Math.round(g * 1e3) / 1e3),
  hour: fc.integer({max: 23, min: 0}),
  resource: fc.constantFrom('i-0aaa', 'i-0bbb', 'i-0ccc'),
  usageType: fc.constantFrom('DataTransfer-Out-Bytes', 'USW2-DataTransfer-Out-Bytes', 'DataTransfer-In-Bytes'),
})

export const linesArb = fc.array(lineArb, {maxLength: 30, minLength: 3})

const pad = (n: number) => String(n).padStart(2, '0')
export const isoStart = (l: Line) => `2024-03-${pad(l.day)}T${pad(l.hour)}:00:00Z`

export const CUR1_HEADER = [
  'identity/LineItemId',
  'bill/BillingPeriodStartDate',
  'bill/BillingPeriodEndDate',
  'lineItem/UsageAccountId',
  'lineItem/LineItemType',
  'lineItem/UsageStartDate',
  'lineItem/UsageEndDate',
  'lineItem/ProductCode',
  'lineItem/UsageType',
  'lineItem/Operation',
  'lineItem/ResourceId',
  'lineItem/UsageAmount',
  'lineItem/UnblendedCost',
  'lineItem/CurrencyCode',
  'pricing/unit',
]

export const FOCUS_HEADER = [
  'BillingPeriodStart',
  'BillingPeriodEnd',
  'ChargePeriodStart',
  'ChargePeriodEnd',
  'ChargeCategory',
  'ChargeClass',
  'SubAccountId',
  'RegionId',
  'ConsumedQuantity',
  'ConsumedUnit',
  'BilledCost',
  'BillingCurrency',
  'x_ServiceCode',
  'x_UsageType',
  'x_Operation',
  'ResourceId',
]

export const LEGACY_HEADER = ['Service', 'Operation', 'UsageType', 'Resource', 'StartTime', 'EndTime', 'UsageValue']

export type Format = 'cur1' | 'focus' | 'usage-report'

/** Which column holds each of the rule's fields, per format. */
export const FIELDS: Record<Format, {day: string; amount: string; cost?: string}> = {
  cur1: {amount: 'lineItem/UsageAmount', cost: 'lineItem/UnblendedCost', day: 'lineItem/UsageStartDate'},
  focus: {amount: 'ConsumedQuantity', cost: 'BilledCost', day: 'ChargePeriodStart'},
  'usage-report': {amount: 'UsageValue', day: 'StartTime'},
}

/** The rows (header first) of a file of `format` holding `lines`, as strings. */
export function table(format: Format, lines: Line[]): string[][] {
  if (format === 'cur1') {
    return [
      CUR1_HEADER,
      ...lines.map((l, i) => [
        `id${i}`,
        '2024-03-01T00:00:00Z',
        '2024-04-01T00:00:00Z',
        '111122223333',
        'Usage',
        isoStart(l),
        isoStart(l),
        'AmazonEC2',
        l.usageType,
        'RunInstances',
        l.resource,
        String(l.gb),
        String(l.cost),
        'USD',
        'GB',
      ]),
    ]
  }
  if (format === 'focus') {
    return [
      FOCUS_HEADER,
      ...lines.map((l) => [
        '2024-03-01T00:00:00Z',
        '2024-04-01T00:00:00Z',
        isoStart(l),
        isoStart(l),
        'Usage',
        '',
        '111122223333',
        'us-east-1',
        String(l.gb),
        'GB',
        String(l.cost),
        'USD',
        'AmazonEC2',
        l.usageType,
        'RunInstances',
        l.resource,
      ]),
    ]
  }
  return [
    LEGACY_HEADER,
    ...lines.map((l) => [
      'AmazonEC2',
      'RunInstances',
      l.usageType,
      l.resource,
      `03/${pad(l.day)}/24 ${pad(l.hour)}:00:00`,
      l.hour === 23
        ? `${l.day === 31 ? '04/01' : `03/${pad(l.day + 1)}`}/24 00:00:00`
        : `03/${pad(l.day)}/24 ${pad(l.hour + 1)}:00:00`,
      String(Math.round(l.gb * GB)),
    ]),
  ]
}

export function csv(rows: string[][]): string {
  return `${rows.map((r) => r.map((f) => (/[",\n]/.test(f) ? `"${f.replaceAll('"', '""')}"` : f)).join(',')).join('\n')}\n`
}

/** Bytes per (usage type, day) the lines hold: the ground truth a store must show. */
export function expectedBytes(lines: Line[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const l of lines) {
    const key = `${l.usageType} 2024-03-${pad(l.day)}`
    out.set(key, (out.get(key) ?? 0) + Math.round(l.gb * GB))
  }
  return out
}

/** Values no bill can hold, each labelled with the rule field it breaks, in each format's syntax. */
export interface BadValue {
  field: 'amount' | 'cost' | 'day'
  text: (format: Format) => string
  label: string
}

const badYear = (year: string): BadValue => ({
  field: 'day',
  label: `year ${year}`,
  text: (format) => (format === 'usage-report' ? `03/05/${year} 00:00:00` : `${year}-03-05T00:00:00Z`),
})

export const BAD_VALUES: BadValue[] = [
  badYear('-0001'),
  badYear('0000'),
  badYear('1999'),
  badYear('2005'),
  badYear('9999'),
  badYear('2150'),
  ...['NaN', 'nan', 'inf', '-inf', 'Infinity', '-Infinity', '1e309', '-1e309', '-5', '-0.25'].map((t): BadValue => ({
    field: 'amount',
    label: `quantity ${t}`,
    text: () => t,
  })),
  ...['NaN', 'inf', '-Infinity', '1e309'].map((t): BadValue => ({field: 'cost', label: `cost ${t}`, text: () => t})),
]

/** Byte sequences that are not UTF-8: lone continuation, cut-off lead, overlong, surrogate, 0xFF. */
export const NOT_UTF8: Buffer[] = [
  [0x80],
  [0xc3],
  [0xe2, 0x82],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xff],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
].map((b) => Buffer.from(b))
