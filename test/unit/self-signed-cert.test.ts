// The self-signed pair `npm start` serves HTTPS with: made once with a private key, reused while valid, made anew
// when about to expire. (test/e2e/tls.test.ts serves it through nginx.)
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import t from 'tap'
import { openssl, SELF_SIGNED_DAYS, selfSignedPair } from '../../harness/self-signed-cert.ts'

t.test('a pair for localhost and 127.0.0.1, the key readable by its owner only', async t => {
  const dir = t.testdir()
  const { cert, key } = selfSignedPair(dir)
  t.equal(statSync(key).mode & 0o777, 0o600, 'key mode 0600')
  const x509 = new X509Certificate(readFileSync(cert))
  t.equal(x509.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1')
  t.equal(x509.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'EC P-256')
  const days = (Date.parse(x509.validTo) - Date.now()) / 86_400_000
  t.ok(days > SELF_SIGNED_DAYS - 1 && days <= SELF_SIGNED_DAYS, `valid ${days.toFixed(1)} days`)
  t.ok(x509.checkPrivateKey(createPrivateKey(readFileSync(key))), 'the key is the certificate\'s')
})

t.test('reused while valid, so a browser that accepted it once keeps accepting it', async t => {
  const dir = t.testdir()
  const first = readFileSync(selfSignedPair(dir).cert, 'utf8')
  t.equal(readFileSync(selfSignedPair(dir).cert, 'utf8'), first)
})

t.test('made anew when it would expire within a day', async t => {
  const dir = t.testdir()
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=old')
  const old = readFileSync(`${dir}/cert.pem`, 'utf8')
  const { cert, key } = selfSignedPair(dir)
  t.not(readFileSync(cert, 'utf8'), old)
  t.equal(new X509Certificate(readFileSync(cert)).subject, 'CN=localhost')
  t.equal(statSync(key).mode & 0o777, 0o600)
})
