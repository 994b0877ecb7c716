/**
 * The yardstick for the Nomad load test: the same two sidecars (meshplate +
 * HAProxy) and the same stand-in apps as the shipped job, run on loopback
 * outside Nomad against the lab's Consul, so a latency or failure figure can
 * be blamed on Nomad's networking or not, in the same run.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { NomadLab } from './nomad.ts'
import { freePorts } from './ports.ts'
import { eventually, meshplate } from './process.ts'
import { httpGet } from './traffic.ts'

export interface OutsidePair {
  upstreamPort: number
  stop(): Promise<void>
}

/** Starts api-outside and web-outside with their sidecars; resolves once web -> api answers. */
export async function startOutsidePair(lab: NomadLab): Promise<OutsidePair> {
  const [apiApp, webApp, apiPublic, webPublic, upstreamPort] = (await freePorts(5)) as [number, number, number, number, number]
  const base = mkdtempSync(join(tmpdir(), 'mp-out-'))
  const apps: ChildProcess[] = [apiApp, webApp].map((port) =>
    spawn(process.execPath, ['-e', `require('node:http').createServer((req, res) => res.end('app\\n')).listen(${port}, '127.0.0.1')`], { stdio: 'ignore' }),
  )
  const proxyConfig = { protocol: 'http', bind_address: '127.0.0.1' }
  await lab.consul.registerWithSidecar({ name: 'api-outside', port: apiApp, sidecarPort: apiPublic, proxyConfig })
  await lab.consul.registerWithSidecar({ name: 'web-outside', port: webApp, sidecarPort: webPublic, proxyConfig, upstreams: [{ DestinationName: 'api-outside', LocalBindPort: upstreamPort }] })
  const sidecars = ['api-outside', 'web-outside'].map((svc) => meshplate(['sidecar', '--sidecar-for', svc, '--consul-addr', lab.consul.addr, '--dir', join(base, svc)]))
  const stop = async () => {
    await Promise.all(sidecars.map((s) => s.stop()))
    for (const a of apps) a.kill()
    for (const id of ['api-outside', 'web-outside']) await lab.consul.deregister(id).catch(() => {})
    rmSync(base, { recursive: true, force: true })
  }
  try {
    await eventually(async () => { const r = await httpGet(upstreamPort); return r.ok && r.status === 200 }, 30_000, 'web-outside -> api-outside')
  } catch (err) {
    await stop()
    throw new Error(`${(err as Error).message}\n${sidecars.map((s) => s.output().slice(-1500)).join('\n')}`)
  }
  return { upstreamPort, stop }
}
