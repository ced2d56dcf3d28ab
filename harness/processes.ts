// Child processes the harness starts: their output as lines, their exit as a promise, and a guarantee that
// none outlives the process that started it (an exit hook, installed with the first child, kills whatever is still
// running, by PID). Importing this module changes nothing in the process.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { scaled } from './timeouts.ts'

export type LineListener = (source: string, line: string, stream: 'stdout' | 'stderr') => void

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

const running = new Set<ManagedProcess>()
let exitHookInstalled = false
let signalsHandled = false

function killChildrenOnExit (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const p of running) {
      try { process.kill(p.pid, 'SIGKILL') } catch {}
    }
  })
}

/**
 * Makes SIGINT/SIGTERM/SIGHUP end this process through its exit hook, so children die with it. For test and
 * benchmark processes, called when they first start a stack (once, however often called); the start command
 * handles signals itself.
 */
export function exitWithChildrenOnSignals (): void {
  if (signalsHandled) return
  signalsHandled = true
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1)))
  }
}

export class ManagedProcess {
  readonly name: string
  readonly child: ChildProcess
  readonly pid: number
  readonly exited: Promise<Exit>
  /** The last lines of output, for error messages when something fails to start. */
  readonly tail: string[] = []
  readonly #listeners = new Set<LineListener>()

  /** `ipc`: a channel for messages from a Node child (process.send), e.g. the port a replica got. */
  constructor (name: string, command: string, args: string[], env: NodeJS.ProcessEnv, onLine?: LineListener, options: { ipc?: boolean, cwd?: string } = {}) {
    this.name = name
    killChildrenOnExit()
    this.child = spawn(command, args, { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe', ...(options.ipc ? ['ipc' as const] : [])] })
    // An IPC channel would otherwise keep this process alive as long as the child runs.
    this.child.channel?.unref()
    if (this.child.pid === undefined) throw new Error(`could not start ${command}`)
    this.pid = this.child.pid
    if (onLine) this.#listeners.add(onLine)
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: this.child[stream]! }).on('line', line => {
        this.tail.push(line)
        if (this.tail.length > 40) this.tail.shift()
        for (const listener of this.#listeners) listener(name, line, stream)
      })
    }
    running.add(this)
    this.exited = once(this.child, 'exit').then(([code, signal]) => {
      running.delete(this)
      return { code, signal } as Exit
    })
    // Spawn errors (ENOENT) also surface as a non-zero exit; keep them from being unhandled.
    this.child.on('error', err => this.tail.push(String(err)))
  }

  get alive (): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  onLine (listener: LineListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Resolves with the first line that matches, or rejects when the deadline passes or the process exits. */
  async waitForLine (pattern: RegExp, timeoutMs: number): Promise<string> {
    let stop = () => {}
    const found = new Promise<string>((resolve) => {
      stop = this.onLine((_source, line) => { if (pattern.test(line)) resolve(line) })
    })
    try {
      return await Promise.race([
        found,
        this.exited.then(exit => { throw new Error(`${this.name} exited (${exit.code ?? exit.signal}) before printing ${pattern}`) }),
        sleep(timeoutMs, undefined, { ref: false }).then(() => { throw new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms`) })
      ])
    } finally {
      stop()
    }
  }

  /**
   * Waits until `check` finds the process ready, or rejects with its last output when it exits first (polling
   * stops with it) or the deadline passes (then it is killed: nothing half-started is left behind).
   */
  async untilReady (what: string, check: () => Promise<true | undefined>, timeoutMs = scaled(15_000)): Promise<void> {
    const died = this.exited.then(exit => {
      throw new Error(`${this.name} exited (${exit.code ?? exit.signal}) while starting:\n${this.tail.join('\n')}`)
    })
    died.catch(() => {})
    const ready = pollUntil(what, async () => (this.alive ? await check() : false), timeoutMs)
    try {
      if (!await Promise.race([ready, died])) await died
    } catch (err) {
      await this.kill()
      throw err
    }
  }

  signal (signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal)
  }

  /** Asks it to stop (SIGTERM by default), then kills it if it has not exited within the grace time. */
  async stop (graceMs = scaled(10_000), signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    if (!this.alive) return await this.exited
    this.child.kill(signal)
    const exit = await Promise.race([this.exited, sleep(graceMs, null, { ref: false })])
    if (exit) return exit
    this.child.kill('SIGKILL')
    return await this.exited
  }

  async kill (): Promise<Exit> {
    if (this.alive) this.child.kill('SIGKILL')
    return await this.exited
  }
}

/** Polls `check` until it returns a value other than undefined, or throws when the deadline passes. */
export async function pollUntil<T> (what: string, check: () => Promise<T | undefined>, timeoutMs = scaled(10_000), intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (err) {
      lastError = err
    }
    await sleep(intervalMs)
  }
  const reason = lastError instanceof Error ? `: ${lastError.message}` : ''
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`)
}
