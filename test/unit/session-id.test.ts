// The ids the store accepts are exactly those the replica makes: 24 random bytes, base64url.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { SESSION_ID } from '../../services/session-store/keys.ts'

t.test('every generated id is accepted; one character more or less is not', async t => {
  for (let i = 0; i < 1000; i++) {
    const id = randomBytes(24).toString('base64url')
    if (!SESSION_ID.test(id)) t.fail(`refused ${id}`)
  }
  const id = randomBytes(24).toString('base64url')
  t.notOk(SESSION_ID.test(id.slice(1)), '31 characters')
  t.notOk(SESSION_ID.test(`${id}a`), '33 characters')
  t.notOk(SESSION_ID.test(`${id.slice(1)}*`), 'outside base64url')
})
