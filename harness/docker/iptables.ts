// The host's IPv4 firewall as a private dockerd leaves it. dockerd adds chains, jumps and per-bridge rules (NAT
// among them) and removes none of them when it stops; a stale MASQUERADE rule for a subnet that a later engine
// reuses rewrites its containers' addresses. Debian's dockerd 20.10 leaves ip6tables alone (--ip6tables is off).
// Every rule dockerd writes names no interface (the shared scaffolding: jumps into its chains, their RETURNs) or
// names the bridges it serves (-i/-o docker0, br-<network id>), and a bridge is one engine's: that tells whose a rule is.
// Its chains are all named DOCKER…, and the one policy it changes is FORWARD's (to DROP).
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface Table {
  /** Built-in chains' policies. */
  policies: Map<string, string>
  /** User-defined chains. */
  chains: Set<string>
  /** As iptables-save prints them: `-A CHAIN …`, in order. */
  rules: string[]
}

/** Per table, as `iptables-save` (without counters) shows it. */
export type Ruleset = Map<string, Table>

export function parseRuleset (text: string): Ruleset {
  const tables: Ruleset = new Map()
  let table: Table | undefined
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) tables.set(line.slice(1), table = { policies: new Map(), chains: new Set(), rules: [] })
    else if (!table) continue
    else if (line.startsWith(':')) {
      const [chain, policy] = line.slice(1).split(' ')
      if (policy === '-') table.chains.add(chain!)
      else table.policies.set(chain!, policy!)
    } else if (line.startsWith('-A ')) table.rules.push(line)
  }
  return tables
}

export async function saveRuleset (): Promise<Ruleset> {
  const { stdout } = await run('iptables-save', [], { timeout: 30_000 })
  return parseRuleset(stdout)
}

/** A saved rule's words, quotes removed (iptables-save quotes words with spaces, such as comments). */
function words (rule: string): string[] {
  return [...rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map(m => m[2] ?? m[1]!.replace(/\\(.)/g, '$1'))
}

/** The interfaces a rule matches on (`-i`/`-o`, negated or not). */
export function interfacesOf (rule: string): string[] {
  const w = words(rule)
  return w.flatMap((word, i) => word === '-i' || word === '-o' ? [w[i + 1]!] : [])
}

const BRIDGE = /^(docker0|br-[0-9a-f]{12})$/
const DOCKER_CHAIN = /^DOCKER/

/** Bridge names of Docker networks (docker0, br-<first 12 of the id>) that rules name but that do not exist. */
export function missingBridges (rules: Ruleset): Set<string> {
  const named = [...rules.values()].flatMap(table => table.rules.flatMap(interfacesOf)).filter(name => BRIDGE.test(name))
  return new Set(named.filter(name => !existsSync(`/sys/class/net/${name}`)))
}

export interface Owner {
  /** The bridges whose rules are to go. */
  bridges: Set<string>
  /**
   * No other dockerd runs: the shared scaffolding added since (rules in or jumping to DOCKER… chains), such chains
   * left empty, and FORWARD's policy are ours to undo. While another one runs they are left: it uses them, and it
   * may be the one that added them. Rules and chains of other tools are never dockerd's.
   */
  alone: boolean
}

/**
 * The `iptables` argument lists that take out of `now` what was added since `before` and is `owner`'s: its rules
 * (last first), then its chains, then the policies it changed. Everything that was in `before` stays.
 */
export function undoCommands (before: Ruleset, now: Ruleset, owner: Owner): string[][] {
  const commands: string[][] = []
  for (const [name, table] of now) {
    const old = before.get(name) ?? { policies: new Map(), chains: new Set(), rules: [] }
    const kept = new Map<string, number>()
    for (const rule of old.rules) kept.set(rule, (kept.get(rule) ?? 0) + 1)
    const remaining: string[] = []
    const removed: string[] = []
    for (const rule of table.rules) {
      const left = kept.get(rule) ?? 0
      const interfaces = interfacesOf(rule)
      const shared = interfaces.length === 0 && [words(rule)[1]!, ...targetsOf(rule)].some(chain => DOCKER_CHAIN.test(chain))
      const ours = interfaces.some(i => owner.bridges.has(i)) || (owner.alone && shared)
      if (left > 0) kept.set(rule, left - 1)
      if (left === 0 && ours) removed.push(rule)
      else remaining.push(rule)
    }
    for (const rule of removed.reverse()) commands.push(['-t', name, '-D', ...words(rule).slice(1)])
    if (!owner.alone) continue
    // A chain still holding a rule, or jumped to, belongs to something else now.
    const used = new Set(remaining.flatMap(rule => [words(rule)[1], ...targetsOf(rule)]))
    for (const chain of table.chains) {
      if (DOCKER_CHAIN.test(chain) && !old.chains.has(chain) && !used.has(chain)) commands.push(['-t', name, '-X', chain])
    }
    const forward = old.policies.get('FORWARD')
    if (name === 'filter' && forward && table.policies.get('FORWARD') !== forward) commands.push(['-t', name, '-P', 'FORWARD', forward])
  }
  return commands
}

function targetsOf (rule: string): string[] {
  const w = words(rule)
  return w.flatMap((word, i) => word === '-j' || word === '-g' ? [w[i + 1]!] : [])
}

/** Runs them in order; one that fails (a rule someone else removed meanwhile) does not stop the rest. */
export async function runCommands (commands: string[][]): Promise<void> {
  for (const args of commands) await run('iptables', ['-w', ...args], { timeout: 30_000 }).catch(() => {})
}

/** Whether a dockerd runs on this machine (ours included, if it still does). */
export function dockerdRuns (): boolean {
  return readdirSync('/proc').filter(pid => /^\d+$/.test(pid)).some(pid => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'dockerd'
    } catch {
      return false
    }
  })
}
