/**
 * A two-service mesh for end-to-end tests: a real Consul dev agent, an `api`
 * and a `web` app, and one `meshplate sidecar` (real HAProxy) in front of
 * each, with web's upstream listener pointing at api. Sidecar folders live
 * under the OS temp dir because HAProxy's unix socket paths must stay short.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { h2cApp, httpApp, tcpApp, type App } from './apps.ts'
import { startConsul, startServerAndClient, type ConsulAgent, type ConsulOptions } from './consul.ts'
import { freePorts } from './ports.ts'
import { eventually, meshplate, type Running } from './process.ts'

export interface Mesh {
  /** The agent the sidecars talk to: the dev agent, or with `serverDataDir` the client agent. */
  consul: ConsulAgent
  /** With `serverDataDir`: the server the client agent joined. */
  server?: ConsulAgent
  apps: { api: App; web: App }
  sidecars: { api: Running; web: Running }
  dirs: { api: string; web: string }
  ports: { apiPublic: number; webPublic: number; upstream: number }
  /** One request through web's upstream listener; resolves to the status and body or an error string. */
  stop(): Promise<void>
}

export interface MeshOptions {
  protocol: 'tcp' | 'http' | 'http2' | 'grpc'
  /** Extra Proxy.Config keys for api's sidecar. */
  apiConfig?: Record<string, unknown>
  /** Config of web's upstream to api (e.g. server_slots). */
  upstreamConfig?: Record<string, unknown>
  /** api's app instead of the protocol's default one (e.g. one that answers slowly). */
  apiApp?: (name: string) => Promise<App>
  /** api's sidecar `Proxy.Expose`, and api's own checks, given api's app port. */
  apiExpose?: (appPort: number) => Record<string, unknown>
  apiChecks?: (appPort: number) => Array<Record<string, unknown>>
  consul?: ConsulOptions
  /** A server keeping its state here and a client agent for the sidecars, instead of one dev agent. */
  serverDataDir?: string
  /** Runs after the sidecar folders are chosen, before the sidecars start (e.g. to mount one). */
  prepare?: (dirs: { api: string; web: string }) => void
}

/** Starts Consul, both apps and both sidecars, and waits until web -> api answers. */
export async function startMesh(o: MeshOptions): Promise<Mesh> {
  const pair = o.serverDataDir ? await startServerAndClient(o.serverDataDir) : undefined
  const consul = pair?.client ?? (await startConsul(o.consul))
  const app = o.protocol === 'tcp' ? tcpApp : o.protocol === 'http' ? httpApp : h2cApp
  const apps = { api: await (o.apiApp ?? app)('api'), web: await app('web') }
  const [apiPublic, webPublic, upstream] = await freePorts(3)
  const proxyConfig = { protocol: o.protocol, bind_address: '127.0.0.1' }
  await consul.registerWithSidecar({ name: 'api', port: apps.api.port, sidecarPort: apiPublic, proxyConfig: { ...proxyConfig, ...o.apiConfig }, expose: o.apiExpose?.(apps.api.port), checks: o.apiChecks?.(apps.api.port) })
  await consul.registerWithSidecar({
    name: 'web',
    port: apps.web.port,
    sidecarPort: webPublic,
    proxyConfig,
    upstreams: [{ DestinationName: 'api', LocalBindPort: upstream!, Config: o.upstreamConfig }],
  })
  const base = mkdtempSync(join(tmpdir(), 'mp-'))
  const dirs = { api: join(base, 'api'), web: join(base, 'web') }
  o.prepare?.(dirs)
  const start = (svc: 'api' | 'web') => meshplate(['sidecar', '--sidecar-for', svc, '--consul-addr', consul.addr, '--dir', dirs[svc]])
  const sidecars = { api: start('api'), web: start('web') }
  const mesh: Mesh = {
    consul,
    server: pair?.server,
    apps,
    sidecars,
    dirs,
    ports: { apiPublic: apiPublic!, webPublic: webPublic!, upstream: upstream! },
    async stop() {
      await Promise.all([sidecars.api.stop(), sidecars.web.stop()])
      await Promise.all([apps.api.close(), apps.web.close()])
      await (pair ?? consul).stop()
      rmSync(base, { recursive: true, force: true })
    },
  }
  try {
    for (const svc of ['api', 'web'] as const) {
      // meshplate's "HAProxy ready": its master CLI answers with a serving worker. HAProxy's own
      // "Loading success" can come first, and a test that talks to the master CLI right then may
      // find it not yet listening (ECONNREFUSED, seen once in CI with HAProxy 3.0).
      await eventually(() => /HAProxy ready/.test(sidecars[svc].output()), 20_000, `${svc} sidecar's HAProxy to be ready`)
    }
  } catch (err) {
    const logs = `api:\n${sidecars.api.output().slice(-2000)}\nweb:\n${sidecars.web.output().slice(-2000)}`
    await mesh.stop()
    throw new Error(`${(err as Error).message}\n${logs}`)
  }
  return mesh
}
