/**
 * `--sidecar-for` must find exactly one proxy or say why not. Inside Nomad the
 * service ids are generated, so a plain name is matched within the
 * allocation; two matches are an error naming both, never a guess. Bodies
 * follow `GET /v1/agent/services?filter=Kind == "connect-proxy"`.
 */
import t from 'tap'
import { findProxyId } from '../../../src/dependency/find-proxy.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

const alloc1 = '5b0e6d2c-1111-2222-3333-444444444444'
const alloc2 = '9a7f3e11-5555-6666-7777-888888888888'
const proxy = (id: string, destinationId: string, destinationName: string) => ({
  [id]: { Kind: 'connect-proxy', ID: id, Service: `${destinationName}-sidecar-proxy`, Port: 21000, Proxy: { DestinationServiceName: destinationName, DestinationServiceID: destinationId, Upstreams: [] } },
})
const services = {
  ...proxy('web-sidecar-proxy', 'web', 'web'),
  ...proxy(`_nomad-task-${alloc1}-group-api-api-9090-sidecar-proxy`, `_nomad-task-${alloc1}-group-api-api-9090`, 'api'),
  ...proxy(`_nomad-task-${alloc2}-group-api-api-9090-sidecar-proxy`, `_nomad-task-${alloc2}-group-api-api-9090`, 'api'),
}

const client = (body: unknown) => recordingClient({ body })

t.test('finds the proxy by its destination service id', async (t) => {
  const { client: c, calls } = client(services)
  t.equal(await findProxyId(c, 'web'), 'web-sidecar-proxy')
  t.equal(await findProxyId(c, `_nomad-task-${alloc2}-group-api-api-9090`), `_nomad-task-${alloc2}-group-api-api-9090-sidecar-proxy`)
  t.same(calls[0]?.slice(0, 2), ['/v1/agent/services', { filter: 'Kind == "connect-proxy"' }], 'only proxies are listed')
})

t.test('inside a Nomad allocation a service name finds that allocation’s proxy', async (t) => {
  const { client: c } = client(services)
  t.equal(await findProxyId(c, 'api', alloc1), `_nomad-task-${alloc1}-group-api-api-9090-sidecar-proxy`)
  t.equal(await findProxyId(c, 'api', alloc2), `_nomad-task-${alloc2}-group-api-api-9090-sidecar-proxy`)
})

t.test('two proxies for one name is an error naming both', async (t) => {
  const { client: c } = client(services)
  await t.rejects(findProxyId(c, 'api'), {
    code: 'PROXY_NOT_FOUND',
    message: `2 connect proxies match service "api" by name (_nomad-task-${alloc1}-group-api-api-9090-sidecar-proxy, _nomad-task-${alloc2}-group-api-api-9090-sidecar-proxy); give --proxy-id`,
  })
})

t.test('no proxy yet is PROXY_NOT_FOUND', async (t) => {
  await t.rejects(findProxyId(client(services).client, 'billing'), {
    code: 'PROXY_NOT_FOUND',
    message: 'no connect proxy for service "billing" on this agent: none registered yet',
  })
  await t.rejects(findProxyId(client(services).client, 'api', 'other-alloc'), {
    code: 'PROXY_NOT_FOUND',
    message: 'no connect proxy for service "api" in Nomad allocation other-alloc: it has registered no connect proxy yet',
  })
  await t.rejects(findProxyId(client(services).client, 'apii', alloc1), {
    code: 'PROXY_NOT_FOUND',
    message: `no connect proxy for service "apii" in Nomad allocation ${alloc1}: it registers proxies for: api`,
  }, 'a wrong service name in a Nomad job names the service, the allocation and what it does register')
  await t.rejects(findProxyId(client({}).client, 'web'), { code: 'PROXY_NOT_FOUND' })
})

t.test('a bad body is an invalid response', async (t) => {
  const err = await findProxyId(client([]).client, 'web').catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/agent/services: invalid response: services is not an object')
  const badProxy = await findProxyId(client({ x: { Proxy: { DestinationServiceID: 3 } } }).client, 'web').catch((e: unknown) => e)
  t.equal((badProxy as Error).message, 'consul GET /v1/agent/services: invalid response: x.Proxy.DestinationServiceID is not a string')
})
