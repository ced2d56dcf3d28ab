// `npm run docs:config`: regenerates docs/configuration.md from the configuration schema.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, relative } from 'node:path'
import { CONFIG_DOCS_PATH, renderConfigDocs } from './config-docs.ts'
import { PROJECT_ROOT } from './paths.ts'

mkdirSync(dirname(CONFIG_DOCS_PATH), { recursive: true })
writeFileSync(CONFIG_DOCS_PATH, renderConfigDocs())
console.log(`wrote ${relative(PROJECT_ROOT, CONFIG_DOCS_PATH)}`)
