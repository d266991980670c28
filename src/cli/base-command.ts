import {join} from 'node:path'

import {Command, Flags, type Interfaces} from '@oclif/core'

import {asBillwatchError, BillwatchError, isBillwatchError, terminalSafe} from '../errors.js'
import {Store} from '../store/index.js'
import {createProgress, type ProgressReporter} from './progress.js'

/**
 * oclif's parse errors span lines (a tab-indented reason, "See more help with --help", a list of the
 * missing arguments): one line here, as an E_USAGE BillwatchError like billwatch's own flag checks.
 */
export function usageError(error: unknown, command: string): BillwatchError {
  const parseError = error as Error & {args?: Array<{name: string}>}
  // oclif dims parts of its messages with ANSI colours when stderr is a terminal.
  const text = (parseError instanceof Error ? parseError.message : String(error)).replace(/\u001B\[[\d;]*m/g, '')
  const help = {suggestions: [`${command} --help`]}
  if (/^Missing \d+ required arg/.test(text) && parseError.args?.length) {
    return new BillwatchError('E_USAGE', `missing ${parseError.args.map((arg) => arg.name.toUpperCase()).join(' ')}`, help)
  }
  const flagValue = /^Parsing (--[\w-]+)\s+([\s\S]*)$/.exec(text)
  const reason = (flagValue ? flagValue[2]! : text)
    .replace(/See more help with --help/g, '')
    .replace(/^The following errors? occurred:/, '')
    .replace(/Missing required flag ([\w-]+)/g, 'missing required flag --$1')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .join('; ')
  const detail = reason.charAt(0).toLowerCase() + reason.slice(1)
  return new BillwatchError('E_USAGE', detail, flagValue ? {...help, field: flagValue[1]!} : help)
}

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
    guardProcess()
    let parsed
    try {
      parsed = await this.parse({
        args: this.ctor.args,
        baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
        enableJsonFlag: this.ctor.enableJsonFlag,
        flags: this.ctor.flags,
        strict: this.ctor.strict,
      })
    } catch (error) {
      // Parsed and refused: without this, oclif (outside production) warns that parse was never called.
      this.parsed = true
      throw isBillwatchError(error) ? error : usageError(error, `${this.config.bin} ${this.id ?? ''}`.trim())
    }
    const {args, argv, flags} = parsed
    this.flags = flags as BaseFlags<T>
    this.args = args as BaseArgs<T>
    this.positionals = argv as string[]
  }

  /** The store path this run uses: --db, then BILLWATCH_DB, then the oclif data dir. */
  protected storePath(): string {
    return this.flags.db ?? join(this.config.dataDir, 'billwatch.duckdb')
  }

  /**
   * Opens the store, runs `fn`, always closes it. `mustExist` refuses to create an empty store;
   * `readOnly` (commands that only read) never writes it, so a store on read-only media can be read.
   */
  protected async withStore<R>(fn: (store: Store) => Promise<R>, options: {mustExist?: boolean; readOnly?: boolean} = {}): Promise<R> {
    const store = await Store.open(this.storePath(), {mustExist: options.mustExist ?? false, readOnly: options.readOnly ?? false})
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
    const bar = createProgress(terminalSafe(label), {enabled: Boolean(process.stderr.isTTY) && !this.jsonEnabled(), ...(format ? {format} : {})})
    this.progressBars.push(bar)
    return bar
  }

  public override log(message = '', ...args: unknown[]): void {
    for (const bar of this.progressBars) bar.done()
    // Human output carries text from files, repositories and the network: no escape sequence runs.
    super.log(terminalSafe(message), ...args)
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
    if (!this.jsonEnabled()) process.stderr.write(`${terminalSafe(message)}\n`)
  }

  /**
   * --json output. oclif tokenizes the text to colour it even when stdout is a pipe or a file, which
   * costs seconds on a big report (--top 300000: 14 s); there it is printed as it is, the same bytes.
   */
  public override logJson(json: unknown): void {
    if (process.stdout.isTTY) {
      super.logJson(json)
      return
    }
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  }

  protected override toErrorJson(err: unknown): unknown {
    return {error: asBillwatchError(err).toJSON()}
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    // oclif's own exit (this.exit()) passes through; every other error is one `billwatch:` line.
    if (!isBillwatchError(err) && err?.oclif?.exit !== undefined) return super.catch(err)
    const error = asBillwatchError(err)
    if (this.jsonEnabled()) this.logJson(this.toErrorJson(error))
    printError(error)
    return undefined
  }

  /** Throws a usage error (exit 2) from a command's own flag checks. */
  protected usage(message: string, field?: string): never {
    throw new BillwatchError('E_USAGE', message, field === undefined ? {} : {field})
  }
}

/** The error line (and its suggestions) on stderr, and the exit code. */
function printError(error: BillwatchError): void {
  const hint = error.suggestions.map((s) => `\n  Try: ${terminalSafe(s)}`).join('')
  process.stderr.write(`billwatch: ${terminalSafe(error.message)}${hint}\n`)
  process.exitCode = error.exitCode
}

let guarded = false

/**
 * A rejection nobody awaited or an exception thrown from a callback would end the process with a stack
 * trace; it is a bug, but the user still gets one `billwatch:` line (E_INTERNAL) and exit 1.
 */
function guardProcess(): void {
  if (guarded) return
  guarded = true
  const fail = (reason: unknown) => {
    const error = asBillwatchError(reason)
    if (process.argv.includes('--json') || process.env.BILLWATCH_CONTENT_TYPE === 'json') process.stdout.write(`${JSON.stringify({error: error.toJSON()}, null, 2)}\n`)
    printError(error)
    process.exit(error.exitCode)
  }
  process.on('unhandledRejection', fail)
  process.on('uncaughtException', fail)
}
