import {BaseCommand} from '../src/cli/base-command.js'
import {renderStatus} from '../src/cli/render.js'
import {storeStatus, type StoreStatus} from '../src/store/status.js'

/** What `billwatch status --json` prints: its JSON Schema is schemas/status.json. */
export type StatusCommandResult = StoreStatus

export default class Status extends BaseCommand<typeof Status> {
  static override summary = 'Show what the store holds: sources, usage types, day range and totals.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json',
    'BILLWATCH_DB=/tmp/bw.duckdb <%= config.bin %> <%= command.id %>',
  ]

  async run(): Promise<StatusCommandResult> {
    const status = await this.withStore((store) => storeStatus(store), {mustExist: true, readOnly: true})
    this.print(() => renderStatus(status))
    return status
  }
}
