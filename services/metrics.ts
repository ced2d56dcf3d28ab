// What a replica counts for Prometheus: one registry per app (tests build several apps in one process), the
// process and Node metrics prom-client gathers itself, and this app's own. Every label takes a bounded set of
// values: route patterns (never the raw URL), methods, status codes, store operations; never a user or a session.
// Requests and store round trips are counted by their histograms' _count series alone: a labelled prom-client update
// costs about a microsecond (label check and series key each time), so the hot path records one observation per
// event, and a scrape does not copy the same numbers into a *_total counter either.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { RedisClient } from './redis.ts'

/** Answers take milliseconds: fine buckets there, a few up to the slowest that nginx waits for (3 s). */
const HTTP_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3]
/** One Redis round trip: sub-millisecond when healthy, up to the command timeout (500 ms by default) when not. */
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

type HttpLabel = 'route' | 'method' | 'status_code'
type StoreLabel = 'operation' | 'outcome'

export type StoreOutcome = 'ok' | 'error'

/** A counter without labels, on this registry. */
function counter (registry: Registry, name: string, help: string): Counter {
  return new Counter({ name, help, registers: [registry] })
}

export class Metrics {
  readonly registry = new Registry()
  #redis: RedisClient | undefined

  readonly httpDuration = new Histogram<HttpLabel>({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to its answer being sent, by route pattern (unmatched: no route), method and status code; _count: the requests answered',
    labelNames: ['route', 'method', 'status_code'],
    buckets: HTTP_BUCKETS,
    registers: [this.registry]
  })

  readonly storeDuration = new Histogram<StoreLabel>({
    name: 'session_store_operation_duration_seconds',
    help: 'Duration of session store round trips to Redis, by operation and outcome (error: failed or timed out, answered 503); _count: the round trips',
    labelNames: ['operation', 'outcome'],
    buckets: STORE_BUCKETS,
    registers: [this.registry]
  })

  readonly redisReady = new Gauge({
    name: 'redis_connection_ready',
    help: '1 while the Redis connection is ready for commands, 0 while it is not (commands then fail at once: 503)',
    registers: [this.registry],
    // Read at scrape time from the client itself: nothing to keep in step.
    collect: () => { this.redisReady.set(this.#redis?.status === 'ready' ? 1 : 0) }
  })

  readonly redisReconnects = counter(this.registry, 'redis_reconnects_total', 'Times the Redis connection was re-established after it had been lost')

  readonly logins = counter(this.registry, 'logins_total', 'Successful logins (a new session was created)')

  readonly logouts = counter(this.registry, 'logouts_total', 'Logouts that ended a session')

  readonly revocations = new Counter<'scope'>({
    name: 'session_revocations_total',
    help: 'Sessions ended from the sessions page: one at a time (scope="one") or by "log out everywhere" (scope="all")',
    labelNames: ['scope'],
    registers: [this.registry]
  })

  readonly loginsRateLimited = counter(this.registry, 'logins_rate_limited_total', 'Login attempts refused with 429 by the login rate limit')

  readonly crossSiteRefusals = counter(this.registry, 'cross_site_refusals_total', 'State-changing requests refused with 403 as cross-site')

  /** `defaultLabels`: on every series (the replica's name). */
  constructor (defaultLabels: Record<string, string> = {}) {
    this.registry.setDefaultLabels(defaultLabels)
    collectDefaultMetrics({ register: this.registry })
    // Present from the first scrape, so that rate() and absent() behave before the first event.
    for (const scope of ['one', 'all']) this.revocations.labels(scope).inc(0)
  }

  /** Follows a Redis client: its state for the gauge, and each time it gets a connection back. */
  watchRedis (redis: RedisClient): void {
    this.#redis = redis
    let wasReady = redis.status === 'ready'
    redis.on('ready', () => {
      if (wasReady) this.redisReconnects.inc()
      wasReady = true
    })
  }

  observeRequest (route: string, method: string, statusCode: number, seconds: number): void {
    this.httpDuration.observe({ route, method, status_code: statusCode }, seconds)
  }

  observeStore (operation: string, outcome: StoreOutcome, seconds: number): void {
    this.storeDuration.observe({ operation, outcome }, seconds)
  }
}
