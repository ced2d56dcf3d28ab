// Times and devices as /sessions shows them.
import t from 'tap'
import { deviceName, exactTime, timeAgo } from '../../services/readable.ts'

t.test('times: the largest whole unit, in words', async t => {
  const now = Date.parse('2026-11-23T17:24:10.000Z')
  t.equal(timeAgo(now, now), 'now')
  t.equal(timeAgo(now - 12_400, now), '12 seconds ago')
  t.equal(timeAgo(now - 2 * 60_000 - 59_000, now), '2 minutes ago', 'rounded down: 2 min 59 s is 2 minutes')
  t.equal(timeAgo(now - 5 * 3_600_000, now), '5 hours ago')
  t.equal(timeAgo(now - 86_400_000, now), 'yesterday')
  t.equal(timeAgo(now + 30 * 60_000, now), 'in 30 minutes')
  t.equal(exactTime(Date.parse('2026-11-23T17:21:56.114Z')), '2026-11-23 17:21:56 UTC')
})

t.test('devices: browser on system, or what the agent calls itself', async t => {
  t.equal(deviceName('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'), 'Chrome on Linux')
  t.equal(deviceName('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1'), 'Safari on iOS')
  t.equal(deviceName('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0'), 'Firefox on Windows')
  t.equal(deviceName('curl/8.5.0'), 'curl/8.5.0')
  t.equal(deviceName(''), 'Unknown device')
})
