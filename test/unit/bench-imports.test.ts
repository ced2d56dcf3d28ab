// The benchmark tools run only when started: importing one (a test, another tool) starts nothing and prints
// nothing, and hands over a function instead.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'

const TOOLS = { 'redis-topologies': 'compareRedisTopologies', 'metrics-cost': 'measureMetricsCost', profile: 'profileReplica', cpu: 'cpuSample' }

t.test('importing a benchmark tool has no effect but its exports', async t => {
  const urls = Object.keys(TOOLS).map(name => new URL(`../../bench/${name}.js`, import.meta.url).href)
  // A process of its own: what an import does shows in its output, its children and its exit.
  const script = `const names = []
for (const url of ${JSON.stringify(urls)}) names.push(...Object.entries(await import(url)).filter(([, v]) => typeof v === 'function').map(([k]) => k))
console.log(names.join(' '))`
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 })
  t.equal(stderr, '', 'nothing printed')
  const exported = stdout.trim().split(' ')
  for (const name of Object.values(TOOLS)) t.ok(exported.includes(name), `${name} exported`)
})
