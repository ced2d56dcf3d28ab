// The README and docs/ name links, files, npm scripts, compose profiles and built entry points; each must still
// exist, so a rename or a removed script fails here rather than in a reader's terminal.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { PROJECT_ROOT } from '../../harness/paths.ts'

const pages = ['README.md', ...readdirSync(join(PROJECT_ROOT, 'docs')).filter(f => f.endsWith('.md')).map(f => `docs/${f}`)]
const text = (page: string): string => readFileSync(join(PROJECT_ROOT, page), 'utf8')
const scripts = Object.keys(JSON.parse(text('package.json')).scripts as Record<string, string>)
const compose = parse(text('docker-compose.yml')) as { services: Record<string, { profiles?: string[] }> }
const profiles = new Set(Object.values(compose.services).flatMap(s => s.profiles ?? []))

/** Markdown outside code fences and code blocks, then the fenced blocks with their language. */
function split (markdown: string): { prose: string, blocks: Array<{ lang: string, body: string }> } {
  const blocks: Array<{ lang: string, body: string }> = []
  const prose = markdown.replace(/^```(\w*)\n([\s\S]*?)^```$/gm, (_, lang: string, body: string) => {
    blocks.push({ lang, body })
    return ''
  })
  return { prose, blocks }
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor (heading: string): string {
  return heading.toLowerCase().replace(/`/g, '').replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')
}

function anchorsOf (page: string): Set<string> {
  return new Set([...split(text(page)).prose.matchAll(/^#{1,6} (.+)$/gm)].map(m => anchor(m[1]!)))
}

/** A repository path a page names in backticks: `services/x.ts`, `dist/bench/profile.js` (its source), … */
function pathsNamed (prose: string): string[] {
  return [...prose.matchAll(/`((?:services|harness|test|bench|loadbalancer|monitoring|docs|dist|\.ci)\/[\w./-]*)`/g)]
    .map(m => m[1]!.replace(/^dist\/(.+)\.js$/, '$1.ts'))
    .filter(path => !path.includes('*'))
}

t.test('every page is reachable from the README', async t => {
  const linked = new Set([...text('README.md').matchAll(/\]\((docs\/[^)#]+\.md)/g)].map(m => m[1]))
  for (const page of pages.filter(p => p !== 'README.md')) t.ok(linked.has(page), `${page} is linked from the README`)
})

for (const page of pages) {
  t.test(page, async t => {
    const { prose, blocks } = split(text(page))
    for (const [, target] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?|mailto):/.test(target!)) continue
      const [file, hash] = target!.split('#') as [string, string | undefined]
      const path = file === '' ? page : relative(PROJECT_ROOT, join(PROJECT_ROOT, dirname(page), file))
      t.ok(existsSync(join(PROJECT_ROOT, path)), `link ${target}: ${path} exists`)
      if (hash !== undefined && path.endsWith('.md') && existsSync(join(PROJECT_ROOT, path))) {
        t.ok(anchorsOf(path).has(hash), `link ${target}: ${path} has a heading #${hash}`)
      }
    }
    for (const path of pathsNamed(prose)) t.ok(existsSync(join(PROJECT_ROOT, path)), `${path} exists`)
    for (const { lang, body } of blocks.filter(b => b.lang === 'sh')) {
      for (const [, script] of body.matchAll(/npm run ([\w:-]+)/g)) t.ok(scripts.includes(script!), `npm run ${script}: a script in package.json`)
      for (const [, entry] of body.matchAll(/node dist\/([\w/.-]+)\.js/g)) t.ok(existsSync(join(PROJECT_ROOT, `${entry}.ts`)), `node dist/${entry}.js: ${entry}.ts exists (${lang})`)
      for (const [, profile] of body.matchAll(/--profile (\w+)/g)) t.ok(profiles.has(profile!), `--profile ${profile}: a profile in docker-compose.yml`)
      for (const [, script] of body.matchAll(/(?:^|\s)((?:harness|bench|loadbalancer)\/[\w/.-]+\.sh)/gm)) t.ok(existsSync(join(PROJECT_ROOT, script!)), `${script} exists`)
    }
  })
}

t.test('the README\'s layout names files that exist', async t => {
  const layout = split(text('README.md')).blocks.find(b => b.body.startsWith('services/'))
  t.ok(layout, 'the layout block')
  const dirs: string[] = []
  for (const line of layout!.body.split('\n')) {
    const [, indent, names] = /^( *)(\S+(?:, \S+)*?)(?: {2,}|$)/.exec(line) ?? []
    if (names === undefined || indent!.length > 8) continue // a description's second line
    const depth = indent!.length / 2
    dirs.length = depth
    for (const name of names.split(/, /)) {
      if (name.endsWith('/')) dirs[depth] = name.slice(0, -1)
      if (/^[\w.-]+(\/[\w.-]+)*\/?$/.test(name)) t.ok(existsSync(join(PROJECT_ROOT, ...dirs.slice(0, depth), name)), `${[...dirs.slice(0, depth), name].join('/')} exists`)
    }
  }
})
