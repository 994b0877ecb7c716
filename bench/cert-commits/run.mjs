#!/usr/bin/env node
// Repeated leaf commits. meshplate pushes a renewed leaf into a running HAProxy
// with `set ssl cert` + `commit ssl cert` over the runtime API and never reloads
// for it; the same leaf.pem is the public listener's `bind ... ssl crt` and every
// upstream `server ... crt`. This measures that on a real HAProxy, many times in
// one process, under load: after each commit, on fresh connections, is the new
// serial served, does `verify required` still refuse a client without a
// certificate and one from another CA, does the upstream side present the new
// leaf (with HAProxy's TLS session reuse on and with `no-ssl-reuse`), what does a
// client resuming a session from before the commit see, and did the worker stay
// the same (no reload). Everything runs on 127.0.0.1; the load and the upstream
// TLS server run in a worker thread so they do not delay the commits' timing.
// Prints a Markdown table and replaces this HAProxy branch's part of the
// "Repeated leaf commits" section of bench/RESULTS.md.
// Usage: node bench/cert-commits/run.mjs [--commits 50] [--haproxy PATH] [--leaf-shape consul|named] [--gap-ms 200] [--pause-ms 1] [--no-write]
// consul (the default) makes leaves as Consul does: an empty subject and only a SPIFFE URI.
import { execFile, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { createConnection } from 'node:net'
import { availableParallelism, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify, parseArgs } from 'node:util'
import tls from 'node:tls'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { freePorts, writeSection } from '../lib/shared.mjs'

const SECTION = 'Repeated leaf commits'
const DEADLINE_MS = 5 * 60_000
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const log = (msg) => process.stderr.write(`[bench/cert-commits] ${msg}\n`)
const REQUEST = 'GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n'

// ---------------------------------------------------------------- clients (both threads)

/** One request on a new TLS connection; never rejects: returns what happened. */
function tlsRequest(port, { ca, pem, session, maxVersion, timeoutMs = 5000 }) {
  return new Promise((resolve) => {
    const out = { status: 0, error: null, served: null, reused: false, session: null, body: '' }
    // The chain is checked; Consul leaves carry no name to check the host against.
    const s = tls.connect({ host: '127.0.0.1', port, ca, cert: pem, key: pem, session, maxVersion, checkServerIdentity: () => undefined })
    const timer = setTimeout(() => s.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })), timeoutMs)
    let raw = ''
    s.setEncoding('utf8')
    s.on('session', (t) => (out.session ??= t))
    s.on('secureConnect', () => {
      out.served = s.getPeerCertificate().serialNumber
      out.reused = s.isSessionReused()
      s.write(REQUEST)
    })
    s.on('data', (d) => (raw += d))
    s.on('error', (e) => (out.error ??= e.code ?? e.message))
    s.on('close', () => {
      clearTimeout(timer)
      out.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(raw)?.[1] ?? 0)
      out.body = raw.split('\r\n\r\n')[1]?.trim() ?? ''
      resolve(out)
    })
  })
}

/** GET / over plain HTTP (a new connection unless `agent`); rejects on a socket error or timeout. */
function httpGet(port, agent, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const headers = agent ? {} : { connection: 'close' }
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: agent ?? false, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode, body: body.trim() }))
      res.on('error', reject)
    })
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })))
    req.on('error', reject)
  })
}

const kindOf = (code) => (code === 'timeout' ? 'timeout' : /SSL|TLS|EPROTO/.test(code) ? `TLS ${code}` : code)
const bump = (counts, k) => (counts[k] = (counts[k] ?? 0) + 1)

// ---------------------------------------------------------------- worker: upstream server + load

function runWorker({ upstreamPort, serverPem, ca, clientPem, publicPort, plainPorts, pauseMs }) {
  const conns = { full: 0, resumed: 0 }
  let nextId = 0
  const server = https.createServer({ key: serverPem, cert: serverPem, ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const s = req.socket
    s.requests = (s.requests ?? 0) + 1
    res.end(`${s.getPeerCertificate().serialNumber} reused=${s.isSessionReused() ? 1 : 0} conn=${s.id} req=${s.requests}\n`)
  })
  server.on('secureConnection', (s) => {
    s.id = ++nextId
    bump(conns, s.isSessionReused() ? 'resumed' : 'full')
  })
  const stop = { done: false }
  const stats = { upstream: { ok: 0, failed: {} }, public: { ok: 0, failed: {} } }
  const loops = []
  parentPort.on('message', async (m) => {
    if (m === 'start') {
      for (const port of [...plainPorts, ...plainPorts]) loops.push(keepAliveLoop(port, stats.upstream, stop, pauseMs))
      for (let i = 0; i < 2; i++) loops.push(newTlsLoop(publicPort, { ca, pem: clientPem }, stats.public, stop, pauseMs))
    } else if (m === 'stop') {
      stop.done = true
      await Promise.all(loops)
      server.close()
      server.closeAllConnections?.()
      parentPort.postMessage({ stats, conns })
    }
  })
  server.listen(upstreamPort, '127.0.0.1', () => parentPort.postMessage('ready'))
}

async function keepAliveLoop(port, stats, stop, pauseMs) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  while (!stop.done) {
    try {
      const r = await httpGet(port, agent)
      r.status === 200 ? stats.ok++ : bump(stats.failed, `status ${r.status}`)
    } catch (e) {
      bump(stats.failed, kindOf(e.code ?? e.message))
    }
    await sleep(pauseMs)
  }
  agent.destroy()
}

async function newTlsLoop(port, opts, stats, stop, pauseMs) {
  while (!stop.done) {
    const r = await tlsRequest(port, opts)
    if (r.status === 200) stats.ok++
    else bump(stats.failed, r.error ? kindOf(r.error) : `status ${r.status}`)
    await sleep(pauseMs)
  }
}

// ---------------------------------------------------------------- certificates

const OPENSSL_CNF = `[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = @leaf_san
authorityKeyIdentifier = keyid
`
const openssl = (args) => promisify(execFile)('openssl', args)
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
/** 16-byte serial, top byte 0x4D (positive, no leading zero: HAProxy and Node print it alike). */
const serialFor = (i) => `4D50${i.toString(16).padStart(4, '0')}${Array.from({ length: 24 }, () => Math.floor(Math.random() * 16).toString(16)).join('')}`.toUpperCase()

async function makeCa(dir, name) {
  const cnf = join(dir, 'openssl.cnf')
  await openssl(['req', '-x509', ...newKey, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-subj', `/CN=${name}`, '-days', '2', '-config', cnf, '-extensions', 'ca_ext'])
  return { name, crt: join(dir, `${name}.crt`), key: join(dir, `${name}.key`), pem: readFileSync(join(dir, `${name}.crt`), 'utf8') }
}

/** A leaf signed by `ca`: cert + key in one PEM, as Consul hands them out. */
async function makeLeaf(dir, ca, name, serial, shape) {
  const [key, csr, crt] = ['key', 'csr', 'crt'].map((ext) => join(dir, `${name}.${ext}`))
  // Consul's leaves have an empty subject and only the SPIFFE URI; "named" adds a CN and an IP.
  await openssl(['req', '-new', ...newKey, '-keyout', key, '-out', csr, '-subj', shape === 'consul' ? '/' : `/CN=${name}`, '-config', join(dir, 'openssl.cnf')])
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-set_serial', `0x${serial}`, '-days', '2', '-extfile', join(dir, 'openssl.cnf'), '-extensions', 'leaf_ext', '-out', crt])
  const pem = readFileSync(crt, 'utf8') + readFileSync(key, 'utf8')
  if (/\n\s*\n/.test(pem.trim())) throw new Error(`${name}: empty line inside the PEM`)
  return { serial, pem }
}

async function makeCerts(dir, n, shape) {
  const san = shape === 'consul' ? 'URI.1 = spiffe://bench.consul/ns/default/dc/dc1/svc/web\n' : 'IP.1 = 127.0.0.1\nURI.1 = spiffe://bench.consul/ns/default/dc/dc1/svc/web\n'
  writeFileSync(join(dir, 'openssl.cnf'), `${OPENSSL_CNF}[leaf_san]\n${san}`)
  const [ca, otherCa] = await Promise.all([makeCa(dir, 'ca'), makeCa(dir, 'other-ca')])
  const leaves = []
  for (let i = 0; i <= n; i += 4) {
    const batch = Array.from({ length: Math.min(4, n + 1 - i) }, (_, j) => makeLeaf(dir, ca, `leaf${i + j}`, serialFor(i + j), shape))
    leaves.push(...(await Promise.all(batch)))
  }
  const [server, client, stranger] = await Promise.all([
    makeLeaf(dir, ca, 'upstream-server', serialFor(0xfff0)),
    makeLeaf(dir, ca, 'client', serialFor(0xfff1)),
    makeLeaf(dir, otherCa, 'stranger', serialFor(0xfff2)),
  ])
  return { ca, leaves, server, client, stranger }
}

// ---------------------------------------------------------------- HAProxy

function haproxyConfig(dir, p) {
  const server = `server s1 127.0.0.1:${p.upstream} ssl verify required ca-file ${dir}/ca.pem crt ${dir}/leaf.pem`
  return `global
    nbthread 1
    stats socket ${dir}/haproxy.sock mode 600 level admin expose-fd listeners
    ssl-default-bind-options ssl-min-ver TLSv1.2
    ssl-default-server-options ssl-min-ver TLSv1.2

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s

frontend public_listener
    bind 127.0.0.1:${p.public} ssl crt ${dir}/leaf.pem ca-file ${dir}/ca.pem verify required
    http-request return status 200 content-type text/plain lf-string "%[ssl_c_serial,hex]\\n"

frontend up_reuse
    bind 127.0.0.1:${p.plain[0]}
    default_backend be_reuse

frontend up_noreuse
    bind 127.0.0.1:${p.plain[1]}
    default_backend be_noreuse

backend be_reuse
    http-reuse never
    ${server}

backend be_noreuse
    http-reuse never
    ${server} no-ssl-reuse
`
}

/** One command (and optional `<<` payload) per connection to a unix socket; resolves with the answer. */
function runtime(socket, command, payload, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket)
    let answer = ''
    const timer = setTimeout(() => conn.destroy(new Error(`"${command}" timed out`)), timeoutMs)
    conn.setEncoding('utf8')
    conn.on('data', (d) => (answer += d))
    conn.on('error', (e) => (clearTimeout(timer), reject(e)))
    conn.on('end', () => (clearTimeout(timer), resolve(answer.trim())))
    conn.on('connect', () => conn.end(payload === undefined ? `${command}\n` : `${command} <<\n${payload.trim()}\n\n`))
  })
}

const workerPid = async (dir) => Number(/^Pid: (\d+)/m.exec(await runtime(`${dir}/haproxy.sock`, 'show info'))?.[1])
const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024
const workersOf = async (dir) => [...(await runtime(`${dir}/master.sock`, 'show proc')).matchAll(/^(\d+)\s+worker\s+(\d+)/gm)].map((m) => `${m[1]} (reloads ${m[2]})`).join(', ')

async function startHaproxy(bin, dir, ports) {
  writeFileSync(join(dir, 'haproxy.cfg'), haproxyConfig(dir, ports))
  const fd = openSync(join(dir, 'haproxy.log'), 'a')
  const proc = spawn(bin, ['-W', '-db', '-S', `${dir}/master.sock,mode,600`, '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', fd, fd], detached: true })
  proc.exited = new Promise((r) => proc.once('exit', r))
  proc.once('error', () => {})
  for (const t0 = Date.now(); Date.now() - t0 < 10_000; await sleep(50)) {
    if (proc.exitCode !== null) break
    const pid = await workerPid(dir).catch(() => 0)
    if (pid && (await workersOf(dir).catch(() => '')).includes(String(pid))) return proc
  }
  throw new Error(`HAProxy did not start: ${readFileSync(join(dir, 'haproxy.log'), 'utf8').slice(-800)}`)
}

async function stopHaproxy(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
  const kill = (sig) => { try { process.kill(-proc.pid, sig) } catch { /* gone */ } }
  kill('SIGTERM')
  const timer = setTimeout(() => kill('SIGKILL'), 3000)
  await proc.exited
  clearTimeout(timer)
  kill('SIGKILL')
}

// ---------------------------------------------------------------- one commit cycle

/** Writes leaf.pem atomically and pushes it: set + commit; returns { ms, ok, answer }. */
async function commitLeaf(dir, pem) {
  writeFileSync(`${dir}/leaf.pem.tmp`, pem)
  renameSync(`${dir}/leaf.pem.tmp`, `${dir}/leaf.pem`)
  const t0 = performance.now()
  const set = await runtime(`${dir}/haproxy.sock`, `set ssl cert ${dir}/leaf.pem`, pem)
  const commit = await runtime(`${dir}/haproxy.sock`, `commit ssl cert ${dir}/leaf.pem`)
  const ms = performance.now() - t0
  return { ms, ok: /Transaction (created|updated)/i.test(set) && /Success/i.test(commit), answer: `${set} / ${commit}` }
}

/** `n` new connections through an upstream frontend, one after the other: what the Node TLS server saw on each. */
async function upstreamViews(port, n = 2) {
  const out = []
  for (let k = 0; k < n; k++) {
    const r = await httpGet(port).catch((e) => ({ status: 0, body: kindOf(e.code ?? e.message) }))
    const m = /^(\S+) reused=(\d) conn=(\d+) req=(\d+)/.exec(r.body)
    out.push(m ? { serial: m[1], resumed: m[2] === '1', newConn: m[4] === '1' } : { error: `${r.status} ${r.body}` })
  }
  return out
}

async function cycle(ctx, i) {
  const { dir, certs, ports } = ctx
  const pub = (o) => tlsRequest(ports.public, { ca: certs.ca.pem, ...o })
  const old = certs.leaves[i - 1].serial
  const fresh = certs.leaves[i].serial
  const before = { v13: await pub({ pem: certs.client.pem }), v12: await pub({ pem: certs.client.pem, maxVersion: 'TLSv1.2' }) }
  const commit = await commitLeaf(dir, certs.leaves[i].pem)
  const served = await pub({ pem: certs.client.pem })
  const noCert = await pub({})
  const otherCa = await pub({ pem: certs.stranger.pem })
  const upReuse = await upstreamViews(ports.plain[0])
  const upNoReuse = await upstreamViews(ports.plain[1])
  const resumed = {}
  for (const v of ['v13', 'v12']) {
    const r = await pub({ pem: certs.client.pem, session: before[v].session, maxVersion: v === 'v12' ? 'TLSv1.2' : undefined })
    const sees = r.served === fresh ? 'new' : r.served === old ? 'old' : r.served === undefined ? 'no certificate exchanged' : `other ${r.served}`
    resumed[v] = { sessionFromOld: !!before[v].session && before[v].served === old, reused: r.reused, sees, ok: r.status === 200, clientSeen: r.body === certs.client.serial, error: r.error }
  }
  const refused = (r) => r.status !== 200 && !!r.error
  return {
    i, old, fresh, commit, pid: await workerPid(dir),
    served: served.status === 200 && served.served === fresh, servedSaw: served.served,
    noCert: { refused: refused(noCert), error: noCert.error }, otherCa: { refused: refused(otherCa), error: otherCa.error },
    upReuse, upNoReuse, resumed,
  }
}

const publicOpts = (ctx, v) => ({ ca: ctx.certs.ca.pem, pem: ctx.certs.client.pem, maxVersion: v === 'v12' ? 'TLSv1.2' : undefined })

/**
 * Before any commit: does resumption work at all (public listener: resume at once;
 * upstream: 3 new connections in a row)? Also returns a session per TLS version
 * to resume only after the last commit.
 */
async function resumptionControl(ctx) {
  const out = { kept: {}, upstream: await upstreamViews(ctx.ports.plain[0], 3) }
  for (const v of ['v13', 'v12']) {
    const first = await tlsRequest(ctx.ports.public, publicOpts(ctx, v))
    out[v] = (await tlsRequest(ctx.ports.public, { ...publicOpts(ctx, v), session: first.session })).reused
    out.kept[v] = (await tlsRequest(ctx.ports.public, publicOpts(ctx, v))).session
  }
  return out
}

/** After the last commit: resume the sessions kept from before the first one. */
async function resumeKept(ctx, kept) {
  const out = {}
  for (const v of ['v13', 'v12']) {
    const r = await tlsRequest(ctx.ports.public, { ...publicOpts(ctx, v), session: kept[v] })
    out[v] = `${r.reused ? 'resumed' : 'full handshake'}, ${r.status === 200 ? 'answered 200' : `failed ${r.error ?? r.status}`}`
  }
  return out
}

// ---------------------------------------------------------------- report

const pct = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.max(0, Math.ceil(q * xs.length) - 1))]
const ms = (x) => `${x.toFixed(x < 10 ? 2 : 1)} ms`
const tally = (xs) => Object.entries(xs.reduce((c, x) => (bump(c, x), c), {})).map(([k, v]) => `${k} ×${v}`).join(', ')
const count = (rows, f) => `${rows.filter(f).length}/${rows.length}`
const failures = (f) => (Object.keys(f).length ? Object.entries(f).map(([k, v]) => `${k} ×${v}`).join(', ') : 'none')

function upstreamRow(rows, key) {
  const sees = (v, r) => (v.error ? `error ${v.error}` : `${v.serial === r.fresh ? 'new' : v.serial === r.old ? 'old' : 'older'} ${v.resumed ? 'resumed' : 'full handshake'}`)
  const nth = (k) => {
    const views = rows.map((r) => r[key][k])
    return `new serial ${count(views, (v, j) => v.serial === rows[j].fresh && v.newConn)} (${tally(views.map((v, j) => sees(v, rows[j])))})`
  }
  return `1st new connection: ${nth(0)}; 2nd: ${nth(1)}`
}

function resumedRow(R, v) {
  const { rows, control } = R
  const r = rows.map((x) => x.resumed[v])
  return `session obtained while the old serial was served ${count(r, (x) => x.sessionFromOld)}; resumed ${count(r, (x) => x.reused)}; server certificate on the connection: ${tally(r.map((x) => x.sees + (x.reused ? ' (resumed)' : ' (full handshake)')))}; answered 200 ${count(r, (x) => x.ok)}, with HAProxy's ssl_c_serial = the client's ${count(r, (x) => x.clientSeen)} (control, no commit in between: ${control[v] ? 'resumed' : 'not resumed'}; a session from before the first commit, resumed after the last: ${R.endResume[v]})`
}

function table(R) {
  const rows = R.rows
  const lat = rows.map((r) => r.commit.ms)
  const pids = new Set(rows.map((r) => r.pid))
  const lines = [
    ['HAProxy', R.version],
    ['Commits done (set + commit ssl cert answered OK)', count(rows, (r) => r.commit.ok)],
    ['Commit latency (set + commit), median / p99 / max', `${ms(pct(lat, 0.5))} / ${ms(pct(lat, 0.99))} / ${ms(Math.max(...lat))}`],
    ['Public listener serves the new serial (fresh connection)', count(rows, (r) => r.served)],
    ['Refused: client without a certificate', `${count(rows, (r) => r.noCert.refused)} (${tally(rows.map((r) => r.noCert.error ?? 'no error'))})`],
    ['Refused: client certificate from another CA', `${count(rows, (r) => r.otherCa.refused)} (${tally(rows.map((r) => r.otherCa.error ?? 'no error'))})`],
    ['Upstream, TLS session reuse on (default server line): what the Node server saw', upstreamRow(rows, 'upReuse')],
    ['Upstream, `no-ssl-reuse`: what the Node server saw', upstreamRow(rows, 'upNoReuse')],
    ['Upstream, session reuse on, control: 3 new connections before any commit', R.control.upstream.map((v) => (v.error ? `error ${v.error}` : v.resumed ? 'resumed' : 'full handshake')).join(', ')],
    ['Public, client resumes a TLS 1.3 session from before the commit', resumedRow(R, 'v13')],
    ['Public, client resumes a TLS 1.2 session from before the commit', resumedRow(R, 'v12')],
    ['Worker PID unchanged (no reload)', `${pids.size === 1 && pids.has(R.pidBefore) ? 'yes' : 'no'} (show info Pid ${[...pids].join(', ')}; show proc before: ${R.procBefore}, after: ${R.procAfter})`],
    ['Load, upstream keep-alive requests (4 loops) ok / failed', `${R.load.stats.upstream.ok} / ${failures(R.load.stats.upstream.failed)}`],
    ['Load, public new mTLS connections (2 loops) ok / failed', `${R.load.stats.public.ok} / ${failures(R.load.stats.public.failed)}`],
    ['Upstream TLS connections the Node server accepted (all)', `${R.load.conns.full ?? 0} full handshakes, ${R.load.conns.resumed ?? 0} resumed`],
    ['Worker RSS before / after', `${R.rssBefore.toFixed(1)} MB / ${R.rssAfter.toFixed(1)} MB`],
  ]
  return ['| Measure | Result |', '| --- | --- |', ...lines.map(([k, v]) => `| ${k} | ${v} |`)].join('\n')
}

function subsection(R, tableText) {
  const warnings = R.haproxyLog.split('\n').filter((l) => /WARNING|ALERT/.test(l))
  const bad = R.rows.filter((r) => !r.commit.ok).map((r) => `#${r.i}: ${r.commit.answer}`)
  return [
    `### HAProxy ${R.branch}, ${R.shape}-shaped leaves (${R.version.replace(/^HAProxy version /, '')})`,
    '',
    `Run ${R.date} by \`${R.command}\` (${R.seconds.toFixed(0)} s; ${R.gapMs} ms between commits, ${R.pauseMs} ms pause in each load loop). Machine: ${availableParallelism()} CPUs; ${R.version}; ${R.openssl}; Node.js ${process.version}; meshplate at ${R.commit}. Load average at start / end: ${R.loadStart} / ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`,
    '',
    tableText,
    '',
    ...(bad.length ? [`- Commits whose answer was not OK: ${bad.join('; ')}`] : []),
    `- HAProxy warnings and alerts on stderr: ${warnings.length ? warnings.slice(-5).map((l) => `\`${l.trim()}\``).join(' ') : 'none'}.`,
    '',
  ].join('\n')
}

const INTRO = `## ${SECTION} (bench/cert-commits/run.mjs)

Method: a test CA and an unrelated second CA (EC P-256, \`openssl\` CLI), N+1 leaves from the first CA with distinct serials (cert + key in one PEM, as Consul hands them out), either shaped as Consul's are (\`--leaf-shape consul\`: empty subject, only a SPIFFE URI SAN) or named (\`named\`: a CN and an IP SAN as well). **Finding:** on 2.6.12 a commit of a Consul-shaped leaf leaves the bind verifying no client certificate at all (a client without one, and one from another CA, both complete the handshake), while named leaves keep \`verify required\`; so meshplate reloads HAProxy for leaf renewals (src/haproxy/policy.ts). One HAProxy in master-worker mode (\`-W -S\`, \`nbthread 1\`) with a public listener \`bind ... ssl crt leaf.pem ca-file ca.pem verify required\` answering the client certificate's serial, and two plaintext frontends whose backends (\`http-reuse never\`) have \`server ... ssl verify required ca-file ca.pem crt leaf.pem\`, one as rendered, one with \`no-ssl-reuse\`, to a Node \`https\` server (\`requestCert\`, \`rejectUnauthorized\`) that answers the serial of the client certificate it saw and whether the TLS session was resumed. Load during the whole run: 4 keep-alive loops through the plaintext frontends (2 each) and 2 loops of new mTLS connections to the public listener, with a short pause between requests, in a worker thread with the Node server. Controls before any commit: a session resumed at once on the public listener, and 3 new upstream connections in a row. Then N cycles, a gap apart: write leaf i+1 to leaf.pem (rename), \`set ssl cert leaf.pem <<\` + \`commit ssl cert leaf.pem\` on the stats socket (one command per connection; latency is both), then on fresh connections with no client-side session reuse: the public listener's certificate serial, a client without a certificate, a client from the other CA, two new upstream connections per variant (what the Node server saw), and resumption of TLS 1.3 and TLS 1.2 sessions obtained just before the commit; after the last cycle, sessions kept from before the first commit are resumed. Node's TLS client exposes no peer certificate on a resumed session: none is exchanged, the session stands for the certificate it was made with. Worker PID from \`show info\` after each commit, \`show proc\` from the master CLI before and after, VmRSS from /proc.
`

/** Keeps the other HAProxy branches' parts of the section, replaces this one's. */
function writeResults(file, R, part) {
  const text = readFileSync(file, 'utf8')
  const start = text.search(new RegExp(`^## ${SECTION}\\b`, 'm'))
  const parts = {}
  if (start !== -1) {
    const rest = text.slice(start).split('\n')
    const end = rest.findIndex((l, i) => i > 0 && /^##?\s/.test(l))
    const body = rest.slice(0, end === -1 ? rest.length : end).join('\n')
    for (const p of body.split(/^(?=### HAProxy )/m).slice(1)) parts[/^### HAProxy ([\d.]+(?:, \w+)?)/.exec(p)[1]] = p.replace(/\n*$/, '\n')
  }
  parts[`${R.branch}, ${R.shape}`] = part
  writeSection(file, SECTION, `${INTRO}\n${Object.keys(parts).sort().map((k) => parts[k]).join('\n')}`)
}

// ---------------------------------------------------------------- main

async function run(opts, state) {
  const started = Date.now()
  const version = execFileSync(opts.haproxy, ['-v'], { encoding: 'utf8' }).split('\n')[0].replace(/ - https:.*/, '').trim()
  const n = Number(opts.commits)
  log(`${version}; ${n} commits; work dir ${state.dir}`)
  const loadStart = loadavg().map((l) => l.toFixed(2)).join(' ')
  const certs = await makeCerts(state.dir, n, opts['leaf-shape'])
  const [pub, plainA, plainB, upstream] = await freePorts(4)
  const ports = { public: pub, plain: [plainA, plainB], upstream }
  writeFileSync(join(state.dir, 'ca.pem'), certs.ca.pem)
  writeFileSync(join(state.dir, 'leaf.pem'), certs.leaves[0].pem)
  state.worker = new Worker(fileURLToPath(import.meta.url), {
    workerData: { upstreamPort: upstream, serverPem: certs.server.pem, ca: certs.ca.pem, clientPem: certs.client.pem, publicPort: pub, plainPorts: ports.plain, pauseMs: Number(opts['pause-ms']) },
  })
  await new Promise((resolve, reject) => state.worker.once('message', resolve).once('error', reject))
  state.haproxy = await startHaproxy(opts.haproxy, state.dir, ports)
  const ctx = { dir: state.dir, certs, ports }
  const pidBefore = await workerPid(state.dir)
  const procBefore = await workersOf(state.dir)
  const control = await resumptionControl(ctx)
  const rssBefore = rssMb(pidBefore)
  state.worker.postMessage('start')
  await sleep(1000)
  const rows = []
  for (let i = 1; i <= n; i++) {
    rows.push(await cycle(ctx, i))
    const r = rows.at(-1)
    log(`commit ${i}/${n}: ${ms(r.commit.ms)} ${r.commit.ok ? 'ok' : r.commit.answer}; served ${r.served ? 'new' : r.servedSaw}; upstream reuse ${r.upReuse.map((v) => (v.serial === r.fresh ? 'new' : v.error ?? 'old') + (v.resumed ? '/resumed' : '')).join(',')}; no-ssl-reuse ${r.upNoReuse.map((v) => (v.serial === r.fresh ? 'new' : v.error ?? 'old')).join(',')}; resume 1.3 ${r.resumed.v13.reused ? r.resumed.v13.sees : 'no'} 1.2 ${r.resumed.v12.reused ? r.resumed.v12.sees : 'no'}; pid ${r.pid}`)
    await sleep(Number(opts['gap-ms']))
  }
  await sleep(1000)
  const endResume = await resumeKept(ctx, control.kept)
  const rssAfter = rssMb(pidBefore)
  const load = await new Promise((resolve) => {
    state.worker.once('message', resolve)
    state.worker.postMessage('stop')
  })
  const R = {
    version, shape: opts['leaf-shape'], branch: /version (\d+\.\d+)/.exec(version)?.[1] ?? version, rows, control, pidBefore, procBefore, procAfter: await workersOf(state.dir),
    rssBefore, rssAfter, load, endResume, gapMs: Number(opts['gap-ms']), pauseMs: Number(opts['pause-ms']), loadStart, seconds: (Date.now() - started) / 1000,
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    command: ['node', 'bench/cert-commits/run.mjs', ...process.argv.slice(2)].join(' '),
    openssl: execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim().replace(/ \(Library.*/, ''),
    commit: gitCommit(), haproxyLog: readFileSync(join(state.dir, 'haproxy.log'), 'utf8'),
  }
  return R
}

function gitCommit() {
  const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

async function main() {
  const { values: opts } = parseArgs({
    options: { commits: { type: 'string', default: '50' }, haproxy: { type: 'string', default: 'haproxy' }, 'gap-ms': { type: 'string', default: '200' }, 'pause-ms': { type: 'string', default: '1' }, 'no-write': { type: 'boolean', default: false }, 'leaf-shape': { type: 'string', default: 'consul' } },
  })
  const state = { dir: mkdtempSync('/tmp/mp-certcommits-') }
  let cleaning
  const cleanup = () => (cleaning ??= (async () => {
    await stopHaproxy(state.haproxy)
    await state.worker?.terminate()
    rmSync(state.dir, { recursive: true, force: true })
  })())
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => cleanup().finally(() => process.exit(130)))
  process.on('exit', () => { try { process.kill(-state.haproxy?.pid, 'SIGKILL') } catch { /* gone */ } })
  const deadline = setTimeout(() => {
    log(`no result after ${DEADLINE_MS / 1000} s: giving up`)
    cleanup().finally(() => process.exit(1))
  }, DEADLINE_MS)
  try {
    const R = await run(opts, state)
    const t = table(R)
    process.stdout.write(`${t}\n`)
    if (!opts['no-write']) {
      writeResults(join(dirname(fileURLToPath(import.meta.url)), '../RESULTS.md'), R, subsection(R, t))
      log(`wrote the HAProxy ${R.branch} part of the "${SECTION}" section of bench/RESULTS.md`)
    }
  } finally {
    clearTimeout(deadline)
    await cleanup()
  }
}

if (isMainThread) {
  main().catch((err) => {
    console.error(`bench/cert-commits: ${err.message}`)
    process.exitCode = 1
  })
} else {
  runWorker(workerData)
}
