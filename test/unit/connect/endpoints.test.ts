/**
 * routedInstances() chooses an upstream's instances the way Consul's xDS
 * server does for Envoy: critical ones out, warning ones at Weights.Warning,
 * and all of them back in (panic routing) when none would be left.
 */
import t from 'tap'
import { routedInstances, type Instance } from '../../../src/connect/endpoints.ts'

const inst = (id: string, Status: string, Weights = { Passing: 1, Warning: 1 }): Omit<Instance, 'Weight'> => ({
  Address: '127.0.0.1', Port: 20000, Node: 'n1', ID: id, Weights, Status, ServiceName: 'api', ServiceURI: '',
})
const pick = (list: Instance[]) => list.map((i) => [i.ID, i.Weight])

t.test('critical instances get no traffic while another is passing or warning', async (t) => {
  t.same(pick(routedInstances([inst('a', 'passing'), inst('b', 'critical'), inst('c', 'warning')])), [['a', 1], ['c', 1]])
})

t.test('weights: Passing for passing, Warning for warning, capped at 256; 0 means none', async (t) => {
  t.same(pick(routedInstances([inst('a', 'passing', { Passing: 10, Warning: 2 }), inst('b', 'warning', { Passing: 10, Warning: 2 })])), [['a', 10], ['b', 2]])
  t.same(pick(routedInstances([inst('a', 'passing', { Passing: 1000, Warning: 1 })])), [['a', 256]])
  t.same(pick(routedInstances([inst('a', 'passing'), inst('b', 'warning', { Passing: 1, Warning: 0 })])), [['a', 1]])
})

t.test('every instance critical: all of them get traffic (panic routing), none at weight 0', async (t) => {
  t.same(pick(routedInstances([inst('a', 'critical'), inst('b', 'critical', { Passing: 5, Warning: 1 }), inst('c', 'critical', { Passing: 0, Warning: 0 })])), [['a', 1], ['b', 5], ['c', 1]])
})

t.test('no instances: none', async (t) => {
  t.same(routedInstances([]), [])
})
