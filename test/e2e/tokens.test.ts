/**
 * Which Consul token a sidecar uses inside each Nomad release's task environment, against a
 * real ACL-enabled agent (default deny) with real HAProxy and real traffic. Each environment
 * (test/fixtures/nomad/<release>.json: env vars, si_token, consul_token, envoy_bootstrap.json)
 * is reproduced in a temp secrets dir with real tokens: a service-identity token for `api`, a
 * read-only token standing for Nomad's task identity, and for Nomad 2.0.4 without workload
 * identity a second service-identity token only in Envoy's bootstrap. api's sidecar must serve
 * web's requests through its mTLS public listener, log where its token came from, hand HAProxy
 * the same token as a file, and never print a token. Then: no token at all, a read-only token
 * only (one line, non-zero exit, within the 30 s start grace), and a token Nomad re-mints while
 * the sidecar runs (the 403 "ACL not found" re-read). Nomad itself is not run: its files are.
 */
import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { httpApp, type App } from '../support/apps.ts'
import { startConsul, type ConsulAgent } from '../support/consul.ts'
import { NOMAD_RELEASES, nomadTaskEnv, type NomadTokens } from '../support/nomad-secrets.ts'
import { freePorts } from '../support/ports.ts'
import { eventually, meshplate, type Running } from '../support/process.ts'
import { httpGet } from '../support/traffic.ts'

const ROOT = randomUUID()
const ALLOC = randomUUID()
const API_ID = `_nomad-task-${ALLOC}-group-api-api-9001`
/** What a Nomad task's environment must not leak into these runs from the test's own. */
const CLEAN_ENV = { CONSUL_HTTP_TOKEN: '', CONSUL_TOKEN: '', CONSUL_HTTP_TOKEN_FILE: '', NOMAD_SECRETS_DIR: '', NOMAD_ALLOC_ID: '' }

let consul: ConsulAgent
let apps: { api: App; web: App }
let web: Running
let ports: { apiPublic: number; upstream: number }
let base: string
const secrets: string[] = [ROOT]

t.before(async () => {
  consul = await startConsul({ hcl: ['acl { enabled = true\n default_policy = "deny"\n tokens { initial_management = "' + ROOT + '" } }'], token: ROOT })
  apps = { api: await httpApp('api'), web: await httpApp('web') }
  const [apiPublic, webPublic, upstream] = await freePorts(3)
  ports = { apiPublic: apiPublic!, upstream: upstream! }
  const proxyConfig = { protocol: 'http', bind_address: '127.0.0.1' }
  // api registered as Nomad registers an allocation's service; web as a plain agent service.
  await consul.registerWithSidecar({ id: API_ID, name: 'api', port: apps.api.port, sidecarPort: apiPublic, proxyConfig })
  await consul.registerWithSidecar({ name: 'web', port: apps.web.port, sidecarPort: webPublic, proxyConfig, upstreams: [{ DestinationName: 'api', LocalBindPort: upstream! }] })
  await consul.intention('web', 'api', 'allow')
  base = mkdtempSync(join(tmpdir(), 'mp-tok-'))
  writeFileSync(join(base, 'web-token'), `${await serviceToken('web')}\n`, { mode: 0o600 })
  web = meshplate(['sidecar', '--sidecar-for', 'web', '--consul-addr', consul.addr, '--consul-token-file', join(base, 'web-token'), '--dir', join(base, 'web')], CLEAN_ENV)
  await eventually(() => /HAProxy ready/.test(web.output()), 20_000, "web's sidecar").catch((err) => {
    throw new Error(`${(err as Error).message}\n${web.output().slice(-3000)}`)
  })
})

t.teardown(async () => {
  await web?.stop()
  await Promise.all([apps?.api.close(), apps?.web.close()])
  await consul?.stop()
  if (base) rmSync(base, { recursive: true, force: true })
})

/** A service-identity token (what Nomad's si_token holds); remembered so no output may show it. */
async function serviceToken(service: string): Promise<string> {
  const res = await consul.api('PUT', '/v1/acl/token', { Description: `si ${service}`, ServiceIdentities: [{ ServiceName: service }] })
  if (res.status !== 200) throw new Error(`token: ${res.status} ${res.text}`)
  secrets.push(res.body.SecretID)
  return res.body.SecretID
}

/** A read-only token, as Nomad's task identity gets through the nomad-tasks-* role. */
async function taskToken(): Promise<string> {
  const policy = await consul.api('PUT', '/v1/acl/policy', { Name: `nomad-tasks-${randomUUID().slice(0, 8)}`, Rules: 'service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }' })
  const res = await consul.api('PUT', '/v1/acl/token', { Description: 'task identity', Policies: [{ ID: policy.body.ID }] })
  secrets.push(res.body.SecretID)
  return res.body.SecretID
}

async function tokens(): Promise<NomadTokens> {
  return { SI_TOKEN: await serviceToken('api'), TASK_TOKEN: await taskToken(), ENVOY_TOKEN: await serviceToken('api') }
}

/** Starts api's sidecar as a Nomad sidecar_task would run it, with `env` as its task environment. */
function startApiSidecar(env: Record<string, string>, dir: string): Running {
  return meshplate(['sidecar', '--sidecar-for', 'api', '--dir', dir], { ...CLEAN_ENV, ...env, NOMAD_ALLOC_ID: ALLOC, CONSUL_HTTP_ADDR: `http://${consul.addr}` })
}

const reachesApi = async (path = '/probe') => {
  const o = await httpGet(ports.upstream, path, 2_000)
  return o.ok && o.status === 200 && o.body.startsWith(`api ${path}`)
}

/** HAProxy's environment (the master meshplate started), read from /proc. */
function haproxyEnv(sidecar: Running): Record<string, string> {
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid !== sidecar.proc.pid || !/\(haproxy[^)]*\)/.test(stat)) continue
      return Object.fromEntries(readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
    } catch {
      // the process went away
    }
  }
  throw new Error("no HAProxy child of api's sidecar")
}

function noTokenIn(t: Test, output: string, what: string) {
  const leaked = secrets.filter((s) => output.includes(s))
  t.same(leaked.length, 0, `no token value in ${what}`)
}

for (const release of NOMAD_RELEASES) {
  t.test(`Nomad ${release}: the sidecar uses its own token, serves mTLS traffic, hands HAProxy the same token`, async (t) => {
    const secretsDir = mkdtempSync(join(base, `secrets-${release}-`))
    const nomad = nomadTaskEnv(release, await tokens(), secretsDir)
    t.comment(nomad.release)
    const dir = join(base, `api-${release}`)
    const api = startApiSidecar(nomad.env, dir)
    t.teardown(() => api.stop())
    await eventually(() => reachesApi(), 20_000, 'web -> api through api\'s public listener').catch((err) => {
      throw new Error(`${(err as Error).message}\napi:\n${api.output().slice(-3000)}`)
    })
    t.pass('web reaches api through both sidecars (mTLS, intention allow)')
    const logged = api.output().match(/\[meshplate\] consul agent .* tokenFrom=(.*)$/m)?.[1]
    t.match(logged, new RegExp(`^${nomad.expectSource} ${secretsDir}/`), `logged where the token came from: ${logged}`)
    const env = haproxyEnv(api)
    t.notOk('CONSUL_HTTP_TOKEN' in env || 'CONSUL_TOKEN' in env, 'HAProxy sees no token variable (the task-identity token stays out)')
    t.equal(readFileSync(env.CONSUL_HTTP_TOKEN_FILE!, 'utf8').trim(), nomad.expectToken, `HAProxy's token file ${env.CONSUL_HTTP_TOKEN_FILE} holds the chosen token`)
    const exit = await api.stop()
    t.equal(exit.code, 0, 'stops cleanly')
    t.notOk(existsSync(join(dir, 'consul-token')), 'no copy of the token is left behind')
    noTokenIn(t, api.output(), "api's sidecar output")
  })
}

t.test('ACLs on and no token anywhere: one line naming every place looked in, exit 1 within the grace', async (t) => {
  const secretsDir = mkdtempSync(join(base, 'secrets-none-'))
  const api = startApiSidecar({ NOMAD_SECRETS_DIR: secretsDir }, join(base, 'api-none'))
  t.teardown(() => api.stop())
  const started = Date.now()
  const exit = await api.exited
  const took = Date.now() - started
  const lines = api.output().split('\n').filter((l) => /no usable Consul token/.test(l))
  t.equal(exit.code, 1, 'exit 1')
  t.ok(took < 33_000, `gave up at the 30 s start grace (${took} ms)`)
  t.equal(lines.length, 1, 'one line')
  t.equal(lines[0], `meshplate: no usable Consul token: the agent has ACLs on with default policy deny, no token was found, and the anonymous token sees no proxy (no connect proxy for service "api" in Nomad allocation ${ALLOC}: it has registered no connect proxy yet); looked in --consul-token-file, --consul-token, config consul.tokenFile/consul.token, ${secretsDir}/si_token, ${secretsDir}/envoy_bootstrap.json, env CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_TOKEN, CONSUL_TOKEN`)
})

t.test('only the read-only task-identity token (no si_token, no bootstrap token): refused, one line, exit 1 within the grace', async (t) => {
  const task = await taskToken()
  const secretsDir = mkdtempSync(join(base, 'secrets-ro-'))
  writeFileSync(join(secretsDir, 'consul_token'), `${task}\n`)
  const api = startApiSidecar({ NOMAD_SECRETS_DIR: secretsDir, CONSUL_HTTP_TOKEN: task, CONSUL_TOKEN: task }, join(base, 'api-ro'))
  t.teardown(() => api.stop())
  const started = Date.now()
  const exit = await api.exited
  const took = Date.now() - started
  const lines = api.output().split('\n').filter((l) => /no usable Consul token/.test(l))
  t.equal(exit.code, 1, 'exit 1')
  t.ok(took < 33_000, `gave up at the 30 s start grace (${took} ms)`)
  t.equal(lines.length, 1, 'one line')
  t.match(lines[0], /^meshplate: no usable Consul token: the token from env CONSUL_HTTP_TOKEN was refused: consul GET \/v1\/agent\/connect\/ca\/leaf\/api: 403 Permission denied: .*lacks permission 'service:write' on "api"; looked in /)
  noTokenIn(t, api.output(), 'the output')
})

t.test('a token Nomad re-mints while the sidecar runs: the 403 "ACL not found" re-reads si_token', async (t) => {
  const secretsDir = mkdtempSync(join(base, 'secrets-remint-'))
  const nomad = nomadTaskEnv('1.10-wi', await tokens(), secretsDir)
  const api = startApiSidecar(nomad.env, join(base, 'api-remint'))
  t.teardown(() => api.stop())
  await eventually(() => reachesApi(), 20_000, 'first request').catch((err) => {
    throw new Error(`${(err as Error).message}\napi:\n${api.output().slice(-3000)}`)
  })
  // Nomad's client restarted: a new token in si_token, the old one revoked.
  const fresh = await serviceToken('api')
  unlinkSync(join(secretsDir, 'si_token'))
  writeFileSync(join(secretsDir, 'si_token'), `${fresh}\n`)
  const old = (await consul.api('GET', '/v1/acl/tokens')).body.find((tok: { SecretID?: string; AccessorID: string }) => tok.SecretID === nomad.expectToken)
  const revoked = old ? await consul.api('DELETE', `/v1/acl/token/${old.AccessorID}`) : { status: 0 }
  t.equal(revoked.status, 200, 'the old token is revoked')
  // A change makes api's views ask again: the first answer with the revoked token is a 403.
  await consul.intention('web', 'api', 'deny')
  await eventually(() => /403 ACL not found/.test(api.output()), 20_000, "a 403 ACL not found in api's log")
  await eventually(async () => !(await reachesApi()), 20_000, 'the deny applied')
  // Only a sidecar that now asks with the new token sees this one.
  await consul.intention('web', 'api', 'allow')
  await eventually(() => reachesApi(), 20_000, 'the allow applied with the re-minted token').catch((err) => {
    throw new Error(`${(err as Error).message}\napi:\n${api.output().slice(-3000)}`)
  })
  t.pass('after the re-mint the sidecar keeps following Consul')
  noTokenIn(t, api.output(), "api's sidecar output")
})
