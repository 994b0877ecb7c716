import t from 'tap'
import { canPush, parseVersion } from '../../../src/haproxy/policy.ts'

t.test('maps and server state are pushed; leaves from 3.0.11; CA bundles reload', async (t) => {
  t.notOk(canPush('ssl-cert', '2.6.12-1+deb12u4'), 'leaf on 2.6.12: a commit drops verify required')
  t.notOk(canPush('ssl-cert', '3.0.10'), 'leaf before 3.0.11: not seen to keep verify')
  t.ok(canPush('ssl-cert', '3.0.11-9e587df'), 'leaf on 3.0.11')
  t.ok(canPush('ssl-cert', '3.2.4'), 'leaf on later releases')
  for (const version of ['2.6.12-1+deb12u4', '3.0.11-1+deb13u3']) {
    t.ok(canPush('map', version), `map on ${version}`)
    t.ok(canPush('servers', version), `servers on ${version}`)
    t.notOk(canPush('ssl-ca-file', version), `CA file on ${version}`)
  }
})

t.test('versions as the master reports them', async (t) => {
  t.same(parseVersion('2.6.12-1+deb12u4'), [2, 6, 12])
  t.same(parseVersion('3.0.11'), [3, 0, 11])
  t.same(parseVersion('3.3-dev7'), [3, 3, 0])
  t.throws(() => parseVersion('unknown'), /unrecognised HAProxy version "unknown"/)
})
