/** Stand-in for src/explain/evidence.ts's Evidence until it lands; only the parts the report reads. */
import type {DailySeries} from '../anomalies/series.js'
import type {Spike, Step} from '../anomalies/types.js'
import type {BehaviourReport} from '../behaviour/index.js'
import type {CorrelateResult} from '../correlate/types.js'
import type {PcapReport} from '../pcap/report.js'
import type {ProbeResult} from '../probe/index.js'
import type {RateLimitReport} from '../ratelimit/index.js'

export interface Evidence {
  generatedAt: string
  summary?: string
  anomalies: null | {series: DailySeries; byUsageType: DailySeries[]; steps: Step[]; spikes: Spike[]}
  correlation: null | CorrelateResult
  capture: null | PcapReport
  behaviour: null | BehaviourReport
  rateLimit: null | RateLimitReport
  probe: null | ProbeResult
  missing: Array<{what: string; why: string; how?: string}>
}
