#!/usr/bin/env -S node --import tsx --no-warnings=ExperimentalWarning
// Runs the TypeScript sources directly (no build); used by the tests and during development.
import {execute} from '@oclif/core'

// The AWS SDK warns on every call under Node 20; billwatch supports Node 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

await execute({development: true, dir: import.meta.url})
