import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, beforeEach} from 'vitest'

import {Store} from '../../src/store/index.js'
import {tempDir} from './cli.js'

/**
 * A fresh real store in a fresh temp folder for each test of the calling file, and a way to write input files beside
 * it.
 */
export function useTempStore(): {
  readonly store: Store
  readonly dir: string
  write: (name: string, content: Buffer | string) => string
} {
  let tmp: ReturnType<typeof tempDir>
  let store: Store
  beforeEach(async () => {
    tmp = tempDir()
    store = await Store.open(join(tmp.dir, 'store.duckdb'))
  })
  afterEach(async () => {
    await store.close()
    tmp.cleanup()
  })
  return {
    get dir() {
      return tmp.dir
    },
    get store() {
      return store
    },
    write(name, content) {
      const path = join(tmp.dir, name)
      writeFileSync(path, content)
      return path
    },
  }
}

/**
 * Opens the store at `path` for `fn` and closes it after, whatever happens (a store per property run, or one reopened).
 */
export async function withStore<T>(path: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await Store.open(path)
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}
