// Every response names the replica that served it (errors included), and each request leaves one log line.
import fp from 'fastify-plugin'

export default fp(async function observability (app) {
  const { replicaName } = app.config
  app.addHook('onRequest', (_request, reply, done) => {
    reply.header('x-served-by', replicaName)
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    // Health checks come every few seconds from Docker and balancers: at info they would bury the requests.
    const level = request.url.startsWith('/health/') ? 'debug' : 'info'
    // Below the configured level (the benchmark's warn, a busy site's): not even the line's object is built.
    if ((request.log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.(level) === false) return done()
    request.log[level]({
      method: request.method,
      url: request.url,
      statusCode: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10
    }, 'request')
    done()
  })
}, { name: 'observability', dependencies: ['config'] })
