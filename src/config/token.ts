/**
 * Which Consul ACL token meshplate uses, and where it came from. A token the
 * operator named (flag or config file) always wins. Inside a Nomad task the
 * environment is not to be trusted for this: from Nomad 1.8 CONSUL_HTTP_TOKEN,
 * CONSUL_TOKEN and secrets/consul_token hold a task-identity token whose role
 * is normally read-only, so it gets a 403 on the Connect leaf (COMPAT.md row
 * 2). The sidecar's own service-identity token is `${NOMAD_SECRETS_DIR}/si_token`;
 * without workload identity Nomad 2.0.4 gives a token only to Envoy, inside
 * `envoy_bootstrap.json` (row 3). So Nomad's files come before the environment.
 * The source is named (never the value), for the startup log and for the one
 * line that says what was looked for when no usable token turned up.
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve as resolvePath } from 'node:path'
import { ConfigError, errorLine } from '../errors.ts'
import type { RawConfig } from './raw.ts'

type RawConsul = NonNullable<RawConfig['consul']>

export interface TokenChoice {
  token: string | undefined
  /** Where the token came from, e.g. `nomad si_token /secrets/si_token`; `none` when nothing had one. */
  source: string
  /** The file holding exactly this token, when the source is one (handed to HAProxy's Lua as is). */
  file: string | undefined
}

/** Picks the token by precedence: operator, Nomad's files, then CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_TOKEN, CONSUL_TOKEN. */
export function chooseToken(c: RawConsul, env: NodeJS.ProcessEnv): TokenChoice {
  // A token the operator named ends the search, even an empty one (which means "no token").
  if (c.tokenFile) return fromFile(c.tokenFile, '--consul-token-file/consul.tokenFile')
  if (c.token !== undefined) return { token: c.token.trim() || undefined, source: '--consul-token/consul.token', file: undefined }
  const nomad = env.NOMAD_SECRETS_DIR ? nomadToken(env.NOMAD_SECRETS_DIR) : undefined
  if (nomad) return nomad
  if (env.CONSUL_HTTP_TOKEN_FILE) return fromFile(env.CONSUL_HTTP_TOKEN_FILE, 'env CONSUL_HTTP_TOKEN_FILE')
  // CONSUL_TOKEN is consul-template's name; last, because in Nomad it is only ever the task-identity token.
  for (const name of ['CONSUL_HTTP_TOKEN', 'CONSUL_TOKEN'] as const) {
    const value = env[name]?.trim()
    if (value) return { token: value, source: `env ${name}`, file: undefined }
  }
  return { token: undefined, source: 'none', file: undefined }
}

/** Every place chooseToken looks, in order, for the no-usable-token error (names and paths, never values). */
export function tokenPlaces(env: NodeJS.ProcessEnv): string {
  const nomad = env.NOMAD_SECRETS_DIR
    ? `${nomadFile(env.NOMAD_SECRETS_DIR, 'si_token')}, ${nomadFile(env.NOMAD_SECRETS_DIR, 'envoy_bootstrap.json')}`
    : 'no Nomad secrets (NOMAD_SECRETS_DIR is not set)'
  return `--consul-token-file, --consul-token, config consul.tokenFile/consul.token, ${nomad}, env CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_TOKEN, CONSUL_TOKEN`
}

/** si_token (service identity) first, then the token Nomad wrote into Envoy's bootstrap; undefined when neither has one. */
function nomadToken(secretsDir: string): TokenChoice | undefined {
  const si = nomadFile(secretsDir, 'si_token')
  if (existsSync(si)) {
    const choice = fromFile(si, 'nomad si_token')
    if (choice.token) return choice
  }
  const bootstrap = nomadFile(secretsDir, 'envoy_bootstrap.json')
  if (!existsSync(bootstrap)) return undefined
  const token = envoyBootstrapToken(bootstrap)
  return token ? { token, source: `nomad envoy_bootstrap.json ${bootstrap}`, file: undefined } : undefined
}

function nomadFile(secretsDir: string, name: string): string {
  return resolvePath(secretsDir, name)
}

function fromFile(path: string, label: string): TokenChoice {
  const file = resolvePath(path)
  return { token: readTokenFile(file, label) || undefined, source: `${label} ${file}`, file }
}

function readTokenFile(file: string, label: string): string {
  try {
    return readFileSync(file, 'utf8').trim()
  } catch (err) {
    throw new ConfigError(`${label} ${file}: ${errorLine(err)}`, { cause: err })
  }
}

/**
 * The `x-consul-token` Consul's `connect envoy -bootstrap` puts in
 * `dynamic_resources.ads_config.grpc_services.initial_metadata` (command/connect/envoy/bootstrap_tpl.go).
 * Consul writes `grpc_services` as one object; Envoy's schema has a list, so both are read.
 * An empty value (ACLs off) is no token; a file that is not that shape is an error naming it.
 */
export function envoyBootstrapToken(file: string): string | undefined {
  let doc: unknown
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new ConfigError(`${file}: not an Envoy bootstrap: ${errorLine(err)}`, { cause: err })
  }
  const dynamic = objectAt(objectAt(doc, file, 'the document')?.dynamic_resources, file, 'dynamic_resources')
  const ads = objectAt(dynamic?.ads_config, file, 'dynamic_resources.ads_config')
  const services = ads?.grpc_services
  const list = Array.isArray(services) ? services : services === undefined ? [] : [services]
  for (const [i, service] of list.entries()) {
    const where = `dynamic_resources.ads_config.grpc_services${Array.isArray(services) ? `[${i}]` : ''}`
    const metadata = objectAt(service, file, where)?.initial_metadata
    if (metadata === undefined) continue
    if (!Array.isArray(metadata)) throw new ConfigError(`${file}: ${where}.initial_metadata is not a list`)
    for (const [j, item] of metadata.entries()) {
      const entry = objectAt(item, file, `${where}.initial_metadata[${j}]`)!
      if (typeof entry.key !== 'string' || entry.key.toLowerCase() !== 'x-consul-token') continue
      if (typeof entry.value !== 'string') throw new ConfigError(`${file}: ${where}.initial_metadata[${j}].value is not a string`)
      return entry.value.trim() || undefined
    }
  }
  return undefined
}

/** `value` as an object, undefined when absent; anything else is an error naming the file and the path. */
function objectAt(value: unknown, file: string, path: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${file}: ${path} is not an object`)
  return value as Record<string, unknown>
}
