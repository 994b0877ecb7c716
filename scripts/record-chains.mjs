#!/usr/bin/env node
// Records the compiled discovery chains the unit tests of src/connect/chain/plan.ts read
// (test/fixtures/chains/*.json): a real `consul agent -dev` on loopback (bench/lib/consul.mjs),
// the config entries of each case written to it, and its answer to
// GET /v1/discovery-chain/<service> saved as it came. Run again when Consul's version changes:
//   node scripts/record-chains.mjs            (every case)
//   node scripts/record-chains.mjs retry      (only the cases named)
// The synthetic fixtures beside them (newer releases' answers) are hand-written: README.md there.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startConsul } from '../bench/lib/consul.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'test/fixtures/chains')

const resolverApi = { Kind: 'service-resolver', Name: 'api', ConnectTimeout: '3s', DefaultSubset: 'v1', Subsets: { v1: { Filter: 'Service.Meta.version == v1' }, v2: { Filter: 'Service.Meta.version == v2', OnlyPassing: true } } }
const http = (name) => ({ Kind: 'service-defaults', Name: name, Protocol: 'http' })
const cases = {
  default: { service: 'api', entries: [] },
  router: {
    service: 'api',
    entries: [http('api'), http('apinext'), resolverApi, {
      Kind: 'service-router',
      Name: 'api',
      Routes: [
        { Match: { HTTP: { PathPrefix: '/v2/' } }, Destination: { Service: 'apinext', PrefixRewrite: '/' } },
        { Match: { HTTP: { Header: [{ Name: 'x-canary', Exact: '1' }], Methods: ['GET', 'HEAD'] } }, Destination: { ServiceSubset: 'v2', RequestHeaders: { Set: { 'x-route': 'canary' } } } },
        { Match: { HTTP: { PathRegex: '/items/[0-9]+', QueryParam: [{ Name: 'debug', Present: true }] } }, Destination: { ServiceSubset: 'v1', RequestTimeout: '1500ms', NumRetries: 2, RetryOnStatusCodes: [503, 504] } },
      ],
    }],
  },
  splitter: {
    service: 'api',
    entries: [http('api'), resolverApi, { Kind: 'service-splitter', Name: 'api', Splits: [{ Weight: 90.5, ServiceSubset: 'v1' }, { Weight: 9.5, ServiceSubset: 'v2', ResponseHeaders: { Add: { 'x-split': 'v2' } } }] }],
  },
  failover: {
    service: 'apinext',
    entries: [{ Kind: 'service-resolver', Name: 'apinext', ConnectTimeout: '2s', Failover: { '*': { Service: 'apibackup' } }, LoadBalancer: { Policy: 'ring_hash', HashPolicies: [{ Field: 'header', FieldValue: 'x-user' }] } }],
  },
  redirect: { service: 'apiold', entries: [{ Kind: 'service-resolver', Name: 'apiold', Redirect: { Service: 'api' } }] },
  retry: {
    service: 'api',
    entries: [http('api'), {
      Kind: 'service-router',
      Name: 'api',
      Routes: [
        { Match: { HTTP: { PathPrefix: '/flaky' } }, Destination: { NumRetries: 2, RetryOnStatusCodes: [500, 512] } },
        { Match: { HTTP: { PathPrefix: '/rpc' } }, Destination: { RetryOn: ['5xx', 'retriable-4xx', 'cancelled'] } },
      ],
    }],
  },
}
const only = process.argv.slice(2)

const consul = await startConsul()
const api = consul.json
try {
  mkdirSync(out, { recursive: true })
  for (const [name, c] of Object.entries(cases).filter(([n]) => only.length === 0 || only.includes(n))) {
    for (const kind of ['service-router', 'service-splitter', 'service-resolver', 'service-defaults']) {
      for (const svc of ['api', 'apinext', 'apiold']) await api('DELETE', `/v1/config/${kind}/${svc}`)
    }
    for (const e of c.entries) await api('PUT', '/v1/config', e)
    const chain = await api('GET', `/v1/discovery-chain/${c.service}`)
    writeFileSync(join(out, `${name}.json`), JSON.stringify({ entries: c.entries, ...chain }, null, 2) + '\n')
    console.log(`recorded ${name}: ${Object.keys(chain.Chain.Nodes).length} nodes, ${Object.keys(chain.Chain.Targets).length} targets`)
  }
} finally {
  await consul.stop()
}
