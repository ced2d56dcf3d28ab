// One compose project of docker-compose.yml on an engine: `docker-compose` 1.x (Debian's) or the `docker compose`
// plugin, whichever is installed, under a project name of its own, and what it has on the engine.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { PROJECT_ROOT } from '../paths.ts'
import { type LineListener, ManagedProcess } from '../processes.ts'
import { type DockerEngine, EngineUnavailableError, INSTALL_COMMAND } from './engine.ts'

export interface Container {
  id: string
  name: string
  service: string
  number: number
  state: string
}

function composeCommand (env: NodeJS.ProcessEnv): string[] {
  for (const command of [['docker-compose'], ['docker', 'compose']]) {
    try {
      execFileSync(command[0]!, [...command.slice(1), 'version'], { env, stdio: 'ignore', timeout: 20_000 })
      return command
    } catch {}
  }
  throw new EngineUnavailableError(`neither docker-compose nor the docker compose plugin is installed: ${INSTALL_COMMAND}`)
}

export class ComposeProject {
  readonly name: string
  readonly #engine: DockerEngine
  readonly #env: NodeJS.ProcessEnv
  /** `docker-compose` or `docker compose`, whichever is installed. */
  readonly command: string[]

  /** `env`: the compose file's settings (image names, LB_PORT …) on top of the engine's environment. */
  constructor (engine: DockerEngine, name: string, env: NodeJS.ProcessEnv = {}) {
    this.name = name
    this.#engine = engine
    this.#env = { ...engine.env, ...env }
    this.command = composeCommand(this.#env)
  }

  /** docker-compose -p NAME -f docker-compose.yml ARGS…, from the project root; its stdout. */
  async compose (args: string[], options: { timeoutMs?: number, env?: NodeJS.ProcessEnv } = {}): Promise<string> {
    const [command, ...rest] = this.command
    return await this.#engine.run(command!, [...rest, '-p', this.name, '-f', join(PROJECT_ROOT, 'docker-compose.yml'), ...args], {
      cwd: PROJECT_ROOT,
      env: { ...this.#env, ...options.env },
      timeoutMs: options.timeoutMs
    })
  }

  /**
   * `docker-compose ARGS…` in the foreground, exactly as a user types it in the project root: no -p or -f, the
   * project's name given by COMPOSE_PROJECT_NAME. Ended by stop() (or by `down`, which stops what it follows).
   */
  attach (args: string[], onLine?: LineListener): ManagedProcess {
    const [command, ...rest] = this.command
    return new ManagedProcess('compose', command!, [...rest, ...args], { ...this.#env, COMPOSE_PROJECT_NAME: this.name }, onLine, { cwd: PROJECT_ROOT })
  }

  /** The project's containers, running or not. */
  async containers (): Promise<Container[]> {
    const format = '{{.ID}} {{.Names}} {{.State}} {{.Label "com.docker.compose.service"}} {{.Label "com.docker.compose.container-number"}}'
    const out = await this.#engine.docker(['ps', '-a', '--filter', `label=com.docker.compose.project=${this.name}`, '--format', format])
    return out.split('\n').filter(Boolean).map(line => {
      const [id = '', name = '', state = '', service = '', number = ''] = line.split(' ')
      return { id, name, state, service, number: Number(number) }
    })
  }

  async container (service: string, number: number): Promise<Container> {
    const found = (await this.containers()).find(c => c.service === service && c.number === number)
    if (!found) throw new Error(`no container ${service} #${number} in project ${this.name}`)
    return found
  }

  /** What the project still has on the engine: containers, networks and volumes (empty after `down -v`). */
  async leftovers (): Promise<string[]> {
    const label = `label=com.docker.compose.project=${this.name}`
    const names = async (kind: string[]) => (await this.#engine.docker([...kind, '--filter', label, '--format', '{{.Name}}'])).split('\n').filter(Boolean)
    return [
      ...(await this.containers()).map(c => `container ${c.name}`),
      ...(await names(['network', 'ls'])).map(n => `network ${n}`),
      ...(await names(['volume', 'ls'])).map(v => `volume ${v}`)
    ]
  }
}
