import {Flags} from '@oclif/core'

import {BaseCommand} from '../src/cli/base-command.js'
import {parsePricePerGb, pricePerGbFlag} from '../src/cli/price-flag.js'
import {checkAnomaliesOptions} from '../src/anomalies/index.js'
import {renderFlowsReport} from '../src/flows/render.js'
import {analyseFlows, type FlowsReport, parseService} from '../src/flows/report.js'
import {CURRENT_EGRESS_PRICING, flatPricing} from '../src/pricing/egress.js'

/** What `billwatch flows --json` prints: its JSON Schema is schemas/flows.json. */
export type FlowsCommandResult = FlowsReport

export default class Flows extends BaseCommand<typeof Flows> {
  static override summary =
    'What an interface or host sent, by protocol, port and client, from the flow records in the store.'
  static override description = `Reads the VPC Flow Logs and NetFlow/IPFIX records that billwatch ingest stored and reports, for one interface (eni-…) or NetFlow host and a period, what billwatch pcap reports for a capture: accepted egress and ingress, egress by protocol and the interface's own port, the clients of the busiest service port (or --port), its top talkers, the blocking-threshold table, and the monthly and yearly cost at the period's average rate.

Flow records survive for months: they prove which port made a bill's step long after a capture could. They cannot tell NTP modes, versions or Kiss-o'-Death replies, nor timing within a record's window; sampled counts are estimates. The report lists what it cannot tell. REJECT records are not egress; NODATA and SKIPDATA records are counted, never taken as traffic.

The daily series of a port is also a usage type for billwatch anomalies: --usage-type flow:udp/123.`

  static override examples = [
    '<%= config.bin %> ingest samples/flows/ && <%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --interface eni-0a1b2c3d4e5f60718 --since 2014-03-23 --until 2014-04-05',
    '<%= config.bin %> <%= command.id %> --port udp/123 --block-threshold 100 --top 5 --price-per-gb 0.12 --json',
  ]

  static override flags = {
    'block-threshold': Flags.integer({
      description: 'Add a row to the blocking table: block clients with at least N requests (repeatable).',
      min: 1,
      multiple: true,
    }),
    interface: Flags.string({
      description: 'The interface id (eni-…) or NetFlow host address; default: the one with the most accepted egress.',
      helpValue: 'ID',
    }),
    port: Flags.string({
      description: 'The service to study for clients, e.g. udp/123; default: the port with the most egress.',
      helpValue: 'PROTO/PORT',
    }),
    'price-per-gb': pricePerGbFlag,
    since: Flags.string({description: 'First UTC day.', helpValue: 'YYYY-MM-DD'}),
    top: Flags.integer({default: 10, description: 'How many top talkers to list.', min: 0}),
    until: Flags.string({description: 'Last UTC day (inclusive).', helpValue: 'YYYY-MM-DD'}),
  }

  async run(): Promise<FlowsCommandResult> {
    const {flags} = this
    const price = parsePricePerGb(flags['price-per-gb'])
    const {since, until} = checkAnomaliesOptions({
      ...(flags.since === undefined ? {} : {since: flags.since}),
      ...(flags.until === undefined ? {} : {until: flags.until}),
    })
    if (flags.port !== undefined) parseService(flags.port)
    const report = await this.withStore(
      (store) =>
        analyseFlows(store, {
          blockThresholds: flags['block-threshold'] ?? [],
          pricing: price === undefined ? CURRENT_EGRESS_PRICING : flatPricing(price),
          top: flags.top,
          ...(flags.interface === undefined ? {} : {interface: flags.interface}),
          ...(flags.port === undefined ? {} : {port: flags.port}),
          ...(since === undefined ? {} : {since}),
          ...(until === undefined ? {} : {until}),
        }),
      {mustExist: true},
    )
    this.print(() => renderFlowsReport(report))
    return report
  }
}
