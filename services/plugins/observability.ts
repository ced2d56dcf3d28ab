// Every response names the replica that served it (errors included), and each request leaves one log line.
import fp from 'fastify-plugin'

export default fp<{ replicaName: string }>(async function observability (app, { replicaName }) {
  app.addHook('onRequest', (_request, reply, done) => {
    reply.header('x-served-by', replicaName)
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    request.log.info({
      method: request.method,
      url: request.url,
      statusCode: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10
    }, 'request')
    done()
  })
}, { name: 'observability' })
