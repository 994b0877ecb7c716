/**
 * The one Consul launcher (bench/lib/consul.mjs) that the tests, the benchmarks and the demo
 * start their agents with: a dev agent restarts on its own ports, a client agent joins a dev
 * server over loopback and what is registered on it reaches the servers' catalog (with and
 * without ACLs), and an address off loopback that this machine does not hold is refused.
 */
import t from 'tap'
import { startConsul, startConsulServerAndClient } from '../../bench/lib/consul.mjs'
import { eventually } from '../support/process.ts'

const onLoopback = (addr: string) => /^127\.0\.0\.1:\d+$/.test(addr)

t.test('a dev agent: loopback, ready for Connect, restarts on the same port', async (t) => {
  const agent = await startConsul({ config: { node_meta: { launched: 'json' } } })
  t.teardown(() => agent.stop())
  t.ok(onLoopback(agent.addr), `HTTP on ${agent.addr}`)
  const self = await agent.json('GET', '/v1/agent/self')
  t.equal(self.Config.NodeName, 'meshplate')
  t.equal(self.DebugConfig.DisableUpdateCheck, true, 'no update check')
  t.equal(self.DebugConfig.DisableAnonymousSignature, true, 'no anonymous signature')
  t.equal(self.DebugConfig.DNSPort, -1, 'no DNS')
  t.equal(self.Meta.launched, 'json', 'config given as an object is applied')
  await agent.kill()
  await t.rejects(agent.api('GET', '/v1/status/leader'), 'killed: nothing listens')
  await agent.start()
  t.equal((await agent.api('GET', '/v1/agent/connect/ca/leaf/ping')).status, 200, 'serves again on the same address')
})

for (const acl of [undefined, { token: 'a1b2c3d4-0000-4000-8000-00000000c0de' }]) {
  t.test(`a server and a client agent on loopback${acl ? ', ACLs on' : ''}`, async (t) => {
    const pair = await startConsulServerAndClient({ acl })
    t.teardown(() => pair.stop())
    const { server, client } = pair
    t.ok(onLoopback(server.addr) && onLoopback(client.addr) && server.addr !== client.addr, `${server.addr} and ${client.addr}`)
    const members = await client.json('GET', '/v1/agent/members')
    t.same(
      members.map((m: { Name: string; Addr: string; Status: number; Tags: { role: string } }) => [m.Name, m.Addr, m.Status, m.Tags.role]).sort(),
      [['meshplate-client', '127.0.0.1', 1, 'node'], ['meshplate-server', '127.0.0.1', 1, 'consul']],
      'the client is a member beside the server, both alive on loopback',
    )
    t.equal((await client.json('GET', '/v1/agent/self')).Config.Server, false, 'the client is no server')
    await client.json('PUT', '/v1/agent/service/register', { Name: 'on-client', Port: 9999, Address: '127.0.0.1' })
    const listed = await eventually(async () => (await server.json('GET', '/v1/catalog/service/on-client'))[0], 10_000, 'the service in the catalog')
    t.equal(listed.Node, 'meshplate-client', "the server's catalog lists it on the client's node")
    if (acl) t.equal((await server.api('GET', '/v1/agent/self', undefined, 'not-a-token')).status, 403, 'ACLs are on')
  })
}

t.test('an address off loopback that this machine does not hold is refused before anything starts', async (t) => {
  await t.rejects(startConsul({ bind: '203.0.113.7' }), /refusing binding to 203\.0\.113\.7/)
  await t.rejects(startConsul({ bind: '0.0.0.0' }), /refusing binding to 0\.0\.0\.0/)
  await t.rejects(startConsul({ join: '203.0.113.7:8301' }), /refusing joining 203\.0\.113\.7/)
})
