/**
 * The readers every proxy setting goes through: the two spellings a key can
 * arrive in, the value shapes Consul's weak decoding accepts (and nothing
 * else), and Go durations in both forms. A wrong value must fail here with
 * the key named, never reach `haproxy -c` as a garbled line.
 */
import t from 'tap'
import { camelCase, count, duration, flag, lookup, millis, percent, port, soft, upstreamScope, word } from '../../../src/connect/settings-values.ts'
import { collectWarnings } from '../../../src/template/warnings.ts'

const scope = (map: Record<string, unknown>) => ({ map: map as never, path: 'Proxy.Config' })

t.test('both spellings', async (t) => {
  t.equal(camelCase('local_request_timeout_ms'), 'LocalRequestTimeoutMs')
  t.equal(camelCase('enforcing_consecutive_5xx'), 'EnforcingConsecutive5xx')
  t.equal(camelCase('max_ejection_percent'), 'MaxEjectionPercent')
  t.same(lookup(scope({ MaxConnections: 3 }), 'max_connections'), { value: 3, name: 'Proxy.Config.MaxConnections' }, 'the error names the spelling found')
  t.same(lookup(scope({ max_connections: null }), 'max_connections'), { value: undefined, name: 'Proxy.Config.max_connections' }, 'null is absent')
})

t.test('numbers as Consul decodes them', async (t) => {
  t.equal(millis(scope({ a: 0 }), 'a'), 0, '0 is kept (it means "no timeout" where Envoy says so)')
  t.equal(millis(scope({ a: ' 1500 ' }), 'a'), 1500)
  t.equal(millis(scope({}), 'a'), undefined)
  t.throws(() => millis(scope({ a: '1e3' }), 'a'), { message: 'Proxy.Config.a: "1e3" is not a number of milliseconds' })
  t.throws(() => count(scope({ a: {} }), 'a'), { message: 'Proxy.Config.a: {} is not a whole number' })
  t.equal(percent(scope({ a: 100 }), 'a'), 100)
  t.throws(() => percent(scope({ a: 101 }), 'a'), { message: 'Proxy.Config.a: 101 is not a percentage from 0 to 100' })
  t.equal(flag(scope({ a: 'true' }), 'a'), true)
  t.equal(flag(scope({ a: false }), 'a'), false)
  t.throws(() => flag(scope({ a: 'yes' }), 'a'), { message: 'Proxy.Config.a: "yes" is not true or false' })
})

t.test('Go durations: strings, or nanoseconds', async (t) => {
  const d = (v: unknown) => duration(scope({ d: v }), 'd')
  t.equal(d('10s'), 10_000)
  t.equal(d('1m30s'), 90_000)
  t.equal(d('1h'), 3_600_000)
  t.equal(d('250ms'), 250)
  t.equal(d('1.5s'), 1500)
  t.equal(d('500us'), 0.5)
  t.equal(d('0'), 0, 'Go accepts a bare 0')
  t.equal(d(30_000_000_000), 30_000, 'a time.Duration merged from central config')
  for (const bad of ['10', 's', '10 s', '-1s', '1d', '']) t.throws(() => d(bad), { message: `Proxy.Config.d: ${JSON.stringify(bad)} is not a duration (e.g. "10s", "1m30s")` }, JSON.stringify(bad))
  t.throws(() => d(-1), { message: 'Proxy.Config.d: -1 is not a duration' })
})

t.test('ports and words: what the templates print as one config word', async (t) => {
  t.equal(port(scope({ p: '21000' }), 'p'), 21000)
  t.equal(port(scope({ p: 0 }), 'p'), 0, '0 is returned; callers read it as unset')
  t.throws(() => port(scope({ p: 65536 }), 'p'), { message: 'Proxy.Config.p: 65536 is not a port' })
  t.throws(() => port(scope({ p: 'x' }), 'p'), { message: 'Proxy.Config.p: "x" is not a port' })
  t.equal(word(scope({ w: 'http' }), 'w', 'a protocol'), 'http')
  t.equal(word(scope({ w: '' }), 'w', 'a protocol'), undefined, 'empty is unset')
  for (const bad of [1, true, {}, 'a b', 'a\nb', 'a\tb']) t.throws(() => word(scope({ w: bad }), 'w', 'a protocol'), { message: `Proxy.Config.w: ${JSON.stringify(bad)} is not a protocol` }, JSON.stringify(bad))
})

t.test('soft: a value that cannot be used is a warning and undefined; other errors pass', async (t) => {
  const sink = new Set<string>()
  t.equal(collectWarnings(sink, () => soft(() => count(scope({ n: 'x' }), 'n'))), undefined)
  t.same([...sink], ['Proxy.Config.n: "x" is not a whole number; meshplate uses the default instead'])
  t.throws(() => soft(() => { throw new TypeError('bug') }), TypeError)
  t.same(upstreamScope(undefined), { map: {}, path: 'Proxy.Upstreams[?].Config' })
})
