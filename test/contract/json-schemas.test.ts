import {join} from 'node:path'

import {Ajv, type SchemaObject} from 'ajv'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {commandIds, driftedFiles, generatedFiles, generateSchemas} from '../../scripts/json-schemas.js'
import {runCli, SAMPLES, tempDir} from '../helpers/cli.js'

describe('the JSON contract', () => {
  let schemas: ReturnType<typeof generateSchemas>
  // One TypeScript program for all commands: seconds of CPU, more on a loaded machine.
  beforeAll(() => {
    schemas = generateSchemas()
  }, 600_000)

  it("schemas/, docs/json-reference.md and the README list are what the commands' result types generate", () => {
    expect(driftedFiles(generatedFiles(schemas)), 'run npm run schemas and commit the diff').toEqual([])
  })

  it('every command has a schema, and no schema lets an undeclared key through', () => {
    expect([...schemas.keys()]).toEqual(commandIds())
    for (const [id, schema] of schemas) expect(JSON.stringify(schema), id).not.toContain('"additionalProperties":true')
  })

  describe('what the commands print fits their schemas', () => {
    const tmp = tempDir('bw-contract-')
    const db = join(tmp.dir, 'store.duckdb')
    afterAll(() => tmp.cleanup())

    const valid = (id: string, output: unknown): string => {
      const validate = new Ajv({allErrors: true, strict: false}).compile(schemas.get(id)! as SchemaObject)
      return validate(output) ? '' : JSON.stringify(validate.errors?.slice(0, 5))
    }

    it('ingest, status and anomalies on the usage-report sample', async () => {
      const usage = join(SAMPLES, 'billing/usage-report-ec2-2013-06-01_2014-06-01.csv')
      for (const [id, args] of [
        ['ingest', ['ingest', usage]],
        ['status', ['status']],
        ['anomalies', ['anomalies']],
      ] as const) {
        const run = await runCli([...args, '--db', db, '--json'])
        expect(run.code, run.stderr).toBe(0)
        expect(valid(id, run.json()), id).toBe('')
      }
    }, 300_000)

    it('a schema refuses an output with a key its type does not declare', () => {
      expect(valid('report', {bytes: 1, charts: [], missing: [], out: '/tmp/x.html', outBytes: 1})).toContain(
        'additionalProperties',
      )
    })
  })
})
