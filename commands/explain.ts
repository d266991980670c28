import {Flags} from '@oclif/core'

import {BaseCommand} from '../src/cli/base-command.js'
import {computesEvidence, evidenceFlags, evidenceOptions} from '../src/cli/evidence-flags.js'
import {type Evidence, gatherEvidence} from '../src/explain/evidence.js'
import {buildNarrative, renderMarkdown, renderText, type Section} from '../src/explain/narrative.js'

export type ExplainResult = Evidence & {narrative: Section[]}

/** What `billwatch explain --json` prints: its JSON Schema is schemas/explain.json. */
export type ExplainCommandResult = ExplainResult

export default class Explain extends BaseCommand<typeof Explain> {
  static override summary =
    'Tell the root-cause story from the evidence: bill, step, change, traffic, server, remedies.'
  static override description = `Builds the narrative only from evidence: the store's usage (the step and its cost, inbound against outbound), the configuration change that explains it (--repo, or the last correlate in the store), what a capture says (--pcap, or the last pcap in the store) and whether the server answers the world (--probe, or the last probe in the store). Every claim carries its figure and its source; missing evidence is listed as missing, with the command that would supply it. Remediation options come with their effect on this capture.`

  static override examples = [
    '<%= config.bin %> ingest samples/billing/usage-report-ec2-2013-06-01_2014-06-01.csv && <%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --repo /tmp/etc-history --pcap samples/captures/ntp-server.pcap',
    '<%= config.bin %> <%= command.id %> --format markdown > incident.md',
    '<%= config.bin %> <%= command.id %> --format json',
  ]

  static override flags = {
    ...evidenceFlags,
    format: Flags.string({
      default: 'text',
      description: 'text, markdown, or json (the same as --json).',
      options: ['text', 'markdown', 'json'],
    }),
  }

  async run(): Promise<ExplainCommandResult> {
    const options = evidenceOptions(this.flags)
    const evidence = await this.withStore((store) => gatherEvidence(store, options), {
      mustExist: true,
      readOnly: !computesEvidence(options),
    })
    const narrative = buildNarrative(evidence)
    const result = {...evidence, narrative}
    if (this.flags.format === 'json' && !this.jsonEnabled()) {
      this.logJson(result)
      return result
    }
    this.print(() => (this.flags.format === 'markdown' ? renderMarkdown(narrative) : renderText(narrative)))
    return result
  }
}
