/**
 * consul-template's helpers that reshape what its data functions return, as
 * filters with its names and semantics (docs/consul-template.md maps every
 * one): services grouped by tag or meta (`byTag`, `byMeta`), KV pairs grouped
 * by their top folder or nested into objects (`byKey`, `explode`,
 * `explodeMap`), and membership (`contains`, `containsAll`, …). The value
 * left of `|` is what consul-template's pipeline passes last, so
 * `service("web") | byTag` reads as `service "web" | byTag` did.
 *
 * Go's `range` walks a map in key order, so every object made here has its
 * keys inserted sorted (JavaScript still puts integer-like keys first, in
 * numeric order). Objects have no prototype, so a tag or key called
 * `__proto__` is data like any other. Input that is not what the filter
 * takes throws one line naming the filter; nothing (`undefined`, as on a
 * render before the data arrives) gives an empty result.
 */

type Obj = Record<string, unknown>

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

/** What a value is, for an error message. */
export function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`
}

/** A prototype-free object with `groups`' keys inserted in sorted order. */
function sorted<T>(groups: Map<string, T>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>
  for (const key of [...groups.keys()].sort()) out[key] = groups.get(key)!
  return out
}

function list(v: unknown, filter: string, what: string): unknown[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new Error(`${filter}: expects ${what}, got ${kindOf(v)}`)
  return v
}

function push<T>(groups: Map<string, T[]>, key: string, value: T): void {
  const group = groups.get(key)
  if (group) group.push(value)
  else groups.set(key, [value])
}

/** `service("web") | byTag`: tag → the services (or catalog services) that carry it. */
export function byTag(services: unknown): Record<string, unknown[]> {
  const groups = new Map<string, unknown[]>()
  list(services, 'byTag', 'a list of services').forEach((s, i) => {
    const tags = isObj(s) ? (s.Tags ?? s.ServiceTags) : undefined
    if (!Array.isArray(tags)) throw new Error(`byTag: entry ${i} has no Tags list (${kindOf(s)})`)
    for (const tag of tags) push(groups, String(tag), s)
  })
  return sorted(groups)
}

/** `tree("groups") | byKey`: top folder → {rest of the key → pair}, the pair's `Key` cut to the rest; keys with no rest are left out. */
export function byKey(pairs: unknown): Record<string, Record<string, Obj>> {
  const groups = new Map<string, Map<string, Obj>>()
  for (const pair of keyPairs(pairs, 'byKey')) {
    const [top, ...rest] = pair.Key.split('/')
    const key = rest.join('/')
    if (key === '') continue
    if (!groups.has(top!)) groups.set(top!, new Map())
    groups.get(top!)!.set(key, { ...pair, Key: key })
  }
  return sorted(new Map([...groups].map(([top, group]) => [top, sorted(group)])))
}

/**
 * `service("redis|any") | byMeta("environment,shard_number|int")`: services grouped by the
 * values of one or more `Meta` keys, joined with `_`. A missing value is `_no_<key>_`; with
 * `|int` the value is a number padded to five digits (missing: 0), so keys sort numerically.
 */
export function byMeta(services: unknown, meta: unknown): Record<string, unknown[]> {
  if (typeof meta !== 'string' || meta === '') throw new Error(`byMeta: expects meta keys like "env,shard|int", got ${kindOf(meta)}`)
  const keys = meta.split(',')
  const groups = new Map<string, unknown[]>()
  list(services, 'byMeta', 'a list of services').forEach((s, i) => {
    const m = isObj(s) ? (s.ServiceMeta ?? s.Meta ?? (isObj(s.Service) ? s.Service.Meta : undefined)) : undefined
    if (!isObj(m)) throw new Error(`byMeta: entry ${i} has no Meta (${kindOf(s)})`)
    const parts = keys.map((key) => metaPart(m, key))
    push(groups, parts.join('_'), s)
  })
  return sorted(groups)
}

/** One part of a byMeta group name, as consul-template's getOrDefault, padding and normalising make it. */
function metaPart(meta: Obj, key: string): string {
  const asInt = key.endsWith('|int')
  const name = asInt ? key.slice(0, -4) : key
  const raw = meta[name]
  let value = typeof raw === 'string' && raw !== '' ? raw : asInt ? '0' : `_no_${name}_`
  if (asInt) {
    if (!/^[+-]?\d+$/.test(value)) throw new Error(`byMeta: meta ${name} is ${JSON.stringify(value)}, not an integer (${key})`)
    const n = Number(value)
    value = (n < 0 ? '-' : '') + String(Math.abs(n)).padStart(n < 0 ? 4 : 5, '0')
  }
  return value.replace(/[^a-zA-Z0-9_-]/g, '_')
}

/** `tree("config") | explode`: the pairs as one nested object (`a/b/c` → `{a: {b: {c: value}}}`). */
export function explode(pairs: unknown): Obj {
  const out: Obj = Object.create(null)
  for (const pair of keyPairs(pairs, 'explode')) nest(out, pair.Key, pair.Value, pair.Key, 'explode')
  return sortDeep(out)
}

/** `{"a/b": 1, "a/c": 2} | explodeMap`: a flat object with `/` in its keys, nested as `explode` does. */
export function explodeMap(map: unknown): Obj {
  if (map === undefined || map === null) return Object.create(null) as Obj
  if (!isObj(map)) throw new Error(`explodeMap: expects an object, got ${kindOf(map)}`)
  const out: Obj = Object.create(null)
  for (const key of Object.keys(map).sort()) nest(out, key, map[key], key, 'explodeMap')
  return sortDeep(out)
}

/** consul-template's explodeHelper: walks `key` down by `/`, refusing to nest under a value. */
function nest(m: Obj, key: string, value: unknown, path: string, filter: string): void {
  const slash = key.indexOf('/')
  if (slash < 0) {
    if (key !== '') m[key] = value
    return
  }
  const top = key.slice(0, slash)
  if (!(top in m)) m[top] = Object.create(null)
  const inner = m[top]
  if (!isObj(inner)) throw new Error(`${filter}: not a map: ${JSON.stringify(path)}: ${JSON.stringify(top)} already has value ${JSON.stringify(inner)}`)
  nest(inner, key.slice(slash + 1), value, key, filter)
}

function sortDeep(o: Obj): Obj {
  return sorted(new Map(Object.entries(o).map(([k, v]) => [k, isObj(v) ? sortDeep(v) : v])))
}

/** Pairs from ls() or tree(): objects with a string `Key`. */
function keyPairs(pairs: unknown, filter: string): Array<Obj & { Key: string }> {
  return list(pairs, filter, 'KV pairs from ls() or tree()').map((p, i) => {
    if (!isObj(p) || typeof p.Key !== 'string') throw new Error(`${filter}: entry ${i} is not a KV pair with a Key (${kindOf(p)})`)
    return p as Obj & { Key: string }
  })
}

/** consul-template's `in`: a list holds a string or number equal to `v`, or a string contains `v`. */
function holds(haystack: unknown, v: unknown): boolean {
  if (Array.isArray(haystack)) return haystack.some((x) => (typeof x === 'string' || typeof x === 'number') && x === v)
  return typeof haystack === 'string' && typeof v === 'string' && haystack.includes(v)
}

/** `tags | containsAll(needles)` and its kin: consul-template's containsSomeFunc(retTrue, invert). */
function containsSome(filter: string, retTrue: boolean, invert: boolean) {
  return (haystack: unknown, needles: unknown): boolean => {
    for (const needle of list(needles, filter, 'a list of needles')) if (holds(haystack, needle) !== invert) return !retTrue
    return retTrue
  }
}

export const collectionFilters = {
  byTag,
  byKey,
  byMeta,
  explode,
  explodeMap,
  /** `tags | contains("production")`: the list holds it, or the string contains it. */
  contains: (haystack: unknown, needle: unknown): boolean => holds(haystack, needle),
  /** Every needle is in the list (true for no needles). */
  containsAll: containsSome('containsAll', true, true),
  /** Some needle is in the list (false for no needles). */
  containsAny: containsSome('containsAny', false, false),
  /** No needle is in the list (true for no needles). */
  containsNone: containsSome('containsNone', true, false),
  /** Some needle is not in the list (false for no needles). */
  containsNotAll: containsSome('containsNotAll', false, true),
}
