/**
 * The default intention action decides every HTTP request an L7 intention's
 * permissions do not match, so it is read from a real agent here, both ways a
 * sidecar can: from `/v1/agent/self` with a token that may read the agent,
 * and, with only a service-identity token (what Nomad gives a sidecar), from
 * the authorize endpoint for a source no intention can name. A wildcard
 * intention whose action differs from the default must not leak into it.
 */
import t from 'tap'
import { ConsulClient } from '../../src/consul/client.ts'
import { IntentionDefaultDependency } from '../../src/dependency/agent-self.ts'
import { startConsul } from '../support/consul.ts'

const fetchDefault = (addr: string, token?: string) => {
  const client = new ConsulClient({ address: addr, token })
  return new IntentionDefaultDependency('api').fetch(client, { waitMs: 1 }).then((r) => r.data).finally(() => client.close())
}

t.test('ACLs off: allow, from agent self; a `*` deny intention does not change it', async (t) => {
  const consul = await startConsul()
  t.teardown(() => consul.stop())
  await consul.intention('*', 'api', 'deny')
  t.same(await fetchDefault(consul.addr), { Action: 'allow', Source: 'acls-disabled' })
  // The probe the fallback sends, answered by this open-source agent: its default, not the `*` deny.
  const client = new ConsulClient({ address: consul.addr })
  t.teardown(() => client.close())
  const { parseProbeAnswer, PROBE_URI } = await import('../../src/dependency/agent-self.ts')
  const res = await client.write('POST', '/v1/agent/connect/authorize', { Target: 'api', ClientCertURI: PROBE_URI, ClientCertSerial: '' })
  t.same(parseProbeAnswer(res.body), { Action: 'allow', Source: 'authorize' }, `the agent answered ${JSON.stringify(res.body)}`)
})

t.test('ACLs with default deny: deny, with a management token and with a service-identity token', async (t) => {
  const consul = await startConsul({
    hcl: ['acl { enabled = true\n default_policy = "deny"\n tokens { initial_management = "root-secret-token" } }'],
    token: 'root-secret-token',
  })
  t.teardown(() => consul.stop())
  const wildcard = await consul.api('PUT', '/v1/connect/intentions/exact?source=*&destination=api', { Action: 'allow' })
  t.equal(wildcard.status, 200, 'a `*` allow intention exists')
  t.same(await fetchDefault(consul.addr, 'root-secret-token'), { Action: 'deny', Source: 'acl-default-policy' })
  const si = await consul.api('PUT', '/v1/acl/token', { Description: 'sidecar', ServiceIdentities: [{ ServiceName: 'api' }] })
  t.equal(si.status, 200, 'a service-identity token, as Nomad makes for a sidecar')
  const siClient = new ConsulClient({ address: consul.addr, token: si.body.SecretID })
  t.teardown(() => siClient.close())
  const self = await siClient.get('/v1/agent/self').then(() => 'read', (e: Error) => e.message)
  t.match(self, /403/, 'it cannot read the agent')
  t.same(await fetchDefault(consul.addr, si.body.SecretID), { Action: 'deny', Source: 'authorize' }, 'the authorize probe gives the default, not the `*` allow')
})
