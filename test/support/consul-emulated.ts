/**
 * An emulated newer Consul for end-to-end tests: a small HTTP proxy on
 * loopback in front of a real Consul 1.14.11 agent (the newest that builds
 * here) that turns chosen answers into what a newer release answers. The
 * rewrites themselves, each citing the release and Consul source it follows,
 * are in consul-rewrites.ts; tests switch them on and off while one agent and
 * one proxy serve a whole file.
 *
 * Everything no active rewrite claims passes through untouched, blocking
 * queries included: the query string (`index`, `wait`, `hash`) goes to the
 * agent as sent, the agent's status, headers (X-Consul-Index, -ContentHash,
 * -KnownLeader, ...) and body come back as sent, and the proxy holds a long
 * poll exactly as long as the agent does (no timeout of its own; a client
 * that hangs up cancels the agent request).
 *
 * A body rewrite is a pure function of the agent's body, so one
 * X-Consul-Index still means one body. Which rewrites apply is decided when
 * the agent answers, so a long poll already waiting when a rewrite is switched
 * on comes back rewritten once a write releases it. An index cannot say which
 * rewrites shaped a body, so a test switches a rewrite on before the write it
 * wants to observe. A content hash can: on hash-blocking endpoints
 * (/v1/agent/service/:id) the proxy appends a fingerprint of the rewrites that
 * shaped the body to the agent's hash, and a client that comes back with
 * another fingerprint than the current one is answered at once, as Consul
 * answers a hash that no longer matches.
 */
import { createHash } from 'node:crypto'
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request to the agent, as the proxy received it. */
export interface AgentRequest {
  method: string
  /** The decoded path, without the query string. */
  path: string
  query: URLSearchParams
  headers: IncomingHttpHeaders
  body: string
}

/** An answer the proxy gives in the agent's place. */
export interface Reply {
  status: number
  body: string
  headers?: Record<string, string>
}

/** One difference of a newer release, applied to the requests it names. */
export interface Rewrite {
  /** What it emulates, with its parameters (also part of the content-hash fingerprint). */
  readonly name: string
  /** The release and the Consul source file it follows. */
  readonly cites: string
  applies(req: AgentRequest): boolean
  /** Answers without asking the agent, or undefined to ask it. */
  answer?(req: AgentRequest): Reply | undefined
  /** The newer release's body for the agent's 200 JSON body; must be pure (same input, same output). */
  body?(json: unknown, req: AgentRequest): unknown
}

export interface EmulatedConsul {
  /** `127.0.0.1:<port>`: what sidecars get as --consul-addr. */
  addr: string
  port: number
  /** Switches rewrites on (in order, after those already on); returns a function switching them off. */
  use(...rewrites: Rewrite[]): () => void
  /** Switches every rewrite off. */
  clear(): void
  /** How many answers the rewrite named `name` gave or changed. */
  hits(name: string): number
  stop(): Promise<void>
}

const HASH_SEP = '~'

/** Starts the proxy in front of the agent at `agentAddr` (host:port). */
export async function startEmulatedConsul(agentAddr: string): Promise<EmulatedConsul> {
  const [agentHost, agentPort] = splitAddr(agentAddr)
  const keepAlive = new Agent({ keepAlive: true })
  let active: Rewrite[] = []
  const counts = new Map<string, number>()
  const count = (r: Rewrite) => counts.set(r.name, (counts.get(r.name) ?? 0) + 1)

  /** Sends the request to the agent; resolves with its answer, the body buffered. */
  const forward = (req: AgentRequest, rawPath: string, signal: AbortSignal) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const headers = { ...req.headers, host: agentAddr }
      delete headers['accept-encoding'] // bodies a rewrite reads must be plain JSON
      delete headers.connection
      const out = request({ host: agentHost, port: agentPort, method: req.method, path: rawPath, headers, agent: keepAlive, signal }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      })
      out.on('error', reject)
      out.end(req.body)
    })

  /** The body rewrites on now for `req`. */
  const shapers = (req: AgentRequest) => active.filter((r) => r.body && r.applies(req))

  const handle = async (inc: IncomingMessage, res: ServerResponse) => {
    const url = new URL(inc.url ?? '/', 'http://agent')
    const req: AgentRequest = { method: inc.method ?? 'GET', path: decodeURIComponent(url.pathname), query: url.searchParams, headers: inc.headers, body: await readBody(inc) }
    for (const r of active.filter((r) => r.answer && r.applies(req))) {
      const reply = r.answer!(req)
      if (!reply) continue
      count(r)
      res.writeHead(reply.status, { 'content-type': 'text/plain; charset=utf-8', ...reply.headers }).end(reply.body)
      return
    }
    const rawPath = agentPath(inc.url ?? '/', url, fingerprint(shapers(req)))
    const abort = new AbortController()
    res.on('close', () => res.writableFinished || abort.abort())
    let answer
    try {
      answer = await forward(req, rawPath, abort.signal)
    } catch (err) {
      if (!abort.signal.aborted) res.writeHead(502).end(`emulated consul: agent ${agentAddr}: ${(err as Error).message}`)
      return
    }
    const headers = { ...answer.headers }
    let body = answer.body
    // The rewrites on when the agent answers: a long poll that began before a rewrite was
    // switched on and is released by a later write gets that write's index rewritten.
    const shaping = shapers(req)
    if (shaping.length && answer.status === 200) {
      let json: unknown = JSON.parse(body.toString('utf8'))
      for (const r of shaping) {
        const before = JSON.stringify(json)
        json = r.body!(json, req)
        if (JSON.stringify(json) !== before) count(r)
      }
      body = Buffer.from(JSON.stringify(json))
      const agentHash = headers['x-consul-contenthash']
      if (typeof agentHash === 'string') headers['x-consul-contenthash'] = `${agentHash}${HASH_SEP}${fingerprint(shaping)}`
    }
    delete headers.connection
    delete headers['keep-alive']
    delete headers['transfer-encoding']
    headers['content-length'] = String(body.length)
    res.writeHead(answer.status, headers).end(body)
  }

  const server = createServer((inc, res) => {
    handle(inc, res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500)
      res.end(`emulated consul: ${err.message}`)
    })
  })
  // Long polls last as long as the agent holds them (up to wait + wait/16).
  server.requestTimeout = 0
  server.headersTimeout = 0
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return {
    addr: `127.0.0.1:${port}`,
    port,
    use(...rewrites) {
      active = [...active, ...rewrites]
      return () => {
        active = active.filter((r) => !rewrites.includes(r))
      }
    },
    clear() {
      active = []
    },
    hits: (name) => counts.get(name) ?? 0,
    async stop() {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
      keepAlive.destroy()
    },
  }
}

/**
 * The path and query sent to the agent: the client's own, byte for byte, unless it carries a
 * `hash` this proxy made (`<agent hash>~<fingerprint>`): then the agent's hash when the same
 * rewrites are on, else no hash and no wait, so the agent answers at once.
 */
function agentPath(raw: string, url: URL, fingerprint: string): string {
  const sent = url.searchParams.get('hash')
  if (sent === null) return raw
  const [agentHash, sentPrint = ''] = sent.split(HASH_SEP)
  if (sentPrint === fingerprint && agentHash === sent) return raw
  const query = new URLSearchParams(url.searchParams)
  if (sentPrint === fingerprint) query.set('hash', agentHash!)
  else (query.delete('hash'), query.delete('wait'))
  const qs = query.toString()
  return `${url.pathname}${qs ? `?${qs}` : ''}`
}

function readBody(inc: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    inc.on('data', (c: Buffer) => chunks.push(c))
    inc.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    inc.on('error', reject)
  })
}

function splitAddr(addr: string): [string, number] {
  const i = addr.lastIndexOf(':')
  return [addr.slice(0, i), Number(addr.slice(i + 1))]
}

/** Names the set of body rewrites that shaped an answer ('' for none). */
function fingerprint(rewrites: Rewrite[]): string {
  return rewrites.length ? createHash('sha256').update(rewrites.map((r) => r.name).join('\n')).digest('hex').slice(0, 12) : ''
}
