// The paths under test, built the way users build them: for each pair a
// `web-<key>` service whose upstream is `api-<key>`, both registered with a
// Connect sidecar, an allow intention web-<key> -> api-<key> (so that
// authorize.lua decides from its table), and one `meshplate sidecar` per
// service running the real HAProxy. The ideal pair is two hand-written
// HAProxies using the same leaf and roots files as the rendered tcp pair. The
// Consul pair is the same two services run by Consul's built-in proxy
// (`consul connect proxy -sidecar-for`), the peer meshplate is measured against.
import { existsSync, mkdirSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { freePorts } from './consul.mjs'
import { idealConfigs, startHaproxy } from './haproxy.mjs'
import { haproxyTree, start } from './procs.mjs'
import { makeVariant } from './variants.mjs'
import { NODE_FLAGS, sleep, until } from '../../lib/shared.mjs'


/** Registers and starts every rendered pair; resolves once each sidecar's HAProxy is up. */
export async function startRenderedPairs({ consul, bins, root, work, appPort, specs }) {
  const pairs = []
  for (const spec of specs) {
    const [apiPublic, webPublic, upstream] = await freePorts(3)
    const api = `api-${spec.key}`
    const web = `web-${spec.key}`
    await consul.intention(web, api, 'allow')
    await consul.register({ name: api, port: appPort, sidecarPort: apiPublic, protocol: spec.protocol })
    await consul.register({ name: web, port: appPort, sidecarPort: webPublic, protocol: spec.protocol, upstreams: [{ DestinationName: api, LocalBindPort: upstream }] })
    const templateDir = spec.variant === 'shipped' ? undefined : makeVariant(join(root, 'templates/haproxy'), spec.variant, work)
    const hop = (svc, role) => {
      const dir = join(work, `${spec.key}-${role}`)
      mkdirSync(dir, { recursive: true })
      const args = [...NODE_FLAGS, join(root, 'dist/cli.js'), 'sidecar', '--sidecar-for', svc, '--consul-addr', consul.addr, '--dir', dir, '--haproxy', bins.haproxy]
      if (templateDir) args.push('--template-dir', templateDir)
      const proc = start(process.execPath, args, { logFile: join(work, `${spec.key}-${role}.log`), niced: true })
      return { role, svc, dir, proc, sock: join(dir, 'haproxy.sock'), meshplatePid: proc.pid }
    }
    pairs.push({ ...spec, kind: 'rendered', url: `http://127.0.0.1:${upstream}/`, hops: [hop(web, 'web'), hop(api, 'api')] })
  }
  for (const p of pairs) {
    for (const h of p.hops) {
      await until(() => {
        if (h.proc.exitCode !== null) throw new Error(`${h.svc} sidecar exited ${h.proc.exitCode}: ${h.proc.log().slice(-1500)}`)
        return /Loading success/.test(h.proc.log()) && haproxyTree(h.proc.pid) && existsSync(h.sock)
      }, 30_000, `the ${h.svc} sidecar's HAProxy`)
    }
  }
  return pairs
}

/** Writes and starts the ideal pair for `mode`, reusing the rendered tcp pair's cert files. */
export async function startIdealPair({ bins, work, appPort, mode, certs }) {
  const [apiPort, webPort] = await freePorts(2)
  const c = idealConfigs(work, { mode, appPort, api: { port: apiPort, certDir: certs.api }, web: { port: webPort, certDir: certs.web } })
  const hop = (role, cfg, sock) => ({ role, svc: `ideal-${mode}-${role}`, proc: startHaproxy(bins.haproxy, cfg, join(work, `ideal-${mode}-${role}.log`)), sock })
  const hops = [hop('web', c.webCfg, c.webSock), hop('api', c.apiCfg, c.apiSock)]
  for (const h of hops) {
    await until(() => {
      if (h.proc.exitCode !== null) throw new Error(`${h.svc} exited ${h.proc.exitCode}: ${h.proc.log().slice(-1500)}`)
      return haproxyTree(h.proc.pid) && existsSync(h.sock)
    }, 15_000, `${h.svc}`)
  }
  return { key: `ideal-${mode}`, kind: 'ideal', protocol: mode, variant: 'ideal', url: `http://127.0.0.1:${webPort}/`, hops }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function listening(port) {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port })
    c.setTimeout(1000, () => c.destroy())
    c.once('connect', () => {
      resolve(true)
      c.destroy()
    })
    c.once('close', () => resolve(false))
    c.once('error', () => {})
  })
}

/**
 * Registers `web-consul` -> `api-consul` (tcp, allow intention) and starts Consul's
 * built-in proxy for each: api's listens on its sidecar port, web's on the
 * upstream's LocalBindPort, both on 127.0.0.1. Each hop is one process, which is
 * both its data path and its whole sidecar.
 */
export async function startConsulPair({ consul, bins, work, appPort }) {
  const [apiPublic, webPublic, upstream] = await freePorts(3)
  await consul.intention('web-consul', 'api-consul', 'allow')
  await consul.register({ name: 'api-consul', port: appPort, sidecarPort: apiPublic, protocol: 'tcp' })
  await consul.register({ name: 'web-consul', port: appPort, sidecarPort: webPublic, protocol: 'tcp', upstreams: [{ DestinationName: 'api-consul', LocalBindAddress: '127.0.0.1', LocalBindPort: upstream }] })
  const hop = (svc, role, port) => {
    const proc = start(bins.consul, ['connect', 'proxy', '-sidecar-for', svc, '-http-addr', consul.addr], { logFile: join(work, `consul-tcp-${role}.log`), niced: true })
    const pids = () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${svc}: consul connect proxy exited (${proc.log().slice(-800)})`)
      return [proc.pid]
    }
    return { role, svc, proc, port, dataPids: pids, sidecarPids: pids }
  }
  const hops = [hop('web-consul', 'web', upstream), hop('api-consul', 'api', apiPublic)]
  for (const h of hops) await until(async () => h.dataPids() && (await listening(h.port)), 30_000, `Consul's built-in proxy for ${h.svc} on port ${h.port}`)
  return { key: 'consul-tcp', kind: 'consul', protocol: 'tcp', variant: 'consul', url: `http://127.0.0.1:${upstream}/`, hops }
}

/** One GET through a path: throws unless it answers 200 with the app's 1 KB body. */
export async function probe(path, bodyBytes) {
  let last
  for (let i = 0; i < 50; i++) {
    try {
      const res = await fetch(path.url, { signal: AbortSignal.timeout(2000) })
      const body = await res.text()
      if (res.status === 200 && body.length === bodyBytes) return
      last = new Error(`status ${res.status}, ${body.length} bytes`)
    } catch (err) {
      last = err
    }
    await sleep(200)
  }
  throw new Error(`${path.key}: ${path.url} does not answer 200 with ${bodyBytes} bytes: ${last?.message}`)
}
