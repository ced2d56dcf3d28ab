// The compose test's stack: a Docker engine (the one that answers, or a private dockerd), the base images (the
// official ones, or stand-ins built from Debian's packages), and one compose project of the working tree,
// published on a free loopback port. Everything is removed when the test ends, pass or fail.
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { ComposeProject } from '../../harness/docker/compose.ts'
import { DockerEngine, EngineUnavailableError } from '../../harness/docker/engine.ts'
import { composeImages } from '../../harness/docker/standins.ts'
import { freePort } from '../../harness/ports.ts'
import { exitWithChildrenOnSignals } from '../../harness/processes.ts'

exitWithChildrenOnSignals()

/** The profiles a test may start: compose v1 sees only the services of the profiles named, `down` included. */
const PROFILES = ['--profile', 'sentinel', '--profile', 'cluster']

export interface ComposeStack {
  engine: DockerEngine
  project: ComposeProject
  /** nginx, as published on loopback. */
  url: string
  /** nginx's HTTPS listener, as published on loopback (a self-signed certificate it made itself). */
  httpsUrl: string
}

/**
 * Brings the stack up, or skips `t` on a developer machine that cannot (no engine and not root), saying why. In
 * CI (CI=true) nothing is skipped: an engine that cannot be had fails the test.
 * COMPOSE_TEST_DATA_ROOT keeps a private dockerd's images there across runs (stand-ins are then built once).
 */
export async function startComposeStack (t: Test, env: NodeJS.ProcessEnv = {}): Promise<ComposeStack | undefined> {
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
  // Down before the engine stops; the project exists once the images do.
  const made: { project?: ComposeProject } = {}
  t.teardown(async () => {
    const { project } = made
    if (project) {
      if (!t.passing()) {
        const logs = await project.compose([...PROFILES, 'logs', '--no-color', '--tail', '40']).catch(err => String(err))
        t.comment(`last compose output:\n${logs}`)
      }
      await project.compose([...PROFILES, 'down', '-v', '--remove-orphans', '--timeout', '20'], { timeoutMs: 180_000 })
        .catch(err => t.comment(`down failed: ${String(err)}`))
    }
    await engine.close()
  })

  const images = await composeImages(engine, line => t.comment(line))
  const port = await freePort()
  const httpsPort = await freePort()
  const project = made.project = new ComposeProject(engine, `rsr-${randomBytes(4).toString('hex')}`, {
    ...images,
    LB_PORT: `127.0.0.1:${port}`,
    LB_HTTPS_PORT: `127.0.0.1:${httpsPort}`,
    ...env
  })
  const started = performance.now()
  await project.compose(['up', '-d', '--build'], { timeoutMs: 900_000 })
  t.comment(`compose up --build: ${Math.round((performance.now() - started) / 1000)} s (images: ${Object.values(images).join(', ')})`)
  return { engine, project, url: `http://127.0.0.1:${port}`, httpsUrl: `https://127.0.0.1:${httpsPort}` }
}
