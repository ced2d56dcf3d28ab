// The configuration schema is the one source of every default and description: docs/configuration.md is
// generated from it, and docker-compose.yml repeats its defaults only where they are checked to be the same.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { CONFIG_DOCS_PATH, renderConfigDocs } from '../../harness/config-docs.ts'
import { PROJECT_ROOT } from '../../harness/paths.ts'
import { SETTING_VARIABLES, SETTINGS, type SettingSchema } from '../../services/config-schema.ts'

const schema: Record<string, SettingSchema> = SETTINGS

/** Values compose gives the app on purpose instead of the schema's default, and why. */
const COMPOSE_OVERRIDES: Record<string, string> = {
  NODE_ENV: 'production: no working default secret',
  REDIS_URL: 'the compose service `redis`, not this host',
  TRUST_PROXY: 'nginx reaches the replicas from the compose network\'s private range',
  REPLICA_NAME_FROM_DNS: 'each replica is named after its container',
  LOG_FORMAT: 'one readable line per request in `docker compose logs`'
}

t.test('docs/configuration.md is what `npm run docs:config` makes of the schema', async t => {
  t.equal(readFileSync(CONFIG_DOCS_PATH, 'utf8'), renderConfigDocs(), 'run `npm run docs:config` and commit docs/configuration.md')
  for (const [name, setting] of Object.entries(schema)) t.ok(setting.description.length > 20, `${name} has a description`)
})

t.test('docker-compose.yml gives the app the schema\'s defaults, but for its deliberate overrides', async t => {
  const compose = parse(readFileSync(join(PROJECT_ROOT, 'docker-compose.yml'), 'utf8'))
  const environment: Record<string, string> = compose.services.app.environment
  for (const [name, value] of Object.entries(environment)) {
    t.ok(SETTING_VARIABLES.includes(name), `${name} is a variable a replica reads`)
    const setting = schema[name]
    if (!setting || name in COMPOSE_OVERRIDES) continue
    // `${NAME:-default}`: the user's value, else the default; an empty default is the same as unset.
    const substitution = /^\$\{(\w+):-(.*)\}$/.exec(String(value))
    if (substitution) t.equal(substitution[1], name, `${name} is taken from the user's ${name}`)
    const fallback = substitution ? substitution[2] : String(value)
    t.equal(fallback, setting.default === undefined ? '' : String(setting.default), `${name}: compose's default is the schema's`)
  }
  for (const name of Object.keys(COMPOSE_OVERRIDES)) {
    t.ok(name in environment, `${name} is overridden in docker-compose.yml`)
    t.not(String(environment[name]), String(schema[name]?.default), `${name}'s override differs from the default`)
  }
})
