// The one scaling knob for deadlines: TIMEOUT_SCALE, validated.
import t from 'tap'
import { scaled, timeoutScale } from '../../harness/timeouts.ts'

t.test('unset or empty: deadlines as written', async t => {
  t.equal(timeoutScale({}), 1)
  t.equal(timeoutScale({ TIMEOUT_SCALE: '' }), 1)
  t.equal(scaled(15_000, 1), 15_000)
})

t.test('a scale multiplies every deadline, rounded up to a whole millisecond', async t => {
  t.equal(timeoutScale({ TIMEOUT_SCALE: '2.5' }), 2.5)
  t.equal(scaled(10_000, 2.5), 25_000)
  t.equal(scaled(5, 0.3), 2)
})

t.test('anything but a positive number is refused, with its value', async t => {
  for (const bad of ['0', '-1', 'fast', 'Infinity', 'NaN']) {
    t.throws(() => timeoutScale({ TIMEOUT_SCALE: bad }), new RegExp(`TIMEOUT_SCALE must be a positive number \\(got "${bad}"\\)`), bad)
  }
})

t.test('scaled() reads the environment when no scale is given', async t => {
  const before = process.env.TIMEOUT_SCALE
  t.teardown(() => { if (before === undefined) delete process.env.TIMEOUT_SCALE; else process.env.TIMEOUT_SCALE = before })
  process.env.TIMEOUT_SCALE = '3'
  t.equal(scaled(1000), 3000)
})
