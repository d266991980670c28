import type {StoreStatus} from '../store/status.js'
import {renderTable} from '../core/table.js'
import {formatBytes, formatCount, formatMoney} from './format.js'

export {type Align, renderTable} from '../core/table.js'

export function renderStatus(status: StoreStatus): string {
  if (status.sources.length === 0 && status.flowSources.length === 0)
    return `store ${status.store}: empty (run billwatch ingest FILE…)`
  const flows =
    status.flowSources.length === 0
      ? []
      : [
          '',
          renderTable(
            [
              '#',
              'flow records',
              'interface/host',
              'first day',
              'last day',
              'days',
              'records',
              'NODATA',
              'SKIPDATA',
              'accepted bytes',
              'sampling',
              'path',
            ],
            status.flowSources.map((f) => [
              f.id,
              f.kind,
              f.interfaces.join(' '),
              f.firstDay ?? '-',
              f.lastDay ?? '-',
              f.duplicateDays > 0 ? `${f.days} (${f.duplicateDays} counted from another delivery)` : f.days,
              formatCount(f.records),
              formatCount(f.nodataRecords),
              formatCount(f.skipdataRecords),
              formatBytes(f.trafficBytes),
              f.sampling ?? 'none',
              f.path,
            ]),
            ['right', 'left', 'left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'left', 'left'],
          ),
        ]
  if (status.sources.length === 0)
    return [`store ${status.store} (schema v${status.schemaVersion}): no billing sources`, ...flows].join('\n')
  const sources = renderTable(
    ['#', 'format', 'first day', 'last day', 'days', 'line items', 'path'],
    status.sources.map((s) => [
      s.id,
      s.format,
      s.firstDay ?? '-',
      s.lastDay ?? '-',
      s.days,
      formatCount(s.lineItems),
      s.path,
    ]),
    ['right', 'left', 'left', 'left', 'right', 'right', 'left'],
  )
  // The provider column only when the store holds more than AWS.
  const providers = new Set(status.usageTypes.map((u) => u.provider))
  const withProvider = providers.size > 1 || (providers.size === 1 && !providers.has('AWS'))
  const usage = renderTable(
    [...(withProvider ? ['provider'] : []), 'usage type', 'days', 'amount', 'cost'],
    status.usageTypes.map((u) => [
      ...(withProvider ? [u.provider] : []),
      u.usageType,
      u.days,
      u.unit === 'bytes' ? formatBytes(u.amount) : `${formatCount(u.amount)} ${u.unit ?? ''}`.trim(),
      u.cost === null ? '-' : formatMoney(u.cost, u.currency),
    ]),
    [...(withProvider ? ['left' as const] : []), 'left', 'right', 'right', 'right'],
  )
  const charges =
    status.charges.length === 0
      ? []
      : [
          '',
          renderTable(
            ['provider', 'charge (not usage)', 'days', 'cost'],
            status.charges.map((c) => [c.provider, c.category, c.days, formatMoney(c.cost, c.currency)]),
            ['left', 'left', 'right', 'right'],
          ),
        ]
  const bases = [
    ...new Set(status.sources.filter((s) => s.costBasis && !s.superseded).map((s) => `${s.format}: ${s.costBasis}`)),
  ]
  const costNote = bases.length === 0 ? [] : ['', `cost is ${bases.join('; ')}`]
  const range = status.firstDay ? `${status.firstDay} .. ${status.lastDay} (${status.days} days)` : 'no days'
  return [
    `store ${status.store} (schema v${status.schemaVersion}): ${range}`,
    '',
    sources,
    '',
    usage,
    ...charges,
    ...costNote,
    ...flows,
  ].join('\n')
}
