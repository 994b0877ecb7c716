/**
 * The default intention action decides every request an L7 intention's
 * permissions do not match, so it must come from the agent exactly as Consul
 * computes it for Envoy: allow with ACLs off, else the ACL default policy, and
 * `default_intention_policy` where a newer agent has it. A body that does not
 * say is an error naming the field, never a guessed "allow". The DebugConfig
 * below is the shape Consul 1.14.11's `-dev` agent returns (trimmed). A token
 * without agent:read (a sidecar's service identity) gets the same answer from
 * the authorize endpoint, but only when the agent says it was its default.
 */
import t from 'tap'
import type { ConsulClient } from '../../../src/consul/client.ts'
import { IntentionDefaultDependency, parseIntentionDefault, parseProbeAnswer, PROBE_URI } from '../../../src/dependency/agent-self.ts'
import { ConsulHttpError, ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'
import { readFileSync } from 'node:fs'

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/newer/${name}`, import.meta.url), 'utf8'))

const self = (debug: object) => ({ Config: { Datacenter: 'dc1' }, DebugConfig: debug, Member: {}, Stats: {} })
const acl = (enabled: boolean, policy: string) => ({
  ACLsEnabled: enabled,
  ACLResolverSettings: { ACLDefaultPolicy: policy, ACLDownPolicy: 'extend-cache', ACLsEnabled: enabled, Datacenter: 'dc1', NodeName: 'vm' },
})

t.test('as Consul computes it', async (t) => {
  t.same(parseIntentionDefault(self(acl(false, 'allow'))), { Action: 'allow', Source: 'acls-disabled' })
  t.same(
    parseIntentionDefault(self(acl(false, 'deny'))),
    { Action: 'deny', Source: 'acls-disabled' },
    'ACLs off with acl.default_policy = "deny": deny, as the agent hands Envoy (agent/agent.go), not allow as its authorize endpoint says',
  )
  t.same(parseIntentionDefault(self({ ACLsEnabled: false, ACLResolverSettings: {} })), { Action: 'allow', Source: 'acls-disabled' }, 'ACLs off, no policy: allow')
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
  const dep = new IntentionDefaultDependency('api')
  t.equal(dep.blocking, 'poll')
  t.not(dep.id, new IntentionDefaultDependency('web').id, 'one per destination')
  t.same((await dep.fetch(client, { waitMs: 1 })).data, { Action: 'deny', Source: 'acl-default-policy' })
  t.equal(calls[0]![0], '/v1/agent/self')
  const bad = recordingClient({ body: self({}) }).client
  await t.rejects(dep.fetch(bad, { waitMs: 1 }), ConsulResponseError)
})

t.test('without agent:read: the authorize endpoint, for a source no intention can name', async (t) => {
  const posts: unknown[][] = []
  const client = (answer: unknown, getError: Error = new ConsulHttpError('GET /v1/agent/self', 403, 'Permission denied: token lacks agent:read')) => ({
    get: async () => {
      throw getError
    },
    write: async (...args: unknown[]) => {
      posts.push(args)
      return { body: answer }
    },
  }) as unknown as ConsulClient
  const dep = new IntentionDefaultDependency('api')
  const denied = await dep.fetch(client({ Authorized: false, Reason: 'Default behavior configured by ACLs' }), { waitMs: 1 })
  t.same(denied.data, { Action: 'deny', Source: 'authorize' })
  t.equal(posts[0]![0], 'POST')
  t.equal(posts[0]![1], '/v1/agent/connect/authorize')
  t.same(posts[0]![2], { Target: 'api', ClientCertURI: PROBE_URI, ClientCertSerial: '' })
  t.same((await dep.fetch(client({ Authorized: true, Reason: 'Default behavior configured by ACLs' }), { waitMs: 1 })).data.Action, 'allow')
  await t.rejects(dep.fetch(client({ Authorized: true, Reason: 'Matched L4 intention: */* => api (allow)' }), { waitMs: 1 }), ConsulResponseError, 'an answer an intention gave is not the default')
  const down = new ConsulHttpError('GET /v1/agent/self', 500, 'No cluster leader')
  await t.rejects(dep.fetch(client({}, down), { waitMs: 1 }), down, 'other errors are not turned into a probe')
  t.throws(() => parseProbeAnswer({ Reason: 'Default behavior configured by ACLs' }), { message: 'Authorized is not a boolean' })
})

t.test('Consul 1.18+ (fixtures from agent/agent_endpoint.go and agent/config/runtime.go)', async (t) => {
  t.same(parseProbeAnswer(fixture('authorize-1.18-default-intention-policy.json')), { Action: 'deny', Source: 'authorize' }, '"Default intention policy" is the default too')
  t.same(parseIntentionDefault(fixture('agent-self-1.18-default-intention-policy.json')), { Action: 'deny', Source: 'default-intention-policy' })
  t.throws(() => parseProbeAnswer({ Authorized: true, Reason: 'Matched L7 intention: web => api' }), { message: /not by the default/ })
  t.throws(() => parseProbeAnswer({ Authorized: true, Reason: 'Defaulted somehow' }), { message: /not by the default/ }, 'only the two wordings Consul uses')
})
