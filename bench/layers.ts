// Which layer of the stack a CPU profile's frame belongs to (bench/profile.ts): by the file its function is in;
// a native frame (no file: a system call, a hash, a buffer copy) belongs to the layer that called it.

export interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string }
  children?: number[]
}

const LAYERS: Array<[RegExp, string]> = [
  [/\/node_modules\/(@fastify\/session|safe-stable-stringify)\//, '@fastify/session (incl. its change hash)'],
  [/\/node_modules\/(@fastify\/cookie|cookie-signature|cookie)\//, '@fastify/cookie (parse, HMAC verify, Set-Cookie)'],
  [/\/node_modules\/(ioredis|@ioredis\/[^/]+|redis-parser|redis-errors|denque|standard-as-callback|cluster-key-slot)\//, 'ioredis (encode EVALSHA, parse reply)'],
  [/\/node_modules\/(pino|pino-std-serializers|sonic-boom|fast-redact|@pinojs\/[^/]+|thread-stream|on-exit-leak-free)\//, 'pino (logging)'],
  [/\/node_modules\/(prom-client|tdigest|bintrees)\//, 'prom-client (metrics)'],
  [/\/node_modules\/(fastify|find-my-way|avvio|light-my-request|fast-json-stringify|@fastify\/[^/]+|fast-querystring|fast-decode-uri-component|toad-cache|process-warning|rfdc|secure-json-parse|abstract-logging|fastify-plugin|ret|safe-regex2|fast-uri)\//, 'fastify (routing, hooks, reply)'],
  [/\/(dist\/)?services\/session-store\//, 'this project: session store + adapter'],
  [/\/(dist\/)?services\//, 'this project: app, plugins, routes, views'],
  [/\/(dist\/)?bench\//, 'the benchmark\'s routes'],
  [/^node:internal\/crypto/, 'node: crypto'],
  [/^node:(_http_|http$|internal\/http|internal\/streams|stream|net$|internal\/net|internal\/stream_base|internal\/js_stream|events$|internal\/timers|timers)/, 'node: HTTP, sockets, streams, timers'],
  [/^node:/, 'node: other (buffers, promises, ticks)']
]

/** The layer a frame's own time counts to; `parentLayer` is asked only for a frame without a file. */
export function layerOf (node: ProfileNode, parentLayer: () => string | undefined): string {
  const { functionName, url } = node.callFrame
  if (functionName === '(idle)') return 'idle'
  if (functionName === '(garbage collector)') return 'GC'
  if (functionName === '(program)') return 'V8 / native, unattributed'
  if (functionName === '(root)') return 'V8 / native, unattributed'
  if (url === '') return parentLayer() ?? 'V8 / native, unattributed'
  for (const [pattern, name] of LAYERS) if (pattern.test(url)) return name
  return 'other'
}
