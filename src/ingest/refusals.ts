/**
 * Exports billwatch does not read, named for what they are with the export to make instead
 * (../shared/research/billing-exports-2.md §6): other clouds' native cost files (each of them
 * also exports FOCUS, which billwatch reads) and AWS's monthly reports (no days in them).
 */
import {BillwatchError} from '../errors.js'

interface Refusal {
  what: string
  hint: string
  matches(set: Set<string>, lower: Set<string>): boolean
}

const REFUSALS: Refusal[] = [
  {
    hint: 'export FOCUS instead: OCI Console → Billing & Cost Management → Cost and Usage Reports, the files under "FOCUS Reports/"',
    matches: (set) =>
      set.has('lineItem/referenceNo') && set.has('lineItem/tenantId') && [...set].some((c) => c.startsWith('cost/')),
    what: 'an Oracle Cloud (OCI) cost report',
  },
  {
    hint: 'export FOCUS instead: OCI Console → Billing & Cost Management → Cost and Usage Reports, the files under "FOCUS Reports/"',
    matches: (set) => set.has('lineItem/referenceNo') && set.has('lineItem/tenantId'),
    what: 'an Oracle Cloud (OCI) usage report',
  },
  {
    hint: 'export FOCUS instead: Azure portal → Cost Management → Exports → "Cost and usage (FOCUS)"',
    matches: (set, lower) =>
      (set.has('InvoiceSectionName') || set.has('AccountOwnerId')) &&
      (lower.has('metercategory') || lower.has('meter category')),
    what: 'an Azure Enterprise Agreement (EA) cost details export',
  },
  {
    hint: 'export FOCUS instead: Azure portal → Cost Management → Exports → "Cost and usage (FOCUS)"',
    matches: (set, lower) =>
      (set.has('billingProfileId') || set.has('invoiceSectionId') || set.has('billingAccountId')) &&
      lower.has('metercategory'),
    what: 'an Azure Microsoft Customer Agreement (MCA) cost details export',
  },
  {
    hint: 'export FOCUS instead: Azure portal → Cost Management → Exports → "Cost and usage (FOCUS)"',
    matches: (_, lower) =>
      lower.has('metercategory') &&
      (lower.has('costinbillingcurrency') || lower.has('unitofmeasure') || lower.has('consumedservice')),
    what: 'an Azure cost details export',
  },
  {
    hint: 'export FOCUS instead: query the BigQuery FOCUS view (or the gcp_billing_export_focus table) and save the result as CSV',
    matches: (_, lower) =>
      lower.has('billing_account_id') &&
      [...lower].some((c) => /^(service|sku)[._]/.test(c) || c === 'cost_type' || c === 'usage_start_time'),
    what: 'a Google Cloud billing export (BigQuery) saved as CSV',
  },
  {
    hint: 'ingest the Detailed Billing Report of the same month (…-aws-billing-detailed-line-items-YYYY-MM.csv.zip) or a Cost and Usage Report',
    matches: (set) =>
      set.has('RecordType') && set.has('BillingPeriodStartDate') && set.has('InvoiceDate') && set.has('CostBeforeTax'),
    what: 'an AWS monthly (cost allocation) report: one total per usage type for the whole month, no days',
  },
]

/** Throws the named refusal when `columns` are another export's; returns otherwise. */
export function refuseForeignExport(path: string, columns: string[]): void {
  const set = new Set(columns)
  const lower = new Set(columns.map((c) => c.toLowerCase()))
  const refusal = REFUSALS.find((r) => r.matches(set, lower))
  if (refusal)
    throw new BillwatchError('E_FORMAT', `${refusal.what}, not a format billwatch reads`, {
      file: path,
      suggestions: [refusal.hint],
    })
}
