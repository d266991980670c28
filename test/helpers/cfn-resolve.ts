/**
 * A CloudFormation template as it would be deployed for one set of parameter values: conditions
 * evaluated, resources whose condition is false left out, and the intrinsic functions replaced by
 * the strings they stand for. goformation resolves a template this way before it checks it
 * against its schema, whose properties are the resolved types (a string, not {"Ref": …}).
 */

const PSEUDO: Record<string, string> = {
  'AWS::AccountId': '123456789012',
  'AWS::Partition': 'aws',
  'AWS::Region': 'us-east-1',
  'AWS::StackName': 'billwatch-watch',
  'AWS::URLSuffix': 'amazonaws.com',
}
const NO_VALUE = Symbol('AWS::NoValue')

type Json = null | boolean | number | string | Json[] | {[key: string]: Json}

/** A scalar's text; a list or map where CloudFormation wants a name or string is a mistake in the template. */
function text(node: unknown): string {
  if (typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean') return String(node)
  throw new Error(`expected a string, got ${JSON.stringify(node)}`)
}

export function resolveTemplate(
  template: Record<string, any>,
  values: Record<string, string> = {},
): Record<string, any> {
  const parameters: Record<string, string> = {...PSEUDO}
  for (const [name, declared] of Object.entries<Record<string, unknown>>(template.Parameters ?? {})) {
    const value = values[name] ?? declared.Default
    if (value === undefined) throw new Error(`parameter ${name} has no default and no value was given`)
    parameters[name] = text(value)
  }
  const resources: Record<string, any> = template.Resources ?? {}
  const conditions: Record<string, Json> = template.Conditions ?? {}
  const truth = new Map<string, boolean>()

  const condition = (name: string): boolean => {
    if (!truth.has(name)) {
      if (!(name in conditions)) throw new Error(`condition ${name} is not declared`)
      truth.set(name, test(conditions[name]!))
    }
    return truth.get(name)!
  }
  const test = (node: Json): boolean => {
    if (typeof node === 'boolean') return node
    if (node && typeof node === 'object' && !Array.isArray(node)) {
      const [fn, args] = Object.entries(node)[0] ?? []
      if (fn === 'Condition') return condition(text(args))
      if (fn === 'Fn::Not') return !test((args as Json[])[0]!)
      if (fn === 'Fn::And') return (args as Json[]).every(test)
      if (fn === 'Fn::Or') return (args as Json[]).some(test)
      if (fn === 'Fn::Equals') {
        const [a, b] = (args as Json[]).map(resolve)
        return JSON.stringify(a) === JSON.stringify(b)
      }
    }
    throw new Error(`not a condition: ${JSON.stringify(node)}`)
  }
  const ref = (name: string): string => {
    if (name in parameters) return parameters[name]!
    if (name in resources) return `${name}-physical-id`
    throw new Error(`Ref to ${name}, which is neither a parameter nor a resource`)
  }
  const sub = (pattern: string, extra: Record<string, Json>): string =>
    pattern.replaceAll(/\$\{([^}!]+)\}/g, (_, name: string) => {
      if (name in extra) return text(resolve(extra[name]!))
      const [id, attribute] = name.split('.')
      return attribute ? getAtt(id!, attribute) : ref(name)
    })
  const getAtt = (id: string, attribute: string): string => {
    if (!(id in resources)) throw new Error(`Fn::GetAtt of ${id}, which is not a resource`)
    return `arn:aws:${id.toLowerCase()}:us-east-1:123456789012:${attribute.toLowerCase()}`
  }
  const resolve = (node: Json): Json | typeof NO_VALUE => {
    if (Array.isArray(node)) return node.map(resolve).filter((item): item is Json => item !== NO_VALUE)
    if (!node || typeof node !== 'object') return node
    const keys = Object.keys(node)
    if (keys.length === 1) {
      const args = node[keys[0]!]!
      switch (keys[0]) {
        case 'Ref':
          return args === 'AWS::NoValue' ? NO_VALUE : ref(text(args))
        case 'Fn::Sub':
          return Array.isArray(args) ? sub(text(args[0]), (args[1] ?? {}) as Record<string, Json>) : sub(text(args), {})
        case 'Fn::GetAtt': {
          const [id, attribute] = Array.isArray(args) ? args.map(text) : text(args).split('.')
          return getAtt(id!, attribute!)
        }
        case 'Fn::If': {
          const [name, then, otherwise] = args as [string, Json, Json]
          return resolve(condition(name) ? then : otherwise)
        }
        case 'Fn::Join': {
          const [separator, items] = args as [string, Json[]]
          return (resolve(items) as Json[]).map(text).join(separator)
        }
        case 'Fn::Select': {
          const [index, items] = args as [number, Json[]]
          return (resolve(items) as Json[])[Number(index)] ?? null
        }
        default:
          if (keys[0]!.startsWith('Fn::')) throw new Error(`${keys[0]} is not resolved by this helper`)
      }
    }
    const out: Record<string, Json> = {}
    for (const [key, value] of Object.entries(node)) {
      const resolved = resolve(value)
      if (resolved !== NO_VALUE) out[key] = resolved
    }
    return out
  }

  const deployed: Record<string, any> = {}
  for (const [id, resource] of Object.entries<Record<string, Json>>(resources)) {
    const {Condition: when, ...rest} = resource
    if (when !== undefined && !condition(text(when))) continue
    deployed[id] = resolve(rest)
  }
  const {Conditions: _conditions, Resources: _resources, ...top} = template
  return {...(resolve(top) as Record<string, any>), Resources: deployed}
}
