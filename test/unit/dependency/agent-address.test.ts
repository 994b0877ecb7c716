/**
 * A path exposed for a check must accept the agent, which runs the check,
 * and nothing but it and loopback: the address comes from the agent itself.
 * The body below is the shape Consul 1.14.11's `-dev` agent returns
 * (trimmed); a body without it is an error naming the field.
 */
import t from 'tap'
import { AgentAddressDependency, parseAgentAddress } from '../../../src/dependency/agent-address.ts'
import { ConsulResponseError } from '../../../src/errors.ts'
import { recordingClient } from '../../support/fake-client.ts'

const self = (member: object) => ({ Config: { Datacenter: 'dc1', NodeName: 'meshplate-test' }, DebugConfig: {}, Member: member, Stats: {} })

t.test('the agent\'s LAN address', async (t) => {
  t.equal(parseAgentAddress(self({ Name: 'meshplate-test', Addr: '10.0.0.5', Port: 8301 })), '10.0.0.5')
  t.throws(() => parseAgentAddress(self({ Name: 'x' })), { message: 'Member.Addr is not a string' })
  t.throws(() => parseAgentAddress({ Config: {} }), { message: 'Member is not an object' })
})

t.test('polled, validated at the boundary', async (t) => {
  const dep = new AgentAddressDependency()
  t.equal(dep.blocking, 'poll')
  t.equal(dep.id, 'agent.address')
  const calls: unknown[][] = []
  const ok = await dep.fetch(recordingClient({ body: self({ Addr: '127.0.0.1' }) }, calls).client, { waitMs: 1 })
  t.equal(ok.data, '127.0.0.1')
  t.equal(calls[0]?.[0], '/v1/agent/self')
  const err = await dep.fetch(recordingClient({ body: self({}) }).client, { waitMs: 1 }).catch((e: unknown) => e)
  t.ok(err instanceof ConsulResponseError)
  t.equal((err as Error).message, 'consul GET /v1/agent/self: invalid response: Member.Addr is not a string')
})
