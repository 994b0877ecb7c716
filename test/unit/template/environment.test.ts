/**
 * The Nunjucks environment decides how every config file looks: no HTML
 * escaping (an ACL like `a&b` must stay `a&b`), no stray blank lines from
 * block tags, empty output for undefined values, and includes found next to
 * the templates. Each of these would show up as a broken haproxy.cfg. And
 * the extension point: what a consumer adds (the mesh's functions and
 * filters) sits beside the engine's names and never replaces one.
 */
import t from 'tap'
import nunjucks from 'nunjucks'
import { join } from 'node:path'
import { KvGetDependency } from '../../../src/dependency/kv-get.ts'
import { Brain } from '../../../src/template/brain.ts'
import { createEnvironment } from '../../../src/template/environment.ts'
import type { RenderScope } from '../../../src/template/functions.ts'
import { Template } from '../../../src/template/template.ts'
import { Tracker } from '../../../src/template/tracker.ts'

const scope = (): RenderScope => ({ tracker: undefined, proxyId: undefined, env: {} })

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

t.test('an extension adds functions and filters that read through the same scope', async (t) => {
  const s = scope()
  const seen: string[] = []
  const env = createEnvironment(s, [], {}, [
    {
      functions: (ctx) => ({ modeTwice: () => `${ctx.read(new KvGetDependency('app/mode'))?.Value}`.repeat(2) }),
      filters: { shout: (v: string) => String(v).toUpperCase() },
    },
    { filters: { note: (v: string) => (seen.push(v), v) } },
  ])
  const brain = new Brain()
  brain.set('kv.get(app/mode)', { Exists: true, Value: 'http' })
  s.tracker = new Tracker(brain)
  t.equal(env.renderString('{{ modeTwice() | shout | note }} {{ key("app/mode") }}', {}), 'HTTPHTTP http', 'the engine\'s own names stay beside the added ones')
  t.same(seen, ['HTTPHTTP'])
  t.same([...s.tracker.used.keys()], ['kv.get(app/mode)'], 'what an extension reads is tracked like any function\'s read')
})

t.test('the engine alone has no mesh functions or filters, and an extension cannot replace a name', async (t) => {
  const env = createEnvironment(scope(), [], {})
  // Nunjucks' own error objects cannot go through t.throws (their `name` is read-only): compare messages.
  const failure = (src: string) => {
    try {
      env.renderString(src, {})
      return ''
    } catch (err) {
      return (err as Error).message
    }
  }
  t.match(failure('{{ upstreams() }}'), /Unable to call `upstreams`/)
  t.match(failure('{{ [] | intentionTable }}'), /filter not found: intentionTable/)
  t.throws(() => createEnvironment(scope(), [], {}, [{ functions: () => ({ key: () => 'x' }) }]), { message: 'template global key is defined twice' })
  t.throws(() => createEnvironment(scope(), [], {}, [{ filters: { sha256: (v: string) => v } }]), { message: 'template filter sha256 is defined twice' })
  t.throws(() => createEnvironment(scope(), [], {}, [{ functions: () => ({ vars: () => 'x' }) }]), { message: 'template global vars is defined twice' })
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

t.test("consul-template's filters are installed under its names, none shadowing a Nunjucks built-in", async (t) => {
  const env = createEnvironment(scope(), [], {})
  const builtins = Object.keys((new nunjucks.Environment() as unknown as { filters: Record<string, unknown> }).filters)
  const ours = ['byTag', 'byKey', 'byMeta', 'explode', 'explodeMap', 'contains', 'containsAll', 'containsAny', 'containsNone', 'containsNotAll', 'regexMatch', 'regexReplaceAll', 'split', 'splitToMap', 'trimPrefix', 'trimSuffix', 'parseBool', 'parseInt', 'parseUint', 'parseFloat', 'md5sum', 'sha256Hex', 'hmacSHA256Hex', 'base64URLEncode', 'base64URLDecode']
  for (const name of ours) t.notOk(builtins.includes(name), `${name} is not a Nunjucks built-in`)
  const services = [{ Name: 'web', Tags: ['blue'], Address: '10.0.0.1', Port: 80 }, { Name: 'web', Tags: ['blue', 'v2'], Address: '10.0.0.2', Port: 80 }]
  const src = '{% for tag, list in services | byTag %}{{ tag }}:{% for s in list %} {{ s.Address }}{% endfor %};{% endfor %}'
  t.equal(env.renderString(src, { services }), 'blue: 10.0.0.1 10.0.0.2;v2: 10.0.0.2;')
  t.equal(env.renderString('{{ "foo.bar" | regexReplaceAll("foo([.a-z]+)", "$1") }} {{ "3" | parseInt + 1 }} {% if tags | contains("v2") %}yes{% endif %}', { tags: ['v2'] }), '.bar 4 yes')
})

t.test('bad input to a consul-template filter is one line naming the file and the filter', async (t) => {
  const dir = t.testdir({ 'bad.njk': 'a\n{{ "x" | parseInt }}\n' })
  const s = scope()
  const env = createEnvironment(s, [dir], {})
  t.throws(() => new Template(join(dir, 'bad.njk'), env, s).render(new Brain()), { code: 'TEMPLATE_RUNTIME', message: /bad\.njk(:\d+)?: parseInt: "x" is not a base-10 integer$/ })
})
