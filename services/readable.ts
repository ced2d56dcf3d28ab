// Times and user agents as a person reads them: "2 minutes ago", "Chrome on Linux".
import Bowser from 'bowser'

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' })
const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [['day', 86_400_000], ['hour', 3_600_000], ['minute', 60_000], ['second', 1000]]

/** "2 minutes ago", "in 3 hours", "now": the largest whole unit, rounded down. */
export function timeAgo (ms: number, now: number): string {
  const diff = ms - now
  for (const [unit, size] of UNITS) {
    if (Math.abs(diff) >= size || unit === 'second') return relative.format(Math.trunc(diff / size), unit)
  }
  return ''
}

/** "2026-11-23 17:21:56 UTC": the exact time, for a hover. */
export function exactTime (ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')
}

/** "Chrome on Linux", "Safari on iOS"; for what no parser knows (curl, scripts), the agent's first word. */
export function deviceName (ua: string): string {
  if (!ua) return 'Unknown device'
  const { browser, os } = Bowser.parse(ua)
  if (browser.name && os.name) return `${browser.name} on ${os.name}`
  if (browser.name) return browser.name
  return ua.split(' ', 1)[0]!.slice(0, 40)
}
