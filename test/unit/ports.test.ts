// Starting a server that cannot bind port 0 (redis-server, nginx): another free port when the first is taken.
import t from 'tap'
import { isPortTaken, startOnFreePort } from '../../harness/ports.ts'

const taken = (port: number) => new Error(`redis exited (1) while starting:\nCould not create server TCP listening socket 127.0.0.1:${port}: bind: Address already in use`)

t.test('a taken port is replaced by another, a bounded number of times', async t => {
  const tried: number[] = []
  const port = await startOnFreePort(undefined, async port => {
    tried.push(port)
    if (tried.length < 3) throw taken(port)
    return port
  })
  t.equal(tried.length, 3)
  t.equal(port, tried[2])
  t.ok(tried.every(p => p > 0 && p < 65536))

  let attempts = 0
  await t.rejects(startOnFreePort(undefined, async port => { attempts++; throw taken(port) }, 4), /Address already in use/)
  t.equal(attempts, 4, 'gives up after the bound')
})

t.test('a port the caller chose is tried once; other errors are not retried', async t => {
  let attempts = 0
  await t.rejects(startOnFreePort(6380, async port => { attempts++; throw taken(port) }), /Address already in use/)
  t.equal(attempts, 1)
  attempts = 0
  await t.rejects(startOnFreePort(undefined, async () => { attempts++; throw new Error('redis-server is required') }), /required/)
  t.equal(attempts, 1)
})

t.test('nginx\'s and Redis\'s words for a taken port', async t => {
  t.ok(isPortTaken(new Error('nginx: [emerg] bind() to 127.0.0.1:8080 failed (98: Address already in use)')))
  t.ok(isPortTaken(taken(1)))
  t.notOk(isPortTaken(new Error('nginx: [emerg] unknown directive')))
})
