import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import knowledge from '../../src/correlate/knowledge.json' with {type: 'json'}
import {globMatch} from '../../src/core/glob.js'

/** The hand-written translation correlate used before (the oracle for the globs the knowledge base writes). */
function previousGlobMatch(glob: string, path: string): boolean {
  const source = glob
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*'),
    )
    .join('.*')
  return new RegExp(`^${source}$`).test(path)
}

const name = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,6}$/)
const path = fc
  .array(fc.oneof(name, fc.constant('.hidden'), fc.constant('x.conf')), {maxLength: 4, minLength: 1})
  .map((parts) => parts.join('/'))
/** Globs as the knowledge base writes them: names with `*` inside, and `**` only as the last part. */
const glob = fc
  .tuple(
    fc.array(fc.oneof(name, fc.constant('*'), fc.constant('*.conf'), fc.constant('x*')), {maxLength: 3, minLength: 1}),
    fc.boolean(),
  )
  .map(([parts, rest]) => [...parts, ...(rest ? ['**'] : [])].join('/'))

describe('the one glob dialect (src/core/glob.ts)', () => {
  it('matches what the previous translation matched for the globs the knowledge base writes (property)', () => {
    // Left out: the directory a `dir/**` names, itself; picomatch matches it when `dir` is literal (the next test).
    const itself = (g: string, p: string) => g.endsWith('/**') && previousGlobMatch(g.slice(0, -3), p)
    fc.assert(
      fc.property(glob, path, (g, p) => itself(g, p) || globMatch(g, p) === previousGlobMatch(g, p)),
      {numRuns: 2000},
    )
  })

  it('agrees with the previous translation on every glob of the built-in knowledge base', () => {
    const paths = [
      'ntp.conf',
      'ntpsec/ntp.conf',
      'chrony/chrony.conf',
      'nginx/sites-enabled/default',
      'apt/sources.list',
      'bind/named.conf.options',
      'x/.hidden',
    ]
    for (const service of knowledge.services) {
      for (const g of service.files)
        for (const p of paths) expect(globMatch(g, p), `${g} ${p}`).toBe(previousGlobMatch(g, p))
    }
  })

  it('keeps * within one name and lets ** cross directories, dot files included', () => {
    expect(globMatch('nginx/*', 'nginx/sites-enabled/default')).toBe(false)
    expect(globMatch('nginx/**', 'nginx/sites-enabled/default')).toBe(true)
    expect(globMatch('apache2/**', 'apache2/.htaccess')).toBe(true)
  })

  it('reads ?, [..], {a,b}, a/**/b and dir/** as a shell does (the previous translation took them literally)', () => {
    expect(globMatch('nginx/**', 'nginx')).toBe(true)
    expect(globMatch('ntp?.conf', 'ntpd.conf')).toBe(true)
    expect(globMatch('{ntp,chrony}/*.conf', 'chrony/chrony.conf')).toBe(true)
    expect(globMatch('bind/named.conf.[lo]*', 'bind/named.conf.options')).toBe(true)
    expect(globMatch('a/**/b', 'a/b')).toBe(true)
  })
})
