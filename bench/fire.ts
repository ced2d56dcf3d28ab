// One autocannon run as a promise, and what it answered that was not expected: shared by the benchmark's tools.
import autocannon, { type Options, type Result } from 'autocannon'

export async function fire (options: Options): Promise<Result> {
  return await new Promise((resolve, reject) => {
    autocannon(options, (err, result) => (err ? reject(err) : resolve(result)))
  })
}

/** Answers with another status than `expected` (autocannon counts them per status code). */
export function unexpectedAnswers (result: Result, expected: number): number {
  const codes = (result as Result & { statusCodeStats?: Record<string, { count?: number }> }).statusCodeStats ?? {}
  return Object.entries(codes).filter(([code]) => Number(code) !== expected).reduce((n, [, v]) => n + (v.count ?? 0), 0)
}
