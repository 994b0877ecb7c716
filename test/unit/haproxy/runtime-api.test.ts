import t from 'tap'
import { parseShowProc } from '../../../src/haproxy/runtime-api.ts'

// Recorded from HAProxy 2.6.12's master CLI during a reload (old worker still draining).
const during = `#<PID>          <type>          <reloads>       <uptime>        <version>
6969            master          1 [failed: 0]   0d00h15m01s     2.6.12-1+deb12u4
# workers
17396           worker          0               0d00h00m01s     2.6.12-1+deb12u4
# old workers
6981            worker          1               0d00h15m01s     2.6.12-1+deb12u4
# programs
`

t.test('show proc: version, reload counters and the current worker, not the draining one', async (t) => {
  t.same(parseShowProc(during), { version: '2.6.12-1+deb12u4', reloads: 1, failedReloads: 0, worker: 17396 })
})

t.test('show proc before the first worker is up, and an answer that is not show proc', async (t) => {
  const starting = during.split('\n').slice(0, 3).join('\n')
  t.same(parseShowProc(starting), { version: '2.6.12-1+deb12u4', reloads: 1, failedReloads: 0, worker: undefined })
  t.equal(parseShowProc('Unknown command. Please enter one of the following commands only :'), undefined)
})

t.test('a refused reload is counted', async (t) => {
  t.match(parseShowProc(during.replace('[failed: 0]', '[failed: 2]')), { failedReloads: 2 })
})
