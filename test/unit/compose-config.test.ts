// docker-compose.yml as a new user's shell gives it, with none of its variables set: every image and every build
// argument must still have a value (an empty NODE_IMAGE once stopped `docker-compose up --build` at a blank FROM).
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { parse } from 'yaml'
import { findBinary } from '../../harness/binaries.ts'
import { defaultImages } from '../../harness/docker/standins.ts'
import { PROJECT_ROOT } from '../../harness/paths.ts'

const run = promisify(execFile)

interface Service {
  image?: string
  build?: { args?: Record<string, string | null> }
}

/** `docker-compose config` of the working tree, in an environment holding nothing but PATH. */
async function resolved (profiles: string[]): Promise<Record<string, Service>> {
  const args = [...profiles.flatMap(profile => ['--profile', profile]), 'config']
  const { stdout } = await run(findBinary('docker-compose'), args, { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH } })
  return parse(stdout).services
}

t.test('with no variable set, no service has an empty image name or build argument', async t => {
  const services = await resolved(['sentinel', 'cluster', 'monitoring'])
  t.ok(Object.keys(services).length >= 16, 'every profile\'s services are there')
  for (const [name, service] of Object.entries(services)) {
    t.ok(service.image?.trim(), `${name}: image ${service.image}`)
    for (const [arg, value] of Object.entries(service.build?.args ?? {})) {
      t.ok(value?.trim(), `${name}: build argument ${arg}=${value}`)
    }
  }
})

t.test('the defaults are the official images, the same ones the Dockerfiles name for a plain docker build', async t => {
  // defaultImages() throws when a Dockerfile's ARG default differs from the compose file's.
  const official = defaultImages()
  const { redis, app, nginx } = await resolved([])
  t.equal(redis!.image, official.REDIS_IMAGE)
  t.equal(app!.build?.args?.NODE_IMAGE, official.NODE_IMAGE)
  t.equal(nginx!.build?.args?.NGINX_IMAGE, official.NGINX_IMAGE)
})

t.test('a variable that is set still wins', async t => {
  const { stdout } = await run(findBinary('docker-compose'), ['config'], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH, NODE_IMAGE: 'mirror.example/node:26-slim', REDIS_IMAGE: 'mirror.example/redis:8-alpine' }
  })
  const { redis, app } = parse(stdout).services as Record<string, Service>
  t.equal(app!.build?.args?.NODE_IMAGE, 'mirror.example/node:26-slim')
  t.equal(redis!.image, 'mirror.example/redis:8-alpine')
})
