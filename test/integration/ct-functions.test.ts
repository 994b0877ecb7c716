/**
 * consul-template's data functions against a real `consul agent -dev`: what
 * `meshplate once` renders from each (KV listings, keyExists, the catalog,
 * connect, datacenters, env, file, timestamp), that safeLs holds a template
 * back while its prefix is empty, and that in `run` mode a KV write, a
 * service registration and a file edit each re-render within a second.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startConsul } from '../support/consul.ts'
import { eventually, exitsWith, meshplate, meshplateOnce } from '../support/process.ts'

const read = (file: string) => {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

// The environment trims the newline after a block tag (trimBlocks), so a line ending in one has a second.
const TEMPLATE = `exists={{ keyExists("app/port") }},{{ keyExists("app/none") }}
ls={% for p in ls("app") %}{{ p.Key }}={{ p.Value }};{% endfor %}

tree={% for p in tree("app/") %}{{ p.Key }}={{ p.Value }};{% endfor %}

safe={{ safeLs("app") | length }},{{ safeTree("app") | length }}
dc={{ key("app/port@dc1") }},{% for p in ls("app@dc1") %}{{ p.Path }};{% endfor %}

services={% for s in services() %}{{ s.Name }}[{{ s.Tags | join(",") }}];{% endfor %}

nodes={% for n in nodes() %}{{ n.Node }}@{{ n.Address }};{% endfor %}

node={{ node().Node.Node }}:{% for s in node().Services %}{{ s.ID }};{% endfor %}

named={{ node("meshplate-test").Node.Node }} unknown={{ node("nope") }}
dcs={{ datacenters() | join(",") }}
connect={% for e in connect("api") %}{{ e.Name }}:{{ e.Port }};{% endfor %}|{{ connect("v9.api") | length }}
env={{ envOrDefault("CT_SET", "d") }},{{ envOrDefault("CT_UNSET", "d") }}
file={{ file("motd.txt") }}
year={{ timestamp("2006") }} unix={{ timestamp("unix") }} rfc={{ timestamp() }}
`

async function seed(consul: Awaited<ReturnType<typeof startConsul>>) {
  for (const [k, v] of [['app/port', '8080'], ['app/db/host', 'db.local'], ['app/db/', '']]) {
    const r = await consul.api('PUT', `/v1/kv/${k}`, v)
    if (r.status !== 200) throw new Error(`kv put ${k}: ${r.status}`)
  }
  await consul.api('PUT', '/v1/agent/service/register', { ID: 'web-1', Name: 'web', Port: 9000, Tags: ['v2', 'v1'] })
  await consul.registerWithSidecar({ name: 'api', port: 9001, sidecarPort: 21001 })
}

t.test('once renders every function from a real agent', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  await seed(consul)
  const dir = t.testdir({ 'ct.njk': TEMPLATE, 'motd.txt': 'hello' })
  const out = join(dir, 'ct.txt')
  const before = Math.floor(Date.now() / 1000)
  const r = meshplate(['once', '--consul-addr', consul.addr, '-t', `${join(dir, 'ct.njk')}:${out}`, '--timeout', '10s'], { CT_SET: 'x' }, dir)
  const exit = await r.exited
  exitsWith(t, { ...exit, output: r.output() }, 0)
  const lines = Object.fromEntries(read(out).trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  t.equal(lines.exists, 'true,false')
  t.equal(lines.ls, 'port=8080;', 'top level only')
  t.equal(lines.tree, 'db/host=db.local;port=8080;', 'recursive, relative, no folder')
  t.equal(lines.safe, '1,2')
  t.equal(lines.dc, '8080,app/port;', 'key@dc and ls@dc')
  t.match(lines.services, /^api\[\];api-sidecar-proxy\[\];consul\[\];web\[v1,v2\];$/)
  t.match(lines.nodes, /^meshplate-test@127\.0\.0\.1;$/)
  t.equal(lines.node, 'meshplate-test:api;api-sidecar-proxy;consul;web-1;', "the agent's own node, services by name")
  t.equal(lines.named, 'meshplate-test unknown=', 'a named node; an unknown one is null (renders empty)')
  t.equal(lines.dcs, 'dc1')
  t.equal(lines.connect, 'api-sidecar-proxy:21001;|0', 'the sidecar, passing; a tag nobody has gives none')
  t.equal(lines.env, 'x,d')
  t.equal(lines.file, 'hello')
  const [year, unix, rfc] = [/^(\d{4})/, /unix=(\d+)/, /rfc=(\S+)$/].map((re) => re.exec(lines.year!)?.[1])
  t.equal(year, String(new Date().getUTCFullYear()))
  t.ok(Number(unix) >= before && Number(unix) <= before + 15, `unix seconds (${unix})`)
  t.match(rfc, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
})

t.test('safeLs holds the template back while the prefix is empty; ls does not', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  const dir = t.testdir({ 'safe.njk': '{% for p in safeLs("cfg") %}{{ p.Key }}{% endfor %}', 'plain.njk': '[{% for p in ls("cfg") %}{{ p.Key }}{% endfor %}]' })
  const plain = await meshplateOnce(['once', '--consul-addr', consul.addr, '-t', `${join(dir, 'plain.njk')}:${join(dir, 'plain.txt')}`, '--timeout', '5s'])
  exitsWith(t, plain, 0)
  t.equal(read(join(dir, 'plain.txt')), '[]')
  const safe = await meshplateOnce(['once', '--consul-addr', consul.addr, '-t', `${join(dir, 'safe.njk')}:${join(dir, 'safe.txt')}`, '--timeout', '2s'])
  t.equal(safe.code, 1, 'gives up')
  t.match(safe.output, /missing data: kv\.list\(cfg\)/, 'naming the listing')
  t.equal(read(join(dir, 'safe.txt')), '', 'and writes nothing')

  const run = meshplate(['run', '--consul-addr', consul.addr, '-t', `${join(dir, 'safe.njk')}:${join(dir, 'safe.txt')}`])
  t.teardown(() => run.stop())
  await new Promise((r) => setTimeout(r, 1_000))
  t.equal(read(join(dir, 'safe.txt')), '', 'run waits too')
  await consul.api('PUT', '/v1/kv/cfg/a', '1')
  await eventually(() => read(join(dir, 'safe.txt')) === 'a', 1_000, 'rendered within a second of the first key')
})

t.test('run re-renders within a second of a KV write, a registration and a file edit', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  await seed(consul)
  const dir = t.testdir({
    'live.njk': 'tree={% for p in tree("app") %}{{ p.Key }}={{ p.Value }};{% endfor %}\nservices={% for s in services() %}{{ s.Name }};{% endfor %}\nnode={% for s in node().Services %}{{ s.ID }};{% endfor %}\nconnect={{ connect("api") | length }}\nfile={{ file("motd.txt") }}\n',
    'motd.txt': 'one',
  })
  const out = join(dir, 'live.txt')
  const run = meshplate(['run', '--consul-addr', consul.addr, '-t', `${join(dir, 'live.njk')}:${out}`], {}, dir)
  t.teardown(() => run.stop())
  await eventually(() => read(out).includes('file=one'), 10_000, 'first render')
  const within = async (change: () => Promise<unknown> | void, want: RegExp, what: string) => {
    const started = Date.now()
    await change()
    await eventually(() => want.test(read(out)), 1_000, what)
    t.pass(`${what}: ${Date.now() - started} ms`)
  }
  await within(() => consul.api('PUT', '/v1/kv/app/db/port', '5432'), /tree=db\/host=db\.local;db\/port=5432;port=8080;/, 'tree after a KV put')
  await within(() => consul.api('PUT', '/v1/agent/service/register', { ID: 'cache-1', Name: 'cache', Port: 6379 }), /services=api;api-sidecar-proxy;cache;consul;web;/, 'services after a registration')
  t.match(read(out), /node=.*cache-1;/, 'node() in the same batch')
  await within(() => consul.registerWithSidecar({ id: 'api-2', name: 'api', port: 9002, sidecarPort: 21002 }), /connect=2/, 'connect after a second api instance')
  await within(() => writeFileSync(join(dir, 'motd.txt'), 'two'), /file=two/, 'file after an edit')
  await within(() => consul.api('DELETE', '/v1/kv/app/db/port'), /tree=db\/host=db\.local;port=8080;/, 'tree after a KV delete')
})
