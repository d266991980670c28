#!/usr/bin/env node
import {execute} from '@oclif/core'

// The AWS SDK warns on every call under Node 20; billwatch supports Node 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

await execute({dir: import.meta.url})
