// A Docker engine for the compose test and the stand-in image builder: the one that already answers (DOCKER_HOST
// or the default socket), or, where none does and we are root, a private dockerd with its own data root, exec
// root, socket and pid file, stopped by close() with everything it left on the host, iptables rules included.
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { type LineListener, ManagedProcess, pollUntil } from '../processes.ts'
import { dockerdRuns, missingBridges, type Ruleset, runCommands, saveRuleset, undoCommands } from './iptables.ts'

const run = promisify(execFile)

/** What a Debian machine needs for the compose test (CI installs it in .ci/run). */
export const INSTALL_COMMAND = 'apt-get install -y --no-install-recommends docker.io iptables docker-compose debootstrap'

export class EngineUnavailableError extends Error {
  override name = 'EngineUnavailableError'
}

export interface EngineOptions {
  /**
   * Where a dockerd started here keeps images and containers. Given: it is kept, so images built once (the
   * stand-ins, the app's layers) are there next time. Not given: a temporary one, removed by close().
   */
  dataRoot?: string
  /** false: only an engine that already answers will do. */
  start?: boolean
  onLine?: LineListener
}

export interface RunOptions {
  timeoutMs?: number
  cwd?: string
  env?: NodeJS.ProcessEnv
}

const SCRATCH_PARENT = '/tmp'
const SCRATCH_PREFIX = 'compose-dockerd-'

/**
 * Removes what a private dockerd of an earlier run left when that run was killed before close(): its scratch
 * directory (exec root, socket, and a temporary data root of images), once its dockerd is gone.
 */
function sweepStale (): void {
  for (const name of readdirSync(SCRATCH_PARENT).filter(n => n.startsWith(SCRATCH_PREFIX))) {
    const dir = join(SCRATCH_PARENT, name)
    const pidFile = join(dir, 'docker.pid')
    // dockerd removes its pid file when it stops. None in a new directory: a dockerd of another run is starting.
    if (existsSync(pidFile) ? existsSync(`/proc/${readFileSync(pidFile, 'utf8').trim()}`) : Date.now() - statSync(dir).mtimeMs < 120_000) continue
    if (mountsUnder(dir).length > 0) continue
    rmSync(dir, { recursive: true, force: true })
  }
}

function lookup (binary: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin'].filter(Boolean)
  return dirs.map(dir => join(dir, binary)).find(path => existsSync(path))
}

/** Mount points under `dir`, deepest first (what a dockerd that did not stop cleanly may leave). */
function mountsUnder (dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map(line => line.split(' ')[4] ?? '')
    .filter(point => point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length)
}

export class DockerEngine {
  /** The environment for docker and docker-compose: this process's, with DOCKER_HOST pointing at the engine. */
  readonly env: NodeJS.ProcessEnv
  /** Whether close() stops a dockerd this process started. */
  readonly owned: boolean
  readonly #daemon: ManagedProcess | undefined
  readonly #scratch: string | undefined
  readonly #dataRoot: string | undefined
  readonly #bridgeExisted: boolean
  readonly #rulesBefore: Ruleset | undefined

  private constructor (env: NodeJS.ProcessEnv, daemon?: ManagedProcess, scratch?: string, dataRoot?: string, bridgeExisted = true, rulesBefore?: Ruleset) {
    this.env = env
    this.owned = daemon !== undefined
    this.#daemon = daemon
    this.#scratch = scratch
    this.#dataRoot = dataRoot
    this.#bridgeExisted = bridgeExisted
    this.#rulesBefore = rulesBefore
  }

  /** The engine that answers, or a private dockerd; throws EngineUnavailableError saying why neither can be had. */
  static async open (options: EngineOptions = {}): Promise<DockerEngine> {
    if (!lookup('docker')) throw new EngineUnavailableError(`the docker client is not installed: ${INSTALL_COMMAND}`)
    if (await DockerEngine.#answers(process.env)) return new DockerEngine(process.env)
    if (options.start === false) throw new EngineUnavailableError(`no Docker engine answers: set DOCKER_HOST, or start one (${INSTALL_COMMAND})`)
    const dockerd = lookup('dockerd')
    if (!dockerd) throw new EngineUnavailableError(`no Docker engine answers and dockerd is not installed: ${INSTALL_COMMAND}`)
    if (process.getuid?.() !== 0) throw new EngineUnavailableError('no Docker engine answers, and starting dockerd needs root')

    sweepStale()
    // Rules naming a bridge that is gone are what an earlier dockerd left (one of a killed run, or a network removed
    // while no dockerd ran); they route nothing, but a stale MASQUERADE for a subnet the new engine reuses breaks it.
    // Only while no dockerd runs: one that is starting or stopping may be between its bridge and its rules.
    if (!dockerdRuns()) {
      const rules = await saveRuleset()
      await runCommands(undoCommands(new Map(), rules, { bridges: missingBridges(rules), alone: false }))
    }
    const rulesBefore = await saveRuleset()
    // Short paths: the exec root holds unix sockets, whose paths are limited to 107 bytes.
    const scratch = mkdtempSync(join(SCRATCH_PARENT, SCRATCH_PREFIX))
    const dataRoot = options.dataRoot ?? join(scratch, 'data')
    mkdirSync(dataRoot, { recursive: true })
    const socket = join(scratch, 'docker.sock')
    const env = { ...process.env, DOCKER_HOST: `unix://${socket}` }
    const bridgeExisted = existsSync('/sys/class/net/docker0')
    // setpriv: dockerd gets SIGTERM (and stops its containers) even if this process is killed outright, say by a
    // test runner's timeout, before close() can run.
    const daemon = new ManagedProcess('dockerd', 'setpriv', ['--pdeathsig', 'SIGTERM', '--', dockerd,
      '--data-root', dataRoot, '--exec-root', join(scratch, 'exec'), '-H', `unix://${socket}`,
      '--pidfile', join(scratch, 'docker.pid')
    ], process.env, options.onLine)
    const engine = new DockerEngine(env, daemon, scratch, options.dataRoot ? undefined : dataRoot, bridgeExisted, rulesBefore)
    try {
      await pollUntil('dockerd to answer', async () => {
        if (!daemon.alive) throw new Error(`dockerd exited:\n${daemon.tail.join('\n')}`)
        return await DockerEngine.#answers(env) ? true : undefined
      }, 60_000, 250)
    } catch (err) {
      await engine.close()
      throw new EngineUnavailableError(`dockerd did not start: ${(err as Error).message}`)
    }
    return engine
  }

  #owns (pid: number): boolean {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(this.#scratch!)
    } catch {
      return false
    }
  }

  static async #answers (env: NodeJS.ProcessEnv): Promise<boolean> {
    try {
      await run('docker', ['version', '--format', '{{.Server.Version}}'], { env, timeout: 10_000 })
      return true
    } catch {
      return false
    }
  }

  /** Runs a command (docker, docker-compose …) against this engine; its stdout, or an error with its stderr. */
  async run (command: string, args: string[], options: RunOptions = {}): Promise<string> {
    try {
      const { stdout } = await run(command, args, {
        env: { ...this.env, ...options.env },
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024
      })
      return stdout
    } catch (err) {
      const { stderr, killed } = err as { stderr?: string, killed?: boolean }
      throw new Error(`${command} ${args.join(' ')} ${killed ? 'timed out' : 'failed'}:\n${stderr?.trim() || String(err)}`)
    }
  }

  async docker (args: string[], options?: RunOptions): Promise<string> {
    return await this.run('docker', args, options)
  }

  /** Stops a dockerd started here (SIGTERM: it stops its containerd too), and removes what it left on the host. */
  async close (): Promise<void> {
    if (!this.#daemon || !this.#scratch) return
    const containerdPid = join(this.#scratch, 'exec', 'containerd', 'containerd.pid')
    const containerd = existsSync(containerdPid) ? Number(readFileSync(containerdPid, 'utf8')) : undefined
    const bridges = await this.#bridges()
    await this.#daemon.stop(30_000)
    // Still running only if dockerd had to be killed before it could stop it (checked to be ours by its arguments).
    if (containerd && this.#owns(containerd)) process.kill(containerd, 'SIGKILL')
    for (const dir of [this.#scratch, this.#dataRoot].filter(d => d !== undefined)) {
      for (const point of mountsUnder(dir)) await run('umount', ['-l', point]).catch(() => {})
    }
    rmSync(this.#scratch, { recursive: true, force: true })
    if (this.#dataRoot) rmSync(this.#dataRoot, { recursive: true, force: true })
    // dockerd leaves its networks' bridges (docker0 too, which is ours only if it was not there before).
    for (const name of bridges) {
      if (existsSync(`/sys/class/net/${name}`)) await run('ip', ['link', 'delete', name]).catch(() => {})
    }
    // dockerd removes a network's rules with the network, but none when it stops. What it added since open() and
    // is ours goes: rules naming our bridges, and, unless another dockerd runs now, the rest it added (see Owner).
    if (this.#rulesBefore) {
      await runCommands(undoCommands(this.#rulesBefore, await saveRuleset(), { bridges, alone: !dockerdRuns() }))
    }
  }

  /** The bridges of this engine's networks: docker0 if it made it, br-<id> for the others. */
  async #bridges (): Promise<Set<string>> {
    const names = new Set(this.#bridgeExisted ? [] : ['docker0'])
    const format = '{{.Id}} {{with index .Options "com.docker.network.bridge.name"}}{{.}}{{end}}'
    try {
      const ids = (await this.docker(['network', 'ls', '--quiet', '--no-trunc', '--filter', 'driver=bridge'], { timeoutMs: 10_000 }))
        .split('\n').filter(Boolean)
      if (ids.length === 0) return names
      for (const line of (await this.docker(['network', 'inspect', '--format', format, ...ids], { timeoutMs: 10_000 })).split('\n')) {
        const [id, name] = line.split(' ')
        if (id && name !== 'docker0') names.add(name || `br-${id.slice(0, 12)}`)
      }
    } catch {} // A dockerd that does not answer: docker0 only.
    return names
  }
}
