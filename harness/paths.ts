// Where things are, whether this code runs compiled (dist/) or as .ts under Node's type stripping.
import { existsSync } from 'node:fs'
import { dirname, extname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = fileURLToPath(import.meta.url)

function findRoot (dir: string): string {
  if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'loadbalancer'))) return dir
  const parent = dirname(dir)
  if (parent === dir) throw new Error('cannot find the project root (package.json beside loadbalancer/)')
  return findRoot(parent)
}

export const PROJECT_ROOT = findRoot(dirname(here))

/** Whether the module at `moduleUrl` (its import.meta.url) is the one node was started with, rather than imported. */
export function isMain (moduleUrl: string): boolean {
  return process.argv[1] !== undefined && moduleUrl === pathToFileURL(process.argv[1]).href
}

/** The replica entry point beside this build: dist/services/server.js, or services/server.ts from source. */
export const SERVER_ENTRY = fileURLToPath(new URL(`../services/server${extname(here)}`, import.meta.url))

/** Preloaded into every replica the harness starts: reports the port a replica on port 0 got (report-port.ts). */
export const REPORT_PORT_PRELOAD = fileURLToPath(new URL(`./report-port${extname(here)}`, import.meta.url))

/** The benchmark's replica: the product's, plus the whole-JSON comparison store under /blob. */
export const BENCH_REPLICA_ENTRY = fileURLToPath(new URL(`../bench/replica${extname(here)}`, import.meta.url))

/**
 * Scratch space for local runs (Redis data, nginx config and logs, the launcher's pid); ignored by git. RUN_DIR
 * moves it: a test's `npm start` must not take over a developer's running one's pid file.
 */
export const RUN_DIR = process.env.RUN_DIR ? resolve(process.env.RUN_DIR) : join(PROJECT_ROOT, '.run')

/** The one nginx config (loadbalancer/), rendered by Docker's nginx image or by harness/nginx-config.ts. */
export const TEMPLATE_PATH = join(PROJECT_ROOT, 'loadbalancer', 'nginx.conf.template')

/** `npm start` writes its pid here while it runs; `npm run restart:rolling` signals it. */
export const LAUNCHER_PID_FILE = join(RUN_DIR, 'launcher.pid')

/** `npm start` writes each step of a rolling restart here, ending with a `done` or `failed` line. */
export const ROLLING_RESTART_LOG = join(RUN_DIR, 'rolling-restart.log')
