// A throwaway certificate authority and a server certificate for localhost / 127.0.0.1, made with openssl, and a
// client that trusts a given CA.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { Agent, fetch as undiciFetch, type RequestInit as UndiciRequestInit } from 'undici'
import { openssl } from '../../harness/self-signed-cert.ts'

export interface Certificates {
  ca: string
  cert: string
  key: string
  /** Another CA, which did not sign the server certificate. */
  otherCa: string
}

export function makeCertificates (dir: string): Certificates {
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl(dir, 'req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=test CA')
  openssl(dir, 'req', '-x509', ...key, '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-days', '1', '-subj', '/CN=another CA')
  openssl(dir, 'req', ...key, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost')
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
  openssl(dir, 'x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext')
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), otherCa: join(dir, 'other-ca.crt') }
}

/**
 * A fetch whose connections trust `ca` (for this fetch only: nothing global changes) and, when given, leave from
 * `localAddress`: loopback takes any 127/8 source on Linux, so each address is another client to nginx.
 */
export function fetchVia (t: Test, connect: { ca?: string, localAddress?: string }): typeof fetch {
  const agent = new Agent({ localAddress: connect.localAddress, connect: { ca: connect.ca && readFileSync(connect.ca) } })
  t.teardown(async () => await agent.close())
  // undici's own fetch with undici's own Agent: the global fetch's bundled undici may be another version.
  return (async (input: string, init?: RequestInit) => await undiciFetch(input, { ...init, dispatcher: agent } as UndiciRequestInit)) as unknown as typeof fetch
}
