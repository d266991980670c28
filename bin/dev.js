#!/usr/bin/env -S node --import tsx --no-warnings=ExperimentalWarning
// Runs the TypeScript sources directly (no build); used by the tests and during development.
import {fileURLToPath} from 'node:url'

import {execute, Plugin} from '@oclif/core'

// The AWS SDK warns on every call under Node 20; billwatch supports Node 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

// The committed oclif.manifest.json points at dist/ (the build); from the sources, ignore it and
// let oclif find the commands in commands/*.ts.
process.env.NODE_ENV ??= 'development'
const root = fileURLToPath(new URL('..', import.meta.url))
const plugin = new Plugin({ignoreManifest: true, isRoot: true, root})
await plugin.load()
await execute({development: true, loadOptions: {plugins: new Map([[plugin.name, plugin]]), root}})
