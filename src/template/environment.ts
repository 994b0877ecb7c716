/**
 * The Nunjucks environment every template renders in: autoescape off (these
 * are config files, not HTML), blocks trimmed so `{% %}` lines leave no blank
 * lines, undefined values rendered as empty, plus meshplate's globals and
 * filters. Includes resolve relative to the template folders. `dev` keeps
 * Nunjucks' own error object, whose line number survives an error on line 1.
 *
 * The engine knows only its own functions and filters. A consumer adds its
 * own through `extensions` (the mesh's: connect/index.ts, added by
 * src/commands/), so nothing here imports what it renders for; an extension
 * may add names, never replace one.
 *
 * Included and imported files compile once per content, not once per render
 * (Nunjucks' `noCache` recompiled the shipped macros on every render: about a
 * quarter of a 1,000-instance sidecar's CPU per change). Before each render,
 * `refreshIncludes` reads each one again and drops the compiled copy of any
 * whose path or text changed, so an edited macro file applies at the next
 * render, as it did uncached.
 */
import nunjucks, { type LoaderSource } from 'nunjucks'
import { collectionFilters } from './ct-collections.ts'
import { stringFilters } from './ct-strings.ts'
import { filters, type Filter } from './filters.ts'
import { createFunctions, functionContext, type FunctionContext, type RenderScope } from './functions.ts'

/** Functions and filters a consumer adds to the engine's; function and filter names are what templates call. */
export interface TemplateExtension {
  /** Globals bound to the render scope, reading through `ctx` as the built-in ones do. */
  functions?(ctx: FunctionContext): Record<string, (...args: never[]) => unknown>
  filters?: Record<string, Filter>
}

/** Creates an environment whose globals read through `scope`, with each extension's functions and filters. */
export function createEnvironment(scope: RenderScope, searchPaths: string[], vars: Record<string, string>, extensions: readonly TemplateExtension[] = []): nunjucks.Environment {
  const loader = new nunjucks.FileSystemLoader(searchPaths)
  refreshers.set(loader, cacheByContent(loader))
  const env = new nunjucks.Environment(loader, { autoescape: false, trimBlocks: true, lstripBlocks: true, throwOnUndefined: false, dev: true })
  const ctx = functionContext(scope)
  const globals: Array<Record<string, unknown>> = [createFunctions(scope), ...extensions.map((e) => e.functions?.(ctx) ?? {}), { vars: Object.freeze({ ...vars }) }]
  for (const [name, value] of unique('global', globals)) env.addGlobal(name, value)
  for (const [name, fn] of unique('filter', [filters, collectionFilters, stringFilters, ...extensions.map((e) => e.filters ?? {})])) env.addFilter(name, fn as (...args: unknown[]) => unknown)
  return env
}

/** The entries of every map; a name given twice throws: an extension adds names, it never replaces one. */
function unique<T>(kind: string, maps: Array<Record<string, T>>): Array<[string, T]> {
  const seen = new Map<string, T>()
  for (const map of maps) {
    for (const [name, value] of Object.entries(map)) {
      if (seen.has(name)) throw new Error(`template ${kind} ${name} is defined twice`)
      seen.set(name, value)
    }
  }
  return [...seen]
}

/** Per loader: drops the compiled includes whose file changed since they were read. */
const refreshers = new WeakMap<object, () => void>()

/** Call before a render: an include edited on disk is read and compiled again. */
export function refreshIncludes(env: nunjucks.Environment): void {
  for (const loader of (env as unknown as { loaders: object[] }).loaders) refreshers.get(loader)?.()
}

function cacheByContent(loader: nunjucks.FileSystemLoader): () => void {
  const read = loader.getSource.bind(loader)
  const seen = new Map<string, string>()
  const key = (s: LoaderSource | null) => (s ? `${s.path}\0${s.src}` : '')
  loader.getSource = (name) => {
    const source = read(name)
    seen.set(name, key(source))
    return source
  }
  // Never throws: a file that cannot be read now is dropped, and the render that needs it reports why.
  const current = (name: string) => {
    try {
      return key(read(name))
    } catch {
      return undefined
    }
  }
  return () => {
    for (const [name, was] of seen) {
      if (current(name) === was) continue
      delete (loader as unknown as { cache: Record<string, unknown> }).cache[name]
      seen.delete(name)
    }
  }
}
