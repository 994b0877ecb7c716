// Turns the runs into the Markdown printed to stdout and into the "Dataplane"
// section of bench/RESULTS.md (every other section of that file, the
// renderer benchmark's for one, is kept exactly as it was): one table per
// path, ratios against the ideal pair, the goals with verdicts, the targets
// against Consul's built-in proxy (versus-consul.mjs), and where a goal is
// missed, what the template variants say the difference is made of.
import { writeSection } from '../../lib/shared.mjs'
import { f, int, mdTable, median, pct } from './format.mjs'
import { memoryLine, memoryTable, TARGETS, versusTable, versusWhy } from './versus-consul.mjs'

/** Aggregates: medians over rounds of each figure, per test and path. */
export function aggregate(R) {
  const pick = (test, path) => R.rows.filter((r) => r.test === test && r.path === path)
  const has = (test, path) => pick(test, path).length > 0
  const med = (test, path, fn) => (has(test, path) ? median(pick(test, path).map(fn)) : NaN)
  const added = (path, field) =>
    has('latency', path) ? median(pick('latency', path).map((r) => r[field] - R.rows.find((d) => d.test === 'latency' && d.path === 'direct' && d.round === r.round)[field])) : NaN
  const A = {}
  const keys = new Set(R.rows.map((r) => r.path))
  for (const k of keys) {
    A[k] = {
      p50: med('latency', k, (r) => r.p50),
      p99: med('latency', k, (r) => r.p99),
      addedP50: k === 'direct' ? NaN : added(k, 'p50'),
      addedP99: k === 'direct' ? NaN : added(k, 'p99'),
      rps: med('throughput', k, (r) => r.rps),
      cpuPer1k: med('throughput', k, (r) => (1e6 * r.cpuS) / r.requests), // ms of CPU per 1,000 requests
      meshplateCpuPer1k: med('throughput', k, (r) => (1e6 * r.meshplateCpuS) / r.requests),
      agentCpuPer1k: med('throughput', k, (r) => (1e6 * r.agentCpuS) / r.requests),
      agentCpuPerConn: med('newconn', k, (r) => (1e3 * r.agentCpuS) / r.requests),
      connRate: med('newconn', k, (r) => r.rps),
      cpuPerConn: med('newconn', k, (r) => (1e3 * r.cpuS) / r.requests), // ms of CPU per new connection
      handshakesPerConn: med('newconn', k, (r) => r.handshakes / r.requests),
      errors: R.rows.filter((r) => r.path === k).reduce((a, r) => a + (r.errors || 0), 0),
    }
  }
  for (const k of ORDER) A[k] ??= { missing: true, ...Object.fromEntries(Object.keys(A.direct).map((x) => [x, NaN])) }
  return A
}

const LABEL = {
  direct: 'Direct (the app alone)',
  'ideal-tcp': 'Ideal pair, tcp',
  tcp: '**Rendered, tcp** (as shipped)',
  'tcp-noauth': 'Rendered, tcp, authorization off',
  'tcp-lean': 'Rendered, tcp, authorization, logging and identity check off',
  'consul-tcp': 'Consul built-in proxy, tcp',
  'ideal-http': 'Ideal pair, http',
  http: '**Rendered, http** (as shipped)',
  'http-noauth': 'Rendered, http, authorization off',
  'http-nolog': 'Rendered, http, logging off',
  'http-nopeer': 'Rendered, http, upstream identity check off',
  'http-lean': 'Rendered, http, all three off',
}
const ORDER = Object.keys(LABEL)

function mainTable(R, A) {
  const mem = (key, field) => {
    const w = R.mem[`${key}/web`]
    const a = R.mem[`${key}/api`]
    return w && a && Number.isFinite(w[field]) ? `${f(w[field], 1)} / ${f(a[field], 1)}` : '—'
  }
  const head = ['Path', 'added p50 (ms), 1 conn', 'added p99 (ms), 1 conn', 'req/s, 16 conns', 'Proxy CPU µs / req (= ms / 1k req)', 'new conn/s (Connection: close)', 'Proxy CPU ms / new conn', 'mTLS handshakes / new conn', 'RSS HAProxy (Consul: its proxy) web / api (MB)', 'RSS meshplate web / api (MB)']
  const rows = ORDER.filter((k) => !A[k].missing).map((k) => {
    const a = A[k]
    const lat = k === 'direct' ? [`(p50 itself: ${f(a.p50, 3)})`, `(p99 itself: ${f(a.p99, 3)})`] : [f(a.addedP50, 3), f(a.addedP99, 3)]
    return [LABEL[k], ...lat, int(a.rps), k === 'direct' ? `(app: ${f(a.cpuPer1k, 1)})` : f(a.cpuPer1k, 1), int(a.connRate),
      k === 'direct' ? `(app: ${f(a.cpuPerConn, 3)})` : f(a.cpuPerConn, 3), k === 'direct' ? '—' : f(a.handshakesPerConn, 2), mem(k, k === 'consul-tcp' ? 'sidecarRss' : 'haproxyRss'), mem(k, 'meshplateRss')]
  })
  return mdTable(head, rows)
}

/** Rendered vs ideal, per mode. */
function ratios(A) {
  const r = (m) => ({
    rps: A[m].rps / A[`ideal-${m}`].rps,
    p50: A[m].addedP50 / A[`ideal-${m}`].addedP50,
    p99: A[m].addedP99 / A[`ideal-${m}`].addedP99,
    cpu: A[m].cpuPer1k / A[`ideal-${m}`].cpuPer1k,
    conn: A[m].connRate / A[`ideal-${m}`].connRate,
    cpuConn: A[m].cpuPerConn / A[`ideal-${m}`].cpuPerConn,
  })
  return { tcp: r('tcp'), http: r('http') }
}

function ratioTable(Q) {
  const head = ['Rendered ÷ ideal', 'req/s (16 conns)', 'added p50', 'CPU per request', 'new conn/s', 'CPU per new conn']
  const row = (m) => [m, f(Q[m].rps), f(Q[m].p50), f(Q[m].cpu), f(Q[m].conn), f(Q[m].cpuConn)]
  return mdTable(head, [row('tcp'), row('http')])
}

/** Each goal with its measured value per mode and a verdict. */
function goals(R, A, Q) {
  const authCost = (m) => A[m].cpuPerConn / A[`${m}-noauth`].cpuPerConn - 1
  const authRate = (m) => 1 - A[m].connRate / A[`${m}-noauth`].connRate
  const maxOf = (field, keys) => Math.max(...keys.flatMap((k) => ['web', 'api'].map((h) => R.mem[`${k}/${h}`]?.[field] ?? NaN)))
  const ok = (cond) => (cond ? 'met' : '**missed**')
  const G = [
    { goal: 'Throughput ≥ 95% of ideal (16 keep-alive conns)', tcp: Q.tcp.rps, http: Q.http.rps, show: pct, pass: (x) => x >= 0.95 },
    { goal: 'Added p50 ≤ 1.1 × ideal (1 keep-alive conn)', tcp: Q.tcp.p50, http: Q.http.p50, show: (x) => `${f(x)} ×`, pass: (x) => x <= 1.1 },
    { goal: 'Added p99 ≤ 1 ms at moderate load (1 keep-alive conn, closed loop)', tcp: A.tcp.addedP99, http: A.http.addedP99, show: (x) => `${f(x, 3)} ms`, pass: (x) => x <= 1 },
    { goal: 'Authorization (table hit) adds ≤ 5% to the CPU cost of a new connection', tcp: authCost('tcp'), http: authCost('http'), show: (x) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`, pass: (x) => x <= 0.05 },
    { goal: '(for information: new conn/s lost to authorization; rates are noisier than CPU)', tcp: authRate('tcp'), http: authRate('http'), show: (x) => `${(100 * x).toFixed(1)}%`, info: true },
    { goal: 'RSS per HAProxy (master + worker) ≤ 25 MB, largest', tcp: maxOf('haproxyRss', ['tcp']), http: maxOf('haproxyRss', ['http']), show: (x) => `${f(x, 1)} MB`, pass: (x) => x <= 25 },
    { goal: 'RSS per meshplate process ≤ 60 MB, largest', tcp: maxOf('meshplateRss', ['tcp']), http: maxOf('meshplateRss', ['http']), show: (x) => `${f(x, 1)} MB`, pass: (x) => x <= 60 },
  ]
  const verdict = (g) => (g.info ? '' : ok(g.pass(g.tcp) && g.pass(g.http)) + (g.pass(g.tcp) !== g.pass(g.http) ? ` (${g.pass(g.tcp) ? 'http' : 'tcp'})` : ''))
  const rows = G.map((g) => [g.goal, g.show(g.tcp), g.show(g.http), verdict(g)])
  return { table: mdTable(['Goal', 'tcp', 'http', 'Verdict'], rows), G, authCost, authRate }
}

const sign = (x) => (x >= 0 ? '+' : '−')
const change = (x) => (Number.isFinite(x) ? `${sign(x)}${(100 * Math.abs(x)).toFixed(0)}%` : '—')
const code = (l) => `\`${l.replace(/\/\S+\/intentions\.map/, '…/intentions.map')}\``

/** The http bullets: CPU per request, what each feature costs, and what runs per request. */
function whyHttp(R, A, Q) {
  const out = []
  const d = (k) => A.http.cpuPer1k - A[k].cpuPer1k // ms per 1k requests == µs per request
  const SMALL = 3 // µs per request: below this a feature is within noise
  const perRound = (k) => R.rows.filter((r) => r.test === 'throughput' && r.path === k).map((r) => `${(r.rps / 1000).toFixed(1)}k`).join(', ')
  out.push(`- **http: the shipped config spends ${f(A.http.cpuPer1k - A['ideal-http'].cpuPer1k, 1)} µs more HAProxy CPU per request than the ideal pair** (${f(A.http.cpuPer1k, 1)} vs ${f(A['ideal-http'].cpuPer1k, 1)} µs, ${f(Q.http.cpu)} ×); on this saturated 2-core machine that is what costs req/s (${pct(Q.http.rps)} of ideal; per round ${perRound('http')} vs ideal ${perRound('ideal-http')}: req/s at saturation also moves with how the scheduler places wrk, the app and both hops on 2 cores, CPU per request does not). One feature out at a time: the upstream identity check off saves ${f(d('http-nopeer'), 1)} µs per request, logging off ${f(d('http-nolog'), 1)} µs, authorization off ${f(d('http-noauth'), 1)} µs; all three off ${f(d('http-lean'), 1)} µs, which lands at ${f(A['http-lean'].cpuPer1k / A['ideal-http'].cpuPer1k)} × the ideal CPU per request, ${pct(A['http-lean'].rps / A['ideal-http'].rps)} of its req/s and ${f(A['http-lean'].addedP50 / A['ideal-http'].addedP50)} × its added p50 (${f(A['http-lean'].addedP50, 3)} vs ${f(A['ideal-http'].addedP50, 3)} ms; shipped ${f(A.http.addedP50, 3)} ms). So the gap is made of these per-request features, not of HAProxy's proxying, TLS or connection handling (\`http-reuse always\` is rendered; \`nbthread 1\` and the balance algorithm match the ideal pair, with one server per backend).`)
  const web = R.rules?.['http/web'] ?? []
  const api = R.rules?.['http/api'] ?? []
  const peer = web.find((l) => /txn\.mesh_peer\) ssl_s_sha1/.test(l))
  if (peer && d('http-nopeer') >= SMALL) {
    out.push(`  - *The upstream identity check* (${code(peer)}, web side) runs on every response: a native lookup of the server certificate's SHA-1 fingerprint in the map (Lua runs once per new certificate); ${f(d('http-nopeer'), 1)} µs per request measured.`)
  }
  if (d('http-nolog') >= SMALL) {
    out.push(`  - *Logging* (${code('log global')} with ${code(web.find((l) => /^log stderr/.test(l)) ?? 'log stderr')}) formats and writes one line per request on each hop, stderr going to a file here as to a Nomad log pipe: ${f(d('http-nolog'), 0)} µs per request. \`option dontlog-normal\` would log only sessions that end abnormally (errors, rejections, timeouts).`)
  }
  const auth = api.filter((l) => /^(tcp-request content|acl mesh_)/.test(l))
  if (d('http-noauth') >= SMALL) {
    const guarded = auth.some((l) => /lua\.authorize unless/.test(l))
    out.push(`  - *Authorization* costs ${f(d('http-noauth'), 0)} µs per request. ${guarded ? 'The rendered rules skip the Lua action once a connection is decided, so what remains per request is' : '`tcp-request content` rules of an HTTP frontend are evaluated for every stream, i.e. for every request of a kept-alive or reused connection:'} ${auth.map(code).join(', ')}.`)
  } else if (auth.length) {
    out.push(`  - *Authorization* is within noise per request (${f(d('http-noauth'), 1)} µs): the decision is kept per connection and each request evaluates only ${auth.filter((l) => !/lua\.authorize|reject/.test(l)).map(code).join(' and ') || 'native rules'} before skipping the Lua action.`)
  }
  return out
}

/** The "where a goal is missed and why" bullets, from the variants' deltas. */
function why(R, A, Q, G) {
  const out = []
  const missed = (i, m) => !G.G[i].info && !G.G[i].pass(G.G[i][m])
  const rounds = (path, field) => R.rows.filter((r) => r.test === 'latency' && r.path === path)
    .map((r) => f(r[field] - R.rows.find((x) => x.test === 'latency' && x.path === 'direct' && x.round === r.round)[field], 3)).join(', ')
  if (missed(0, 'http') || missed(1, 'http') || missed(2, 'http')) out.push(...whyHttp(R, A, Q))
  if (missed(1, 'tcp') || missed(0, 'tcp') || missed(2, 'tcp')) {
    out.push(`- **tcp: ${pct(Q.tcp.rps)} of ideal req/s, ${f(Q.tcp.p50)} × its added p50, ${f(A.tcp.cpuPer1k, 1)} vs ${f(A['ideal-tcp'].cpuPer1k, 1)} µs CPU per request.** On kept-alive connections the rendered tcp config does the ideal one's work per request (authorization, logging and the identity check run once per connection), so a gap here is within run-to-run spread: added p50 per round, rendered ${rounds('tcp', 'p50')} ms vs ideal ${rounds('ideal-tcp', 'p50')} ms.`)
  }
  if (missed(3, 'tcp')) {
    const pr = (k) => R.rows.filter((r) => r.test === 'newconn' && r.path === k).map((r) => f((1e3 * r.cpuS) / r.requests, 3)).join(', ')
    out.push(`- **Authorization on new tcp connections** costs ${f(A.tcp.cpuPerConn - A['tcp-noauth'].cpuPerConn, 3)} ms of HAProxy CPU per connection: ${f(A.tcp.cpuPerConn, 3)} vs ${f(A['tcp-noauth'].cpuPerConn, 3)} ms (per round ${pr('tcp')} vs ${pr('tcp-noauth')}; ${int(A.tcp.connRate)} vs ${int(A['tcp-noauth'].connRate)} conn/s), next to a full mTLS handshake on both hops. That is one Lua action per connection (DER walk, SPIFFE parse, map lookups, session variables) plus the native version check and the log fields it feeds; the DER walk itself takes µs, so most of it is likely the cost of running any Lua action on a new stream (a coroutine and a txn object per stream) on top of a handshake that has just evicted its caches.`)
  }
  if (missed(3, 'http')) {
    out.push(`- **Authorization on new client connections in http mode** adds ${(100 * G.authCost('http')).toFixed(1)}% CPU per client connection (${f(A.http.cpuPerConn, 3)} vs ${f(A['http-noauth'].cpuPerConn, 3)} ms). The web → api connection is reused (${f(A.http.handshakesPerConn, 2)} handshakes per client connection), so a new client connection costs about one request of HAProxy work, and whatever authorization does per request weighs on it in full.`)
  }
  if (missed(5, 'tcp') || missed(5, 'http')) {
    const m = (k) => R.mem[k] ?? {}
    out.push(`- **HAProxy RSS** (master + worker) is ${f(m('tcp/api').haproxyRss, 1)} MB for the tcp api sidecar against ${f(m('ideal-tcp/api').haproxyRss, 1)} MB for the ideal api hop: counted this way the hand-written pair misses 25 MB too. The master alone is ${f(m('tcp/api').masterRss, 1)} MB, mostly pages it shares with the worker (libcrypto, libssl, liblua, what the worker inherits at fork), so the sum counts them twice: the pair's proportional set size, which splits shared pages, is ${f(m('tcp/api').haproxyPss, 1)} MB, and the worker alone ${f(m('tcp/api').workerRss, 1)} MB. On the api side, where both have the same listeners, the sidecar's worker is ${f(m('tcp/api').workerRss - m('ideal-tcp/api').workerRss, 1)} MB larger than the ideal one (the Lua state with authorize.lua, the map); the rendered web worker also carries an mTLS public listener that the ideal web hop lacks.`)
  }
  if (missed(6, 'tcp') || missed(6, 'http')) {
    const mps = ['tcp', 'http'].flatMap((k) => ['web', 'api'].map((h) => R.mem[`${k}/${h}`]?.meshplateRss)).filter(Number.isFinite)
    out.push(`- **meshplate RSS** is ${f(Math.min(...mps), 1)}–${f(Math.max(...mps), 1)} MB per sidecar; a bare \`node\` process takes ${f(R.nodeBaselineMb, 1)} MB here, so meshplate's own modules, data and V8 heap headroom come to about ${f(Math.max(...mps) - R.nodeBaselineMb, 0)} MB. Candidates (not measured here): modules loaded but unused on the sidecar path, and V8 heap sizing (\`--max-semi-space-size\`, \`--max-old-space-size\`).`)
  }
  const tcpConn = A.tcp.cpuPerConn / A['ideal-tcp'].cpuPerConn - 1
  if (tcpConn > 0.05) {
    out.push(`- *Not a goal, but seen:* a new tcp connection costs ${f(A.tcp.cpuPerConn, 3)} ms of HAProxy CPU rendered vs ${f(A['ideal-tcp'].cpuPerConn, 3)} ms ideal (+${pct(tcpConn)}). Authorization is ${f(A.tcp.cpuPerConn - A['tcp-noauth'].cpuPerConn, 3)} ms of that; with authorization, logging and the identity check all off it is ${f(A['tcp-lean'].cpuPerConn, 3)} ms, so per-connection log lines and the web side's \`tcp-response\` Lua identity check make up about ${f(A['tcp-noauth'].cpuPerConn - A['tcp-lean'].cpuPerConn, 3)} ms.`)
  }
  out.push(...versusWhy(A))
  if (!out.length) out.push('- Every goal is met in this run.')
  return out.join('\n')
}

/** How much other work shared the machine during the runs. */
function foreignNote(R) {
  const runs = R.rows.filter((r) => r.test !== 'warmup')
  const shares = runs.map((r) => r.foreign).filter(Number.isFinite)
  const busy = shares.filter((x) => x > 0.1).length
  const waited = runs.reduce((a, r) => a + (r.waited || 0), 0) / 1000
  const byTest = R.tests.map((t) => `${t.name} ${pct(median(R.rows.filter((r) => r.test === t.name).map((r) => r.foreign)))}`).join(', ')
  return `- Other work on this shared machine (CPU used during a run by anything but this benchmark's processes, as a share of all CPUs; from /proc/stat): median ${pct(median(shares))} (${byTest}), max ${pct(Math.max(...shares))}; ${busy} of ${shares.length} runs above 10%. Before each run the benchmark waited for the CPUs to be < ${pct(R.quiet.threshold)} busy (at most ${R.quiet.perRunMs / 1000} s per run, ${R.quiet.totalMs / 1000} s in all): ${waited.toFixed(0)} s waited. CPU per request is the figure least distorted by such load; req/s and p99 the most. ${R.nice ? `The measured processes (HAProxy, meshplate, Consul's proxies, wrk) ran at nice ${R.nice} to keep other work from distorting them (\`--nice 0\` turns that off).` : 'The measured processes ran at the default priority.'}`
}

/** Per hop: HAProxy master + worker, meshplate's node, or the Consul proxy; RSS and PSS. */
function memoryDetail(R) {
  return ['ideal-tcp', 'tcp', 'consul-tcp', 'ideal-http', 'http'].flatMap((k) => ['web', 'api'].map((h) => {
    const m = R.mem[`${k}/${h}`]
    if (!m) return ''
    if (k === 'consul-tcp') return `${k} ${h}: consul proxy ${f(m.sidecarRss, 1)} RSS, PSS ${f(m.sidecarPss, 1)}`
    const node = Number.isFinite(m.meshplateRss) ? `, meshplate node ${f(m.meshplateRss, 1)} RSS, PSS ${f(m.meshplatePss, 1)}` : ''
    return `${k} ${h}: master ${f(m.masterRss, 1)} + worker ${f(m.workerRss, 1)} RSS, PSS ${f(m.haproxyPss, 1)}${node}`
  })).filter(Boolean).join('; ')
}

/** What differs in how the Consul pair is measured, and what the agent spent meanwhile. */
function consulNote(R, A) {
  const c = A['consul-tcp']
  const logs = R.consulLogLines ? ` Its logs (default level, info) held ${R.consulLogLines.web} lines (web) and ${R.consulLogLines.api} (api) at the end of the run.` : ''
  if (c.missing) return '- Consul\'s built-in proxy: not measured in this run.'
  return `- Consul's built-in proxy has no stats socket, so its mTLS handshakes are not counted ("—"). It is a Go process using every CPU (GOMAXPROCS defaults to the CPU count), where each HAProxy hop runs \`nbthread 1\`. The Consul agent's CPU, not counted in any path's figure: ${f(c.agentCpuPer1k, 2)} ms per 1k requests and ${f(c.agentCpuPerConn, 3)} ms per new connection during the Consul pair's runs, ${f(A.tcp.agentCpuPer1k, 2)} ms and ${f(A.tcp.agentCpuPerConn, 3)} ms during the rendered tcp pair's.${logs}`
}

/** Method, checks and caveats. */
function notes(R, A) {
  const dec = (k) => Object.entries(R.decisions[k]).map(([d, n]) => `${d} × ${n}`).join(', ') || 'none logged'
  const errs = Object.entries(A).filter(([, a]) => a.errors).map(([k, a]) => `${k}: ${a.errors}`)
  const mp = Math.max(...['tcp', 'http'].map((k) => A[k].meshplateCpuPer1k))
  return [
    `- Method: one \`consul agent -dev\` on loopback; the app is a single-thread HAProxy answering 1 KB (\`http-request return ... file\`). Rendered pairs are \`web-<key>\` → \`api-<key>\` services with an allow intention each, each side run by \`node dist/cli.js sidecar\` (HAProxy master-worker, its stderr log going to a file), variants through \`--template-dir\` copies made at run time from templates/haproxy. The ideal pairs are hand-written: \`nbthread 1\`, \`verify required\` on both hops with the tcp pair's rendered leaf.pem/roots.pem, no Lua, no logging, \`http-reuse always\` in http. The Consul pair is \`web-consul\` → \`api-consul\` (tcp, allow intention) run by \`consul connect proxy -sidecar-for <svc> -http-addr <agent>\` (${R.machine.consul}, its default log level and Go runtime settings), public and upstream listeners on 127.0.0.1. wrk 4.1 \`-t1\`, ${R.seconds} s per run; every path in every test once per round, the order rotated each round; ${R.rounds} rounds; medians. Added latency = path minus direct in the same round. CPU = utime+stime of both hops' HAProxy workers, or of both \`consul connect proxy\` processes (all threads), from /proc (not the app's, not wrk's, not the Consul agent's); "ms per 1k requests" equals µs per request, and ÷1000 gives vCPU per 1k req/s. RSS = VmRSS of HAProxy master + worker, of the meshplate node process and of each Consul proxy, highest seen after warm-up and after each round; PSS from /proc/<pid>/smaps_rollup.`,
    consulNote(R, A),
    `- Variants: ${Object.entries(R.variants).filter(([k]) => k !== 'shipped').map(([k, v]) => `\`${k}\` ${v.about}`).join('; ')}.`,
    `- Authorization as measured (api sidecars' log lines, decision/reason): tcp ${dec('tcp')}; http ${dec('http')}. \`intention-allow\` means the table decided, with no agent call.`,
    `- meshplate itself is idle during traffic (HAProxy's stderr is inherited, not piped through Node): at most ${f(mp, 2)} ms of meshplate CPU per 1k requests.`,
    `- wrk errors (socket errors + non-2xx, all runs): ${errs.length ? errs.join(', ') : 'none'}.`,
    `- Memory detail (largest seen, MB): ${memoryDetail(R)}. Master and worker map the same libraries (libcrypto alone is several MB), so their RSS sum counts those pages twice; PSS splits them.`,
    foreignNote(R),
    `- Load average at start / end: ${R.machine.loadStart} / ${R.machine.loadEnd}. wrk, the app and both hops share the ${R.machine.nproc} CPUs: compare ratios, not absolute values, between runs.`,
  ].join('\n')
}

/** The printed table and the whole "## Dataplane" section. */
export function report(R) {
  const A = aggregate(R)
  const Q = ratios(A)
  const G = goals(R, A, Q)
  const table = mainTable(R, A)
  const m = R.machine
  const section = [
    '## Dataplane',
    '',
    `Run ${R.date} by \`node bench/dataplane/run.mjs\` (${R.totalS.toFixed(0)} s). Machine: ${m.nproc} CPUs (\`nproc\`; ${m.cpu}), ${m.memory}, Linux ${m.kernel}; ${m.haproxy}; ${m.consul}; ${m.wrk}; Node.js ${m.node}; meshplate at ${m.commit}.`,
    '',
    'Path: wrk → web\'s upstream listener → web sidecar → (mTLS) → api sidecar → app, 1 KB responses. The Consul row is the same path through Consul\'s built-in proxy on both sides (L4, so tcp only).',
    '',
    table,
    '',
    '### Ratios vs ideal',
    '',
    ratioTable(Q),
    '',
    '### Goals',
    '',
    G.table,
    '',
    '### vs Consul\'s built-in proxy (tcp)',
    '',
    `Targets from the project's issue, at 16 keep-alive connections: req/s ≥ ${TARGETS.rps} × the built-in proxy's and proxy CPU per request ≤ ${TARGETS.cpu} × its. Proxy CPU is both hops' HAProxy workers for meshplate and the ideal pair, both \`consul connect proxy\` processes for Consul.`,
    '',
    versusTable(A),
    '',
    '### Memory: a whole sidecar',
    '',
    memoryTable(R),
    '',
    memoryLine(R),
    '',
    '### Where a goal is missed and why',
    '',
    why(R, A, Q, G),
    '',
    '### Notes',
    '',
    notes(R, A),
    '',
  ].join('\n')
  return { table: `${table}\n\n${ratioTable(Q)}\n\n${G.table}\n\n${versusTable(A)}\n\n${memoryTable(R)}`, section }
}

/** Replaces (or adds) the "## Dataplane" section of RESULTS.md, keeping the rest. */
export function writeResults(file, sectionText) {
  writeSection(file, 'Dataplane', sectionText)
}
