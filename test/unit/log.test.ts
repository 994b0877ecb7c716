/**
 * Logs are how an operator follows meshplate: the level must filter, the
 * component tag must say which part spoke, and `--log-format json` must give
 * one parseable object per line for log shippers.
 */
import t from 'tap'
import { createLogger } from '../../src/log.ts'

function capture() {
  const lines: string[] = []
  return { lines, write: (line: string) => lines.push(line) }
}

t.test('the level is honoured: lower levels are dropped', async (t) => {
  const out = capture()
  const log = createLogger('warn', 'text', out.write)
  log.debug('d')
  log.info('i')
  log.warn('w')
  log.error('e')
  t.equal(out.lines.length, 2)
  t.match(out.lines[0], / WARN  \[meshplate\] w$/)
  t.match(out.lines[1], / ERROR \[meshplate\] e$/)
})

t.test('debug lets everything through; error only errors', async (t) => {
  const all = capture()
  const dbg = createLogger('debug', 'text', all.write)
  for (const level of ['debug', 'info', 'warn', 'error'] as const) dbg[level](level)
  t.same(all.lines.map((l) => l.split(' ').pop()), ['debug', 'info', 'warn', 'error'])

  const few = capture()
  const err = createLogger('error', 'text', few.write)
  for (const level of ['debug', 'info', 'warn', 'error'] as const) err[level](level)
  t.equal(few.lines.length, 1)
  t.match(few.lines[0], /ERROR \[meshplate\] error$/)
})

t.test('text lines start with an ISO time and show fields as key=value', async (t) => {
  const out = capture()
  createLogger('info', 'text', out.write).info('rendered', { destination: '/etc/haproxy/haproxy.cfg', changed: true, n: 3 })
  const [time, ...rest] = out.lines[0]!.split(' ')
  t.ok(!Number.isNaN(Date.parse(time!)), 'first word is a timestamp')
  t.equal(rest.join(' '), 'INFO  [meshplate] rendered destination=/etc/haproxy/haproxy.cfg changed=true n=3')
})

t.test('json format writes one valid JSON object per line', async (t) => {
  const out = capture()
  const log = createLogger('info', 'json', out.write)
  log.info('rendered', { destination: '/tmp/a "quoted" file', count: 2 })
  log.warn('line\nbreak')
  t.equal(out.lines.length, 2)
  const first = JSON.parse(out.lines[0]!)
  t.match(first, { level: 'info', component: 'meshplate', msg: 'rendered', destination: '/tmp/a "quoted" file', count: 2 })
  t.ok(!Number.isNaN(Date.parse(first.time)))
  t.notOk(out.lines[1]!.includes('\n'), 'a newline in a message does not split the record')
  t.equal(JSON.parse(out.lines[1]!).msg, 'line\nbreak')
})

t.test('a child logger tags its component and shares level and sink', async (t) => {
  const text = capture()
  const root = createLogger('info', 'text', text.write)
  const view = root.child('view health.connect(api@dc2)')
  view.debug('dropped')
  view.info('new data')
  t.equal(text.lines.length, 1)
  t.match(text.lines[0], /INFO  \[view health\.connect\(api@dc2\)\] new data$/)

  const json = capture()
  createLogger('info', 'json', json.write).child('exec').error('child exited', { code: 2 })
  t.match(JSON.parse(json.lines[0]!), { component: 'exec', level: 'error', msg: 'child exited', code: 2 })
})
