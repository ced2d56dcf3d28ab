// Texts that live in two places are checked against their one source: the configuration table (docs/) against
// the settings a replica reads, and the ACL line in docs/security.md against the store's.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import t from 'tap'
import { PROJECT_ROOT } from '../../harness/paths.ts'
import { SETTINGS } from '../../services/config.ts'
import { aclSetUser, CLUSTER_ACL_RULES } from '../../services/session-store/acl.ts'

const configuration = readFileSync(`${PROJECT_ROOT}/docs/configuration.md`, 'utf8')
const security = readFileSync(`${PROJECT_ROOT}/docs/security.md`, 'utf8')

t.test('the configuration table lists exactly the settings a replica reads', async t => {
  const documented = new Set([...configuration.matchAll(/^\| (.+?) \|/gm)].flatMap(m => [...m[1]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map(n => n[1]!)))
  for (const setting of SETTINGS) t.ok(documented.has(setting.name), `${setting.name} is in the table`)
  const known = new Set(SETTINGS.flatMap(s => [s.name, `${s.name}_FILE`]))
  for (const name of documented) t.ok(known.has(name), `${name} in the table is a setting a replica reads`)
})

t.test('docs/security.md shows the ACL line the access test runs', async t => {
  t.ok(security.includes(aclSetUser('sessions', 'sess:')), aclSetUser('sessions', 'sess:'))
  t.ok(security.includes(`ACL SETUSER sessions ${CLUSTER_ACL_RULES}`), 'and the cluster addition the cluster test runs')
})

t.test('the replica imports nothing from outside services/ (the image compiles only services/)', async t => {
  const files = readdirSync(join(PROJECT_ROOT, 'services'), { recursive: true, encoding: 'utf8' }).filter(f => f.endsWith('.ts'))
  t.ok(files.length > 10)
  for (const file of files) {
    const source = readFileSync(join(PROJECT_ROOT, 'services', file), 'utf8')
    const outside = [...source.matchAll(/from '(\.\.?\/[^']+)'/g)].map(m => m[1]!)
      .filter(spec => !resolve(dirname(join(PROJECT_ROOT, 'services', file)), spec).startsWith(join(PROJECT_ROOT, 'services')))
    t.same(outside, [], `services/${file}`)
  }
})
