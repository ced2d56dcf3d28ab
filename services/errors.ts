// Every error a replica answers with on purpose, in one table (as Fastify keeps its own in lib/errors.js).
// The status code travels with the error; the error handler (app.ts) turns it into a page.
import createError from '@fastify/error'
import { MAX_MARKS } from './username.ts'
import { TEXT } from './views.ts'

export const USERNAME_RULE = `A username is 1 to 64 letters (any script) or digits, each with at most ${MAX_MARKS} accents or other marks, ` +
  'with . _ @ - and single spaces inside, and nothing invisible'

/** A Redis failure or timeout: the request cannot be served now, and nothing was half-written. */
export const SessionStoreUnavailableError = createError('SESSION_STORE_UNAVAILABLE', 'The session store is unavailable; please try again shortly', 503)
export const NotLoggedInError = createError('NOT_LOGGED_IN', TEXT.notLoggedIn, 401)
export const NoSuchSessionError = createError('NO_SUCH_SESSION', 'No such session', 404)
export const CrossSiteError = createError('CROSS_SITE_REFUSED', 'Cross-site request refused', 403)
export const InvalidUsernameError = createError('INVALID_USERNAME', USERNAME_RULE, 400)
/** A login request id reused: for another user (a replay), or after the session it made was ended. */
export const LoginConflictError = createError('LOGIN_CONFLICT', 'This login request was already used; please log in again', 409)
