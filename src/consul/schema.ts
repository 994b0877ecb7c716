/**
 * Checks JSON from Consul at the boundary and turns it into typed data once
 * (the renovate pattern). Each reader takes a path for its error message, so a
 * bad body says which field was wrong instead of surfacing later as an
 * `undefined` inside a template.
 */

export class SchemaError extends Error {}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
export type JsonObject = { [key: string]: Json }

/** Asserts an object and returns it. */
export function obj(value: unknown, path: string): JsonObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SchemaError(`${path} is not an object`)
  }
  return value as JsonObject
}

/** Asserts an array (null counts as empty, as Consul sends for empty lists). */
export function arr(value: unknown, path: string): Json[] {
  if (value === null || value === undefined) return []
  if (!Array.isArray(value)) throw new SchemaError(`${path} is not an array`)
  return value as Json[]
}

export function str(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new SchemaError(`${path} is not a string`)
  return value
}

/** A string that may be absent; absent and null become ''. */
export function optStr(value: unknown, path: string): string {
  return value === undefined || value === null ? '' : str(value, path)
}

export function num(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new SchemaError(`${path} is not a number`)
  return value
}

export function optNum(value: unknown, path: string, fallback = 0): number {
  return value === undefined || value === null ? fallback : num(value, path)
}

export function bool(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new SchemaError(`${path} is not a boolean`)
  return value
}

/** A boolean that may be absent; absent and null become false. */
export function optBool(value: unknown, path: string): boolean {
  return value === undefined || value === null ? false : bool(value, path)
}

/** An object that may be absent or null; becomes {}. */
export function optObj(value: unknown, path: string): JsonObject {
  return value === undefined || value === null ? {} : obj(value, path)
}

/** A map of string to string (Meta, tags-like maps); absent becomes {}. */
export function strMap(value: unknown, path: string): Record<string, string> {
  const o = optObj(value, path)
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(o)) out[k] = str(v, `${path}.${k}`)
  return out
}

export function strList(value: unknown, path: string): string[] {
  return arr(value, path).map((v, i) => str(v, `${path}[${i}]`))
}
