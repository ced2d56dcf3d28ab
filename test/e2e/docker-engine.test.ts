// A private dockerd started by the harness leaves the host's iptables as it found them: its chains, jumps and
// per-network NAT rules are gone after close(), as are its bridges. A stale MASQUERADE rule for a reused subnet
// once broke a later compose run (Redis Cluster nodes saw their peers as the bridge gateway).
import { existsSync } from 'node:fs'
import t from 'tap'
import { DockerEngine, EngineUnavailableError } from '../../harness/docker/engine.ts'
import { dockerdRuns, type Ruleset, saveRuleset } from '../../harness/docker/iptables.ts'
import { exitWithChildrenOnSignals } from '../../harness/processes.ts'

exitWithChildrenOnSignals()

/** Comparable form; a table with nothing in it and all policies ACCEPT is one iptables-save may not list at all. */
function comparable (rules: Ruleset) {
  return Object.fromEntries([...rules]
    .filter(([, table]) => table.rules.length > 0 || table.chains.size > 0 || [...table.policies.values()].some(p => p !== 'ACCEPT'))
    .map(([name, table]) => [name, { policies: Object.fromEntries(table.policies), chains: [...table.chains].sort(), rules: table.rules }]))
}

t.test('close() leaves iptables and the bridges as open() found them', async t => {
  let engine: DockerEngine
  try {
    // The first engine's open() sweeps what earlier runs left (rules of bridges that are gone), so the host is
    // settled before the snapshot.
    engine = await DockerEngine.open()
  } catch (err) {
    if (err instanceof EngineUnavailableError && process.env.CI !== 'true' && process.getuid?.() !== 0) {
      t.plan(0, `skipped: a private dockerd needs root: ${err.message}`)
      return
    }
    throw err
  }
  if (!engine.owned) {
    t.plan(0, 'skipped: a Docker engine already answers, so no private dockerd is started')
    return
  }
  await engine.close()
  const other = dockerdRuns()
  const before = await saveRuleset()
  const bridgeExisted = existsSync('/sys/class/net/docker0')
  engine = await DockerEngine.open()
  let closed = false
  t.teardown(async () => { if (!closed) await engine.close() })

  // A network left in place at close(): dockerd removes a network's rules with the network, not when it stops.
  const id = (await engine.docker(['network', 'create', 'iptables-test'])).trim()
  const bridge = `br-${id.slice(0, 12)}`
  const during = await saveRuleset()
  t.ok(during.get('nat')?.rules.some(rule => rule.includes(`! -o ${bridge} -j MASQUERADE`)), `dockerd added a MASQUERADE rule for ${bridge}`)

  await engine.close()
  closed = true
  const after = await saveRuleset()
  t.same(comparable(after), comparable(before), `iptables-save after close() is what it was before open()${other ? ' (another dockerd runs: its own changes would show too)' : ''}`)
  t.notOk(existsSync(`/sys/class/net/${bridge}`), 'the network\'s bridge is gone')
  t.equal(existsSync('/sys/class/net/docker0'), bridgeExisted, 'docker0 is there only if it was before')
})
