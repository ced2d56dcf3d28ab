// The performance tables in docs/ are what `npm run docs:tables` renders from bench/results/: a new reference
// run, or a change to how tables are rendered, fails here until the pages are regenerated.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { generatedPages } from '../../bench/docs-tables.ts'
import { PROJECT_ROOT } from '../../harness/paths.ts'

t.test('the generated blocks in docs/ match bench/results/ (else: npm run docs:tables)', async t => {
  const pages = generatedPages()
  t.same([...pages.keys()].sort(), ['docs/performance.md', 'docs/scaling.md'])
  for (const [page, text] of pages) t.equal(readFileSync(join(PROJECT_ROOT, page), 'utf8'), text, page)
})

t.test('each block holds the reference run\'s figures', async t => {
  const performance = generatedPages().get('docs/performance.md')!
  t.match(performance, /\| hot \| \d+ \| \d+–\d+ \|/, 'the hot scenario\'s row')
  t.match(performance, /\| goal \| value \| holds \|/, 'the goals')
  t.match(generatedPages().get('docs/scaling.md')!, /\| one Redis \| hot \| [\d,]+ \([\d,]+–[\d,]+\) \| 1\.00 \|/, 'one Redis is the 1.00 of the topologies')
})
