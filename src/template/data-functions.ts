/**
 * The rest of consul-template's data functions, with its names and meanings
 * (its docs/templating-language.md): KV listings (`ls`, `tree` and their
 * `safe` forms, `keyExists`), the catalog (`services`, `nodes`, `node`,
 * `datacenters`), Connect instances (`connect`), and the local ones
 * (`envOrDefault`, `file`, `timestamp`). Like functions.ts, each reads its
 * dependency through the render's tracker and never fetches. The `safe`
 * forms mark their listing missing while it is empty, so the template is not
 * written (and `once` names it) until the prefix has a key, which is how
 * consul-template's safeLs/safeTree refuse to render.
 */
import { CatalogDatacentersDependency } from '../dependency/catalog-datacenters.ts'
import { CatalogNodeDependency, type CatalogNodeServices } from '../dependency/catalog-node.ts'
import { CatalogNodesDependency, type CatalogNode } from '../dependency/catalog-nodes.ts'
import { CatalogServicesDependency, type CatalogService } from '../dependency/catalog-services.ts'
import { FileDependency } from '../dependency/file.ts'
import { HealthConnectDependency } from '../dependency/health-connect.ts'
import type { HealthEntry } from '../dependency/health-entry.ts'
import { parseServiceQuery, tagFilter } from '../dependency/health-service.ts'
import { KvGetDependency } from '../dependency/kv-get.ts'
import { KvListDependency, type KeyPair } from '../dependency/kv-list.ts'
import { ConfigError } from '../errors.ts'
import type { FunctionContext } from './functions.ts'
import { timestamp } from './go-time.ts'

/** `ls` shows the pairs right under the prefix (consul-template's lsFunc). */
const topLevel = (p: KeyPair) => p.Key !== '' && !p.Key.includes('/')
/** `tree` shows every pair that is not a folder (consul-template's treeFunc). */
const notFolder = (p: KeyPair) => p.Key !== '' && !p.Key.endsWith('/')

/** Builds the functions bound to `ctx`. */
export function dataFunctions(ctx: FunctionContext): Record<string, (...args: never[]) => unknown> {
  const { read, scope } = ctx
  const listing = (prefix: string, keep: (p: KeyPair) => boolean, safe: boolean): KeyPair[] => {
    const dep = new KvListDependency(prefix)
    const shown = (read(dep) ?? []).filter(keep)
    // Before the first answer `read` has marked it missing already.
    if (safe && shown.length === 0) scope.tracker?.missing.add(dep.id)
    return shown
  }
  return {
    keyExists: (path: string): boolean => read(new KvGetDependency(path))?.Exists ?? false,
    ls: (prefix: string): KeyPair[] => listing(prefix, topLevel, false),
    safeLs: (prefix: string): KeyPair[] => listing(prefix, topLevel, true),
    tree: (prefix: string): KeyPair[] => listing(prefix, notFolder, false),
    safeTree: (prefix: string): KeyPair[] => listing(prefix, notFolder, true),
    services: (query = ''): CatalogService[] => read(new CatalogServicesDependency(query)) ?? [],
    nodes: (query = ''): CatalogNode[] => read(new CatalogNodesDependency(query)) ?? [],
    node: (query = ''): CatalogNodeServices | null => read(new CatalogNodeDependency(query)) ?? null,
    datacenters: (): string[] => read(new CatalogDatacentersDependency()) ?? [],
    connect: (query: string): HealthEntry[] => {
      const q = parseServiceQuery(query, 'connect')
      if (q.near) throw new ConfigError(`connect("${query}"): ~near is not supported (the agent's streaming view answers connect())`)
      const entries = read(new HealthConnectDependency(q.name, q.dc, q.tag ? tagFilter(q.tag) : '')) ?? []
      // Passing only, as service() and consul-template's connect: Status is passing only when every check is.
      return entries.filter((e) => e.Status === 'passing')
    },
    envOrDefault: (name: string, fallback: string): string => scope.env[name] ?? fallback,
    file: (path: string): string => read(new FileDependency(path)) ?? '',
    timestamp: (format?: string): string => timestamp(format),
  }
}
