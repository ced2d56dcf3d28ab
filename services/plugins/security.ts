// Security headers on every answer (helmet's), and no state-changing request from another site.
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { CrossSiteError } from '../errors.ts'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Why a request must be refused as cross-site, or undefined. Browsers say where a request comes from
 * (Sec-Fetch-Site; Origin on every POST of older ones), so no token is needed: nothing to store per session,
 * and login, which has no session yet, is covered too. A request with neither header is not from a browser,
 * so it carries no cookie a victim's browser added: curl and scripts are let through.
 */
export function crossSiteReason (request: FastifyRequest): string | undefined {
  const site = request.headers['sec-fetch-site']
  if (site !== undefined) return site === 'same-origin' || site === 'none' ? undefined : `Sec-Fetch-Site: ${site}`
  const origin = request.headers.origin
  if (origin === undefined) return undefined
  return origin === `${request.protocol}://${request.host}` ? undefined : `Origin: ${origin}`
}

/**
 * The headers helmet sets, worked out once by running its middleware against a recorder. (@fastify/helmet
 * rebuilds the middleware, CSP parsing included, on every request: a few per cent of a replica's CPU.)
 */
export function securityHeaders (options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const recorder = { setHeader: (name: string, value: string) => { headers[name.toLowerCase()] = value }, removeHeader: () => {} }
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, () => {})
  return headers
}

export default fp(async function security (app) {
  const headers = securityHeaders({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        // The pages' stylesheet and script are files of this site (plugins/assets.ts): nothing inline runs.
        styleSrc: ["'self'"],
        scriptSrc: ["'self'"],
        // The watch page's requests to /.
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"]
      }
    }
  })

  // HSTS means something only over HTTPS (browsers ignore it over HTTP, RFC 6797 §8.1), and over plain HTTP it
  // only advertises a policy the site may not have: sent when the user's request was HTTPS (nginx says so).
  const { 'strict-transport-security': hsts, ...always } = headers

  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(always)
    if (hsts !== undefined && request.protocol === 'https') reply.header('strict-transport-security', hsts)
    const reason = SAFE_METHODS.has(request.method) ? undefined : crossSiteReason(request)
    if (reason === undefined) return done()
    request.log.warn({ reason }, 'cross-site request refused')
    request.server.metrics?.crossSiteRefusals.inc()
    done(new CrossSiteError())
  })
}, { name: 'security' })
