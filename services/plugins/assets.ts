// The pages' stylesheet and script, served as files from services/public/ under /assets/. Registered outside the
// session scope (app.ts): an asset never reads a cookie or touches Redis.
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const ASSETS_PREFIX = '/assets/'

/** services/public/ beside this code: the source folder, or its copy in dist/ (`npm run build` copies it; tsc does not). */
export function publicDir (): string {
  const dir = fileURLToPath(new URL('../public/', import.meta.url))
  if (!existsSync(dir)) throw new Error(`the pages' stylesheet and script are missing: no ${dir} (npm run build copies services/public there)`)
  return dir
}

export default async function assets (app: FastifyInstance): Promise<void> {
  await app.register(fastifyStatic, {
    root: publicDir(),
    prefix: ASSETS_PREFIX,
    // One route per file, listed at start-up: an unknown name is the site's own 404, with no file-system lookup.
    wildcard: false,
    index: false,
    decorateReply: false,
    // Not immutable: the names carry no version, so after a deploy a browser revalidates within the hour (ETag).
    maxAge: '1h'
  })
}
