/**
 * Stable server slots for `serverSlots()`: each upstream backend gets a fixed
 * number of numbered slots, and an instance keeps its slot for as long as it
 * exists, so an instance joining or leaving changes one `server` line and the
 * runtime API can carry it without a reload (haproxy/server-plan.ts). A
 * joining instance takes the slot that has been free longest (an old
 * instance's in-flight requests drain on a slot nobody reuses at once), and
 * one that comes back while its old slot is still free gets it again, so a
 * render that briefly saw no instances reshuffles nothing. The slot count
 * only grows, doubling when the instances outgrow it: one reload, then
 * room again. The table lives as long as the process, across SIGHUP.
 */

export interface Slot<T> {
  /** 1-based, stable for the life of the process. */
  slot: number
  /** The instance in this slot, or undefined for a spare one. */
  instance: T | undefined
}

interface Table {
  /** Id of the instance in each slot, or of the last one it held. */
  ids: Array<string | undefined>
  used: boolean[]
  /** When each slot was last freed (0: never used). */
  freedAt: number[]
}

export class SlotTable {
  #tables = new Map<string, Table>()
  #clock = 0

  /** Places `items` (keyed by `idOf`) into the slots of `key`, at least `min` of them. */
  assign<T>(key: string, items: readonly T[], idOf: (item: T) => string, min: number): Slot<T>[] {
    const table = this.#tables.get(key) ?? { ids: [], used: [], freedAt: [] }
    this.#tables.set(key, table)
    const wanted = new Map<string, T>()
    for (const item of items) if (!wanted.has(idOf(item))) wanted.set(idOf(item), item)
    grow(table, Math.max(min, 1), wanted.size)
    const placed = new Map<string, number>()
    for (let i = 0; i < table.ids.length; i++) {
      const id = table.ids[i]
      const back = id !== undefined && wanted.has(id) && !placed.has(id)
      if (back) placed.set(id, i)
      if (table.used[i] && !back) table.freedAt[i] = ++this.#clock
      table.used[i] = back
    }
    const free = table.ids.map((_, i) => i).filter((i) => !table.used[i])
    free.sort((x, y) => table.freedAt[x]! - table.freedAt[y]! || x - y)
    for (const id of wanted.keys()) {
      if (placed.has(id)) continue
      const i = free.shift()!
      table.ids[i] = id
      table.used[i] = true
      placed.set(id, i)
    }
    const bySlot = new Map([...placed].map(([id, i]) => [i, wanted.get(id)!]))
    return table.ids.map((_, i) => ({ slot: i + 1, instance: bySlot.get(i) }))
  }
}

/** Starts a table at `min` slots; doubles it until `needed` fit. */
function grow(table: Table, min: number, needed: number): void {
  let size = Math.max(table.ids.length, min)
  while (size < needed) size *= 2
  while (table.ids.length < size) {
    table.ids.push(undefined)
    table.used.push(false)
    table.freedAt.push(0)
  }
}
