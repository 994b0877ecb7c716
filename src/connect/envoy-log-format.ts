/**
 * Envoy access log formats (`%START_TIME%`, `%REQ(USER-AGENT)%`, ...) as
 * HAProxy `log-format` strings, so a Consul user's `AccessLogs.JSONFormat`
 * or `TextFormat`, and Envoy's default JSON format when neither is set, mean
 * the same fields here. Each operator becomes an HAProxy log variable
 * (`%ci:%cp`), a sample read when the line is written (`%[fc_err_str]`), or a
 * variable set by a rule when the request or response passes (request
 * headers are gone by the time HAProxy writes the line), and the rules it
 * needs are returned with the format. An operator HAProxy has no value for
 * at that point (a method on a tcp listener) is `-` in text and `null` in
 * JSON; one meshplate does not know is an error naming it.
 */
import { ProxySettingsError } from '../errors.ts'
import { show } from './settings-values.ts'

/** Where the line is written: an HTTP request, a tcp connection, or a connection that failed (error-log-format). */
export type LogContext = 'http' | 'tcp' | 'error'

/** A translated format and the rules that feed it. */
export interface LogFormat {
  /** The log-format text (not yet quoted for the config). */
  format: string
  /** Rules to run first in the frontend (`http-request set-var(...) ...`). */
  rules: string[]
}

/** One value: text already in log-format syntax, or nothing. `safe`: needs no JSON escaping. */
type Value = { text: string; safe: boolean; numeric?: boolean } | null

/** Collects the variables and rules one format needs. */
class Builder {
  rules: string[] = []
  #vars = new Map<string, string>()
  #start = ''
  constructor(readonly ctx: LogContext) {}

  /** A txn variable set from `fetch` on each request (or response), shared by equal fetches. */
  variable(phase: 'request' | 'response', fetch: string, fallback?: string): string {
    const key = `${phase} ${fetch} ${fallback ?? ''}`
    let name = this.#vars.get(key)
    if (!name) {
      name = `txn.mp_al${this.#vars.size}`
      this.#vars.set(key, name)
      const rule = phase === 'request' ? 'http-request' : 'http-response'
      if (fallback) this.rules.push(`${rule} set-var(${name}) ${fallback}`)
      this.rules.push(`${rule} set-var(${name}) ${fetch}${fallback ? ` if { ${fetch} -m found }` : ''}`)
    }
    return name
  }

  /** The moment the request (http) or the connection (tcp, error) started, in ms. */
  startVar(): string {
    const [name, rule] = this.ctx === 'http' ? ['txn.mp_al_t', 'http-request'] : ['sess.mp_al_t', 'tcp-request connection']
    if (!this.#start) {
      this.#start = name
      this.rules.unshift(`${rule} set-var(${name}) date(0,ms)`)
    }
    return name
  }
}

const sample = (expr: string): Value => ({ text: `%[${expr}]`, safe: false })
const logVar = (text: string, numeric = false): Value => ({ text, safe: true, numeric })
const HEADER = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

/** HAProxy's fetch for a request header or pseudo-header. */
function requestFetch(header: string): string {
  const h = header.toLowerCase()
  if (h === ':path') return 'pathq'
  if (h === ':method') return 'method'
  if (h === ':authority') return 'req.hdr(host)'
  if (!HEADER.test(header)) throw new ProxySettingsError(`%REQ(${header})%: ${show(header)} is not a header name meshplate can log`)
  return `req.fhdr(${h})`
}

/** `%REQ(A?B)%`: header A, else B. */
function requestHeader(b: Builder, arg: string): Value {
  if (b.ctx !== 'http') return null
  const [first, second, extra] = arg.split('?')
  if (!first || extra !== undefined) throw new ProxySettingsError(`%REQ(${arg})%: expected HEADER or HEADER?ALTERNATIVE`)
  if (!second && first.toLowerCase() === ':method') return logVar('%HM')
  // Nothing sets x-envoy-original-path without Envoy; Envoy's own default format asks for it first.
  if (second && first.toLowerCase() === 'x-envoy-original-path') return requestHeader(b, second)
  const name = second ? b.variable('request', requestFetch(first), requestFetch(second)) : b.variable('request', requestFetch(first))
  return sample(`var(${name})`)
}

/** `%RESP(H)%`; Envoy's upstream service time header is HAProxy's server response time. */
function responseHeader(b: Builder, arg: string): Value {
  if (b.ctx !== 'http') return null
  if (arg.toLowerCase() === 'x-envoy-upstream-service-time') return logVar('%Tr', true)
  if (!HEADER.test(arg)) throw new ProxySettingsError(`%RESP(${arg})%: ${show(arg)} is not a header name meshplate can log`)
  return sample(`var(${b.variable('response', `res.fhdr(${arg.toLowerCase()})`)})`)
}

/** ISO 8601 in UTC with milliseconds, as Envoy's default START_TIME. */
function startTime(b: Builder): Value {
  const v = b.startVar()
  return logVar(`%[var(${v}),div(1000),utime(%Y-%m-%dT%H:%M:%S)].%[var(${v}),mod(1000),add(1000),regsub(^1,)]Z`)
}

type Operator = (b: Builder, arg: string | undefined) => Value
const http = (v: Value): Operator => (b) => (b.ctx === 'http' ? v : null)
const stream = (v: Value): Operator => (b) => (b.ctx === 'error' ? null : v)
const always = (v: Value): Operator => () => v
const noSuccess = (fetch: string) => `${fetch},regsub(^Success$,-)`

/** Envoy's command operators meshplate can log (docs/sidecar-settings.md: "Access logs"). */
const OPERATORS: Record<string, Operator> = {
  START_TIME: (b, arg) => {
    if (arg !== undefined) throw new ProxySettingsError(`%START_TIME(${arg})%: a custom time format is not supported; use %START_TIME%`)
    return startTime(b)
  },
  REQ: (b, arg) => requestHeader(b, arg ?? ''),
  RESP: (b, arg) => responseHeader(b, arg ?? ''),
  PROTOCOL: http(logVar('%HV')),
  RESPONSE_CODE: (b) => (b.ctx === 'http' ? logVar('%ST', true) : b.ctx === 'tcp' ? logVar('0', true) : null),
  RESPONSE_FLAGS: stream(logVar('%ts')),
  RESPONSE_CODE_DETAILS: always(null),
  ROUTE_NAME: always(null),
  CONNECTION_TERMINATION_DETAILS: always(sample(noSuccess('fc_err_str'))),
  UPSTREAM_TRANSPORT_FAILURE_REASON: stream(sample(noSuccess('bc_err_str'))),
  BYTES_RECEIVED: stream(logVar('%U', true)),
  BYTES_SENT: stream(logVar('%B', true)),
  DURATION: (b) => (b.ctx === 'http' ? logVar('%Ta', true) : b.ctx === 'tcp' ? logVar('%Tt', true) : null),
  UPSTREAM_HOST: stream(logVar('%si:%sp')),
  UPSTREAM_CLUSTER: stream(logVar('%b')),
  UPSTREAM_LOCAL_ADDRESS: stream(logVar('%bi:%bp')),
  DOWNSTREAM_LOCAL_ADDRESS: always(logVar('%fi:%fp')),
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: always(logVar('%fi')),
  DOWNSTREAM_REMOTE_ADDRESS: always(logVar('%ci:%cp')),
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: always(logVar('%ci')),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: always(logVar('%ci:%cp')),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: always(logVar('%ci')),
  REQUESTED_SERVER_NAME: always(sample('ssl_fc_sni')),
  DOWNSTREAM_TLS_VERSION: always(sample('ssl_fc_protocol')),
  HOSTNAME: always(sample('hostname')),
  UPSTREAM_REQUEST_ATTEMPT_COUNT: stream(logVar('%rc', true)),
}

/** The operator names meshplate translates, for errors and docs/sidecar-settings.md. */
export const SUPPORTED_OPERATORS = Object.keys(OPERATORS)

// %NAME%, %NAME(ARG)% or %NAME(ARG):MAXLEN%; `%%` is a literal percent sign.
const TOKEN = /%%|%([A-Z_0-9]+)(?:\(([^)]*)\))?(?::(\d+))?%/g

/** A format string as parts: literal text and operator values. */
function parts(b: Builder, text: string, where: string): Array<string | Value> {
  const out: Array<string | Value> = []
  const text_ = (s: string) => {
    if (s.includes('%')) throw new ProxySettingsError(`${where}: ${show(text)} has a % that starts no operator (write %% for a percent sign)`)
    if (s) out.push(s)
  }
  let last = 0
  for (const m of text.matchAll(TOKEN)) {
    text_(text.slice(last, m.index))
    last = m.index + m[0].length
    if (m[0] === '%%') {
      out.push('%')
      continue
    }
    const op = OPERATORS[m[1]!]
    if (!op) throw new ProxySettingsError(`${where}: %${m[1]}% is not an operator meshplate can log (supported: ${SUPPORTED_OPERATORS.join(', ')})`)
    out.push(op(b, m[2]))
  }
  text_(text.slice(last))
  return out
}

/** Literal text in a log-format: `%` doubled. */
const literal = (s: string) => s.replace(/%/g, '%%')

/** A text format (Envoy's TextFormat): one line, missing values as `-`. */
export function textFormat(text: string, ctx: LogContext, where: string): LogFormat {
  const b = new Builder(ctx)
  const oneLine = text.replace(/\r?\n$/, '').replace(/[\r\n]+/g, ' ')
  const format = parts(b, oneLine, where).map((p) => (typeof p === 'string' ? literal(p) : p ? p.text : '-')).join('')
  return { format, rules: b.rules }
}

/** A JSON format (Envoy's JSONFormat, an object of format strings): compact JSON, numbers unquoted. */
export function jsonFormat(json: string, ctx: LogContext, where: string): LogFormat {
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch (err) {
    throw new ProxySettingsError(`${where}: not JSON (${(err as Error).message})`)
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ProxySettingsError(`${where}: not a JSON object`)
  const b = new Builder(ctx)
  return { format: jsonObject(b, parsed as Record<string, unknown>, where), rules: b.rules }
}

function jsonObject(b: Builder, o: Record<string, unknown>, where: string): string {
  const fields = Object.entries(o).map(([k, v]) => `${literal(JSON.stringify(k))}:${jsonValue(b, v, `${where}.${k}`)}`)
  return `{${fields.join(',')}}`
}

function jsonValue(b: Builder, v: unknown, where: string): string {
  if (typeof v === 'string') return jsonString(b, v, where)
  if (v && typeof v === 'object' && !Array.isArray(v)) return jsonObject(b, v as Record<string, unknown>, where)
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return literal(JSON.stringify(v))
  throw new ProxySettingsError(`${where}: ${show(v)} is not a string, number, boolean or object`)
}

/** A format string as a JSON value: a lone operator keeps its type (a number, or null when missing). */
function jsonString(b: Builder, text: string, where: string): string {
  const ps = parts(b, text, where)
  if (ps.length === 1 && typeof ps[0] !== 'string') return ps[0] === null ? 'null' : ps[0]!.numeric ? ps[0]!.text : `"${inString(ps[0]!)}"`
  const body = ps.map((p) => (typeof p === 'string' ? literal(JSON.stringify(p).slice(1, -1)) : p ? inString(p) : '-')).join('')
  return `"${body}"`
}

/** A value inside a JSON string: samples escaped by HAProxy's json converter. */
function inString(v: NonNullable<Value>): string {
  return v.safe ? v.text : v.text.replace(/\]$/, ',json(utf8s)]')
}
