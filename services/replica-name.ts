// A name a person can match to `docker compose ps`: compose names a replica's container <project>-<service>-<index>
// (docker-compose 1.x: <project>_<service>_<index>), and Docker's embedded DNS answers a reverse lookup of the
// container's own address with that name (followed by the network's). The project prefix is dropped: "app-2".
import { Resolver } from 'node:dns/promises'
import { networkInterfaces } from 'node:os'

/** The container's own addresses: every IPv4 one but loopback. */
function ownAddresses (): string[] {
  return Object.values(networkInterfaces()).flat()
    .filter(a => a !== undefined && a.family === 'IPv4' && !a.internal)
    .map(a => a!.address)
}

/** `<service>-<index>` from a reverse lookup of this container's address, or undefined when there is no such name. */
export async function replicaNameFromDns (service: string): Promise<string | undefined> {
  // Bounded: outside Docker the lookup may go to a real DNS server that never answers for private addresses.
  const resolver = new Resolver({ timeout: 1000, tries: 2 })
  const pattern = new RegExp(`[-_]${service}[-_](\\d+)$`)
  for (const address of ownAddresses()) {
    // A PTR query to the DNS server itself: reverse() would read /etc/hosts first, where Docker puts the container id.
    const ptr = `${address.split('.').reverse().join('.')}.in-addr.arpa`
    const names = await resolver.resolve(ptr, 'PTR').catch(() => [])
    for (const name of names) {
      const index = pattern.exec(name.split('.')[0] ?? '')?.[1]
      if (index) return `${service}-${index}`
    }
  }
  return undefined
}
