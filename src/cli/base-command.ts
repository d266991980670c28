import {join} from 'node:path'

import {Command, Flags, type Interfaces} from '@oclif/core'

import {BillwatchError, isBillwatchError} from '../errors.js'
import {Store} from '../store/index.js'
import {createProgress, type ProgressReporter} from './progress.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/**
 * Every billwatch command extends this. It owns the conventions shared by all of them:
 * - `--json`: the value `run()` returns is printed to stdout as one JSON object with stable camelCase keys;
 *   human output (`this.log`) is suppressed. Errors print `{"error": {code, message, file?, line?, field?, …}}`.
 * - `--db PATH` (env `BILLWATCH_DB`) names the store; default `<data dir>/billwatch.duckdb`.
 * - errors: `src/` throws BillwatchError; here it becomes one line on stderr and a non-zero exit.
 * - progress: on stderr, only when stderr is a TTY and --json is off.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    db: Flags.string({
      description: 'Path of the billwatch store (a DuckDB file). Default: <data dir>/billwatch.duckdb.',
      env: 'BILLWATCH_DB',
      helpGroup: 'GLOBAL',
      helpValue: 'PATH',
    }),
  }

  protected flags!: BaseFlags<T>
  protected args!: BaseArgs<T>
  /** Every positional argument, also those beyond `args` (commands with `strict = false`). */
  protected positionals!: string[]

  public override async init(): Promise<void> {
    await super.init()
    const {args, argv, flags} = await this.parse({
      args: this.ctor.args,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      flags: this.ctor.flags,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as BaseArgs<T>
    this.positionals = argv as string[]
  }

  /** The store path this run uses: --db, then BILLWATCH_DB, then the oclif data dir. */
  protected storePath(): string {
    return this.flags.db ?? join(this.config.dataDir, 'billwatch.duckdb')
  }

  /** Opens the store, runs `fn`, always closes it. `mustExist` refuses to create an empty store. */
  protected async withStore<R>(fn: (store: Store) => Promise<R>, options: {mustExist?: boolean} = {}): Promise<R> {
    const store = await Store.open(this.storePath(), {mustExist: options.mustExist ?? false})
    try {
      return await fn(store)
    } finally {
      await store.close()
    }
  }

  private readonly progressBars: ProgressReporter[] = []

  /**
   * A progress reporter drawn on stderr, silent when not a TTY or under --json. Its line is cleared
   * before the command prints anything and when the command ends, however it ends.
   */
  protected progress(label: string, format?: (n: number) => string): ProgressReporter {
    const bar = createProgress(label, {enabled: Boolean(process.stderr.isTTY) && !this.jsonEnabled(), ...(format ? {format} : {})})
    this.progressBars.push(bar)
    return bar
  }

  public override log(message = '', ...args: unknown[]): void {
    for (const bar of this.progressBars) bar.done()
    super.log(message, ...args)
  }

  protected override async finally(error: Error | undefined): Promise<unknown> {
    for (const bar of this.progressBars) bar.done()
    return super.finally(error)
  }

  /** Prints human output, built only when it is shown: under --json, run()'s return value is printed instead. */
  protected print(render: () => string): void {
    if (!this.jsonEnabled()) this.log(render())
  }

  /** Writes a line to stderr unless --json is on (stdout stays machine-readable either way). */
  protected note(message: string): void {
    if (!this.jsonEnabled()) process.stderr.write(`${message}\n`)
  }

  protected override toErrorJson(err: unknown): unknown {
    if (isBillwatchError(err)) return {error: err.toJSON()}
    const message = err instanceof Error ? err.message : String(err)
    return {error: {code: 'E_INTERNAL', message}}
  }

  protected override async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    if (isBillwatchError(err)) {
      if (this.jsonEnabled()) this.logJson(this.toErrorJson(err))
      const hint = err.suggestions.map((s) => `\n  Try: ${s}`).join('')
      process.stderr.write(`billwatch: ${err.message}${hint}\n`)
      process.exitCode = err.exitCode
      return undefined
    }
    return super.catch(err)
  }

  /** Throws a usage error (exit 2) from a command's own flag checks. */
  protected usage(message: string, field?: string): never {
    throw new BillwatchError('E_USAGE', message, field === undefined ? {} : {field})
  }
}
