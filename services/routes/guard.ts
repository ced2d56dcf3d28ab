// The one "not logged in" check: a preHandler for the scope of every route that needs a user.
import type { FastifyRequest } from 'fastify'
import { NotLoggedInError } from '../errors.ts'

export async function requireUser (request: FastifyRequest): Promise<void> {
  if (!request.session.user) throw new NotLoggedInError()
}
