// Base images for docker-compose.yml where the official ones cannot be pulled (no registry, as on the CI machines):
// built from Debian's packages. A `debootstrap --variant=minbase` root file system is imported as a base image,
// and redis.Dockerfile, nginx.Dockerfile and node.Dockerfile beside this file build on it. Each image is tagged
// with a hash of what went into it, so an engine that has it (a kept data root) does not build it again.
//
// By hand, against the engine DOCKER_HOST names (or the default one):
//   npm run build && node dist/harness/docker/standins.js
// prints REDIS_IMAGE=… NGINX_IMAGE=… NODE_IMAGE=…, to put before `docker compose up --build`.
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isMain, PROJECT_ROOT } from '../paths.ts'
import { DockerEngine, EngineUnavailableError } from './engine.ts'

const HERE = join(PROJECT_ROOT, 'harness', 'docker')
// Debian testing (forky): nginx 1.30, Redis 8.0 and Node 24, close to the official images' versions (bookworm has
// nginx 1.22, Redis 7.0 and Node 18).
const SUITE = 'forky'
const DEBOOTSTRAP_SCRIPTS = '/usr/share/debootstrap/scripts'
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'

/** The compose file's image settings, as `docker compose` reads them from the environment. */
export interface ComposeImages {
  REDIS_IMAGE: string
  NGINX_IMAGE: string
  NODE_IMAGE: string
}

/**
 * The official images docker-compose.yml defaults to. The compose file is their one source; the Dockerfiles' ARG
 * defaults (for a plain `docker build`) must name the same ones, or this throws.
 */
export function defaultImages (): ComposeImages {
  const compose = readFileSync(join(PROJECT_ROOT, 'docker-compose.yml'), 'utf8')
  const fromCompose = (name: string) => new RegExp(`\\$\\{${name}:-([^}]+)\\}`).exec(compose)?.[1]
  const images = { REDIS_IMAGE: fromCompose('REDIS_IMAGE'), NGINX_IMAGE: fromCompose('NGINX_IMAGE'), NODE_IMAGE: fromCompose('NODE_IMAGE') }
  if (!images.REDIS_IMAGE || !images.NGINX_IMAGE || !images.NODE_IMAGE) throw new Error('docker-compose.yml no longer names its default images')
  for (const [dockerfile, name] of [['Dockerfile', 'NODE_IMAGE'], [join('loadbalancer', 'Dockerfile'), 'NGINX_IMAGE']] as const) {
    const arg = new RegExp(`^ARG ${name}=(\\S+)$`, 'm').exec(readFileSync(join(PROJECT_ROOT, dockerfile), 'utf8'))?.[1]
    if (arg !== images[name]) throw new Error(`${dockerfile}'s ARG ${name}=${arg} differs from docker-compose.yml's default ${images[name]}`)
  }
  return images as ComposeImages
}

/** The Debian mirror this machine's apt uses (deb822 sources first), for debootstrap: it serves every suite. */
export function debianMirror (): string {
  const deb822 = '/etc/apt/sources.list.d/debian.sources'
  if (existsSync(deb822)) {
    const uri = readFileSync(deb822, 'utf8').split(/\n\s*\n/).map(stanza => /^URIs:\s*(\S+)/m.exec(stanza)?.[1])
      .find(uri => uri && !uri.includes('security'))
    if (uri) return uri
  }
  const list = existsSync('/etc/apt/sources.list') ? readFileSync('/etc/apt/sources.list', 'utf8') : ''
  const uri = [...list.matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s/gm)].map(m => m[1]!).find(uri => !uri.includes('security'))
  return uri ?? 'http://deb.debian.org/debian'
}

/** debootstrap's script for SUITE: a testing suite newer than this machine's debootstrap knows is bootstrapped as sid. */
function debootstrapScript (): string[] {
  return existsSync(join(DEBOOTSTRAP_SCRIPTS, SUITE)) ? [] : [join(DEBOOTSTRAP_SCRIPTS, 'sid')]
}

function hash (...parts: Array<string | Buffer>): string {
  const h = createHash('sha256')
  for (const part of parts) h.update(part).update('\0')
  return h.digest('hex').slice(0, 12)
}

/** Every stand-in carries it (set on the base, inherited by the rest), whatever name it is tagged with. */
const STANDIN_LABEL = 'redis-sessions.standin'

/** An image of that name that is not one of our stand-ins tagged with it (a kept data root may hold those). */
async function isOfficial (engine: DockerEngine, image: string): Promise<boolean> {
  const label = await engine.docker(['image', 'inspect', '--format', `{{index .Config.Labels "${STANDIN_LABEL}"}}`, image]).catch(() => undefined)
  return label !== undefined && label.trim() !== 'true'
}

async function exists (engine: DockerEngine, image: string): Promise<boolean> {
  return await engine.docker(['image', 'inspect', '--format', '{{.Id}}', image]).then(() => true, () => false)
}

async function buildBase (engine: DockerEngine, tag: string, log: (line: string) => void): Promise<void> {
  if (process.getuid?.() !== 0) throw new EngineUnavailableError('building the stand-in base image (debootstrap) needs root')
  const rootfs = mkdtempSync(join(tmpdir(), 'standin-rootfs-'))
  try {
    const mirror = debianMirror()
    log(`debootstrap --variant=minbase ${SUITE} from ${mirror} …`)
    await engine.run('debootstrap', ['--variant=minbase', SUITE, rootfs, mirror, ...debootstrapScript()], { timeoutMs: 600_000 })
    // A testing suite's Release file expires within weeks; a mirror frozen at a snapshot serves it expired, and the
    // images' `apt-get update` would refuse it.
    writeFileSync(join(rootfs, 'etc', 'apt', 'apt.conf.d', '99snapshot-mirror'), 'Acquire::Check-Valid-Until "false";\n')
    // The downloaded packages and lists are not needed in the image: each Dockerfile runs apt-get update.
    await engine.run('bash', ['-o', 'pipefail', '-c',
      'tar -C "$1" --exclude=./var/cache/apt/archives/*.deb --exclude=./var/lib/apt/lists/* -c . | docker import --change "LABEL $3=true" - "$2"',
      'import', rootfs, tag, STANDIN_LABEL], { timeoutMs: 300_000 })
  } finally {
    rmSync(rootfs, { recursive: true, force: true })
  }
}

/** Builds what is missing and returns the stand-ins' names, to pass to compose as its image settings. */
export async function buildStandIns (engine: DockerEngine, log: (line: string) => void = console.error): Promise<ComposeImages> {
  if (!existsSync(CA_BUNDLE)) throw new Error(`${CA_BUNDLE} is missing: the stand-in Node image copies it for npm`)
  const base = `redis-sessions-standin/base:${SUITE}-${hash(debianMirror())}`
  if (!await exists(engine, base)) await buildBase(engine, base, log)

  const file = (name: string) => readFileSync(join(HERE, name))
  const images = {
    REDIS_IMAGE: `redis-sessions-standin/redis:${hash(base, file('redis.Dockerfile'))}`,
    NGINX_IMAGE: `redis-sessions-standin/nginx:${hash(base, file('nginx.Dockerfile'), file('nginx-entrypoint.sh'))}`,
    NODE_IMAGE: `redis-sessions-standin/node:${hash(base, file('node.Dockerfile'), readFileSync(CA_BUNDLE))}`
  }
  const build = async (image: string, dockerfile: string, context: string) => {
    if (await exists(engine, image)) return
    log(`building ${image} (${dockerfile}) …`)
    await engine.docker(['build', '-q', '--build-arg', `BASE=${base}`, '-f', join(HERE, dockerfile), '-t', image, context], { timeoutMs: 600_000 })
  }
  await build(images.REDIS_IMAGE, 'redis.Dockerfile', HERE)
  await build(images.NGINX_IMAGE, 'nginx.Dockerfile', HERE)
  // The Node image's context: this machine's CA bundle, for npm behind TLS inspection.
  const context = mkdtempSync(join(tmpdir(), 'standin-node-'))
  try {
    cpSync(CA_BUNDLE, join(context, 'ca-certificates.crt'))
    await build(images.NODE_IMAGE, 'node.Dockerfile', context)
  } finally {
    rmSync(context, { recursive: true, force: true })
  }
  return images
}

/**
 * The compose file's image settings: each official image when the engine has it or can pull it, and a stand-in
 * for each one it cannot.
 */
export async function composeImages (engine: DockerEngine, log: (line: string) => void = console.error): Promise<ComposeImages> {
  const official = defaultImages()
  const missing: string[] = []
  for (const image of Object.values(official)) {
    if (await isOfficial(engine, image)) continue
    const pulled = await engine.docker(['pull', '-q', image], { timeoutMs: 120_000 }).then(() => true, () => false)
    if (!pulled) missing.push(image)
  }
  if (missing.length === 0) return official
  log(`cannot pull ${missing.join(', ')}: using stand-ins built from Debian's packages`)
  const standIns = await buildStandIns(engine, log)
  const pick = (name: keyof ComposeImages) => missing.includes(official[name]) ? standIns[name] : official[name]
  return { REDIS_IMAGE: pick('REDIS_IMAGE'), NGINX_IMAGE: pick('NGINX_IMAGE'), NODE_IMAGE: pick('NODE_IMAGE') }
}

/**
 * Tags each stand-in in `images` with the official name it replaces, so that the compose file runs as typed, with
 * no image variable set. Only for an engine of the test's own: on anyone else's it would shadow the real images.
 */
export async function tagAsOfficial (engine: DockerEngine, images: ComposeImages): Promise<void> {
  if (!engine.owned) throw new Error('stand-ins are tagged with the official names only on a private engine')
  const official = defaultImages()
  for (const name of Object.keys(official) as Array<keyof ComposeImages>) {
    if (images[name] !== official[name]) await engine.docker(['tag', images[name], official[name]])
  }
}

if (isMain(import.meta.url)) {
  try {
    const engine = await DockerEngine.open({ start: false })
    const images = await buildStandIns(engine)
    console.log(Object.entries(images).map(([k, v]) => `${k}=${v}`).join(' '))
  } catch (err) {
    console.error((err as Error).message)
    process.exitCode = 1
  }
}
