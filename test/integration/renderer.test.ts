/**
 * The renderer against a real `consul agent -dev`: what `meshplate once`
 * renders for a registered connect proxy (registration, upstream instances,
 * leaf, roots), `--sidecar-for` lookup, and the snapshot round trip CI uses.
 */
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { repoRoot } from '../support/binaries.ts'
import { startConsul } from '../support/consul.ts'
import { exitsWith, meshplateOnce } from '../support/process.ts'

const tpl = (name: string) => join(repoRoot, 'test/fixtures/templates', name)

t.test('once renders a real agent proxy, upstreams, leaf and roots', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  await consul.registerWithSidecar({ name: 'api', port: 9001, sidecarPort: 21001 })
  await consul.registerWithSidecar({ name: 'web', port: 9000, sidecarPort: 21000, upstreams: [{ DestinationName: 'api', LocalBindPort: 9191 }] })
  const dir = t.testdir()
  const out = join(dir, 'proxy.txt')
  const leafOut = join(dir, 'leaf.pem')
  const r = await meshplateOnce(['once', '--consul-addr', consul.addr, '--proxy-id', 'web-sidecar-proxy', '-t', `${tpl('proxy.njk')}:${out}`, '-t', `${tpl('leaf-cert.njk')}:${leafOut}`, '--timeout', '10s'])
  exitsWith(t, r, 0)
  const text = readFileSync(out, 'utf8')
  const roots = (await consul.api('GET', '/v1/agent/connect/ca/roots')).body
  t.match(text, 'proxy=web-sidecar-proxy destination=web port=21000')
  t.match(text, 'upstream=api bind=127.0.0.1:9191 instances=1')
  t.match(text, `instance=127.0.0.1:21001 uri=spiffe://${roots.TrustDomain}/ns/default/dc/dc1/svc/api`)
  t.match(text, `trust_domain=${roots.TrustDomain}`)
  t.match(text, `roots=${roots.Roots.length}`)
  const cert = new X509Certificate(readFileSync(leafOut))
  t.equal(cert.subjectAltName, `URI:spiffe://${roots.TrustDomain}/ns/default/dc/dc1/svc/web`, 'leaf URI SAN is the SPIFFE id of web')
  t.ok(cert.verify(new X509Certificate(roots.Roots[0].RootCert).publicKey), 'leaf is signed by the active root')
})

t.test('--sidecar-for finds the proxy by its destination service id', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  await consul.registerWithSidecar({ id: 'web-1', name: 'web', port: 9000, sidecarPort: 21000 })
  const out = join(t.testdir(), 'proxy.txt')
  const r = await meshplateOnce(['once', '--consul-addr', consul.addr, '--sidecar-for', 'web-1', '-t', `${tpl('proxy.njk')}:${out}`, '--timeout', '10s'])
  exitsWith(t, r, 0)
  t.match(readFileSync(out, 'utf8'), 'proxy=web-1-sidecar-proxy destination=web')

  const missing = await meshplateOnce(['once', '--consul-addr', consul.addr, '--sidecar-for', 'nope', '-t', `${tpl('proxy.njk')}:${out}.2`, '--timeout', '2s'])
  t.not(missing.code, 0, 'no proxy for an unknown service')
  t.match(missing.output, /no connect proxy for service "nope"/)
})

t.test('--record then --data renders the same bytes with no Consul', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  await consul.registerWithSidecar({ name: 'api', port: 9001, sidecarPort: 21001 })
  await consul.registerWithSidecar({ name: 'web', port: 9000, sidecarPort: 21000, upstreams: [{ DestinationName: 'api', LocalBindPort: 9191 }] })
  const dir = t.testdir()
  const snap = join(dir, 'snap.json')
  const live = await meshplateOnce(['once', '--consul-addr', consul.addr, '--proxy-id', 'web-sidecar-proxy', '-t', `${tpl('proxy.njk')}:${dir}/live.txt`, '--record', snap])
  exitsWith(t, live, 0)
  await consul.stop()
  const offline = await meshplateOnce(['once', '--data', snap, '-t', `${tpl('proxy.njk')}:${dir}/offline.txt`])
  exitsWith(t, offline, 0)
  t.equal(readFileSync(`${dir}/offline.txt`, 'utf8'), readFileSync(`${dir}/live.txt`, 'utf8'))
  const { statSync } = await import('node:fs')
  t.equal(statSync(snap).mode & 0o777, 0o600, 'snapshot holds a private key: 0600')
})

t.test('service("tag.name") selects by tag through `filter` (not the deprecated ?tag=) on a real agent', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  for (const [id, tags, port] of [['api-1', ['v1'], 9001], ['api-2', ['v2', 'canary'], 9002], ['api-3', ['v2'], 9003]] as const) {
    const r = await consul.api('PUT', '/v1/agent/service/register', { ID: id, Name: 'api', Port: port, Tags: tags })
    t.equal(r.status, 200, `registered ${id}`)
  }
  const dir = t.testdir({ 'svc.njk': '{% for s in service("v2.api") %}{{ s.ID }}:{{ s.Port }} {% endfor %}|{{ service("api") | length }}' })
  const out = join(dir, 'svc.txt')
  const r = await meshplateOnce(['once', '--consul-addr', consul.addr, '-t', `${join(dir, 'svc.njk')}:${out}`, '--timeout', '10s'])
  exitsWith(t, r, 0)
  t.equal(readFileSync(out, 'utf8'), 'api-2:9002 api-3:9003 |3', 'only the v2 instances, and every instance without a tag')
})
