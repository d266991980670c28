/**
 * Flow records as daily series for `anomalies`: the usage type `flow:udp/123` is the accepted egress
 * of UDP port 123 (the interface's own port) per UTC day, summed over interfaces, with one series per
 * interface beside it; `flow:*` or `flow:udp/*` take a glob over services.
 */
import type {DailyPoint, DailySeries, SeriesSelection, SeriesSet} from '../anomalies/series.js'
import {dayString} from '../detect/index.js'
import {BillwatchError} from '../errors.js'
import {flowEgressByService, flowLoggedDays} from '../store/flows.js'
import type {Store} from '../store/index.js'

export const FLOW_PREFIX = 'flow:'

export function isFlowUsageType(usageType: string | undefined): usageType is string {
  return usageType?.startsWith(FLOW_PREFIX) ?? false
}

export async function loadFlowSeries(
  store: Store,
  selection: SeriesSelection & {usageType: string},
): Promise<SeriesSet> {
  const glob = selection.usageType.slice(FLOW_PREFIX.length) || '*'
  const bounds = {since: selection.since ?? null, until: selection.until ?? null}
  const rows = await flowEgressByService(store, {...bounds, glob})
  if (rows.length === 0) {
    throw new BillwatchError(
      'E_NO_DATA',
      `no accepted flow egress matches ${selection.usageType} in store ${store.path}`,
      {
        field: '--usage-type',
        suggestions: ['billwatch flows (lists the ports with egress)', 'billwatch ingest FLOW-LOGS…'],
      },
    )
  }
  // A day the interface was logged (any record, NODATA included) without this port's egress is a zero, not a gap.
  const logged = await flowLoggedDays(store, bounds)
  const loggedDays = new Map(logged.map((r) => [r.interface, r.days.map(Number)]))
  const series = (usageType: string, resourceId: null | string, parts: typeof rows): DailySeries => {
    const byDay = new Map<number, number>()
    for (const iface of new Set(parts.map((r) => r.interface)))
      for (const day of loggedDays.get(iface) ?? []) byDay.set(day, 0)
    for (const row of parts)
      row.days.forEach((day, i) => byDay.set(Number(day), (byDay.get(Number(day)) ?? 0) + Number(row.bytes[i])))
    const points: DailyPoint[] = [...byDay.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([day, value]) => ({cost: null, day: dayString(day), value}))
    return {points, resourceId, unit: 'bytes', usageType}
  }
  const services = [...new Set(rows.map((r) => r.service))]
  const interfaces = [...new Set(rows.map((r) => r.interface))]
  return {
    byResource: interfaces.map((iface) =>
      series(
        selection.usageType,
        iface,
        rows.filter((r) => r.interface === iface),
      ),
    ),
    byUsageType:
      services.length > 1
        ? services.map((s) =>
            series(
              `${FLOW_PREFIX}${s}`,
              null,
              rows.filter((r) => r.service === s),
            ),
          )
        : [],
    total: series(selection.usageType, null, rows),
    usageTypes: services.map((s) => `${FLOW_PREFIX}${s}`),
    // Flow records carry no cost: anomalies prices their bytes at AWS's egress tiers.
    currencies: [],
    costBases: [],
  }
}
