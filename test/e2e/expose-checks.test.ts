/**
 * `Expose.Checks` with a real Consul 1.14.11 agent and real HAProxy: the agent
 * points each HTTP and gRPC check of the service at a port on the sidecar
 * (`ExposedPort`, from 21500) and tells nobody the path; meshplate learns it
 * from `/v1/agent/checks` and serves it, so the agent's own checks turn
 * passing. Only that path is served (anything else is 404), from the port the
 * check targets: the service's port for a check registered through the HTTP
 * API (which does not say), and the check's own port for a service defined in
 * the agent's config (DebugConfig says). A gRPC check reaches a real gRPC
 * health server over h2c.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { createServer as createH2cServer } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startConsul } from '../support/consul.ts'
import { startMesh } from '../support/mesh.ts'
import { freePorts } from '../support/ports.ts'
import { eventually, meshplate } from '../support/process.ts'
import { httpAnswer } from '../support/traffic.ts'

interface AgentCheck {
  Name: string
  Status: string
  Output: string
  ExposedPort: number
}

interface Answer {
  status: number
  body: string
}

const get = (port: number, path: string): Promise<Answer> => httpAnswer(port, path, { timeoutMs: 5_000 })

/** The agent's view of one check, by name. */
async function checkNamed(api: (m: string, p: string) => Promise<{ body: unknown }>, name: string): Promise<AgentCheck> {
  const all = (await api('GET', '/v1/agent/checks')).body as Record<string, AgentCheck>
  const found = Object.values(all).find((c) => c.Name === name)
  if (!found) throw new Error(`no check named ${name}`)
  return found
}

/** An HTTP app that answers `status` to every path and records the paths it was asked. */
async function recordingApp(status: number): Promise<{ port: number; paths: string[]; close(): Promise<void> }> {
  const paths: string[] = []
  const server = createServer((req, res) => {
    paths.push(req.url ?? '')
    res.writeHead(status, { 'content-type': 'text/plain' })
    res.end(`${status} ${req.url}\n`)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { port: (server.address() as AddressInfo).port, paths, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()) }) }
}

/** A gRPC health server (grpc.health.v1.Health/Check answers SERVING) over h2c; records the services asked. */
async function grpcHealthApp(): Promise<{ port: number; asked: string[]; close(): Promise<void> }> {
  const asked: string[] = []
  const server = createH2cServer()
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = []
    stream.on('data', (d: Buffer) => chunks.push(d))
    stream.on('end', () => {
      // The request message: a 5-byte gRPC frame header, then field 1 (service) as a length-delimited string.
      const msg = Buffer.concat(chunks).subarray(5)
      asked.push(`${headers[':path']} ${msg.length > 2 ? msg.subarray(2, 2 + msg[1]!).toString() : ''}`)
      if (headers[':path'] !== '/grpc.health.v1.Health/Check') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true })
        return
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
      // HealthCheckResponse{status: SERVING (1)}, framed.
      stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { port: (server.address() as AddressInfo).port, asked, close: () => new Promise((r) => server.close(() => r())) }
}

t.test('a check registered through the API: meshplate serves its path from the service\'s port, and the check passes', async (t) => {
  const mesh = await startMesh({
    protocol: 'http',
    apiExpose: () => ({ Checks: true }),
    apiChecks: (appPort) => [{ Name: 'api-http', HTTP: `http://127.0.0.1:${appPort}/health?deep=1`, Interval: '1s' }],
  })
  t.teardown(() => mesh.stop())
  const api = mesh.consul.api
  const first = await checkNamed(api, 'api-http')
  t.ok(first.ExposedPort >= 21500, `the agent exposes the check on the sidecar's port ${first.ExposedPort}`)
  const port = first.ExposedPort

  const passing = await eventually(async () => {
    const c = await checkNamed(api, 'api-http')
    return c.Status === 'passing' ? c : undefined
  }, 40_000, 'the agent\'s check to pass')
  t.match(passing.Output, new RegExp(`^HTTP GET http://127\\.0\\.0\\.1:${port}/health\\?deep=1: 200 OK Output: api /health\\?deep=1\\n`), 'the agent called the sidecar, which answered from the app')
  const cfg = readFileSync(join(mesh.dirs.api, 'haproxy.cfg'), 'utf8')
  t.match(cfg, `# Expose.Checks, check "service:api" ("api-http"): the agent does not say its app port; the service's port ${mesh.apps.api.port} is assumed.`)
  t.match(cfg, `bind 127.0.0.1:${port}\n`)
  t.match(cfg, 'tcp-request connection reject unless { src 127.0.0.0/8 ::1 127.0.0.1 }', 'loopback and the agent only')

  const same = await get(port, '/health?other=2')
  t.equal(same.status, 200, 'the check\'s path, with any query string')
  t.match(same.body, /^api \/health\?other=2\n/)
  const other = await get(port, '/admin')
  t.equal(other.status, 404, 'another path on that port is not served')
  t.equal((await get(port, '/health/x')).status, 404, 'nor a longer one')

  // Without the sidecar, nothing answers there: the check passed because meshplate served it.
  await mesh.sidecars.api.stop()
  await eventually(async () => (await checkNamed(api, 'api-http')).Status === 'critical', 15_000, 'the check to fail without the sidecar')
  t.pass('the check fails again once the sidecar is gone')
})

t.test('a service from the agent\'s config: each check served from the port it targets; gRPC over h2c', async (t) => {
  const main = await recordingApp(500)
  const admin = await recordingApp(200)
  const grpc = await grpcHealthApp()
  t.teardown(() => Promise.all([main.close(), admin.close(), grpc.close()]))
  const [sidecarPort] = await freePorts(1)
  // The shape Consul documents: a service definition with checks and `expose { checks = true }`.
  const service = `service {
    name = "cfg"
    port = ${main.port}
    address = "127.0.0.1"
    checks = [
      {
        name = "cfg-http"
        http = "http://127.0.0.1:${admin.port}/ready"
        interval = "1s"
      },
      {
        name = "cfg-grpc"
        grpc = "127.0.0.1:${grpc.port}/cfg"
        interval = "1s"
      }
    ]
    connect { sidecar_service {
      port = ${sidecarPort}
      check {
        name = "ttl"
        ttl = "1h"
        status = "passing"
      }
      proxy {
        config {
          bind_address = "127.0.0.1"
          protocol = "http"
        }
        expose { checks = true }
      }
    } }
  }`
  const consul = await startConsul({ hcl: [service] })
  t.teardown(() => consul.stop())
  const dir = join(mkdtempSync(join(tmpdir(), 'mp-')), 'cfg')
  t.teardown(() => rmSync(join(dir, '..'), { recursive: true, force: true }))
  const sidecar = meshplate(['sidecar', '--sidecar-for', 'cfg', '--consul-addr', consul.addr, '--dir', dir])
  t.teardown(() => sidecar.stop())

  for (const name of ['cfg-http', 'cfg-grpc']) {
    await eventually(async () => (await checkNamed(consul.api, name)).Status === 'passing', 40_000, `${name} to pass`).catch((err: Error) => {
      t.comment(sidecar.output().slice(-3000))
      throw err
    })
    t.pass(`${name} passes through the sidecar`)
  }
  const http = await checkNamed(consul.api, 'cfg-http')
  t.match(http.Output, `HTTP GET http://127.0.0.1:${http.ExposedPort}/ready: 200 OK`)
  t.ok(admin.paths.includes('/ready'), 'the HTTP check reached the port its URL names')
  t.notOk(main.paths.includes('/ready'), 'not the service\'s port, which would have answered 500')
  t.ok(grpc.asked.includes('/grpc.health.v1.Health/Check cfg'), `the gRPC health server was asked about "cfg" (${grpc.asked.slice(0, 3).join(', ')})`)
  const grpcCheck = await checkNamed(consul.api, 'cfg-grpc')
  t.match(grpcCheck.Output, `gRPC check 127.0.0.1:${grpcCheck.ExposedPort}/cfg: success`)
  const cfg = readFileSync(join(dir, 'haproxy.cfg'), 'utf8')
  t.match(cfg, `HTTP "http://127.0.0.1:${admin.port}/ready"`, 'the config says where the port comes from')
  t.match(cfg, new RegExp(`server app 127\\.0\\.0\\.1:${grpc.port} proto h2\\n`), 'h2c to the gRPC app')
  t.equal((await get(http.ExposedPort, '/')).status, 404, 'only the check\'s path')
})
