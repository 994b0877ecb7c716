/**
 * The Nunjucks environment decides how every config file looks: no HTML
 * escaping (an ACL like `a&b` must stay `a&b`), no stray blank lines from
 * block tags, empty output for undefined values, and includes found next to
 * the templates. Each of these would show up as a broken haproxy.cfg.
 */
import t from 'tap'
import { SlotTable } from '../../../src/template/slots.ts'
import { Brain } from '../../../src/template/brain.ts'
import { createEnvironment } from '../../../src/template/environment.ts'
import type { RenderScope } from '../../../src/template/functions.ts'
import { Tracker } from '../../../src/template/tracker.ts'

const scope = (): RenderScope => ({ tracker: undefined, proxyId: undefined, env: {}, slots: new SlotTable() })

t.test('output is not HTML-escaped', async (t) => {
  const env = createEnvironment(scope(), [], { acl: 'path_beg /a && hdr(host) -m str "x<y>"' })
  t.equal(env.renderString('acl ok {{ vars.acl }}', {}), 'acl ok path_beg /a && hdr(host) -m str "x<y>"')
})

t.test('block tags leave no blank lines or indentation behind', async (t) => {
  const env = createEnvironment(scope(), [], {})
  const src = 'backend api\n  {% for s in servers %}\n  server {{ s }}\n  {% endfor %}\nend\n'
  t.equal(env.renderString(src, { servers: ['a', 'b'] }), 'backend api\n  server a\n  server b\nend\n')
})

t.test('undefined values render as empty, not "undefined"', async (t) => {
  const env = createEnvironment(scope(), [], {})
  t.equal(env.renderString('[{{ nothing }}][{{ vars.nope }}][{{ nothing.deeper }}]', {}), '[][][]')
})

t.test('vars are a frozen global', async (t) => {
  const vars = { region: 'eu-west-1' }
  const env = createEnvironment(scope(), [], vars)
  t.equal(env.renderString('{{ vars.region }}', {}), 'eu-west-1')
  vars.region = 'changed later'
  t.equal(env.renderString('{{ vars.region }}', {}), 'eu-west-1', 'later changes to the input do not leak in')
  t.ok(Object.isFrozen(env.getGlobal('vars')))
})

t.test('meshplate filters and functions are installed', async (t) => {
  const s = scope()
  const env = createEnvironment(s, [], {})
  t.equal(env.renderString('{{ "hello" | base64Encode }} {{ "hello" | sha256 }}', {}), 'aGVsbG8= 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824')
  const brain = new Brain()
  brain.set('kv.get(app/mode)', { Exists: true, Value: 'http' })
  s.tracker = new Tracker(brain)
  t.equal(env.renderString('mode {{ key("app/mode") }}', {}), 'mode http', 'globals read through the scope’s tracker')
})

t.test('includes resolve relative to the template folders', async (t) => {
  const dir = t.testdir({ partials: { 'server.njk': 'server {{ name }} {{ addr }}\n' } })
  const env = createEnvironment(scope(), [dir], {})
  t.equal(env.renderString('{% set name = "api1" %}{% set addr = "10.0.0.5:21001" %}{% include "partials/server.njk" %}', {}), 'server api1 10.0.0.5:21001\n')
  let message = ''
  try {
    env.renderString('{% include "partials/missing.njk" %}', {})
  } catch (err) {
    message = (err as Error).message
  }
  t.match(message, /template not found: partials\/missing\.njk/, 'a missing include is an error, not an empty string')
})
