// The configuration, read once at the edge (config.ts), decorated onto the app: every plugin and route reads the
// settings it needs from `app.config` rather than having them threaded through its options.
import fp from 'fastify-plugin'
import type { Config } from '../config.ts'

declare module 'fastify' {
  interface FastifyInstance {
    config: Readonly<Config>
  }
}

export default fp<{ config: Config }>(async function configPlugin (app, { config }) {
  app.decorate('config', config)
}, { name: 'config' })
