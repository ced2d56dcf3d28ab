// The start command's log lines: a replica's pino JSON made readable, every source labelled (and coloured on a TTY).
import t from 'tap'
import { colourFor, formatLine } from '../../harness/log-format.ts'
import { formatLogLine as pinoLine } from '../../services/log-line.ts'

const time = Date.parse('2026-11-22T14:58:09.874Z')

t.test('a request line: time, method, url, status, duration and the request id', async t => {
  const line = JSON.stringify({ level: 30, time, msg: 'request', method: 'GET', url: '/', statusCode: 200, ms: 1.6, reqId: '5b77' })
  t.equal(pinoLine(line), '14:58:09.874 GET / 200 1.6ms  5b77')
})

t.test('other lines: time, level and message, with an error\'s message', async t => {
  t.equal(pinoLine(JSON.stringify({ level: 40, time, msg: 'drain time is up' })), '14:58:09.874 WARN drain time is up')
  t.equal(pinoLine(JSON.stringify({ level: 50, time, msg: 'fatal error', err: { message: 'boom' }, reqId: 'r1' })),
    '14:58:09.874 ERROR fatal error: boom  r1')
})

t.test('a line that is not JSON passes through as it is', async t => {
  t.equal(pinoLine('Configuration error: PORT must be a whole number'), 'Configuration error: PORT must be a whole number')
  t.equal(pinoLine('{ not json'), '{ not json')
})

t.test('formatLine labels each source, pads the label, and parses only the replicas\' lines', async t => {
  const json = JSON.stringify({ level: 30, time, msg: 'request', method: 'POST', url: '/login', statusCode: 302, ms: 3, reqId: 'ab' })
  t.equal(formatLine('replica-2', json, undefined, 9), 'replica-2 | 14:58:09.874 POST /login 302 3ms  ab')
  t.equal(formatLine('nginx', json, undefined, 9), `nginx     | ${json}`, 'nginx lines are printed as nginx wrote them')
  t.equal(formatLine('redis', 'ready', 31, 5), '\u001b[31mredis |\u001b[0m ready', 'the label in colour, the line not')
})

t.test('colours: fixed for nginx and Redis, by position for the rest', async t => {
  t.equal(colourFor('nginx', 5), 32)
  t.equal(colourFor('redis', 0), 31)
  t.equal(colourFor('replica-1', 0), colourFor('replica-9', 8), 'the palette repeats')
  t.not(colourFor('replica-1', 0), colourFor('replica-2', 1))
})
