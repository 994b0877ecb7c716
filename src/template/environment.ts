/**
 * The Nunjucks environment every template renders in: autoescape off (these
 * are config files, not HTML), blocks trimmed so `{% %}` lines leave no blank
 * lines, undefined values rendered as empty, plus meshplate's globals and
 * filters. Includes resolve relative to the template folders. `dev` keeps
 * Nunjucks' own error object, whose line number survives an error on line 1.
 */
import nunjucks from 'nunjucks'
import { filters } from './filters.ts'
import { createFunctions, type RenderScope } from './functions.ts'

/** Creates an environment whose globals read through `scope`. */
export function createEnvironment(scope: RenderScope, searchPaths: string[], vars: Record<string, string>): nunjucks.Environment {
  const loader = new nunjucks.FileSystemLoader(searchPaths, { noCache: true })
  const env = new nunjucks.Environment(loader, { autoescape: false, trimBlocks: true, lstripBlocks: true, throwOnUndefined: false, dev: true })
  for (const [name, fn] of Object.entries(createFunctions(scope))) env.addGlobal(name, fn)
  for (const [name, fn] of Object.entries(filters)) env.addFilter(name, fn as (...args: unknown[]) => unknown)
  env.addGlobal('vars', Object.freeze({ ...vars }))
  return env
}
