/**
 * Every default in one visible place: raw config (files, flags) plus the
 * environment become one frozen Config. Nothing else in meshplate invents a
 * default. Errors name the flag, key or template that was wrong.
 */
import { constants } from 'node:os'
import { resolve as resolvePath } from 'node:path'
import type { ConsulClientOptions } from '../consul/client.ts'
import { ConfigError } from '../errors.ts'
import { toArgv } from '../exec/argv.ts'
import type { LogFormat, LogLevel } from '../log.ts'
import { parseDuration, parseWait } from './duration.ts'
import { chooseToken, tokenPlaces } from './token.ts'
import type { RawConfig, RawTemplate } from './raw.ts'

/** What a file is to HAProxy's runtime API: a certificate, a CA bundle, a map, or the config whose server lines can change at run time (haproxy/). */
export type RuntimeKind = 'ssl-cert' | 'ssl-ca-file' | 'map' | 'servers'

/** `haproxyRuntime`: the HAProxy that takes `file` through its runtime API at `socket`, as `kind`. */
export interface RuntimePush {
  socket: string
  kind: RuntimeKind
  file: string
}

export interface TemplateConfig {
  source: string
  destination: string
  perms: number | undefined
  backup: boolean
  command: string[] | undefined
  commandTimeoutMs: number
  check: string[] | undefined
  checkTimeoutMs: number
  reloadExec: boolean
  haproxyRuntime: RuntimePush | undefined
}

export interface ExecConfig {
  command: string[]
  reloadSignal: NodeJS.Signals
  killSignal: NodeJS.Signals
  killTimeoutMs: number
  /** How many times a minute a child that died on its own is restarted before meshplate exits with its code. */
  restarts: number
  /** The child is HAProxy with this master CLI (`-S`): changes go through haproxy/live.ts. */
  haproxyMasterSocket: string | undefined
}

/** The client's options, plus what the sidecar and the no-token error need to know about the token. */
export interface ConsulConfig extends ConsulClientOptions {
  /** The file holding exactly the token, when it came from one (HAProxy's Lua is pointed at it). */
  tokenFile: string | undefined
  /** Every place a token was looked for (names and paths), for the one-line no-usable-token error. */
  tokenPlaces: string
}

export interface Config {
  consul: ConsulConfig
  proxyId: string | undefined
  sidecarFor: string | undefined
  templates: readonly TemplateConfig[]
  wait: { minMs: number; maxMs: number }
  timeoutMs: number
  dry: boolean
  dataFile: string | undefined
  recordFile: string | undefined
  exec: ExecConfig | undefined
  log: { level: LogLevel; format: LogFormat }
  vars: Readonly<Record<string, string>>
  /** Folders `{% include %}`/`{% extends %}` search after the templates' own folders. */
  templateRoots: readonly string[]
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const
const SIGNAL = /^SIG[A-Z0-9]+$/

/** Applies defaults and the environment to raw config; returns a frozen Config. */
export function resolveConfig(raw: RawConfig, env: NodeJS.ProcessEnv = process.env): Config {
  const logLevel = raw.logLevel ?? 'info'
  if (!(LEVELS as readonly string[]).includes(logLevel)) throw new ConfigError(`--log-level: "${logLevel}" is not one of ${LEVELS.join(', ')}`)
  const logFormat = raw.logFormat ?? 'text'
  if (logFormat !== 'text' && logFormat !== 'json') throw new ConfigError(`--log-format: "${logFormat}" is not text or json`)
  if (raw.proxyId && raw.sidecarFor) throw new ConfigError('--proxy-id and --sidecar-for are exclusive: give one')
  const config: Config = {
    consul: resolveConsul(raw.consul ?? {}, env),
    proxyId: raw.proxyId || undefined,
    sidecarFor: raw.sidecarFor || undefined,
    templates: (raw.templates ?? []).map(resolveTemplate),
    wait: raw.wait ? parseWait(raw.wait) : { minMs: 0, maxMs: 0 },
    timeoutMs: parseDuration(raw.timeout ?? '30s', '--timeout'),
    dry: raw.dry ?? false,
    dataFile: raw.data ? resolvePath(raw.data) : undefined,
    recordFile: raw.record ? resolvePath(raw.record) : undefined,
    exec: raw.exec?.command ? resolveExec(raw.exec) : undefined,
    log: { level: logLevel as LogLevel, format: logFormat },
    vars: Object.freeze({ ...raw.vars }),
    templateRoots: Object.freeze((raw.templateRoots ?? []).map((r) => resolvePath(r))),
  }
  if (config.templates.length === 0) throw new ConfigError('no templates: give -t src:dest or a config file with "templates"')
  return Object.freeze(config)
}

function resolveTemplate(t: RawTemplate, i: number): TemplateConfig {
  const field = `templates[${i}]`
  if (!t.source) throw new ConfigError(`${field}: missing source`)
  if (!t.destination) throw new ConfigError(`${field} (${t.source}): missing destination`)
  return {
    source: resolvePath(t.source),
    destination: resolvePath(t.destination),
    perms: t.perms === undefined ? undefined : parsePerms(t.perms, `${field}.perms`),
    backup: t.backup ?? false,
    command: t.command === undefined ? undefined : toArgv(t.command, `${field}.command`),
    commandTimeoutMs: parseDuration(t.commandTimeout ?? '30s', `${field}.commandTimeout`),
    check: t.check === undefined ? undefined : toArgv(t.check, `${field}.check`),
    checkTimeoutMs: parseDuration(t.checkTimeout ?? '30s', `${field}.checkTimeout`),
    reloadExec: t.reloadExec ?? true,
    haproxyRuntime: t.haproxyRuntime ? resolveRuntime(t.haproxyRuntime, resolvePath(t.destination), `${field}.haproxyRuntime`) : undefined,
  }
}

const RUNTIME_KINDS: RuntimeKind[] = ['ssl-cert', 'ssl-ca-file', 'map', 'servers']

function resolveRuntime(r: NonNullable<RawTemplate['haproxyRuntime']>, file: string, field: string): RuntimePush {
  if (!r.socket) throw new ConfigError(`${field}: missing socket`)
  if (!RUNTIME_KINDS.includes(r.kind as RuntimeKind)) throw new ConfigError(`${field}: kind "${r.kind}" is not one of ${RUNTIME_KINDS.join(', ')}`)
  return { socket: resolvePath(r.socket), kind: r.kind as RuntimeKind, file }
}

function parsePerms(value: string | number, field: string): number {
  // JSON has no octal literals: a number is read as written, so 600 means 0600.
  const text = typeof value === 'number' ? String(value) : value
  if (!/^0?[0-7]{3,4}$/.test(text)) throw new ConfigError(`${field}: "${value}" is not an octal mode like 0600`)
  return parseInt(text, 8)
}

function resolveExec(e: NonNullable<RawConfig['exec']>): ExecConfig {
  const reloadSignal = (e.reloadSignal ?? 'SIGHUP').toUpperCase()
  const killSignal = (e.killSignal ?? 'SIGTERM').toUpperCase()
  for (const [flag, sig] of [['--exec-reload-signal', reloadSignal], ['--exec-kill-signal', killSignal]] as const) {
    if (!SIGNAL.test(sig) || !(sig in constants.signals)) throw new ConfigError(`${flag}: "${sig}" is not a signal name like SIGUSR2`)
  }
  return {
    command: toArgv(e.command, '--exec'),
    reloadSignal: reloadSignal as NodeJS.Signals,
    killSignal: killSignal as NodeJS.Signals,
    killTimeoutMs: parseDuration(e.killTimeout ?? '30s', '--exec-kill-timeout'),
    restarts: parseRestarts(e.restarts ?? 0),
    haproxyMasterSocket: e.haproxyMasterSocket ? resolvePath(e.haproxyMasterSocket) : undefined,
  }
}

function parseRestarts(value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 100) throw new ConfigError(`exec.restarts: "${value}" is not a whole number from 0 to 100`)
  return value as number
}

function resolveConsul(c: NonNullable<RawConfig['consul']>, env: NodeJS.ProcessEnv): ConsulConfig {
  const { token, source, file } = chooseToken(c, env)
  const sslVerify = c.sslVerify ?? env.CONSUL_HTTP_SSL_VERIFY !== 'false'
  return {
    address: c.address ?? env.CONSUL_HTTP_ADDR ?? '127.0.0.1:8500',
    addressSource: c.address ? '--consul-addr or config' : env.CONSUL_HTTP_ADDR ? 'env CONSUL_HTTP_ADDR' : 'default',
    token,
    tokenSource: source,
    tokenFile: file,
    tokenPlaces: tokenPlaces(env),
    // Nomad re-mints tokens (client restarts): on a 403 "ACL not found" the client looks again.
    rereadToken: () => chooseToken(c, env),
    tls: {
      force: c.ssl ?? env.CONSUL_HTTP_SSL === 'true',
      insecure: !sslVerify,
      caFile: c.caFile ?? env.CONSUL_CACERT,
      certFile: c.certFile ?? env.CONSUL_CLIENT_CERT,
      keyFile: c.keyFile ?? env.CONSUL_CLIENT_KEY,
      serverName: c.serverName ?? env.CONSUL_TLS_SERVER_NAME,
    },
  }
}
