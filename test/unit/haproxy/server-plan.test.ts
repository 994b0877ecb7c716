import t from 'tap'
import { planServers, serverOnlyChange } from '../../../src/haproxy/server-plan.ts'

const config = (servers: string[], extra = '') => `global
    master-worker

frontend upstream_api
    bind 127.0.0.1:9191${extra}
    default_backend upstream_api

backend upstream_api
    balance leastconn
${servers.map((s) => `    ${s}`).join('\n')}
`
const slot = (n: number, addr: string, more = '') => `server s${n} ${addr} ssl verify required ca-file /d/roots.pem crt /d/leaf.pem weight 1${more}`

t.test('an instance joining a spare slot: address, then into rotation', async (t) => {
  const plan = planServers(config([slot(1, '10.0.0.1:21000'), slot(2, '0.0.0.0:1', ' disabled')]), config([slot(1, '10.0.0.1:21000'), slot(2, '10.0.0.2:21000')]))
  t.same(plan, { commands: ['set server upstream_api/s2 addr 10.0.0.2 port 21000', 'set server upstream_api/s2 state ready'] })
})

t.test('an instance leaving: out of rotation first, then the placeholder address', async (t) => {
  const plan = planServers(config([slot(1, '10.0.0.1:21000'), slot(2, '10.0.0.2:21000')]), config([slot(1, '10.0.0.1:21000'), slot(2, '0.0.0.0:1', ' disabled')]))
  t.same(plan, { commands: ['set server upstream_api/s2 state maint', 'set server upstream_api/s2 addr 0.0.0.0 port 1'] })
})

t.test('a weight change alone is one command; an equal config is none', async (t) => {
  const a = config([slot(1, '10.0.0.1:21000')])
  t.same(planServers(a, a.replace('weight 1', 'weight 10')), { commands: ['set server upstream_api/s1 weight 10'] })
  t.same(planServers(a, a), { commands: [] })
})

t.test('anything but address, port, weight and disabled needs a reload, naming the line', async (t) => {
  const a = config([slot(1, '10.0.0.1:21000')])
  const listener = planServers(a, config([slot(1, '10.0.0.1:21000')], '\n    bind 127.0.0.1:9192'))
  t.match(listener, { reload: /line 6 changed: bind 127.0.0.1:9192/ })
  t.match(planServers(a, config([slot(1, '10.0.0.1:21000'), slot(2, '0.0.0.0:1', ' disabled')])), { reload: /line 11 changed: server s2 0\.0\.0\.0:1 .* disabled$/ }, 'a new slot')
  t.match(planServers(a, config([slot(1, '10.0.0.1:21000', ' alpn h2')])), { reload: /alpn h2/ }, 'a server setting')
  t.match(planServers('', a), { reload: /line 1 changed: global/ }, 'nothing known about the running config')
})

t.test('server lines outside backends are not servers (and a comment is not a section)', async (t) => {
  const a = `global\n    master-worker\n# server s1 1.2.3.4:1\nbackend b\n    server s1 10.0.0.1:1 weight 1\n`
  t.same(planServers(a, a.replace('10.0.0.1:1', '10.0.0.9:2')), { commands: ['set server b/s1 addr 10.0.0.9 port 2'] })
  t.match(planServers(a, a.replace('# server s1 1.2.3.4:1', '# server s1 1.2.3.4:2')), { reload: /line 3/ })
})

t.test('serverOnlyChange: only runtime-carried server changes with IP addresses skip haproxy -c', async (t) => {
  const a = config([slot(1, '10.0.0.1:21000'), slot(2, '0.0.0.0:1', ' disabled')])
  t.ok(serverOnlyChange(a, config([slot(1, '10.0.0.1:21000'), slot(2, '10.0.0.2:21000')])), 'a join')
  t.ok(serverOnlyChange(a, config([slot(1, '::1:21000'), slot(2, '0.0.0.0:1', ' disabled')])), 'an IPv6 address')
  t.notOk(serverOnlyChange(a, config([slot(1, '10.0.0.1:21000'), slot(2, 'api.example:21000')])), 'a host name: HAProxy resolves it at start, so it is checked')
  t.notOk(serverOnlyChange(a, config([slot(1, '10.0.0.1:21000'), slot(2, '10.0.0.2:99999')])), 'a port out of range')
  t.notOk(serverOnlyChange(a, a.replace('weight 1', 'weight 300')), 'a weight HAProxy refuses')
  t.notOk(serverOnlyChange(a, config([slot(1, '10.0.0.1:21000')], '\n    bind 127.0.0.1:9192')), 'any other line')
})

t.test('with 1,000 slots, one moved instance is one command; a renamed or removed slot is a reload', async (t) => {
  const slots = Array.from({ length: 1000 }, (_, i) => slot(i + 1, `10.0.${i >> 8}.${i & 255}:21000`))
  const a = config(slots)
  const moved = config(slots.map((s, i) => (i === 700 ? slot(701, '10.9.9.9:22000') : s)))
  t.same(planServers(a, moved), { commands: ['set server upstream_api/s701 addr 10.9.9.9 port 22000'] })
  t.ok(serverOnlyChange(a, moved))
  t.match(planServers(a, config(slots.map((s, i) => (i === 700 ? s.replace('server s701', 'server t701') : s)))), { reload: /^line 710 changed: server t701 10\.0\.2\.188:21000 / }, 'a renamed slot')
  t.match(planServers(a, config(slots.slice(0, 999))), { reload: /^line 1009 changed: $/ }, 'a removed slot')
})
