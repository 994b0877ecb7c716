/**
 * `proxy-defaults` AccessLogs (merged into the registration as
 * `Proxy.AccessLogs` by Consul 1.15 and later) as the log lines each HAProxy
 * frontend writes. Consul's Envoy config is the reference
 * (agent/xds/accesslogs): enabled, every listener logs every request or
 * connection, in `JSONFormat`, else `TextFormat`, else Envoy's default JSON
 * with its field names, to stdout (the default), stderr or a file. The
 * public listener keeps meshplate's authorization fields (`src`, `decision`,
 * `rule`, `reason`). Without AccessLogs, or with `Enabled = false`, the
 * shipped templates log as before (one line per inbound decision, upstream
 * failures only). HAProxy cannot write a file itself, so `Type = "file"`
 * logs to stderr and says so in the config; and it logs a failed TLS
 * handshake whatever `DisableListenerLogs` says (docs/sidecar-settings.md: "Access logs").
 * A `Type` or format meshplate cannot print is a warning naming the field:
 * the lines then go to stdout, in Envoy's default format, and every listener
 * keeps serving.
 */
import type { AccessLogs, ProxyService } from '../dependency/agent-service.ts'
import { jsonFormat, textFormat, type LogContext, type LogFormat } from './envoy-log-format.ts'
import { ProxySettingsError } from '../errors.ts'
import { haproxyQuote } from '../haproxy/words.ts'
import { warnOnce } from '../template/warnings.ts'
import { show } from './settings-values.ts'

/** Consul's default format (agent/xds/accesslogs/accesslogs.go), field for field. */
export const ENVOY_DEFAULT_JSON_FORMAT = JSON.stringify({
  start_time: '%START_TIME%',
  route_name: '%ROUTE_NAME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER%',
  upstream_local_address: '%UPSTREAM_LOCAL_ADDRESS%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
})

/** The frontends that log: the public listener, upstream listeners, expose listeners; by mode. */
export type ListenerKind = 'public-http' | 'public-tcp' | 'upstream-http' | 'upstream-tcp' | 'expose-http'

/** What a frontend prints: `log-format` (quoted) and the rules that feed it, by where they go. */
export interface ListenerLog {
  format: string
  /** `tcp-request connection ...`: before any tcp-request content rule. */
  connectionRules: string[]
  /** `http-request ...` and `http-response ...`: before any rule that may answer. */
  httpRules: string[]
}

export interface AccessLogSettings {
  enabled: boolean
  /** HAProxy's log target for the lines. */
  target: 'stdout' | 'stderr'
  /** Why the target is not what AccessLogs.Type asked for (printed as a config comment), or ''. */
  note: string
  listeners: Record<ListenerKind, ListenerLog>
  /** `error-log-format` (quoted): a connection that fails before any request, e.g. a TLS handshake. */
  errorFormat: string
}

const KINDS: Array<[ListenerKind, LogContext]> = [
  ['public-http', 'http'], ['public-tcp', 'tcp'], ['upstream-http', 'http'], ['upstream-tcp', 'tcp'], ['expose-http', 'http'],
]

/** `connectProxy() | accessLogs`: disabled (`enabled: false`) unless Proxy.AccessLogs says Enabled. */
export function accessLogs(proxy: ProxyService | undefined): AccessLogSettings {
  const a = proxy?.Proxy.AccessLogs
  if (!a || !a.Enabled) return { enabled: false, target: 'stderr', note: '', listeners: {} as AccessLogSettings['listeners'], errorFormat: '' }
  const { target, note } = sink(a)
  const user = userFormats(a)
  const translate = (ctx: LogContext): LogFormat => user?.[ctx] ?? jsonFormat(ENVOY_DEFAULT_JSON_FORMAT, ctx, 'Envoy\'s default format')
  const error = translate('error')
  const listeners = {} as AccessLogSettings['listeners']
  for (const [kind, ctx] of KINDS) {
    const f = translate(ctx)
    const format = kind.startsWith('public-') ? withAuthorization(f.format, ctx, !a.JSONFormat && !!user) : f.format
    // The error format reads the connection's start time, set by its own rule.
    const rules = [...new Set([...error.rules, ...f.rules])]
    const connection = rules.filter((r) => r.startsWith('tcp-request connection '))
    listeners[kind] = { format: haproxyQuote(format), connectionRules: connection, httpRules: rules.filter((r) => !connection.includes(r)) }
  }
  return { enabled: true, target, note, listeners, errorFormat: haproxyQuote(error.format) }
}

/** Where the lines go: stdout (Envoy's default), stderr, or a file HAProxy cannot write. */
function sink(a: AccessLogs): { target: 'stdout' | 'stderr'; note: string } {
  switch (a.Type) {
    case '':
    case 'stdout':
      return { target: 'stdout', note: '' }
    case 'stderr':
      return { target: 'stderr', note: '' }
    case 'file':
      return { target: 'stderr', note: `AccessLogs.Type is file (${a.Path ? JSON.stringify(a.Path) : 'no Path'}): HAProxy cannot write a log file, so access logs go to stderr` }
    default:
      warnOnce(`Proxy.AccessLogs.Type: ${show(a.Type)} is not stdout, stderr or file; access logs go to stdout`)
      return { target: 'stdout', note: `AccessLogs.Type ${show(a.Type)} is not one HAProxy can write to: access logs go to stdout` }
  }
}

/**
 * The JSONFormat or TextFormat translated for each context; undefined for none, or (with a
 * warning) when some context cannot print it, so every listener falls back alike.
 */
function userFormats(a: AccessLogs): Record<LogContext, LogFormat> | undefined {
  if (!a.JSONFormat && !a.TextFormat) return undefined
  const one = (ctx: LogContext) => (a.JSONFormat ? jsonFormat(a.JSONFormat, ctx, 'Proxy.AccessLogs.JSONFormat') : textFormat(a.TextFormat, ctx, 'Proxy.AccessLogs.TextFormat'))
  try {
    return { http: one('http'), tcp: one('tcp'), error: one('error') }
  } catch (err) {
    if (!(err instanceof ProxySettingsError)) throw err
    const field = a.JSONFormat ? 'Proxy.AccessLogs.JSONFormat' : 'Proxy.AccessLogs.TextFormat'
    warnOnce(`${err.message.startsWith(field) ? '' : `${field}: `}${err.message}; access logs use Envoy's default format instead`)
    return undefined
  }
}

/** meshplate's authorization fields on the public listener: as JSON keys, or `key=value` after a text line. */
function withAuthorization(format: string, ctx: LogContext, text: boolean): string {
  const scope = ctx === 'tcp' ? 'sess' : 'txn'
  const fields: Array<[string, string]> = [
    ['src', 'sess.mesh_source'], ['decision', `${scope}.mesh_decision`], ['rule', `${scope}.mesh_rule`], ['reason', `${scope}.mesh_reason`],
  ]
  if (text) return `${format} ${fields.map(([k, v]) => `${k}=%[var(${v})]`).join(' ')}`
  const missing = fields.filter(([k]) => !format.startsWith(`{"${k}":`) && !format.includes(`,"${k}":`))
  const json = missing.map(([k, v]) => `"${k}":"%[var(${v}),json(utf8s)]"`).join(',')
  if (!json) return format
  return format === '{}' ? `{${json}}` : `${format.slice(0, -1)},${json}}`
}
