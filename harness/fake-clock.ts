// A wall clock a test can step while a process runs, as NTP or `date -s` steps a machine's: the process runs with
// Debian's libfaketime preloaded (package faketime), which reads its offset from a file on every call. Only the
// wall clock moves: the monotonic clock stays real (FAKETIME_DONT_FAKE_MONOTONIC), as in a real step.
import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { findBinary } from './binaries.ts'

/** The library faketime(1) itself preloads (`$LIB`: the dynamic linker's own library directory, expanded by it). */
const LIBFAKETIME = '/usr/$LIB/faketime/libfaketime.so.1'

export class FakeClock {
  readonly file: string
  #offsetSeconds = 0

  /** A clock at real time, kept in `dir`. Throws, naming the package to install, without faketime. */
  constructor (dir: string) {
    findBinary('faketime')
    this.file = join(dir, 'faketime.rc')
    this.set(0)
  }

  /** Seconds ahead of real time (negative: behind). */
  get offsetSeconds (): number {
    return this.#offsetSeconds
  }

  /** Steps the clock to real time plus `seconds`, at once, in every process that runs on it. */
  set (seconds: number): void {
    // Whole, never half-written: the library reads the file on every call.
    writeFileSync(`${this.file}.new`, `${seconds < 0 ? '' : '+'}${seconds}\n`)
    renameSync(`${this.file}.new`, this.file)
    this.#offsetSeconds = seconds
  }

  /** The environment a process runs on this clock with. */
  env (): Record<string, string> {
    return {
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME_TIMESTAMP_FILE: this.file,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1'
    }
  }
}
