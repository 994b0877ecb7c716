/**
 * The only module that talks HTTP to Consul. It owns the undici dispatcher
 * (TCP, TLS or unix socket), adds the token header, bounds every request with
 * a timeout a little above the blocking `wait`, and turns every failure into a
 * typed error naming the endpoint. Dependencies call `get`/`post` and validate
 * the JSON they receive.
 */
import { hash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Agent, type Dispatcher } from './undici.ts'
import { ConsulHttpError, ConsulResponseError, ConsulUnreachableError, errorLine } from '../errors.ts'
import { parseConsulAddress, type ConsulAddress } from './address.ts'

export interface ConsulClientOptions {
  address: string
  /** Where the address came from (flag, env, default), named when the agent is unreachable. */
  addressSource?: string
  token?: string
  /** Where the token came from (`env CONSUL_HTTP_TOKEN`, `nomad si_token <path>`, `none`); never the value. */
  tokenSource?: string
  /** Looks for the token again; called on a 403 "ACL not found" (Nomad re-mints tokens when its client restarts). */
  rereadToken?: () => { token: string | undefined; source: string }
  tls?: { caFile?: string; certFile?: string; keyFile?: string; serverName?: string; insecure?: boolean; force?: boolean }
}

export interface BlockingOptions {
  index?: number
  hash?: string
  /** Blocking wait in ms; sent as `wait=<n>ms` when index or hash is set. */
  waitMs?: number
  signal?: AbortSignal
  /**
   * `Cache-Control: max-age=<s>` for a `?cached` read of a type the agent caches without
   * refreshing (prepared queries): an older entry is fetched again. Without it the agent
   * serves the entry it has for as long as it keeps it (3 days after its last use).
   */
  cacheMaxAgeS?: number
}

/**
 * Where an answer came from and how stale it may be, from Consul's response headers. The
 * View logs it at debug level; no header carries a token.
 */
export interface AnswerMeta {
  /** X-Cache: `HIT` or `MISS` when the agent's cache or streaming view answered (`?cached`). */
  cache?: string
  /**
   * Age, in seconds, of a cache hit: for an entry the agent refreshes in the background, the
   * time since it lost contact with the servers (0 while in touch); otherwise since it was fetched.
   */
  ageS?: number
  /** X-Consul-Query-Backend: `blocking-query` or `streaming`. */
  backend?: string
  /** X-Consul-LastContact: ms since the answering server last heard from the leader (0 from the leader). */
  lastContactMs?: number
}

export interface ConsulResponse {
  body: unknown
  /** X-Consul-Index, when the endpoint sends one. */
  index?: number
  /** X-Consul-ContentHash, for hash-blocking endpoints. */
  contentHash?: string
  /** SHA-1 of the body text: equal digests, equal answers (what the View's dedupe compares). */
  digest: string
  /** X-Consul-Default-ACL-Policy: the agent's configured `acl.default_policy`, sent even when ACLs are off (sidecar/token-check.ts tells them apart). */
  aclDefaultPolicy?: string
  /** Cache, age, backend and last contact, for the View's log (absent from stand-ins in tests). */
  meta?: AnswerMeta
}

/** Extra time over `wait` before a blocking request counts as hung (Consul adds up to wait/16 jitter). */
const TIMEOUT_SLACK_MS = 5_000
const NON_BLOCKING_TIMEOUT_MS = 10_000

/** A Consul HTTP API client bound to one agent address. */
export class ConsulClient {
  readonly address: ConsulAddress
  #token: string | undefined
  #tokenSource: string | undefined
  readonly #rereadToken: ConsulClientOptions['rereadToken']
  readonly #where: string
  readonly #dispatcher: Dispatcher

  constructor(options: ConsulClientOptions) {
    this.address = parseConsulAddress(options.address, options.tls?.force)
    this.#token = options.token || undefined
    this.#tokenSource = options.tokenSource
    this.#rereadToken = options.rereadToken
    this.#where = `agent ${options.address}${options.addressSource ? ` from ${options.addressSource}` : ''}`
    this.#dispatcher = new Agent({
      keepAliveTimeout: 30_000,
      connect: {
        ...(this.address.socketPath ? { socketPath: this.address.socketPath } : {}),
        ...(this.address.tls ? tlsOptions(options.tls) : {}),
      },
    })
  }

  /** GET a JSON endpoint, optionally as a blocking query. */
  async get(path: string, query: Record<string, string | undefined> = {}, blocking: BlockingOptions = {}): Promise<ConsulResponse> {
    return this.read('GET', path, query, blocking)
  }

  /** A read, optionally blocking; POST carries a body (the discovery chain's overrides). */
  async read(method: 'GET' | 'POST', path: string, query: Record<string, string | undefined> = {}, blocking: BlockingOptions = {}, body?: unknown): Promise<ConsulResponse> {
    const q = { ...query }
    if (blocking.index !== undefined && blocking.index > 0) q.index = String(blocking.index)
    if (blocking.hash) q.hash = blocking.hash
    if ((q.index || q.hash) && blocking.waitMs) q.wait = `${Math.round(blocking.waitMs)}ms`
    // AbortSignal.timeout() takes whole milliseconds only.
    const timeout = q.wait ? Math.ceil((blocking.waitMs ?? 0) * 1.07) + TIMEOUT_SLACK_MS : NON_BLOCKING_TIMEOUT_MS
    const headers: Record<string, string> = {}
    // max-age=0 would mean "no bound" to the agent: one second is the least.
    if (blocking.cacheMaxAgeS) headers['cache-control'] = `max-age=${Math.max(1, Math.round(blocking.cacheMaxAgeS))}`
    return this.#send(method, path, q, body, timeout, blocking.signal, headers)
  }

  /** POST/PUT a JSON body (used by tests, the demo and authorize checks). */
  async write(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, signal?: AbortSignal): Promise<ConsulResponse> {
    return this.#send(method, path, {}, body, NON_BLOCKING_TIMEOUT_MS, signal)
  }

  /** Where the token in use came from (it may change after a re-read); never the value. */
  get tokenSource(): string | undefined {
    return this.#tokenSource
  }

  async close(): Promise<void> {
    await this.#dispatcher.close()
  }

  async #send(
    method: Dispatcher.HttpMethod,
    path: string,
    query: Record<string, string | undefined>,
    body: unknown,
    timeoutMs: number,
    signal?: AbortSignal,
    extraHeaders: Record<string, string> = {},
  ): Promise<ConsulResponse> {
    const search = new URLSearchParams()
    for (const [k, v] of Object.entries(query)) if (v !== undefined) search.append(k, v)
    const qs = search.toString().replace(/=(&|$)/g, '$1')
    const endpoint = `${method} ${path}`
    const headers: Record<string, string> = { ...extraHeaders }
    if (this.#token) headers['x-consul-token'] = this.#token
    if (body !== undefined) headers['content-type'] = 'application/json'
    const timer = AbortSignal.timeout(timeoutMs)
    const combined = signal ? AbortSignal.any([signal, timer]) : timer
    let res: Dispatcher.ResponseData
    try {
      res = await this.#dispatcher.request({
        origin: this.address.origin,
        path: `${path}${qs ? `?${qs}` : ''}`,
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: combined,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      })
    } catch (err) {
      if (signal?.aborted) throw err
      const detail = timer.aborted ? `timed out after ${Math.round(timeoutMs)} ms` : errorLine(err)
      throw new ConsulUnreachableError(endpoint, `${detail} (${this.#where})`, { cause: err })
    }
    let text: string
    try {
      text = await res.body.text()
    } catch (err) {
      if (signal?.aborted) throw err
      throw new ConsulUnreachableError(endpoint, `reading body: ${errorLine(err)} (${this.#where})`, { cause: err })
    }
    if (res.statusCode < 200 || res.statusCode > 299) {
      if (res.statusCode === 403 && ACL_NOT_FOUND.test(text)) this.#reread()
      throw new ConsulHttpError(endpoint, res.statusCode, text, parseIndex(res.headers['x-consul-index']))
    }
    let parsed: unknown
    try {
      parsed = text === '' ? null : JSON.parse(text)
    } catch (err) {
      throw new ConsulResponseError(endpoint, `body is not JSON (${text.length} bytes)`, { cause: err })
    }
    return {
      body: parsed,
      index: parseIndex(res.headers['x-consul-index']),
      contentHash: header(res.headers['x-consul-contenthash']),
      digest: hash('sha1', text, 'base64'),
      aclDefaultPolicy: header(res.headers['x-consul-default-acl-policy']),
      meta: answerMeta(res.headers),
    }
  }

  /** Takes the token its sources hold now, so the caller's next try (after its backoff) uses it; a failed look keeps the old one. */
  #reread(): void {
    try {
      const next = this.#rereadToken?.()
      if (!next) return
      this.#token = next.token
      this.#tokenSource = next.source
    } catch {
      // A file caught half-written by Nomad: the old token stays until the next 403.
    }
  }
}

/** Consul's answer to a token it does not know (deleted, or re-minted by Nomad). */
const ACL_NOT_FOUND = /ACL not found/i

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/** The headers saying who answered and how stale the answer may be; only those present. */
export function answerMeta(headers: Record<string, string | string[] | undefined>): AnswerMeta {
  const meta: AnswerMeta = {}
  const cache = header(headers['x-cache'])
  if (cache) meta.cache = cache
  const age = parseIndex(headers['age'])
  if (age !== undefined) meta.ageS = age
  const backend = header(headers['x-consul-query-backend'])
  if (backend) meta.backend = backend
  const lastContact = parseIndex(headers['x-consul-lastcontact'])
  if (lastContact !== undefined) meta.lastContactMs = lastContact
  return meta
}

/** A non-negative integer header (X-Consul-Index, Age, X-Consul-LastContact), else undefined. */
function parseIndex(value: string | string[] | undefined): number | undefined {
  const raw = header(value)
  if (raw === undefined) return undefined
  const n = Number(raw)
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

function tlsOptions(tls: ConsulClientOptions['tls']) {
  return {
    ca: tls?.caFile ? readFileSync(tls.caFile) : undefined,
    cert: tls?.certFile ? readFileSync(tls.certFile) : undefined,
    key: tls?.keyFile ? readFileSync(tls.keyFile) : undefined,
    servername: tls?.serverName || undefined,
    rejectUnauthorized: !tls?.insecure,
  }
}
