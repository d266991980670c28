/**
 * Runs before each test file: the CLIs it spawns keep their default store (no --db) in a data dir of
 * the file's own, never in the developer's ~/.local/share nor in a store another file's CLIs hold open.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll} from 'vitest'

const dataHome = mkdtempSync(join(tmpdir(), 'billwatch-data-'))
process.env.XDG_DATA_HOME = dataHome
delete process.env.BILLWATCH_DB
afterAll(() => rmSync(dataHome, {force: true, recursive: true}))
