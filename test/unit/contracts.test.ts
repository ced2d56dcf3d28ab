// Texts that live in two places are checked against their one source: the ACL line in docs/security.md against the
// store's. (docs/configuration.md is generated from the configuration schema: test/unit/config-docs.test.ts.)
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import t from 'tap'
import { PROJECT_ROOT } from '../../harness/paths.ts'
import { aclSetUser, CLUSTER_ACL_RULES } from '../../services/session-store/acl.ts'

const security = readFileSync(`${PROJECT_ROOT}/docs/security.md`, 'utf8')

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
