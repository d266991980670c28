/**
 * Every template `schedule` writes is checked against the JSON schemas AWS's own projects publish for
 * templates, kept in test/fixtures/template-schemas (their sources and licence are in SOURCE.md there):
 * - SAM's schema (aws/serverless-application-model) for the template as written: the SAM resources fully,
 *   intrinsic functions allowed where CloudFormation allows them;
 * - goformation's CloudFormation schema (awslabs/goformation) for every other resource, after the template
 *   is resolved for its parameters as goformation does before it validates (its properties are the
 *   resolved types: a log group's name is a string, not {"Fn::Sub": …}).
 * Unlike the cfn-lint check in schedule-athena.test.ts, this needs no program beyond Node.
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'

import AjvDraft04, {type ErrorObject, type ValidateFunction} from 'ajv-draft-04'
import {describe, expect, it} from 'vitest'

import {buildTemplate} from '../../src/lambda/template.js'
import {resolveTemplate} from '../helpers/cfn-resolve.js'
import {ROOT} from '../helpers/cli.js'
import {SCHEDULE_VARIANTS} from './schedule-variants.js'

const FIXTURES = join(ROOT, 'test/fixtures/template-schemas')
const readSchema = (name: string) => JSON.parse(gunzipSync(readFileSync(join(FIXTURES, name))).toString('utf8'))

const samSchema = readSchema('sam.schema.json.gz')
const cloudFormation: {definitions: Record<string, unknown>} = readSchema('goformation-cloudformation.schema.json.gz')
// A CommonJS module: its default export is the module, whose `default` is the class.
const ajv = new AjvDraft04.default({allErrors: true, strict: false})
const validateSam = ajv.compile(samSchema)

/**
 * goformation's schema holds ~3,600 definitions under one anyOf; compiling it whole takes half a minute.
 * A resource is checked against its own type's definition and the definitions that one refers to.
 */
const byType = new Map<string, ValidateFunction>()
function resourceValidator(type: string): ValidateFunction | undefined {
  if (!byType.has(type)) {
    if (!(type in cloudFormation.definitions)) return undefined
    const definitions: Record<string, unknown> = {}
    const pending = [type]
    while (pending.length > 0) {
      const name = pending.pop()!
      if (name in definitions) continue
      const definition = cloudFormation.definitions[name]
      definitions[name] = definition
      for (const [, ref] of JSON.stringify(definition).matchAll(/"\$ref":"#\/definitions\/([^"]+)"/g))
        pending.push(ref!)
    }
    byType.set(type, ajv.compile({$ref: `#/definitions/${type}`, definitions}))
  }
  return byType.get(type)
}

/** Each resource of the deployed template that goformation's schema refuses, with why. */
function cloudFormationErrors(template: Record<string, any>): string[] {
  const errors: string[] = []
  for (const [id, resource] of Object.entries<{Type: string}>(template.Resources)) {
    if (resource.Type.startsWith('AWS::Serverless::')) continue
    const validate = resourceValidator(resource.Type)
    if (!validate) errors.push(`${id}: no resource type ${resource.Type}`)
    else if (!validate(resource)) errors.push(...validate.errors!.map((e) => `${id}${e.instancePath} ${e.message}`))
  }
  return errors
}

const describeErrors = (errors: ErrorObject[] | null | undefined) =>
  (errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`)

describe('every template schedule writes validates against the published SAM and CloudFormation schemas', () => {
  for (const [name, options] of Object.entries(SCHEDULE_VARIANTS)) {
    it(`${name}: SAM's schema as written, goformation's for each resource as deployed`, () => {
      const template = buildTemplate(options)
      expect(validateSam(template), describeErrors(validateSam.errors).join('\n')).toBe(true)
      const kinds = Object.values<{Type: string}>(template.Resources).map((r) => r.Type)
      expect(kinds.filter((kind) => !kind.startsWith('AWS::Serverless::')).length).toBeGreaterThan(0)
      for (const values of [{}, {AlertEmail: 'ops@example.com'}]) {
        const deployed = resolveTemplate(template, 'AlertEmail' in (template.Parameters ?? {}) ? values : {})
        expect(cloudFormationErrors(deployed)).toEqual([])
      }
    })
  }

  it('refuses a template with a mistyped property, a wrong value type or an unknown resource type', () => {
    const template = buildTemplate(SCHEDULE_VARIANTS.athena)
    const misspelt = structuredClone(template)
    misspelt.Resources.WatchFunction.Properties.Runtim = misspelt.Resources.WatchFunction.Properties.Runtime
    expect(validateSam(misspelt)).toBe(false)
    expect(validateSam.errors!.some((e: ErrorObject) => e.params.additionalProperty === 'Runtim')).toBe(true)

    const wrongType = structuredClone(template)
    wrongType.Resources.WatchLogGroup.Properties.RetentionInDays = 'ninety'
    expect(cloudFormationErrors(resolveTemplate(wrongType))).toEqual([
      'WatchLogGroup/Properties/RetentionInDays must be number',
    ])

    const unknownType = structuredClone(template)
    unknownType.Resources.WatchLogGroup.Type = 'AWS::Logs::LogGrup'
    expect(cloudFormationErrors(resolveTemplate(unknownType))).toEqual([
      'WatchLogGroup: no resource type AWS::Logs::LogGrup',
    ])

    const unresolved = structuredClone(template)
    unresolved.Resources.WatchRole.Properties.RoleName = {'Fn::ImportValue': 'elsewhere'}
    expect(() => resolveTemplate(unresolved)).toThrow(/Fn::ImportValue is not resolved/)
  })

  it('resolves conditions as CloudFormation would: the e-mail subscription exists only when an address is given', () => {
    const template = buildTemplate({})
    const subscriptions = (values: Record<string, string>) =>
      Object.values<{Type: string}>(resolveTemplate(template, values).Resources).filter(
        (r) => r.Type === 'AWS::SNS::Subscription',
      )
    expect(subscriptions({})).toEqual([])
    expect(subscriptions({AlertEmail: 'ops@example.com'})).toEqual([
      {
        Properties: {Endpoint: 'ops@example.com', Protocol: 'email', TopicArn: 'AlertTopic-physical-id'},
        Type: 'AWS::SNS::Subscription',
      },
    ])
  })
})
