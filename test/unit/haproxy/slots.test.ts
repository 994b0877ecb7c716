import t from 'tap'
import { SlotTable } from '../../../src/haproxy/slots.ts'

const ids = (slots: Array<{ instance: string | undefined }>) => slots.map((s) => s.instance ?? '-')
const assign = (table: SlotTable, items: string[], min = 4) => ids(table.assign('b', items, (x) => x, min))

t.test('instances keep their slots while others come and go', async (t) => {
  const table = new SlotTable()
  t.same(assign(table, ['a', 'b', 'c']), ['a', 'b', 'c', '-'])
  t.same(assign(table, ['a', 'c']), ['a', '-', 'c', '-'], 'b leaves: c does not move')
  t.same(assign(table, ['a', 'c', 'd']), ['a', '-', 'c', 'd'], 'd takes the slot free longest, not the one b just left')
  t.same(assign(table, ['a', 'c', 'd', 'b']), ['a', 'b', 'c', 'd'], "b comes back to its old slot")
})

t.test('a render that briefly saw no instances reshuffles nothing', async (t) => {
  const table = new SlotTable()
  assign(table, ['a', 'b'])
  t.same(assign(table, []), ['-', '-', '-', '-'])
  t.same(assign(table, ['b', 'a']), ['a', 'b', '-', '-'])
})

t.test('the slots double when outgrown and never shrink', async (t) => {
  const table = new SlotTable()
  t.same(assign(table, ['a'], 1), ['a'])
  t.same(assign(table, ['a', 'b'], 1), ['a', 'b'])
  t.same(assign(table, ['a', 'b', 'c'], 1), ['a', 'b', 'c', '-'])
  t.same(assign(table, ['a'], 1), ['a', '-', '-', '-'])
  t.same(table.assign('b', ['x'], (x) => x, 1).map((s) => s.slot), [1, 2, 3, 4], 'numbered from 1')
})

t.test('backends are independent; duplicate ids take one slot', async (t) => {
  const table = new SlotTable()
  t.same(ids(table.assign('one', ['a', 'a'], (x) => x, 2)), ['a', '-'])
  t.same(ids(table.assign('two', ['b'], (x) => x, 2)), ['b', '-'])
})
