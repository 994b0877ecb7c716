#!/usr/bin/env node
// `npm run demo`: a real Consul dev agent, an `api` and a `web` app, and one
// meshplate HAProxy sidecar in front of each. web calls api through its
// upstream listener over mTLS; the demo shows that request, a deny intention
// refusing it, and allow again, then stays up until Ctrl-C and cleans up
// every process it started.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, openSync, rmSync } from 'node:fs'
import { createServer, request } from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sidecarRegistration, startConsul } from '../bench/lib/consul.mjs'
import { freePorts, until } from '../bench/lib/shared.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const work = join(root, '.meshplate', 'demo')
const children = []
let consul
const say = (msg) => console.log(`\x1b[1m[demo]\x1b[0m ${msg}`)

function provision() {
  const onPath = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0
  if (!existsSync(join(root, '.cache/bin/consul')) || !onPath('haproxy')) {
    say('consul or haproxy missing: running scripts/provision (first time: a few minutes)')
    if (spawnSync('bash', [join(root, 'scripts/provision')], { stdio: 'inherit' }).status !== 0) throw new Error('provisioning failed')
  }
  if (spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' }).status !== 0) throw new Error('build failed')
}

function start(name, cmd, args) {
  const log = join(work, `${name}.log`)
  const fd = openSync(log, 'a')
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], detached: false })
  children.push(child)
  return log
}

function get(port, path = '/') {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 3000 }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (e) => resolve({ status: 0, body: e.message }))
    req.end()
  })
}

/** `until` from bench/lib/shared.mjs, counting a thrown check as not yet. */
const settle = (check, ms, what) => until(() => check().catch(() => false), ms, what)

async function main() {
  provision()
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work, { recursive: true })
  consul = await startConsul({ node: 'demo', logLevel: 'info', logFile: join(work, 'consul.log') })
  const addr = consul.addr
  say(`consul agent -dev on ${addr}`)
  const [apiPort, webPort, apiPublic, webPublic, upstream] = await freePorts(5)

  // The two apps: api answers; web answers with what api told it through the mesh.
  const api = createServer((req, res) => res.end(`hello from api (path ${req.url})\n`)).listen(apiPort, '127.0.0.1')
  const web = createServer(async (req, res) => {
    const r = await get(upstream, '/from-web')
    res.statusCode = r.status === 200 ? 200 : 502
    // A deny is the mesh's answer (403 "RBAC: access denied"); no answer at all is 0 here.
    res.end(r.status === 200 ? `web got: ${r.body}` : `web's call to api through the mesh: ${r.status ? `${r.status} ${r.body.trim()}` : r.body}\n`)
  }).listen(webPort, '127.0.0.1')

  const register = (s) => consul.json('PUT', '/v1/agent/service/register', sidecarRegistration({ ...s, proxyConfig: { protocol: 'http', bind_address: '127.0.0.1' }, checkName: 'demo', ttl: '24h' }))
  await register({ name: 'api', port: apiPort, sidecarPort: apiPublic })
  await register({ name: 'web', port: webPort, sidecarPort: webPublic, upstreams: [{ DestinationName: 'api', LocalBindPort: upstream }] })
  const logs = {}
  for (const svc of ['api', 'web']) {
    say(`starting meshplate sidecar --sidecar-for ${svc}`)
    logs[svc] = start(`${svc}-sidecar`, process.execPath, ['--max-semi-space-size=1', join(root, 'dist/cli.js'), 'sidecar', '--sidecar-for', svc, '--consul-addr', addr, '--dir', join(work, svc)])
  }
  await settle(async () => (await get(webPort)).status === 200, 30_000, 'web -> api through the sidecars')
  say(`curl http://127.0.0.1:${webPort}/  ->  ${(await get(webPort)).body.trim()}`)

  say('writing intention web -> api: deny')
  await consul.json('PUT', '/v1/connect/intentions/exact?source=web&destination=api', { Action: 'deny' })
  await settle(async () => (await get(webPort)).status === 502, 10_000, 'the deny to take effect')
  say(`curl http://127.0.0.1:${webPort}/  ->  ${(await get(webPort)).body.trim()}`)

  say('writing intention web -> api: allow')
  await consul.json('PUT', '/v1/connect/intentions/exact?source=web&destination=api', { Action: 'allow' })
  await settle(async () => (await get(webPort)).status === 200, 10_000, 'the allow to take effect')
  say(`curl http://127.0.0.1:${webPort}/  ->  ${(await get(webPort)).body.trim()}`)

  console.log(`
The mesh is up. Try:
  curl http://127.0.0.1:${webPort}/                      web app (calls api through the mesh)
  curl http://127.0.0.1:${upstream}/                      web's upstream listener for api (mTLS to api's sidecar)
  curl -X PUT -d '{"Action":"deny"}' 'http://${addr}/v1/connect/intentions/exact?source=web&destination=api'
Consul UI/API:   http://${addr}/ui/
Rendered files:  ${join(work, 'api')}  ${join(work, 'web')}
Logs:            ${logs.api}
                 ${logs.web}
                 ${join(work, 'consul.log')}
Ctrl-C stops everything.`)
  await new Promise((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  api.close()
  web.close()
}

async function cleanup() {
  for (const child of children.reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue
    child.kill('SIGTERM')
    await new Promise((r) => {
      const t = setTimeout(() => (child.kill('SIGKILL'), r()), 5000)
      child.once('exit', () => (clearTimeout(t), r()))
    })
  }
  await consul?.stop()
  say('stopped every process the demo started')
}

main().then(cleanup, async (err) => {
  console.error(`[demo] ${err.message}`)
  await cleanup()
  process.exitCode = 1
})
