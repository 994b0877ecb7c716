/**
 * A Template is one file rendered against the brain. What a user notices:
 * the rendered text, that a template waiting for data produces no output
 * (so no half-empty file is written) and names what it waits for, and that a
 * mistake in the template is reported as `file:line` with the right line.
 */
import t, { type Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connectExtension } from '../../../src/connect/index.ts'
import { parseProxyService } from '../../../src/dependency/agent-service.ts'
import { parseHealthEntries } from '../../../src/dependency/health-entry.ts'
import { TemplateError } from '../../../src/errors.ts'
import { SlotTable } from '../../../src/haproxy/slots.ts'
import { Brain } from '../../../src/template/brain.ts'
import { createEnvironment } from '../../../src/template/environment.ts'
import type { RenderScope } from '../../../src/template/functions.ts'
import { Template } from '../../../src/template/template.ts'

const proxy = parseProxyService({
  ID: 'web-sidecar-proxy',
  Service: 'web-sidecar-proxy',
  Port: 21000,
  Proxy: { DestinationServiceName: 'web', LocalServicePort: 8080, Upstreams: [{ DestinationName: 'api', LocalBindPort: 9191 }] },
})
const api = parseHealthEntries([
  { Node: { Node: 'n1', Address: '10.0.0.5', Datacenter: 'dc1' }, Service: { ID: 'api-sidecar-proxy', Service: 'api-sidecar-proxy', Port: 21001, Proxy: { DestinationServiceName: 'api' } }, Checks: [] },
  { Node: { Node: 'n2', Address: '10.0.0.6', Datacenter: 'dc1' }, Service: { ID: 'api-sidecar-proxy-2', Service: 'api-sidecar-proxy', Address: '172.26.0.9', Port: 21002 }, Checks: [] },
])

const HAPROXY = `frontend inbound
  bind :{{ connectProxy().Port }}
  default_backend local_app
backend local_app
  server app {{ connectProxy().Proxy.LocalServiceAddress }}:{{ connectProxy().Proxy.LocalServicePort }}
{% for u in upstreams() %}
listen {{ u.DestinationName }}
  bind {{ u.LocalBindAddress }}:{{ u.LocalBindPort }}
  {% for i in u.Instances %}
  server {{ i.Node }} {{ i.Address }}:{{ i.Port }}
  {% endfor %}
{% endfor %}
# {{ vars.region }}
`

function setup(t: Test, files: Record<string, string>) {
  const dir = t.testdir(files)
  const scope: RenderScope = { tracker: undefined, proxyId: 'web-sidecar-proxy', env: {} }
  // The mesh's functions (upstreams()) come through the extension point, as src/commands/setup.ts adds them.
  const env = createEnvironment(scope, [dir], { region: 'eu-west-1' }, [connectExtension({ slots: new SlotTable() })])
  const template = (name: string) => new Template(join(dir, name), env, scope)
  return { dir, scope, template }
}

function brainWith(entries: Record<string, unknown>): Brain {
  const brain = new Brain()
  for (const [id, data] of Object.entries(entries)) brain.set(id, data)
  return brain
}

t.test('renders globals and vars from the brain', async (t) => {
  const { template } = setup(t, { 'haproxy.cfg.njk': HAPROXY })
  const r = template('haproxy.cfg.njk').render(brainWith({ 'agent.service(web-sidecar-proxy)': proxy, 'health.connect(api)': api, 'connect.roots': { TrustDomain: 'td', ActiveRootID: '', Roots: [] } }))
  t.equal(
    r.output,
    `frontend inbound
  bind :21000
  default_backend local_app
backend local_app
  server app 127.0.0.1:8080
listen api
  bind 127.0.0.1:9191
  server n1 10.0.0.5:21001
  server n2 172.26.0.9:21002
# eu-west-1
`,
  )
  t.same([...r.used.keys()].sort(), ['agent.service(web-sidecar-proxy)', 'connect.roots', 'health.connect(api)'])
  t.equal(r.missing.size, 0)
})

t.test('missing data gives no output and lists what is missing', async (t) => {
  const { template } = setup(t, { 'haproxy.cfg.njk': HAPROXY })
  const r = template('haproxy.cfg.njk').render(brainWith({ 'agent.service(web-sidecar-proxy)': proxy }))
  t.equal(r.output, undefined, 'nothing to write')
  t.same([...r.missing].sort(), ['connect.roots', 'health.connect(api)'])
  t.ok(r.used.has('health.connect(api)'), 'the missing dependency is still reported as used, so it gets watched')
})

t.test('an error caused by missing data counts as missing, not as a template error', async (t) => {
  const { template } = setup(t, { 'app.json.njk': 'port {{ (key("app/config") | parseJSON).port }}\n' })
  const r = template('app.json.njk').render(new Brain())
  t.equal(r.output, undefined)
  t.same([...r.missing], ['kv.get(app/config)'])
  const ok = template('app.json.njk').render(brainWith({ 'kv.get(app/config)': { Exists: true, Value: '{"port": 8080}' } }))
  t.equal(ok.output, 'port 8080\n')
})

t.test('a syntax error is TEMPLATE_SYNTAX at file:line', async (t) => {
  const { dir, template } = setup(t, {
    'bad.njk': 'global\n  maxconn 100\n{% if connectProxy() %}\nok\n{% endfor %}\n',
    'first.njk': '{% if %}\n',
  })
  const err = (() => {
    try {
      template('bad.njk').load()
    } catch (e) {
      return e
    }
  })()
  t.ok(err instanceof TemplateError)
  t.match(err, { code: 'TEMPLATE_SYNTAX', file: join(dir, 'bad.njk'), line: 5 })
  t.match((err as Error).message, new RegExp(`^${join(dir, 'bad.njk').replace(/[.]/g, '\\.')}:5: `))
  t.throws(() => template('first.njk').render(new Brain()), { code: 'TEMPLATE_SYNTAX', line: 1, message: /first\.njk:1: unexpected token/ }, 'render loads too')
})

t.test('a runtime error is TEMPLATE_RUNTIME at the right 1-based line', async (t) => {
  const { scope, template } = setup(t, {
    'line4.njk': 'a\nb\nc\n{{ nosuch() }}\n',
    'line1.njk': '{{ nosuch() }}\nrest\n',
    'loop.njk': 'x\n{% for u in upstreams() %}\n\n{{ u.Missing() }}\n{% endfor %}\n',
  })
  const brain = brainWith({ 'agent.service(web-sidecar-proxy)': proxy, 'health.connect(api)': api, 'connect.roots': { TrustDomain: 'td', Roots: [] } })
  t.throws(() => template('line4.njk').render(brain), { code: 'TEMPLATE_RUNTIME', line: 4, message: /line4\.njk:4: Unable to call `nosuch`/ })
  t.throws(() => template('line1.njk').render(brain), { code: 'TEMPLATE_RUNTIME', line: 1, message: /line1\.njk:1: / }, 'an error on the first line still has its line')
  t.throws(() => template('loop.njk').render(brain), { code: 'TEMPLATE_RUNTIME', line: 4 })
  t.equal(scope.tracker, undefined, 'the render scope is released after an error')
})

t.test('a function misused in a template is a runtime error with its message', async (t) => {
  const dir = t.testdir({ 'p.njk': 'line\n{{ connectProxy().Port }}\n' })
  const scope: RenderScope = { tracker: undefined, proxyId: undefined, env: {} }
  const tpl = new Template(join(dir, 'p.njk'), createEnvironment(scope, [dir], {}), scope)
  // A missing flag, not a template mistake: the function's CONFIG_INVALID is passed on, with file:line.
  t.throws(() => tpl.render(new Brain()), { code: 'CONFIG_INVALID', line: 2, message: /p\.njk:2: connectProxy\(\) needs --proxy-id or --sidecar-for$/ })
})

t.test('a mesh filter refusing its configuration passes its code on, keeping file:line', async (t) => {
  const { template } = setup(t, {
    'mesh.njk': 'ok\n{{ meshConfig() | requestNormalization }}\n',
    'mode.njk': '\n\n{{ connectProxy() | localSettings | dump }}{{ u | upstreamSettings({}, "udp") }}\n',
  })
  const mesh = { Kind: 'mesh', Name: 'mesh', HTTP: { Incoming: { RequestNormalization: { PathWithEscapedSlashesAction: 'DROP' } } } }
  const brain = brainWith({ 'agent.service(web-sidecar-proxy)': proxy, 'config.entry(mesh/mesh)': mesh })
  t.throws(() => template('mesh.njk').render(brain), {
    name: 'TemplateError',
    code: 'PROXY_CONFIG_INVALID',
    line: 2,
    message: /mesh\.njk:2: mesh config entry: HTTP\.Incoming\.RequestNormalization\.PathWithEscapedSlashesAction "DROP" is not one of /,
  })
  t.throws(() => template('mode.njk').render(brain), { code: 'PROXY_CONFIG_INVALID', line: 3, message: /mode\.njk:3: upstreamSettings: mode "udp" is not tcp or http$/ }, 'no class name before the message')
})

t.test('load() picks up an edited file', async (t) => {
  const { dir, template } = setup(t, { 'motd.njk': 'v1 {{ env("X") }}\n' })
  const tpl = template('motd.njk')
  t.equal(tpl.render(new Brain()).output, 'v1 \n')
  writeFileSync(join(dir, 'motd.njk'), 'v2\n')
  t.equal(tpl.render(new Brain()).output, 'v1 \n', 'render alone keeps the compiled template')
  tpl.load()
  t.equal(tpl.render(new Brain()).output, 'v2\n')
})

t.test('an imported macro file compiles once, and an edit to it applies at the next render', async (t) => {
  const { dir, template } = setup(t, {
    'main.njk': '{% from "m.njk" import hi %}{{ hi() }}\n',
    'm.njk': '{% macro hi() %}v1{% endmacro %}',
  })
  const tpl = template('main.njk')
  const cache = (tpl.env as unknown as { loaders: Array<{ cache: Record<string, unknown> }> }).loaders[0]!.cache
  t.equal(tpl.render(new Brain()).output, 'v1\n')
  const compiled = cache['m.njk']
  t.ok(compiled, 'the macro file is cached after the first render')
  t.equal(tpl.render(new Brain()).output, 'v1\n')
  t.equal(cache['m.njk'], compiled, 'a second render reuses the compiled macro file')
  writeFileSync(join(dir, 'm.njk'), '{% macro hi() %}v2{% endmacro %}')
  t.equal(tpl.render(new Brain()).output, 'v2\n', 'the edited macro applies without load()')
  t.not(cache['m.njk'], compiled)
  writeFileSync(join(dir, 'm.njk'), '{% macro hi() %}v2{% endmacr %}')
  t.throws(() => tpl.render(new Brain()), { code: 'TEMPLATE_RUNTIME' }, 'a broken edit fails the render, as uncached')
  t.throws(() => tpl.render(new Brain()), { code: 'TEMPLATE_RUNTIME' }, 'and again at the next render')
  writeFileSync(join(dir, 'm.njk'), '{% macro hi() %}v3{% endmacro %}')
  t.equal(tpl.render(new Brain()).output, 'v3\n', 'the mended file applies')
})

t.test('an unreadable template is TEMPLATE_SYNTAX naming the file', async (t) => {
  const { dir, template } = setup(t, {})
  t.throws(() => template('nope.njk').load(), { code: 'TEMPLATE_SYNTAX', file: join(dir, 'nope.njk'), message: /nope\.njk: cannot read template: .*ENOENT/ })
})
