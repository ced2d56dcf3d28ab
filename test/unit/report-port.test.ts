// The harness learns the port a replica on port 0 got from its own preload, not from the replica: the port of the
// first server asked for port 0, whatever listened before it on a named port (a replica's metrics).
import t from 'tap'
import { REPORT_PORT_PRELOAD } from '../../harness/paths.ts'
import { freePort } from '../../harness/ports.ts'
import { ManagedProcess } from '../../harness/processes.ts'
import { reportedPort } from '../../harness/replicas.ts'
import { scaled } from '../../harness/timeouts.ts'

t.test('the preload reports the port the OS gave the first server asked for port 0', async t => {
  const named = await freePort()
  const script = `
    const http = require('node:http')
    const named = http.createServer().listen(${named}, '127.0.0.1', () => {
      const any = http.createServer().listen({ port: 0, host: '127.0.0.1' }, () => {
        console.log('listening on ' + any.address().port)
        http.createServer().listen(0, '127.0.0.1', () => setTimeout(() => process.exit(0), 200))
      })
    })`
  const child = new ManagedProcess('listener', process.execPath, ['--import', REPORT_PORT_PRELOAD, '-e', script], { PATH: process.env.PATH }, undefined, { ipc: true })
  t.teardown(async () => { await child.kill() })
  const [port, line] = await Promise.all([reportedPort(child), child.waitForLine(/^listening on \d+$/, scaled(5000))])
  t.equal(port, Number(line.split(' ').pop()), 'the port of the server asked for port 0')
  t.not(port, named, 'not the named port that listened first')
  t.same(await child.exited, { code: 0, signal: null }, 'nothing else changes in the process')
})
