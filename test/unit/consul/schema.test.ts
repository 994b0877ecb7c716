/**
 * The schema readers are the boundary between Consul's JSON and typed data.
 * Their error text ends up in the user's log ("consul GET ...: invalid
 * response: Roots[1].RootCert is not a string"), so each reader must accept
 * what Consul really sends (null lists, absent maps) and name the path of
 * what it refuses.
 */
import t from 'tap'
import { arr, bool, num, obj, optNum, optObj, optStr, SchemaError, str, strList, strMap } from '../../../src/consul/schema.ts'

t.test('obj accepts objects only', async (t) => {
  const o = { ID: 'web' }
  t.equal(obj(o, 'service'), o)
  for (const bad of [null, undefined, [], 'x', 3]) {
    t.throws(() => obj(bad, 'service'), { constructor: SchemaError, message: 'service is not an object' }, JSON.stringify(bad) ?? 'undefined')
  }
})

t.test('arr treats null and absent as empty, as Consul sends for empty lists', async (t) => {
  t.same(arr(null, 'Roots'), [])
  t.same(arr(undefined, 'Roots'), [])
  t.same(arr([1, 'a'], 'Roots'), [1, 'a'])
  t.throws(() => arr({}, 'Roots'), { message: 'Roots is not an array' })
  t.throws(() => arr('a,b', 'Tags'), { message: 'Tags is not an array' })
})

t.test('str and optStr', async (t) => {
  t.equal(str('web', 'ID'), 'web')
  t.equal(str('', 'ID'), '')
  t.throws(() => str(undefined, 'ID'), { message: 'ID is not a string' })
  t.throws(() => str(1, 'Proxy.DestinationServiceName'), { message: 'Proxy.DestinationServiceName is not a string' })
  t.equal(optStr(undefined, 'Address'), '')
  t.equal(optStr(null, 'Address'), '')
  t.equal(optStr('10.0.0.1', 'Address'), '10.0.0.1')
  t.throws(() => optStr(false, 'Address'), { message: 'Address is not a string' })
})

t.test('num and optNum refuse non-finite and non-numbers', async (t) => {
  t.equal(num(21000, 'Port'), 21000)
  t.equal(num(0, 'Port'), 0)
  for (const bad of ['21000', null, Number.NaN, Number.POSITIVE_INFINITY]) t.throws(() => num(bad, 'Port'), { message: 'Port is not a number' })
  t.equal(optNum(undefined, 'Port'), 0)
  t.equal(optNum(null, 'Weights.Passing', 1), 1)
  t.equal(optNum(3, 'Weights.Passing', 1), 3)
  t.throws(() => optNum('3', 'Weights.Passing', 1), { message: 'Weights.Passing is not a number' })
})

t.test('bool is strict', async (t) => {
  t.equal(bool(true, 'Active'), true)
  t.equal(bool(false, 'Active'), false)
  t.throws(() => bool('true', 'Active'), { message: 'Active is not a boolean' })
  t.throws(() => bool(undefined, 'Active'), { message: 'Active is not a boolean' })
})

t.test('optObj, strMap and strList', async (t) => {
  t.same(optObj(null, 'Config'), {})
  t.same(optObj(undefined, 'Config'), {})
  t.same(optObj({ protocol: 'http' }, 'Config'), { protocol: 'http' })
  t.throws(() => optObj('http', 'Config'), { message: 'Config is not an object' })

  t.same(strMap(null, 'Meta'), {})
  t.same(strMap({ version: 'v2', team: 'a' }, 'Meta'), { version: 'v2', team: 'a' })
  t.throws(() => strMap({ version: 2 }, 'Service.Meta'), { message: 'Service.Meta.version is not a string' })

  t.same(strList(null, 'Tags'), [])
  t.same(strList(['a', 'b'], 'Tags'), ['a', 'b'])
  t.throws(() => strList(['a', 3], 'Service.Tags'), { message: 'Service.Tags[1] is not a string' })
})
