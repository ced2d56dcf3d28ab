// Reads nginx's access log with the template's own `log_format`: the parse is built from the format's text, so a
// field added, moved or removed there needs no second edit here. Fields are looked up by variable name.
import { readFileSync } from 'node:fs'
import { TEMPLATE_PATH } from './paths.ts'

/** The format string of `log_format NAME …;` in an nginx config: its quoted parts, joined as nginx joins them. */
export function logFormat (config: string, name: string): string {
  const directive = new RegExp(`^\\s*log_format\\s+${name}\\s+((?:escape=\\S+\\s+)?)((?:'[^']*'\\s*)+);`, 'm').exec(config)
  if (!directive) throw new Error(`no log_format ${name} in the nginx config`)
  return [...directive[2]!.matchAll(/'([^']*)'/g)].map(part => part[1]).join('')
}

export type LogFields = Record<string, string>

/**
 * A parser for lines written in `format`: each `$variable` (or `${variable}`) becomes a field named after it, the
 * text between variables must match as written. A field may hold spaces ($request, $upstream_addr after a retry):
 * it ends where the next literal text begins.
 */
export function logParser (format: string): (line: string) => LogFields | undefined {
  const names: string[] = []
  let source = '^'
  let last = 0
  for (const variable of format.matchAll(/\$(?:\{(\w+)\}|(\w+))/g)) {
    source += escapeRegExp(format.slice(last, variable.index)) + '(.*?)'
    names.push(variable[1] ?? variable[2]!)
    last = variable.index + variable[0].length
  }
  const pattern = new RegExp(`${source}${escapeRegExp(format.slice(last))}$`)
  return line => {
    const match = pattern.exec(line)
    if (!match) return undefined
    return Object.fromEntries(names.map((name, i) => [name, match[i + 1]!]))
  }
}

/** The parser for the template's `upstreams` format, the one every access log here is written in. */
export function upstreamsLogParser (template = readFileSync(TEMPLATE_PATH, 'utf8')): (line: string) => LogFields | undefined {
  return logParser(logFormat(template, 'upstreams'))
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
