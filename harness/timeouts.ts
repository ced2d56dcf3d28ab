// One knob for every deadline the harness and the tests wait on, in the spirit of Node's own platformTimeout():
// a slow or shared machine sets TIMEOUT_SCALE=3 rather than editing numbers. Deadlines only: a figure that is
// itself asserted (a 503 within a second, expiry after 1.5 s) is never scaled.

/** TIMEOUT_SCALE read from `env`: a positive number, 1 when unset. */
export function timeoutScale (env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.TIMEOUT_SCALE
  if (raw === undefined || raw === '') return 1
  const scale = Number(raw)
  if (!Number.isFinite(scale) || scale <= 0) throw new Error(`TIMEOUT_SCALE must be a positive number (got "${raw}")`)
  return scale
}

/** `ms` times TIMEOUT_SCALE, rounded up to a whole millisecond. */
export function scaled (ms: number, scale = timeoutScale()): number {
  return Math.ceil(ms * scale)
}
