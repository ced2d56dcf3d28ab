// The compose test's engine: the one that answers, or a private dockerd; the base images (the official ones, or
// stand-ins built from Debian's packages); and compose projects of the working tree, each published on free
// loopback ports. Every project is brought down and the engine closed when the test ends, pass or fail.
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { Browser } from '../../harness/client.ts'
import { ComposeProject } from '../../harness/docker/compose.ts'
import { DockerEngine, EngineUnavailableError } from '../../harness/docker/engine.ts'
import { type ComposeImages, composeImages, defaultImages, tagAsOfficial } from '../../harness/docker/standins.ts'
import { freePort } from '../../harness/ports.ts'
import { exitWithChildrenOnSignals, type ManagedProcess } from '../../harness/processes.ts'

exitWithChildrenOnSignals()

/** The profiles a test may start: compose v1 sees only the services of the profiles named, `down` included. */
const PROFILES = ['--profile', 'sentinel', '--profile', 'cluster']
const IMAGE_VARIABLES = ['REDIS_IMAGE', 'NGINX_IMAGE', 'NODE_IMAGE'] as const

export interface ComposeStack {
  project: ComposeProject
  /** nginx, as published on loopback. */
  url: string
  /** nginx's HTTPS listener, as published on loopback (a self-signed certificate it made itself). */
  httpsUrl: string
}

export interface ComposeEngine {
  engine: DockerEngine
  /** The image settings that work on this engine: the official names, or stand-ins' for those it cannot pull. */
  images: ComposeImages
  /**
   * A new project on free loopback ports. `env` on top of the engine's environment; an image variable set to
   * undefined is removed from it (the developer's shell may have one).
   */
  project: (env?: NodeJS.ProcessEnv) => Promise<ComposeStack>
  /**
   * The README's quick start, `docker-compose up --build` in the foreground, with no image variable set: stand-ins
   * are first tagged with the official names on a private engine. Resolves once nginx serves a replica.
   */
  upAsTyped: (env?: NodeJS.ProcessEnv) => Promise<ComposeStack & { up: ManagedProcess }>
}

/**
 * The engine and images, or undefined (and `t` skipped) on a developer machine that cannot have one (no engine and
 * not root), saying why. In CI (CI=true) nothing is skipped: an engine that cannot be had fails the test.
 * COMPOSE_TEST_DATA_ROOT keeps a private dockerd's images there across runs (stand-ins are then built once).
 */
export async function composeEngine (t: Test): Promise<ComposeEngine | undefined> {
  let engine: DockerEngine
  try {
    engine = await DockerEngine.open({ dataRoot: process.env.COMPOSE_TEST_DATA_ROOT || undefined })
  } catch (err) {
    if (err instanceof EngineUnavailableError && process.env.CI !== 'true' && process.getuid?.() !== 0) {
      t.plan(0, `skipped: the compose test needs a Docker engine: ${err.message}`)
      return undefined
    }
    throw err
  }
  const projects: ComposeProject[] = []
  const attached: ManagedProcess[] = []
  // Every project down before the engine stops.
  t.teardown(async () => {
    for (const project of projects) {
      if (!t.passing()) {
        const logs = await project.compose([...PROFILES, 'logs', '--no-color', '--tail', '40']).catch(err => String(err))
        t.comment(`last compose output of ${project.name}:\n${logs}`)
      }
      await project.compose([...PROFILES, 'down', '-v', '--remove-orphans', '--timeout', '20'], { timeoutMs: 180_000 })
        .catch(err => t.comment(`down failed: ${String(err)}`))
    }
    // `down` stopped what a foreground `up` followed, so it has exited or is about to.
    for (const up of attached) await up.stop(20_000)
    await engine.close()
  })

  const images = await composeImages(engine, line => t.comment(line))

  const project = async (env: NodeJS.ProcessEnv = {}): Promise<ComposeStack> => {
    const port = await freePort()
    const httpsPort = await freePort()
    const project = new ComposeProject(engine, `rsr-${randomBytes(4).toString('hex')}`, {
      ...Object.fromEntries(IMAGE_VARIABLES.map(name => [name, undefined])),
      LB_PORT: `127.0.0.1:${port}`,
      LB_HTTPS_PORT: `127.0.0.1:${httpsPort}`,
      ...env
    })
    projects.push(project)
    return { project, url: `http://127.0.0.1:${port}`, httpsUrl: `https://127.0.0.1:${httpsPort}` }
  }

  const upAsTyped = async (env: NodeJS.ProcessEnv = {}) => {
    const official = defaultImages()
    const substituted = IMAGE_VARIABLES.filter(name => images[name] !== official[name])
    const variables: NodeJS.ProcessEnv = {}
    if (substituted.length > 0 && engine.owned) {
      await tagAsOfficial(engine, images)
      t.comment(`the stand-ins tagged ${substituted.map(name => official[name]).join(', ')} in the test's own engine`)
    } else if (substituted.length > 0) {
      // Someone else's engine: tagging would shadow their images, so the variables are passed instead.
      for (const name of substituted) variables[name] = images[name]
      t.comment(`an engine of someone else's without ${substituted.map(name => official[name]).join(', ')}: passing ${substituted.join(', ')}`)
    }
    const stack = await project({ ...env, ...variables })
    const started = performance.now()
    const up = stack.project.attach(['up', '--build'])
    attached.push(up)
    t.comment(`${[...stack.project.command, 'up', '--build'].join(' ')}, image variables: ${Object.keys(variables).join(', ') || 'none'} …`)
    await up.untilReady('nginx to serve a replica', async () =>
      /^app-\d+$/.test((await new Browser(stack.url).get('/')).servedBy ?? '') ? true : undefined, 900_000)
    t.comment(`up --build: serving after ${Math.round((performance.now() - started) / 1000)} s`)
    return { ...stack, up }
  }

  return { engine, images, project, upAsTyped }
}
