#!/usr/bin/env node
// oclif as the build bundled it (scripts/bundle-vendor.ts): the built commands import the same file.
import {execute} from '../dist/vendor/oclif-core/lib/index.cjs'

// The AWS SDK warns on every call under Node 20; billwatch supports Node 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

await execute({dir: import.meta.url})
