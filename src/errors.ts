/**
 * One error hierarchy with stable codes, so the CLI and users can branch on
 * `err.code` instead of parsing messages (the undici pattern). Every error is
 * meant to be printed as one line; `cause` keeps the chain for debug logs.
 */

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONSUL_HTTP'
  | 'CONSUL_UNREACHABLE'
  | 'CONSUL_RESPONSE_INVALID'
  | 'PROXY_NOT_FOUND'
  | 'TOKEN_UNUSABLE'
  | 'TEMPLATE_SYNTAX'
  | 'TEMPLATE_RUNTIME'
  | 'PROXY_CONFIG_INVALID'
  | 'CHECK_FAILED'
  | 'COMMAND_FAILED'
  | 'WRITE_FAILED'
  | 'TIMEOUT'
  | 'SNAPSHOT_INVALID'
  | 'FILE_READ'

/** Base class: a stable code, a one-line message, an optional cause. */
export class MeshplateError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

export class ConfigError extends MeshplateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG_INVALID', message, options)
  }
}

/** ACLs are on and no token was found, or the one found is refused for what a sidecar must do. */
export class TokenError extends MeshplateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TOKEN_UNUSABLE', message, options)
  }
}

/** Consul answered with a non-2xx status; `body` is Consul's own text. */
export class ConsulHttpError extends MeshplateError {
  constructor(
    readonly endpoint: string,
    readonly status: number,
    readonly body: string,
    /** X-Consul-Index of the error response (a missing KV key still has one). */
    readonly index?: number,
  ) {
    super('CONSUL_HTTP', `consul ${endpoint}: ${status} ${body.trim().split('\n')[0] || '(empty body)'}`)
  }
}

/** The agent could not be reached, or the request timed out or was reset. */
export class ConsulUnreachableError extends MeshplateError {
  constructor(readonly endpoint: string, detail: string, options?: { cause?: unknown }) {
    super('CONSUL_UNREACHABLE', `consul ${endpoint}: ${detail}`, options)
  }
}

/** A file a template reads (`file(path)`) could not be read; `missing` when it does not exist (yet). */
export class FileReadError extends MeshplateError {
  readonly missing: boolean
  constructor(readonly path: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code
    super('FILE_READ', `file ${path}: ${code === 'ENOENT' ? 'no such file' : errorLine(cause)}`, { cause })
    this.missing = code === 'ENOENT'
  }
}

/** The body was not the JSON shape this endpoint promises. */
export class ConsulResponseError extends MeshplateError {
  constructor(readonly endpoint: string, detail: string, options?: { cause?: unknown }) {
    super('CONSUL_RESPONSE_INVALID', `consul ${endpoint}: invalid response: ${detail}`, options)
  }
}

/**
 * A template that cannot be read, compiled or rendered, at `file:line`. Its code is
 * TEMPLATE_SYNTAX or TEMPLATE_RUNTIME, or the code of the MeshplateError that a function or
 * filter threw while rendering (template/template.ts), so a bad Proxy.Config key is
 * PROXY_CONFIG_INVALID and a template typo TEMPLATE_RUNTIME.
 */
export class TemplateError extends MeshplateError {
  constructor(
    code: ErrorCode,
    readonly file: string,
    readonly line: number | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${file}${line ? `:${line}` : ''}: ${detail}`, options)
  }
}

/**
 * Consul Connect configuration (Proxy.Config, an upstream's Config, a config entry, an
 * intention) that the sidecar cannot turn into HAProxy configuration as written. The
 * subclasses below say which part; src/connect/ decides for each whether it fails the
 * render, costs one upstream or route, or becomes a warning.
 */
export class ConnectConfigError extends MeshplateError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PROXY_CONFIG_INVALID', message, options)
  }
}

/** A Proxy.Config or upstream Config value, or a value quoted into the config, that HAProxy cannot take as written. */
export class ProxySettingsError extends ConnectConfigError {}

/** An intention (or one of its L7 permissions) that cannot be written into the intentions map. */
export class IntentionRuleError extends ConnectConfigError {}

/** A discovery chain route (or the chain) that cannot be written as HAProxy rules. */
export class RouteError extends ConnectConfigError {}

/** An RE2 expression (L7 intention, route match) outside the subset HAProxy's PCRE2 runs alike. */
export class RegexError extends ConnectConfigError {}

/** Narrows unknown throwables to a message line. */
export function errorLine(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? String(err)
  return String(err)
}
