// The pages' stylesheet and script, served as files from services/public/ under /assets/. Registered outside the
// session scope (app.ts): an asset never reads a cookie or touches Redis.
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const ASSETS_PREFIX = '/assets/'

/**
 * services/public/, found from this file: beside it when run from source (or from a build that copied the folder
 * next to the compiled code, as the image does), else the source folder from dist/services/plugins/ (tsc copies
 * no assets).
 */
export function publicDir (): string {
  const candidates = [new URL('../public/', import.meta.url), new URL('../../../services/public/', import.meta.url)]
  const found = candidates.map(url => fileURLToPath(url)).find(dir => existsSync(dir))
  if (!found) throw new Error(`the pages' assets are missing: looked in ${candidates.map(url => fileURLToPath(url)).join(' and ')}`)
  return found
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
