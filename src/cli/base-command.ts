import {join} from 'node:path'

import {Command, Flags, type Interfaces} from '@oclif/core'

import {asBillwatchError, BillwatchError, isBillwatchError, terminalSafe} from '../errors.js'
import {Store} from '../store/index.js'
import {createProgress, type ProgressReporter} from './progress.js'

/** A flag's own parser failed: the flag and the error it threw, kept before oclif rewrites the message. */
class FlagValueError extends Error {
  constructor(
    readonly flag: string,
    readonly reason: unknown,
  ) {
    super(reason instanceof Error ? reason.message : String(reason))
  }
}

interface FlagDefinition {
  name?: string
  options?: readonly string[]
  required?: boolean
  parse?: (...args: never[]) => unknown
}

/** The flags with each parser wrapped so that a failure names its flag (oclif only says so in English). */
export function namingFlagParsers<F extends Record<string, unknown> | undefined>(flags: F): F {
  if (!flags) return flags
  const wrapped: Record<string, unknown> = {}
  for (const [name, definition] of Object.entries(flags)) {
    const parse = (definition as FlagDefinition).parse
    wrapped[name] =
      typeof parse === 'function'
        ? {
            ...(definition as object),
            async parse(...args: never[]) {
              try {
                return await parse(...args)
              } catch (error) {
                throw new FlagValueError(name, error)
              }
            },
          }
        : definition
  }
  return wrapped as F
}

const oneLine = (text: string) =>
  // oclif dims parts of its messages with ANSI colours when stderr is a terminal.
  text
    .replace(/\u001B\[[\d;]*m/g, '')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .join('; ')
const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1)

/** The value given for `--name` on the command line (`--name value` or `--name=value`), if any. */
function givenValue(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--') return undefined
    if (argv[i] === `--${name}`) return argv[i + 1]
    if (argv[i]!.startsWith(`--${name}=`)) return argv[i]!.slice(name.length + 3)
  }
  return undefined
}

/**
 * oclif's parse errors span lines (a tab-indented reason, "See more help with --help", a list of the
 * missing arguments): one line here, as an E_USAGE BillwatchError like billwatch's own flag checks. Built from
 * the errors' properties (the failing flag, the missing or extra arguments, what was parsed), not their wording.
 */
export function usageError(
  error: unknown,
  command: string,
  context: {flags?: Record<string, unknown>; argv?: readonly string[]} = {},
): BillwatchError {
  const help = {suggestions: [`${command} --help`]}
  if (error instanceof FlagValueError) {
    if (isBillwatchError(error.reason)) return error.reason
    // oclif rewrites the thrown error's message ("Parsing --flag …"); the reason keeps the parser's own words.
    const reason = error.reason instanceof Error ? error.reason.message : String(error.reason)
    return new BillwatchError('E_USAGE', lowerFirst(oneLine(reason)), {...help, field: `--${error.flag}`})
  }
  const parsed = error as {args?: unknown[]; flags?: unknown[]; parse?: {output?: {flags?: Record<string, unknown>}}}
  if (Array.isArray(parsed.flags) && parsed.flags.every((f) => typeof f === 'string')) {
    return new BillwatchError('E_USAGE', `nonexistent flag: ${parsed.flags.join(', ')}`, help)
  }
  if (Array.isArray(parsed.args) && parsed.args.length) {
    const [first] = parsed.args
    if (typeof first === 'object' && first !== null && 'name' in first) {
      return new BillwatchError(
        'E_USAGE',
        `missing ${(parsed.args as {name: string}[]).map((arg) => arg.name.toUpperCase()).join(' ')}`,
        help,
      )
    }
    return new BillwatchError('E_USAGE', `unexpected argument: ${parsed.args.map(String).join(', ')}`, help)
  }
  const flags = Object.entries(context.flags ?? {}) as [string, FlagDefinition][]
  const argv = context.argv ?? []
  for (const [name, flag] of flags) {
    const given = givenValue(argv, name)
    if (flag.options && given !== undefined && !flag.options.includes(given)) {
      // The flag is named in the sentence itself, as oclif words it, so no `field` prefix.
      return new BillwatchError('E_USAGE', `expected --${name}=${given} to be one of: ${flag.options.join(', ')}`, help)
    }
  }
  const output = parsed.parse?.output?.flags
  if (output) {
    const missing = flags
      .filter(([name, flag]) => flag.required && output[name] === undefined)
      .map(([name]) => `--${name}`)
    if (missing.length) return new BillwatchError('E_USAGE', `missing required flag ${missing.join(', ')}`, help)
  }
  // A rule oclif checks that billwatch does not model (exclusive or dependent flags): its own words, on one line.
  return new BillwatchError(
    'E_USAGE',
    lowerFirst(
      oneLine(error instanceof Error ? error.message : String(error)).replace(/;?\s*See more help with --help/, ''),
    ),
    help,
  )
}

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof BaseCommand)['baseFlags'] & T['flags']
>
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
        flags: namingFlagParsers(this.ctor.flags),
        strict: this.ctor.strict,
      })
    } catch (error) {
      // Parsed and refused: without this, oclif (outside production) warns that parse was never called.
      this.parsed = true
      throw isBillwatchError(error)
        ? error
        : usageError(error, `${this.config.bin} ${this.id ?? ''}`.trim(), {
            argv: this.argv,
            flags: {...(super.ctor as typeof BaseCommand).baseFlags, ...this.ctor.flags},
          })
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
  protected async withStore<R>(
    fn: (store: Store) => Promise<R>,
    options: {mustExist?: boolean; readOnly?: boolean} = {},
  ): Promise<R> {
    const store = await Store.open(this.storePath(), {
      mustExist: options.mustExist ?? false,
      readOnly: options.readOnly ?? false,
    })
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
    const bar = createProgress(terminalSafe(label), {
      enabled: Boolean(process.stderr.isTTY) && !this.jsonEnabled(),
      ...(format ? {format} : {}),
    })
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
    if (process.argv.includes('--json') || process.env.BILLWATCH_CONTENT_TYPE === 'json')
      process.stdout.write(`${JSON.stringify({error: error.toJSON()}, null, 2)}\n`)
    printError(error)
    process.exit(error.exitCode)
  }
  process.on('unhandledRejection', fail)
  process.on('uncaughtException', fail)
}
