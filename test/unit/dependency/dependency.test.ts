/**
 * A dependency's id is its identity everywhere: the brain's cache key, the
 * watcher's map key, the snapshot key and the log tag. Two different queries
 * with one id would share data (a template would render another service's
 * instances); one query with two ids would open two blocking queries. This
 * file checks both across every dependency class, and the shared helpers.
 */
import t from 'tap'
import { SchemaError } from '../../../src/consul/schema.ts'
import { AgentServiceDependency } from '../../../src/dependency/agent-service.ts'
import { CaRootsDependency } from '../../../src/dependency/ca-roots.ts'
import { seg, validate, type Dependency } from '../../../src/dependency/dependency.ts'
import { HealthConnectDependency } from '../../../src/dependency/health-connect.ts'
import { HealthServiceDependency } from '../../../src/dependency/health-service.ts'
import { IntentionsMatchDependency } from '../../../src/dependency/intentions-match.ts'
import { KvGetDependency } from '../../../src/dependency/kv-get.ts'
import { LeafCertDependency } from '../../../src/dependency/leaf-cert.ts'
import { PreparedQueryDependency } from '../../../src/dependency/prepared-query.ts'
import { ConsulResponseError } from '../../../src/errors.ts'

/** Builders for every class; each call builds a fresh instance from the same arguments. */
const builders: Array<[string, () => Dependency]> = [
  ['agent.service web', () => new AgentServiceDependency('web-sidecar-proxy')],
  ['agent.service api', () => new AgentServiceDependency('api-sidecar-proxy')],
  ['roots', () => new CaRootsDependency()],
  ['health.connect api', () => new HealthConnectDependency('api')],
  ['health.connect api dc2', () => new HealthConnectDependency('api', 'dc2')],
  ['health.connect api dc3', () => new HealthConnectDependency('api', 'dc3')],
  ['health.connect web', () => new HealthConnectDependency('web')],
  ['health.service api', () => new HealthServiceDependency('api')],
  ['health.service v2.api', () => new HealthServiceDependency('v2.api')],
  ['health.service api@dc2', () => new HealthServiceDependency('api@dc2')],
  ['intentions web', () => new IntentionsMatchDependency('web')],
  ['intentions api', () => new IntentionsMatchDependency('api')],
  ['kv app/a', () => new KvGetDependency('app/a')],
  ['kv app/b', () => new KvGetDependency('app/b')],
  ['kv app', () => new KvGetDependency('app')],
  ['leaf web', () => new LeafCertDependency('web')],
  ['leaf api', () => new LeafCertDependency('api')],
  ['query db', () => new PreparedQueryDependency('db')],
  ['query db dc2', () => new PreparedQueryDependency('db', 'dc2')],
  ['query api', () => new PreparedQueryDependency('api')],
]

t.test('different arguments give different ids, across all classes', async (t) => {
  const ids = builders.map(([, build]) => build().id)
  const seen = new Map<string, string>()
  builders.forEach(([label], i) => {
    const id = ids[i]!
    t.notOk(seen.has(id), `${label} has its own id (${id})${seen.has(id) ? `, but so does ${seen.get(id)}` : ''}`)
    seen.set(id, label)
  })
  t.equal(seen.size, builders.length)
})

t.test('equal arguments give equal ids', async (t) => {
  for (const [label, build] of builders) t.equal(build().id, build().id, label)
  t.equal(new HealthConnectDependency('api', '').id, new HealthConnectDependency('api').id, 'an empty datacenter is the local one')
  t.equal(new PreparedQueryDependency('db', '').id, new PreparedQueryDependency('db').id)
})

t.test('the same name under different queries never shares an id', async (t) => {
  const ids = [
    new AgentServiceDependency('web').id,
    new HealthConnectDependency('web').id,
    new HealthServiceDependency('web').id,
    new IntentionsMatchDependency('web').id,
    new KvGetDependency('web').id,
    new LeafCertDependency('web').id,
    new PreparedQueryDependency('web').id,
  ]
  t.equal(new Set(ids).size, ids.length, ids.join(', '))
})

t.test('validate turns schema failures into ConsulResponseError naming the endpoint', async (t) => {
  const parse = (body: unknown) => {
    if (typeof body !== 'number') throw new SchemaError('Port is not a number')
    return body * 2
  }
  t.equal(validate('GET /v1/x', 21, parse), 42)
  const err = (() => {
    try {
      return validate('GET /v1/agent/service/web', 'x', parse)
    } catch (e) {
      return e
    }
  })()
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/agent/service/web: invalid response: Port is not a number')
  t.ok((err as Error).cause instanceof SchemaError, 'the schema error is the cause')
  const bug = new TypeError('a programming error')
  t.throws(
    () =>
      validate('GET /v1/x', 1, () => {
        throw bug
      }),
    bug,
    'other errors pass through untouched',
  )
})

t.test('seg makes one path segment of any name', async (t) => {
  t.equal(seg('web'), 'web')
  t.equal(seg('a/b'), 'a%2Fb')
  t.equal(seg('web sidecar?x=1#y'), 'web%20sidecar%3Fx%3D1%23y')
})
