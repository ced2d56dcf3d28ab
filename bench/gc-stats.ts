// Preloaded into a profiled replica (node --import, bench/profile.ts): records every garbage collection and, at
// exit, writes what each freed, so that the profile can say how much garbage a request leaves.
import { writeFileSync } from 'node:fs'
import { GCProfiler } from 'node:v8'

const out = process.env.BENCH_GC_STATS
if (out) {
  const profiler = new GCProfiler()
  profiler.start()
  process.on('exit', () => {
    const stats = profiler.stop()
    // performance.timeOrigin + performance.now(): the same clock as the samples' end (see profile.ts).
    writeFileSync(out, JSON.stringify(stats))
  })
}
