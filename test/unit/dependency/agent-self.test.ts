/**
 * The default intention action decides every request an L7 intention's
 * permissions do not match, so it must come from the agent exactly as Consul
 * computes it for Envoy: allow with ACLs off, else the ACL default policy, and
 * `default_intention_policy` where a newer agent has it. A body that does not
 * say is an error naming the field, never a guessed "allow". The DebugConfig
 * below is the shape Consul 1.14.11's `-dev` agent returns (trimmed).
 */
import t from 'tap'
import { IntentionDefaultDependency, parseIntentionDefault } from '../../../src/dependency/agent-self.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

const self = (debug: object) => ({ Config: { Datacenter: 'dc1' }, DebugConfig: debug, Member: {}, Stats: {} })
const acl = (enabled: boolean, policy: string) => ({
  ACLsEnabled: enabled,
  ACLResolverSettings: { ACLDefaultPolicy: policy, ACLDownPolicy: 'extend-cache', ACLsEnabled: enabled, Datacenter: 'dc1', NodeName: 'vm' },
})

t.test('as Consul computes it', async (t) => {
  t.same(parseIntentionDefault(self(acl(false, 'allow'))), { Action: 'allow', Source: 'acls-disabled' })
  t.same(parseIntentionDefault(self(acl(false, 'deny'))), { Action: 'allow', Source: 'acls-disabled' }, 'ACLs off: allow, whatever the unused policy says')
  t.same(parseIntentionDefault(self(acl(true, 'deny'))), { Action: 'deny', Source: 'acl-default-policy' })
  t.same(parseIntentionDefault(self(acl(true, 'allow'))), { Action: 'allow', Source: 'acl-default-policy' })
  t.same(parseIntentionDefault(self({ ...acl(true, 'allow'), DefaultIntentionPolicy: 'deny' })), { Action: 'deny', Source: 'default-intention-policy' })
  t.same(parseIntentionDefault(self({ ...acl(false, 'allow'), DefaultIntentionPolicy: '' })).Action, 'allow', 'an empty default_intention_policy falls back')
})

t.test('a body that does not say is an error, never a guess', async (t) => {
  t.throws(() => parseIntentionDefault(self({})), { message: 'DebugConfig.ACLsEnabled is not a boolean' })
  t.throws(() => parseIntentionDefault(self(acl(true, ''))), { message: /ACLDefaultPolicy "" is not allow or deny/ })
  t.throws(() => parseIntentionDefault({ Config: {} }), { message: /DebugConfig/ })
})

t.test('fetch polls /v1/agent/self and names the endpoint on a bad body', async (t) => {
  const { client, calls } = recordingClient({ body: self(acl(true, 'deny')) })
  const dep = new IntentionDefaultDependency()
  t.equal(dep.blocking, 'poll')
  t.same((await dep.fetch(client, { waitMs: 1 })).data, { Action: 'deny', Source: 'acl-default-policy' })
  t.equal(calls[0]![0], '/v1/agent/self')
  const bad = recordingClient({ body: self({}) }).client
  await t.rejects(dep.fetch(bad, { waitMs: 1 }), ConsulResponseError)
})
