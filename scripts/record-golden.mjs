#!/usr/bin/env node
// Records the snapshots the golden tests of the shipped sidecar templates render from
// (test/golden/<scenario>/snapshot.json, read by test/unit/golden.test.ts). Each scenario gets
// its own real `consul agent -dev` on loopback (bench/lib/consul.mjs), with a fixed node name,
// cluster id and Connect CA (test/golden/ca/, a throwaway root made here with openssl the first
// time and committed), so a second recording differs only in the leaf certificate and Consul's
// indexes. The scenario's config entries, registrations and intentions are written to the agent,
// then the built CLI records what the sidecar uses:
//   meshplate sidecar --sidecar-for <svc> --once --record <snapshot> (with real HAProxy's -c)
// Consul 1.14.11 refuses a few fields newer releases send (proxy-defaults AccessLogs, header
// matchers' IgnoreCase and Contains); those are added to the recorded snapshot afterwards, as
// the newer agent would answer, and the snapshot's `_comment` says so. Run again when Consul's
// version or a scenario changes, then update the golden files (test/unit/golden.test.ts):
//   npx tsc -p tsconfig.json && node scripts/record-golden.mjs            (every scenario)
//   node scripts/record-golden.mjs tcp router                               (only those named)
//   MESHPLATE_UPDATE_GOLDEN=1 npx tap test/unit/golden.test.ts
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sidecarRegistration, startConsul } from '../bench/lib/consul.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'test/golden')
const caDir = join(out, 'ca')
/** The trust domain is `<cluster id>.consul`; a dev agent would pick a random one. */
const CLUSTER_ID = '6d657368-706c-4174-8500-676f6c64656e'
const haproxy = process.env.MESHPLATE_TEST_HAPROXY || 'haproxy'

// --- what each scenario writes to the agent -------------------------------------------------

const http = (name) => ({ Kind: 'service-defaults', Name: name, Protocol: 'http' })
const proxyDefaults = (config) => ({ Kind: 'proxy-defaults', Name: 'global', Config: config })
const allowAll = (name) => ({ Kind: 'service-intentions', Name: name, Sources: [{ Name: '*', Action: 'allow' }] })
const resolverApi = {
  Kind: 'service-resolver', Name: 'api', ConnectTimeout: '3s', DefaultSubset: 'v1',
  Subsets: { v1: { Filter: 'Service.Meta.version == v1' }, v2: { Filter: 'Service.Meta.version == v2', OnlyPassing: true } },
}
/** web (9000, sidecar 21000) with an upstream to api on 9191. */
const web = (extra = {}) => ({ name: 'web', port: 9000, sidecarPort: 21000, upstreams: [{ DestinationName: 'api', LocalBindPort: 9191 }], ...extra })
/** Two api instances: api (v1) and api-2 (v2). */
const apis = [
  { id: 'api', name: 'api', port: 9001, sidecarPort: 21001, meta: { version: 'v1' } },
  { id: 'api-2', name: 'api', port: 9002, sidecarPort: 21002, meta: { version: 'v2' } },
]

const scenarios = {
  tcp: {
    about: 'tcp everywhere: web with one upstream (api, two instances), L4 intentions to web',
    sidecarFor: 'web',
    entries: [{ Kind: 'service-intentions', Name: 'web', Sources: [{ Name: 'frontend', Action: 'allow' }, { Name: 'batch', Action: 'deny' }, { Name: '*', Action: 'deny' }] }],
    services: [web(), ...apis],
  },
  'http-l7': {
    about: 'http: api with L7 intentions (paths, methods, headers of every kind, IgnoreCase and Contains), an L4 deny and a wildcard',
    sidecarFor: 'api',
    entries: [http('api'), http('web'), {
      Kind: 'service-intentions',
      Name: 'api',
      Sources: [
        {
          Name: 'web',
          Permissions: [
            { Action: 'deny', HTTP: { PathPrefix: '/admin' } },
            { Action: 'allow', HTTP: { PathExact: '/healthz', Methods: ['GET', 'HEAD'] } },
            { Action: 'allow', HTTP: { PathPrefix: '/public/', Methods: ['GET', 'HEAD', 'OPTIONS'] } },
            { Action: 'allow', HTTP: { PathRegex: '/api/v[0-9]+/items/[a-z0-9-]+' } },
            { Action: 'allow', HTTP: { PathPrefix: '/ops', Header: [{ Name: 'X-Role', Exact: 'ops' }, { Name: 'X-Debug', Present: true, Invert: true }] } },
            { Action: 'deny', HTTP: { Header: [{ Name: 'X-Role', Exact: 'guest' }, { Name: 'User-Agent', Prefix: 'curl/' }, { Name: 'X-Client', Suffix: '.internal' }] } },
            { Action: 'allow', HTTP: { PathPrefix: '/reports', Header: [{ Name: 'X-Tenant', Regex: '[a-z]{3}-[0-9]+' }, { Name: 'X-Scope', Exact: 'read' }] } },
            { Action: 'deny', HTTP: { PathPrefix: '/' } },
          ],
        },
        { Name: 'batch', Action: 'deny' },
        { Name: 'frontend', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/ui/', Methods: ['GET'] } }] },
        { Name: '*', Action: 'allow' },
      ],
    }],
    services: [{ name: 'api', port: 9001, sidecarPort: 21001 }],
    // Consul 1.20.1 (GH-21816): IgnoreCase on Exact/Prefix/Suffix/Contains, and Contains.
    // As test/support/consul-rewrites.ts headerIgnoreCase and headerContains emulate them.
    emulate(snap) {
      const web = intentionOf(snap, 'api', 'web')
      web.Permissions[4].HTTP.Header[0].IgnoreCase = true
      web.Permissions[5].HTTP.Header[1].IgnoreCase = true
      web.Permissions[6].HTTP.Header[1] = { Name: 'X-Scope', Contains: 'read', IgnoreCase: true }
      web.Permissions[5].HTTP.Header[2] = { Name: 'X-Client', Contains: 'scanner' }
      return 'Permissions[4].HTTP.Header[0] and [5].Header[1] IgnoreCase, [6].Header[1] Contains+IgnoreCase and [5].Header[2] Contains on web -> api: Consul 1.20.1 (GH-21816), agent/structs/config_entry_intentions.go:426-438; 1.14.11 refuses these keys'
    },
  },
  router: {
    about: 'http: web\'s upstream api behind a service-router (path, header, method and query matches; rewrite, timeout, retries, header changes) and a resolver with subsets',
    sidecarFor: 'web',
    entries: [proxyDefaults({ protocol: 'http' }), http('api'), http('apinext'), resolverApi, allowAll('web'), {
      Kind: 'service-router',
      Name: 'api',
      Routes: [
        { Match: { HTTP: { PathPrefix: '/v2/' } }, Destination: { Service: 'apinext', PrefixRewrite: '/' } },
        { Match: { HTTP: { Header: [{ Name: 'x-canary', Exact: '1' }], Methods: ['GET', 'HEAD'] } }, Destination: { ServiceSubset: 'v2', RequestHeaders: { Set: { 'x-route': 'canary' } }, ResponseHeaders: { Remove: ['x-internal'] } } },
        { Match: { HTTP: { PathRegex: '/items/[0-9]+', QueryParam: [{ Name: 'debug', Present: true }] } }, Destination: { ServiceSubset: 'v1', RequestTimeout: '1500ms', NumRetries: 2, RetryOnConnectFailure: true, RetryOnStatusCodes: [503, 504] } },
        { Match: { HTTP: { PathExact: '/legacy', Header: [{ Name: 'x-version', Regex: 'v[0-9]+' }, { Name: 'x-beta', Present: true, Invert: true }] } }, Destination: { IdleTimeout: '30s', RequestHeaders: { Add: { 'x-legacy': '1' } } } },
      ],
    }],
    services: [web(), ...apis, { id: 'apinext', name: 'apinext', port: 9003, sidecarPort: 21003 }],
  },
  splitter: {
    about: 'http: web\'s upstream api split 90.5/9.5 between two resolver subsets, one split adding a response header',
    sidecarFor: 'web',
    entries: [proxyDefaults({ protocol: 'http' }), http('api'), resolverApi, allowAll('web'), {
      Kind: 'service-splitter', Name: 'api',
      Splits: [{ Weight: 90.5, ServiceSubset: 'v1' }, { Weight: 9.5, ServiceSubset: 'v2', ResponseHeaders: { Add: { 'x-split': 'v2' } }, RequestHeaders: { Set: { 'x-canary': '1' } } }],
    }],
    services: [web(), ...apis],
  },
  failover: {
    about: 'tcp: web\'s upstream apinext, whose resolver fails over to apibackup, with a ring_hash load balancer and a connect timeout',
    sidecarFor: 'web',
    entries: [{
      Kind: 'service-resolver', Name: 'apinext', ConnectTimeout: '2s',
      Failover: { '*': { Service: 'apibackup' } },
      LoadBalancer: { Policy: 'ring_hash', HashPolicies: [{ SourceIP: true }] },
    }, allowAll('web')],
    services: [
      web({ upstreams: [{ DestinationName: 'apinext', LocalBindPort: 9191 }] }),
      { id: 'apinext', name: 'apinext', port: 9003, sidecarPort: 21003 },
      { id: 'apinext-2', name: 'apinext', port: 9004, sidecarPort: 21004 },
      { id: 'apibackup', name: 'apibackup', port: 9005, sidecarPort: 21005 },
    ],
  },
  expose: {
    about: 'http: api with two Expose.Paths (http and http2) and Expose.Checks (an HTTP and a gRPC check, the agent assigning their listener ports)',
    sidecarFor: 'api',
    entries: [http('api'), allowAll('api')],
    services: [{
      name: 'api', port: 9001, sidecarPort: 21001,
      expose: {
        Checks: true,
        Paths: [
          { Path: '/metrics', LocalPathPort: 9101, ListenerPort: 21600 },
          { Path: '/grpc.health.v1.Health/Check', LocalPathPort: 9102, ListenerPort: 21601, Protocol: 'http2' },
        ],
      },
      checks: [
        // Nothing answers on 9001: the check fails, and its output names the URL the agent rewrote (README).
        { Name: 'api-http', HTTP: 'http://127.0.0.1:9001/health', Interval: '1s' },
        { Name: 'api-grpc', GRPC: '127.0.0.1:9001', Interval: '1s' },
      ],
    }],
    /** The sidecar renders an HTTP check's listener once the check has run (its Output names the path). */
    async ready(api) {
      const checks = await api('GET', '/v1/agent/checks')
      return Object.values(checks).some((c) => c.Name === 'api-http' && /:215\d\d\/health/.test(c.Output))
    },
  },
  'access-logs': {
    about: 'http: web and its upstream api with proxy-defaults AccessLogs (Envoy\'s default JSON format, to stdout)',
    sidecarFor: 'web',
    entries: [proxyDefaults({ protocol: 'http' }), allowAll('web')],
    services: [web(), apis[0]],
    // Consul 1.15+ merges proxy-defaults AccessLogs into the registration (Proxy.AccessLogs);
    // 1.14.11 refuses the key, as test/e2e/settings.test.ts (withAccessLogs) also adds it.
    emulate(snap) {
      snap.data['agent.service(web-sidecar-proxy)'].Proxy.AccessLogs = { Enabled: true, DisableListenerLogs: false, Type: 'stdout', Path: '', JSONFormat: '', TextFormat: '' }
      return 'Proxy.AccessLogs of agent.service(web-sidecar-proxy): Consul 1.15.0 merges proxy-defaults AccessLogs into the registration (agent/configentry/merge_service_config.go); 1.14.11 refuses "AccessLogs"'
    },
  },
  limits: {
    about: 'web with the local app\'s timeouts and limits (service-defaults), an http upstream with limits and a passive health check, a tcp one with both, server slots and the Prometheus listener',
    sidecarFor: 'web',
    entries: [
      proxyDefaults({ protocol: 'http', envoy_prometheus_bind_addr: '127.0.0.1:9102' }),
      allowAll('web'),
      // The agent merges UpstreamConfig into the upstream's Config with CamelCase keys and nanoseconds.
      {
        Kind: 'service-defaults', Name: 'web', Protocol: 'http', MaxInboundConnections: 200, LocalConnectTimeoutMs: 1500, LocalRequestTimeoutMs: 20000,
        UpstreamConfig: { Overrides: [{ Name: 'db', Limits: { MaxConnections: 3 }, PassiveHealthCheck: { Interval: '5s', MaxFailures: 2 } }] },
      },
      http('api'),
      { Kind: 'service-defaults', Name: 'db', Protocol: 'tcp' },
    ],
    services: [
      web({
        proxyConfig: { local_idle_timeout_ms: 60000, server_slots: 4 },
        upstreams: [
          { DestinationName: 'api', LocalBindPort: 9191, Config: { connect_timeout_ms: 900, limits: { max_connections: 10, max_pending_requests: 5, max_concurrent_requests: 40 }, passive_health_check: { interval: '2s', max_failures: 3, base_ejection_time: '10s', enforcing_consecutive_5xx: 100 } } },
          { DestinationName: 'db', LocalBindPort: 9192, Config: { protocol: 'tcp', server_slots: 2 } },
        ],
      }),
      ...apis,
      { id: 'db', name: 'db', port: 9006, sidecarPort: 21006 },
    ],
  },
}

/** The recorded intention from `source` to `destination` (edited in place by `emulate`). */
function intentionOf(snap, destination, source) {
  const list = snap.data[`connect.intentions(${destination})`]
  const found = (Array.isArray(list) ? list : []).find((i) => i.SourceName === source && i.DestinationName === destination)
  if (!found) throw new Error(`no intention ${source} -> ${destination} in the snapshot`)
  return found
}

// --- the agent --------------------------------------------------------------------------------

/** The committed throwaway root (made once): fixed roots.pem and trust domain across recordings. */
function ensureCa() {
  const key = join(caDir, 'root.key')
  const cert = join(caDir, 'root.pem')
  if (!existsSync(key) || !existsSync(cert)) {
    mkdirSync(caDir, { recursive: true })
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key])
    execFileSync('openssl', ['req', '-x509', '-new', '-key', key, '-out', cert, '-days', '36500', '-subj', '/CN=meshplate golden test CA (throwaway)',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
      '-addext', `subjectAltName=URI:spiffe://${CLUSTER_ID}.consul`])
    console.log(`made a throwaway CA in ${caDir}`)
  }
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') }
}

/** A dev agent on loopback (bench/lib/consul.mjs) with the fixed node name, cluster id and CA; resolves once it issues leaves. */
function startAgent(ca) {
  const caConfig = `connect { ca_config { cluster_id = "${CLUSTER_ID}" private_key = ${JSON.stringify(ca.key)} root_cert = ${JSON.stringify(ca.cert)} } }`
  return startConsul({ node: 'golden', hcl: [caConfig] })
}

// --- recording --------------------------------------------------------------------------------

async function record(name, s, ca, work) {
  const agent = await startAgent(ca)
  try {
    for (const e of s.entries) await agent.json('PUT', '/v1/config', e)
    for (const svc of s.services) await agent.json('PUT', '/v1/agent/service/register', sidecarRegistration({ ...svc, checkName: 'golden-ttl' }))
    for (let i = 0; s.ready && !(await s.ready(agent.json)); i++) {
      if (i > 100) throw new Error(`${name}: not ready after 20 s`)
      await new Promise((r) => setTimeout(r, 200))
    }
    const snapFile = join(work, `${name}.json`)
    const args = ['sidecar', '--sidecar-for', s.sidecarFor, '--consul-addr', agent.addr, '--once', '--record', snapFile, '--dir', join(work, name), '--haproxy', haproxy, '--log-level', 'warn']
    execFileSync(process.execPath, [join(root, 'dist/cli.js'), ...args], { stdio: 'inherit', timeout: 60_000 })
    const snap = JSON.parse(readFileSync(snapFile, 'utf8'))
    const emulated = s.emulate?.(snap)
    const comment = `${name}: ${s.about}. Recorded from Consul 1.14.11 by scripts/record-golden.mjs${emulated ? `; added after recording, as a newer agent answers: ${emulated}` : ''}. The leaf key is a test fixture of a throwaway CA (test/golden/ca).`
    mkdirSync(join(out, name), { recursive: true })
    writeFileSync(join(out, name, 'snapshot.json'), JSON.stringify({ _comment: comment, ...snap }, null, 2) + '\n')
    console.log(`recorded ${name}: ${Object.keys(snap.data).length} dependencies${emulated ? ' (with emulated fields)' : ''}`)
  } finally {
    await agent.stop()
  }
}

const only = process.argv.slice(2)
const unknown = only.filter((n) => !(n in scenarios))
if (unknown.length) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${Object.keys(scenarios).join(', ')}`)
  process.exit(2)
}
if (!existsSync(join(root, 'dist/cli.js'))) {
  console.error('dist/cli.js missing: run `npx tsc -p tsconfig.json` first')
  process.exit(2)
}
const ca = ensureCa()
const work = mkdtempSync(join(tmpdir(), 'meshplate-golden-'))
try {
  for (const [name, s] of Object.entries(scenarios).filter(([n]) => only.length === 0 || only.includes(n))) await record(name, s, ca, work)
} finally {
  rmSync(work, { recursive: true, force: true })
}
console.log('now: MESHPLATE_UPDATE_GOLDEN=1 npx tap test/unit/golden.test.ts (review the diff it prints)')
