// What a private dockerd's close() takes out of the host's iptables: exactly what it added and is its own, whatever
// else was there before or was added meanwhile by another dockerd.
import t from 'tap'
import { parseRuleset, type Ruleset, undoCommands } from '../../harness/docker/iptables.ts'

/** The commands applied to a ruleset, as iptables would (first matching rule deleted). */
function apply (rules: Ruleset, commands: string[][]): Ruleset {
  const result: Ruleset = new Map([...rules].map(([name, table]) => [name, {
    policies: new Map(table.policies), chains: new Set(table.chains), rules: [...table.rules]
  }]))
  for (const [, name, op, chain, ...rest] of commands) {
    const table = result.get(name!)!
    if (op === '-D') table.rules.splice(table.rules.indexOf(['-A', chain, ...rest].join(' ')), 1)
    if (op === '-X') table.chains.delete(chain!)
    if (op === '-P') table.policies.set(chain!, rest[0]!)
  }
  return result
}

const host = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o eth0 -m comment --comment "the host's own NAT" -j MASQUERADE
COMMIT
`
const scaffolding = {
  filter: [':DOCKER - [0:0]', ':DOCKER-USER - [0:0]', '-A FORWARD -j DOCKER-USER', '-A DOCKER-USER -j RETURN'],
  nat: [':DOCKER - [0:0]', '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER']
}
const bridge = (name: string, subnet: string) => ({
  filter: [`-A FORWARD -o ${name} -j DOCKER`, `-A FORWARD -i ${name} ! -o ${name} -j ACCEPT`],
  nat: [`-A POSTROUTING -s ${subnet} ! -o ${name} -j MASQUERADE`, `-A DOCKER -i ${name} -j RETURN`]
})

/** `base` with lines added to its tables (chains declared, rules appended) and FORWARD's policy set. */
function withLines (base: string, forward: string, ...parts: Array<{ filter: string[], nat: string[] }>): Ruleset {
  const rules = parseRuleset(base)
  rules.get('filter')!.policies.set('FORWARD', forward)
  for (const part of parts) {
    for (const name of ['filter', 'nat'] as const) {
      for (const line of part[name]) {
        if (line.startsWith(':')) rules.get(name)!.chains.add(line.slice(1).split(' ')[0]!)
        else rules.get(name)!.rules.push(line)
      }
    }
  }
  return rules
}

t.test('alone: everything the engine added goes, chains and policy included; what was there stays', async t => {
  const before = parseRuleset(host)
  const now = withLines(host, 'DROP', scaffolding, bridge('docker0', '172.17.0.0/16'), bridge('br-0123456789ab', '172.18.0.0/16'))
  t.same(apply(now, undoCommands(before, now, { bridges: new Set(['docker0', 'br-0123456789ab']), alone: true })), before)
})

t.test('another dockerd running: only rules naming our bridges go; its bridge and the shared chains stay', async t => {
  const before = withLines(host, 'DROP', scaffolding)
  const now = withLines(host, 'DROP', scaffolding, bridge('br-0123456789ab', '172.18.0.0/16'), bridge('br-ba9876543210', '172.19.0.0/16'))
  const commands = undoCommands(before, now, { bridges: new Set(['br-0123456789ab']), alone: false })
  t.same(apply(now, commands), withLines(host, 'DROP', scaffolding, bridge('br-ba9876543210', '172.19.0.0/16')))
})

t.test('alone, but another engine left rules for its bridge meanwhile: those and the chains they use stay', async t => {
  const before = parseRuleset(host)
  const now = withLines(host, 'DROP', scaffolding, bridge('docker0', '172.17.0.0/16'), bridge('br-ba9876543210', '172.19.0.0/16'))
  const after = apply(now, undoCommands(before, now, { bridges: new Set(['docker0']), alone: true }))
  t.same(after.get('nat')!.rules.slice(1), bridge('br-ba9876543210', '172.19.0.0/16').nat)
  t.same([...after.get('nat')!.chains], ['DOCKER'], 'its DOCKER chain still holds a rule')
  t.same([...after.get('filter')!.chains], ['DOCKER'], 'the filter DOCKER chain is still jumped to')
})

t.test('alone: rules and chains another tool added meanwhile stay', async t => {
  const before = parseRuleset(host)
  const other = { filter: [':FAULTS - [0:0]', '-A INPUT -p tcp --dport 9 -j DROP'], nat: [] }
  const now = withLines(host, 'DROP', scaffolding, other, bridge('docker0', '172.17.0.0/16'))
  const after = apply(now, undoCommands(before, now, { bridges: new Set(['docker0']), alone: true }))
  t.same(after, withLines(host, 'ACCEPT', other))
})

t.test('a rule that was there before stays, even one naming our bridge, even a duplicate added again', async t => {
  const stale = '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE'
  const before = withLines(host, 'ACCEPT', { filter: [], nat: [stale] })
  const now = withLines(host, 'ACCEPT', { filter: [], nat: [stale, stale] })
  const commands = undoCommands(before, now, { bridges: new Set(['docker0']), alone: true })
  t.same(commands, [['-t', 'nat', '-D', 'POSTROUTING', '-s', '172.17.0.0/16', '!', '-o', 'docker0', '-j', 'MASQUERADE']])
  t.same(apply(now, commands), before)
})

t.test('the sweep: only rules naming the given (missing) bridges, never chains or policies', async t => {
  const now = withLines(host, 'DROP', scaffolding, bridge('br-0123456789ab', '172.18.0.0/16'))
  const after = apply(now, undoCommands(new Map(), now, { bridges: new Set(['br-0123456789ab']), alone: false }))
  t.same(after, withLines(host, 'DROP', scaffolding))
})
