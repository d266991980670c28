/**
 * Runs `fn` with the environment variables set, and puts back what they were (unset ones unset)
 * when it returns, throws, or, for a promise, settles.
 */
export function withEnv<T>(variables: Record<string, string>, fn: () => T): T {
  const previous = Object.entries(variables).map(([name]) => [name, process.env[name]] as const)
  Object.assign(process.env, variables)
  const restore = () => {
    for (const [name, value] of previous) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  }
  let result: T
  try {
    result = fn()
  } catch (error) {
    restore()
    throw error
  }
  if (result instanceof Promise) return result.finally(restore) as T
  restore()
  return result
}
