import {execFileSync} from 'node:child_process'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {ROOT, runCli} from '../helpers/cli.js'

const commandFiles = () => readdirSync(join(ROOT, 'commands')).map((f) => f.replace(/\.ts$/, ''))

describe('the committed CLI documentation', () => {
  it('oclif.manifest.json lists every command with its flags as the sources declare them', async () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8')) as {
      commands: Record<string, {flags: Record<string, unknown>; examples: unknown[]}>
    }
    expect(Object.keys(manifest.commands).sort()).toEqual(commandFiles().sort())
    for (const id of Object.keys(manifest.commands)) {
      const help = await runCli([id, '--help'])
      expect(help.code, id).toBe(0)
      for (const flag of Object.keys(manifest.commands[id]!.flags))
        expect(help.stdout, `${id} --${flag}`).toContain(`--${flag}`)
      expect(manifest.commands[id]!.examples.length, `${id} has examples`).toBeGreaterThan(0)
    }
  })

  it('README.md carries the command reference oclif generates from the commands', () => {
    const generated = execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/oclif/bin/run.js'), 'readme', '--dry-run'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    )
    // The markers on lines of their own (the dry run also logs 'replacing <!-- commands --> in …').
    const section = (text: string) =>
      text.slice(text.indexOf('\n<!-- commands -->\n'), text.indexOf('\n<!-- commandsstop -->\n'))
    expect(section(readFileSync(join(ROOT, 'README.md'), 'utf8'))).toBe(section(generated))
  })

  it('billwatch --help lists every command', async () => {
    const help = await runCli(['--help'])
    for (const id of commandFiles()) expect(help.stdout).toContain(`  ${id} `)
  })
})
