/**
 * The raw configuration, as the user wrote it: JSON config files and flags,
 * before any default is applied. Reading a file checks only that it is JSON
 * with known keys; `resolveConfig` does the rest in one visible place.
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ConfigError } from '../errors.ts'

export interface RawTemplate {
  source?: string
  destination?: string
  perms?: string | number
  backup?: boolean
  command?: string | string[]
  commandTimeout?: string | number
  check?: string | string[]
  checkTimeout?: string | number
  /** Whether a change to this file sends the exec child its reload signal (default true). */
  reloadExec?: boolean
  /** Push the written file into a running HAProxy: `{ "socket": "...", "kind": "ssl-cert" | "ssl-ca-file" | "map" }`. */
  haproxyRuntime?: { socket?: string; kind?: string }
}

export interface RawConfig {
  consul?: {
    address?: string
    token?: string
    tokenFile?: string
    ssl?: boolean
    sslVerify?: boolean
    caFile?: string
    certFile?: string
    keyFile?: string
    serverName?: string
  }
  proxyId?: string
  sidecarFor?: string
  wait?: string
  timeout?: string | number
  dry?: boolean
  data?: string
  record?: string
  logLevel?: string
  logFormat?: string
  vars?: Record<string, string>
  /** Extra folders searched by `{% include %}` and `{% extends %}`, after each template's own folder. */
  templateRoots?: string[]
  templates?: RawTemplate[]
  exec?: { command?: string | string[]; reloadSignal?: string; killSignal?: string; killTimeout?: string | number; restarts?: number; haproxyMasterSocket?: string }
}

const TOP_KEYS = new Set(['consul', 'proxyId', 'sidecarFor', 'wait', 'timeout', 'dry', 'data', 'record', 'logLevel', 'logFormat', 'vars', 'templateRoots', 'templates', 'exec'])
const TEMPLATE_KEYS = new Set(['source', 'destination', 'perms', 'backup', 'command', 'commandTimeout', 'check', 'checkTimeout', 'reloadExec', 'haproxyRuntime'])

/** Reads one JSON config file; relative template paths become relative to the file. */
export function readConfigFile(file: string): RawConfig {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`, { cause: err })
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`${file}: expected a JSON object`)
  const raw = parsed as RawConfig
  for (const key of Object.keys(raw)) if (!TOP_KEYS.has(key)) throw new ConfigError(`${file}: unknown key "${key}"`)
  if (raw.templates !== undefined && !Array.isArray(raw.templates)) throw new ConfigError(`${file}: "templates" must be an array`)
  const base = dirname(resolve(file))
  if (raw.templateRoots !== undefined) {
    if (!Array.isArray(raw.templateRoots) || raw.templateRoots.some((r) => typeof r !== 'string')) throw new ConfigError(`${file}: "templateRoots" must be an array of folders`)
    raw.templateRoots = raw.templateRoots.map((r) => resolve(base, r))
  }
  raw.templates = (raw.templates ?? []).map((t, i) => {
    if (!t || typeof t !== 'object') throw new ConfigError(`${file}: templates[${i}] is not an object`)
    for (const key of Object.keys(t)) if (!TEMPLATE_KEYS.has(key)) throw new ConfigError(`${file}: templates[${i}]: unknown key "${key}"`)
    return {
      ...t,
      source: t.source === undefined ? undefined : resolve(base, t.source),
      destination: t.destination === undefined ? undefined : resolve(base, t.destination),
    }
  })
  return raw
}

/** Parses `-t src:dest[:command]`. */
export function parseTemplateFlag(value: string): RawTemplate {
  const first = value.indexOf(':')
  if (first <= 0) throw new ConfigError(`--template "${value}": expected src:dest[:command]`)
  const rest = value.slice(first + 1)
  const second = rest.indexOf(':')
  const destination = second < 0 ? rest : rest.slice(0, second)
  if (!destination) throw new ConfigError(`--template "${value}": missing destination`)
  return { source: value.slice(0, first), destination, command: second < 0 ? undefined : rest.slice(second + 1) || undefined }
}

/** Merges raw configs in order; later scalars win, templates accumulate. */
export function mergeRaw(...configs: RawConfig[]): RawConfig {
  const out: RawConfig = { templates: [] }
  for (const c of configs) {
    const { templates, consul, vars, exec, ...rest } = c
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) (out as Record<string, unknown>)[k] = v
    if (consul) out.consul = { ...out.consul, ...definedOnly(consul) }
    if (vars) out.vars = { ...out.vars, ...vars }
    if (exec) out.exec = { ...out.exec, ...definedOnly(exec) }
    out.templates!.push(...(templates ?? []))
  }
  return out
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
