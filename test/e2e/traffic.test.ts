/**
 * Two real sidecars on a real Consul agent: web reaches api through its
 * upstream listener over mTLS, over TCP and over HTTP, and api's public port
 * refuses plaintext, TLS without a client certificate, and a certificate from
 * another CA that carries web's SPIFFE id.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startMesh } from '../support/mesh.ts'
import { freePort } from '../support/ports.ts'
import { eventually } from '../support/process.ts'
import { httpGet, tcpRoundTrip, tlsExchange } from '../support/traffic.ts'

t.test('tcp: web -> api through both sidecars', async (t) => {
  const mesh = await startMesh({ protocol: 'tcp' })
  t.teardown(() => mesh.stop())
  const r = await eventually(async () => {
    const o = await tcpRoundTrip(mesh.ports.upstream, 'hello')
    return o.ok ? o : undefined
  }, 10_000, 'a tcp round trip')
  t.equal(r.body, 'api:hello', 'the api app answered through the mesh')
  // HAProxy logs a TCP session when it ends.
  const line = await eventually(() => /src=spiffe:\/\/\S+\/svc\/web decision=allow rule=\S+ reason=\S+/.exec(mesh.sidecars.api.output()), 5_000, "api's connection log line")
  t.ok(line, `api logged the source, decision and reason: ${line[0]}`)
})

t.test('http: web -> api through both sidecars, and refused clients', async (t) => {
  const metricsPort = await freePort()
  const mesh = await startMesh({ protocol: 'http', apiConfig: { prometheus_bind_addr: `127.0.0.1:${metricsPort}` } })
  t.teardown(() => mesh.stop())
  const r = await eventually(async () => {
    const o = await httpGet(mesh.ports.upstream, '/hello')
    return o.ok && o.status === 200 ? o : undefined
  }, 10_000, 'an http request')
  t.match(r.body, /^api \/hello\n/, 'the api app answered through the mesh')

  const roots = readFileSync(join(mesh.dirs.api, 'roots.pem'), 'utf8')
  const request = 'GET / HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n'
  const plain = await tcpRoundTrip(mesh.ports.apiPublic, request)
  t.notOk(plain.ok && plain.body.includes('api /'), 'plaintext gets no answer from the app')

  const noCert = await tlsExchange({ port: mesh.ports.apiPublic, ca: roots, payload: request })
  t.notOk(noCert.ok && noCert.body.includes('api /'), `TLS without a client cert is refused (${noCert.ok ? 'answered' : noCert.error})`)

  const forged = forgedWebCert(JSON.parse(execFileSync('curl', ['-s', `http://${mesh.consul.addr}/v1/agent/connect/ca/roots`], { encoding: 'utf8' })).TrustDomain)
  const withForged = await tlsExchange({ port: mesh.ports.apiPublic, ca: roots, cert: forged.cert, key: forged.key, payload: request })
  t.notOk(withForged.ok && withForged.body.includes('api /'), `a forged SPIFFE id from another CA is refused (${withForged.ok ? 'answered' : withForged.error})`)

  const leaf = (await mesh.consul.api('GET', '/v1/agent/connect/ca/leaf/web')).body
  const genuine = await tlsExchange({ port: mesh.ports.apiPublic, ca: roots, cert: leaf.CertPEM, key: leaf.PrivateKeyPEM, payload: request })
  t.ok(genuine.ok && genuine.body.includes('api /'), 'the same request with web\'s real leaf is answered (the refusals above are not an artefact)')

  const metrics = await httpGet(metricsPort, '/metrics')
  t.ok(metrics.ok && metrics.status === 200, 'prometheus_bind_addr serves /metrics')
  t.match(metrics.ok ? metrics.body : '', /haproxy_frontend_http_requests_total\{proxy="public_listener"\} [1-9]/, 'with counters of the public listener')
})

/** A CA that is not Consul's, and a leaf from it carrying web's real SPIFFE id. */
function forgedWebCert(trustDomain: string): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'forged-'))
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=Not Consul'])
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/'])
  const ext = join(dir, 'ext.cnf')
  execFileSync('sh', ['-c', `printf 'subjectAltName=URI:spiffe://${trustDomain}/ns/default/dc/dc1/svc/web\\n' > ${ext}`])
  run(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', 'leaf.pem'])
  return { cert: readFileSync(join(dir, 'leaf.pem'), 'utf8'), key: readFileSync(join(dir, 'leaf.key'), 'utf8') }
}

t.test('http2: HTTP/2 between the sidecars and to the app (h2c)', async (t) => {
  const mesh = await startMesh({ protocol: 'http2' })
  t.teardown(() => mesh.stop())
  const r = await eventually(async () => {
    const o = await httpGet(mesh.ports.upstream, '/h2')
    return o.ok && o.status === 200 ? o : undefined
  }, 10_000, 'a request through the http2 mesh')
  t.equal(r.body, 'api /h2 HTTP/2.0\n', 'the app was reached over HTTP/2 although the client spoke HTTP/1.1')
  t.match(readFileSync(join(mesh.dirs.web, 'haproxy.cfg'), 'utf8'), /server \S+ 127\.0\.0\.1:\d+ ssl verify required .* alpn h2/, 'h2 negotiated by ALPN between sidecars')
})
