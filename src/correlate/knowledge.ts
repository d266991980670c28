import {globMatch} from '../core/glob.js'
import {BillwatchError} from '../errors.js'
import {jsonErrorPosition, readInputFile, SIDE_INPUT_MAX_BYTES} from '../util/files.js'
import builtin from './knowledge.json' with {type: 'json'}

/** A fact to read from the configuration at a commit (e.g. is ntp.conf missing 'restrict default ignore'?). */
export interface ConfigCheck {
  files: string[]
  pattern: string
  /** 'absent': the risky state is the pattern missing; 'present': the pattern being there. */
  when: 'absent' | 'present'
  finding: string
  otherwise: string
  weight: number
  otherwiseWeight: number
}

export interface Service {
  id: string
  summary: string
  packages: string[]
  files: string[]
  ports: string[]
  usage: string[]
  lagDays: [number, number]
  lagWhy?: string
  weight: number
  checks: ConfigCheck[]
  /** What its ports are called ("NTP") and why opening them to the world matters, for cloud changes. */
  portName?: string
  portWhy?: string
}

export interface CloudActionKnowledge {
  /** Prior 0..1 that the action moves usage up, and down. */
  up: number
  down: number
  usage: string[]
  summary: string
}

/** How changes to the account (security groups, instances, routes…) are weighed; see knowledge.json "cloud". */
export interface CloudKnowledge {
  lagDays: [number, number]
  internetIngress: number
  privateIngress: number
  egressRule: number
  everyPort: number
  unknownPort: number
  driverInstance: number
  otherInstance: number
  unknownInstance: number
  actions: Record<string, CloudActionKnowledge>
}

export interface Knowledge {
  services: Service[]
  /** Lag for changes that match no service. */
  defaultLagDays: [number, number]
  cloud: CloudKnowledge
}

/** The built-in knowledge base, plus the entries of `extraFile` (same id replaces). */
export function loadKnowledge(extraFile?: string): Knowledge {
  const base = validate(builtin, 'src/correlate/knowledge.json')
  if (extraFile === undefined) return base
  const text = readInputFile(extraFile, {
    expected: 'a knowledge-base JSON file',
    field: '--knowledge',
    maxBytes: SIDE_INPUT_MAX_BYTES.knowledge,
  }).toString('utf8')
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    throw new BillwatchError('E_FORMAT', `not JSON${jsonErrorPosition(error)}`, {file: extraFile})
  }
  const extra = validate(raw, extraFile, base.defaultLagDays, base.cloud)
  const byId = new Map(base.services.map((s) => [s.id, s]))
  for (const service of extra.services) byId.set(service.id, service)
  return {cloud: extra.cloud, defaultLagDays: base.defaultLagDays, services: [...byId.values()]}
}

function validate(
  raw: unknown,
  file: string,
  fallbackLag: [number, number] = [0, 1],
  fallbackCloud?: CloudKnowledge,
): Knowledge {
  const fail = (field: string, expected: string, got: unknown): never => {
    const text = JSON.stringify(got)
    throw new BillwatchError('E_FORMAT', text === undefined ? 'missing knowledge entry' : 'bad knowledge entry', {
      expected,
      field,
      file,
      jsonKey: true,
      ...(text === undefined ? {} : {got: text}),
    })
  }
  if (typeof raw !== 'object' || raw === null) return fail('(root)', 'an object with "services"', raw)
  const root = raw as Record<string, unknown>
  const defaults = (root.defaults ?? {}) as Record<string, unknown>
  const defaultLag = defaults.lagDays === undefined ? fallbackLag : lagPair(defaults.lagDays, 'defaults.lagDays', fail)
  const defaultWeight = typeof defaults.weight === 'number' ? defaults.weight : 1
  if (!Array.isArray(root.services)) return fail('services', 'an array', root.services)
  const services = (root.services as unknown[]).map((entry, i): Service => {
    const at = `services[${i}]`
    if (typeof entry !== 'object' || entry === null) return fail(at, 'an object', entry)
    const s = entry as Record<string, unknown>
    const text = (key: string): string =>
      typeof s[key] === 'string' && s[key] !== '' ? s[key] : fail(`${at}.${key}`, 'a string', s[key])
    const list = (key: string): string[] => {
      const value = s[key] ?? []
      return Array.isArray(value) && value.every((v) => typeof v === 'string')
        ? value
        : fail(`${at}.${key}`, 'an array of strings', value)
    }
    const checks = (
      Array.isArray(s.checks) ? s.checks : s.checks === undefined ? [] : fail(`${at}.checks`, 'an array', s.checks)
    ) as unknown[]
    const service: Service = {
      checks: checks.map((c, j) => check(c, `${at}.checks[${j}]`, fail)),
      files: list('files'),
      id: text('id'),
      lagDays: s.lagDays === undefined ? defaultLag : lagPair(s.lagDays, `${at}.lagDays`, fail),
      packages: list('packages'),
      ports: list('ports'),
      summary: text('summary'),
      usage: list('usage'),
      weight: typeof s.weight === 'number' ? s.weight : defaultWeight,
    }
    if (typeof s.lagWhy === 'string') service.lagWhy = s.lagWhy
    if (typeof s.portName === 'string') service.portName = s.portName
    if (typeof s.portWhy === 'string') service.portWhy = s.portWhy
    return service
  })
  const cloud =
    root.cloud === undefined && fallbackCloud ? fallbackCloud : cloudKnowledge(root.cloud, fallbackCloud, fail)
  return {cloud, defaultLagDays: defaultLag, services}
}

/** The "cloud" section; an extra file may give only the entries it changes. */
function cloudKnowledge(raw: unknown, base: CloudKnowledge | undefined, fail: Fail): CloudKnowledge {
  if (typeof raw !== 'object' || raw === null) return fail('cloud', 'an object', raw)
  const c = raw as Record<string, unknown>
  const factor = (key: Exclude<keyof CloudKnowledge, 'actions' | 'lagDays'>): number => {
    const value = c[key] ?? base?.[key]
    return typeof value === 'number' && value >= 0 && value <= 1 ? value : fail(`cloud.${key}`, 'a number 0..1', value)
  }
  const actions: Record<string, CloudActionKnowledge> = {...base?.actions}
  const given = (c.actions ?? {}) as Record<string, unknown>
  if (typeof given !== 'object') return fail('cloud.actions', 'an object', given)
  for (const [id, value] of Object.entries(given)) {
    const a = (value ?? {}) as Record<string, unknown>
    const at = `cloud.actions.${id}`
    const weight = (key: 'down' | 'up') =>
      typeof a[key] === 'number' && a[key] >= 0 && a[key] <= 1 ? a[key] : fail(`${at}.${key}`, 'a number 0..1', a[key])
    if (typeof a.summary !== 'string' || a.summary === '') return fail(`${at}.summary`, 'a string', a.summary)
    const usage =
      Array.isArray(a.usage) && a.usage.every((u) => typeof u === 'string')
        ? a.usage
        : fail(`${at}.usage`, 'an array of strings', a.usage)
    actions[id] = {down: weight('down'), summary: a.summary, up: weight('up'), usage}
  }
  return {
    actions,
    driverInstance: factor('driverInstance'),
    egressRule: factor('egressRule'),
    everyPort: factor('everyPort'),
    internetIngress: factor('internetIngress'),
    lagDays: c.lagDays === undefined && base ? base.lagDays : lagPair(c.lagDays, 'cloud.lagDays', fail),
    otherInstance: factor('otherInstance'),
    privateIngress: factor('privateIngress'),
    unknownInstance: factor('unknownInstance'),
    unknownPort: factor('unknownPort'),
  }
}

type Fail = (field: string, expected: string, got: unknown) => never

function lagPair(value: unknown, field: string, fail: Fail): [number, number] {
  if (
    Array.isArray(value) &&
    value.length === 2 &&
    typeof value[0] === 'number' &&
    typeof value[1] === 'number' &&
    value[0] <= value[1]
  ) {
    return [value[0], value[1]]
  }
  return fail(field, '[earliest, latest] days', value)
}

function check(raw: unknown, at: string, fail: Fail): ConfigCheck {
  const c = (raw ?? {}) as Record<string, unknown>
  if (!Array.isArray(c.files) || c.files.length === 0) return fail(`${at}.files`, 'an array of paths', c.files)
  if (typeof c.pattern !== 'string') return fail(`${at}.pattern`, 'a regular expression', c.pattern)
  try {
    new RegExp(c.pattern, 'm')
  } catch {
    return fail(`${at}.pattern`, 'a valid regular expression', c.pattern)
  }
  if (c.when !== 'absent' && c.when !== 'present') return fail(`${at}.when`, '"absent" or "present"', c.when)
  if (typeof c.finding !== 'string') return fail(`${at}.finding`, 'a string', c.finding)
  return {
    files: c.files as string[],
    finding: c.finding,
    otherwise: typeof c.otherwise === 'string' ? c.otherwise : '',
    otherwiseWeight: typeof c.otherwiseWeight === 'number' ? c.otherwiseWeight : 1,
    pattern: c.pattern,
    weight: typeof c.weight === 'number' ? c.weight : 1,
    when: c.when,
  }
}

/** Services a package name belongs to. */
export function servicesOfPackage(knowledge: Knowledge, name: string): Service[] {
  return knowledge.services.filter((s) => s.packages.includes(name))
}

/** Services a path (relative to /etc) belongs to. */
export function servicesOfFile(knowledge: Knowledge, path: string): Service[] {
  return knowledge.services.filter((s) => s.files.some((glob) => globMatch(glob, path)))
}

/** Services listening on a port ('udp/123') a rule or listener lets through. */
export function servicesOfPort(knowledge: Knowledge, covers: (port: string) => boolean): Service[] {
  return knowledge.services.filter((s) => s.ports.some(covers))
}

/** Services whose package names appear as words of a free-text message ("ntp installed"). */
export function servicesMentioned(knowledge: Knowledge, text: string): Service[] {
  const words = new Set(
    text
      .toLowerCase()
      .split(/[^a-z0-9.+-]+/)
      .filter((w) => w.length >= 3),
  )
  return knowledge.services.filter((s) => s.packages.some((p) => words.has(p)) || words.has(s.id))
}
