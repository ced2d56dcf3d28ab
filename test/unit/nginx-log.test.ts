// The access-log parser, built from the real template's log_format: a line as nginx writes it parses into its fields.
import { readFileSync } from 'node:fs'
/* eslint-disable no-template-curly-in-string -- ${NGINX_*} and ${variable} are nginx's syntax, not JavaScript's */
import t from 'tap'
import { logFormat, logParser, upstreamsLogParser } from '../../harness/nginx-log.ts'
import { TEMPLATE_PATH } from '../../harness/paths.ts'

const template = readFileSync(TEMPLATE_PATH, 'utf8')

/** A line as nginx would write it: the template's own format with each variable replaced by its value. */
function lineFor (values: Record<string, string>): string {
  return logFormat(template, 'upstreams').replace(/\$(\w+)/g, (_, name: string) => values[name] ?? '-')
}

t.test('the upstreams format of the real template gives every field by its variable name', async t => {
  const format = logFormat(template, 'upstreams')
  for (const name of ['request_id', 'request', 'status', 'upstream_addr', 'upstream_status']) {
    t.match(format, `$${name}`, `the template logs $${name}`)
  }
  const values = {
    request_id: '5b773962d456b29a2e45b231dd542f70',
    request: 'POST /preferences HTTP/1.1',
    status: '200',
    // A retry: nginx lists every upstream it tried, with spaces.
    upstream_addr: '127.0.0.1:3002, 127.0.0.1:3001',
    upstream_status: '502, 200'
  }
  t.match(upstreamsLogParser()(lineFor(values)), values)
})

t.test('a line in another format, or none, is not a match', async t => {
  const parse = upstreamsLogParser()
  t.equal(parse('2026/11/22 14:58:09 [warn] 12#12: an error-log line'), undefined)
  t.equal(parse(''), undefined)
})

t.test('fields follow the format: added, moved and braced variables', async t => {
  const parse = logParser('[$status] ${request_id}-x "$request" up=$upstream_addr')
  t.same(parse('[404] abc-x "GET /a b HTTP/1.1" up=127.0.0.1:1 : 127.0.0.1:2'), {
    status: '404',
    request_id: 'abc',
    request: 'GET /a b HTTP/1.1',
    upstream_addr: '127.0.0.1:1 : 127.0.0.1:2'
  })
  t.equal(parse('404 abc-x "GET /" up=-'), undefined, 'literal text must match as written')
})

t.test('log_format is read across quoted parts, with or without escape=', async t => {
  const config = "http {\n  log_format main escape=json '{\"id\":\"$request_id\",'\n      '\"s\":$status}';\n}\n"
  t.equal(logFormat(config, 'main'), '{"id":"$request_id","s":$status}')
  t.same(logParser(logFormat(config, 'main'))('{"id":"f00","s":200}'), { request_id: 'f00', status: '200' })
  t.throws(() => logFormat(config, 'upstreams'), /no log_format upstreams/)
})
