// Preloaded into a replica the harness starts on port 0 (`node --import`): tells the harness, over the IPC channel
// it opened, which port the OS gave the first server asked for port 0 (the public one: a replica's metrics port is
// always named). The replica itself knows nothing of the harness.
import { tracingChannel } from 'node:diagnostics_channel'
import type { AddressInfo, Server } from 'node:net'

const askedForAnyPort = new WeakSet<Server>()
let reported = false

tracingChannel<{ server: Server, options?: { port?: unknown } }>('net.server.listen').subscribe({
  start () {},
  end () {},
  asyncStart ({ server, options }) {
    if (Number(options?.port) === 0) askedForAnyPort.add(server)
  },
  asyncEnd ({ server }) {
    if (reported || !askedForAnyPort.has(server)) return
    reported = true
    process.send?.({ listening: (server.address() as AddressInfo).port })
  },
  error () {}
})
