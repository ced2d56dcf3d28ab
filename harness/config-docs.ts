// docs/configuration.md, generated from the schema every replica validates its environment with
// (services/config-schema.ts): `npm run docs:config` writes it, and a unit test fails when it is out of date.
import { join } from 'node:path'
import { SETTINGS, type SettingSchema } from '../services/config-schema.ts'
import { PROJECT_ROOT } from './paths.ts'

export const CONFIG_DOCS_PATH = join(PROJECT_ROOT, 'docs', 'configuration.md')

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ')

export function renderConfigDocs (): string {
  const rows = Object.entries(SETTINGS as Record<string, SettingSchema>).map(([name, setting]) => {
    const variable = setting.secret ? `\`${name}\` (or \`${name}_FILE\`)` : `\`${name}\``
    const fallback = setting.default === undefined ? '' : `\`${setting.default}\``
    return `| ${variable} | ${fallback} | ${cell(setting.description)} |`
  })
  return `# Configuration

<!-- Generated from services/config-schema.ts by \`npm run docs:config\`: edit the schema, not this file. -->

Every replica reads its environment once, at start, and refuses to start with a clear message (\`Configuration
error: …\`, exit code 1) when a value is wrong. An empty value counts as unset. Durations are a number with a unit
(\`250ms\`, \`10s\`, \`30m\`, \`12h\`, \`1d\`) or a bare number of seconds. A variable shown with \`_FILE\` may instead
be read from the file that \`NAME_FILE\` names (Docker secrets); the value is then never repeated in an error.

| Variable | Default | Meaning |
| --- | --- | --- |
${rows.join('\n')}
`
}
