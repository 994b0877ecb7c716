#!/usr/bin/env node
// `npm run bench:image` (`node bench/image/run.mjs [--no-cold] [--load-seconds 10]`): what meshplate's
// container image costs, recorded in bench/RESULTS.md under "Container image". Build time: the
// base from debootstrap (`make-base --refresh`), a cold build (`--no-cache`, every layer made
// again from the base) and a cached one (nothing changed); `--no-cold` times only the cached
// one. Size: uncompressed (podman's own figure) and compressed (`podman save` piped through
// gzip -6, about what a registry stores), and what it is made of. Memory of the running
// container, as api's sidecar (host network) with a web sidecar run from dist/ on the host
// beside it: every process's RSS, PSS and anonymous memory and the cgroup's usage, idle, while
// its healthcheck runs, and at the peak of keep-alive load through web; then new containers
// charged for the node binary's pages as on a fresh machine: unlimited (its natural size), and
// limited to what nomad/meshplate-mesh-docker.nomad.hcl reserves and to the 128 MB of the other
// jobs, under the same load. Every process it starts is stopped on the way out, on failure too.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, createServer, request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createGzip } from 'node:zlib'
import { startConsul } from '../dataplane/lib/consul.mjs'
import { machine, requirePeers } from '../dataplane/lib/preflight.mjs'
import { childrenOf, killAllNow, start, stopAll } from '../dataplane/lib/procs.mjs'
import { buildDist, freePorts, sleep, until, writeSection } from '../lib/shared.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '../..')
const env = { ...process.env, CONTAINERS_CONF: join(root, 'scripts/image/containers.conf') }
const COLD = !process.argv.includes('--no-cold')
const at = process.argv.indexOf('--load-seconds')
const LOAD_SECONDS = at > 0 ? Number(process.argv[at + 1]) : 10
const NAME = `meshplate-bench-${process.pid}`
const MB = 1024 * 1024

/** Runs a command to completion; throws with its output's tail when it fails. */
function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 64 * MB })
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${`${r.stdout}${r.stderr}`.slice(-1500)}`)
  return r.stdout.trim()
}

/** Seconds a script takes. */
function timed(args, what) {
  const started = process.hrtime.bigint()
  run('bash', args, what)
  return Number(process.hrtime.bigint() - started) / 1e9
}

/** Bytes of `podman save IMAGE` once gzipped (-6), streamed: nothing is written to disk. */
function compressedSize(image) {
  return new Promise((resolve, reject) => {
    const save = spawn('podman', ['save', '--format', 'docker-archive', image], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    let bytes = 0
    const gzip = createGzip({ level: 6 })
    gzip.on('data', (d) => (bytes += d.length))
    gzip.on('end', () => resolve(bytes))
    save.on('exit', (code) => code !== 0 && reject(new Error(`podman save exited ${code}`)))
    save.stdout.pipe(gzip)
  })
}

/** MB of each part of the image, measured inside it (`du`), beside the base image's own size. */
function components(image, base) {
  const du = run('podman', ['run', '--rm', '--network', 'host', '--pull', 'never', '--entrypoint', 'du', image, '-sk',
    '/usr/local/bin/node', '/opt/meshplate/node_modules', '/opt/meshplate/dist', '/opt/meshplate/templates', '/opt/meshplate/lua'], 'du in the image')
  const kb = Object.fromEntries(du.split('\n').map((l) => l.split('\t')).map(([k, path]) => [path, Number(k) / 1024]))
  const total = Number(run('podman', ['image', 'inspect', '--format', '{{.Size}}', image], 'inspect')) / MB
  const baseMb = Number(run('podman', ['image', 'inspect', '--format', '{{.Size}}', base], 'inspect')) / MB
  const known = Object.values(kb).reduce((a, b) => a + b, 0)
  return [
    ['Debian 13 base', baseMb],
    ['Node 24 binary (stripped)', kb['/usr/local/bin/node']],
    ['HAProxy 3.0, Lua 5.4, tini and their libraries, upgraded packages (the apt layer)', total - baseMb - known],
    ['production node_modules', kb['/opt/meshplate/node_modules']],
    ['dist/, templates/, lua/', kb['/opt/meshplate/dist'] + kb['/opt/meshplate/templates'] + kb['/opt/meshplate/lua']],
  ]
}

/** Drops the page cache of the image's node binary (GNU dd's nocache on the layer's file), so the next container reads it afresh and its cgroup is charged for it, as on a fresh machine. */
function dropNodeFromPageCache(image) {
  const lower = run('podman', ['image', 'inspect', '--format', '{{.GraphDriver.Data.LowerDir}}', image], 'inspect').split(':')
  for (const dir of lower) {
    const file = join(dir, 'usr/local/bin/node')
    if (existsSync(file)) run('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'], 'dd nocache')
  }
}

/** RSS, PSS and anonymous memory (MB) of one process, from /proc/<pid>/smaps_rollup. */
function processMemory(pid) {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) / 1024
  const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  // Node 24 names its main thread (and so the process's comm) MainThread.
  return { pid, comm: comm === 'MainThread' ? 'node' : comm, rss: kb('Rss'), pss: kb('Pss'), anon: kb('Anonymous') }
}

/** The container's memory cgroup (v1 here; v2 names differ). */
function cgroupOf(name) {
  const path = run('podman', ['inspect', '--format', '{{.State.CgroupPath}}', name], 'podman inspect')
  const dir = `/sys/fs/cgroup/memory${path}`
  const read = (file) => readFileSync(join(dir, file), 'utf8').trim()
  const stat = () => Object.fromEntries(read('memory.stat').split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]))
  return {
    usage: () => Number(read('memory.usage_in_bytes')) / MB,
    peak: () => Number(read('memory.max_usage_in_bytes')) / MB,
    resetPeak: () => writeFileSync(join(dir, 'memory.max_usage_in_bytes'), '0'),
    stat,
    failcnt: () => Number(read('memory.failcnt')),
    pids: () => read('cgroup.procs').split('\n').filter(Boolean).map(Number),
  }
}

/** Keep-alive GET loops through `port` until stopped; counts answers and failures. */
function keepAliveLoad(port, loops = 4) {
  const agent = new Agent({ keepAlive: true, maxSockets: loops })
  const stats = { ok: 0, failed: 0 }
  let running = true
  const once = () =>
    new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/load', agent, timeout: 5000 }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode === 200))
      })
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', () => resolve(false))
      req.end()
    })
  const loop = async () => {
    while (running) (await once()) ? stats.ok++ : stats.failed++
  }
  const all = Array.from({ length: loops }, loop)
  return { stop: async () => ((running = false), await Promise.all(all), agent.destroy(), stats) }
}

/** An HTTP app on loopback answering its name and 1 KB. */
async function app(name) {
  const body = `${name}\n${'x'.repeat(1024)}`
  const server = createServer((req, res) => res.end(body))
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return { port: server.address().port, close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))) }
}

/** Starts the image as api's sidecar (host network); `memory` limits its cgroup. */
function startContainer(image, consulAddr, work, memory) {
  const args = ['run', '--rm', '--name', NAME, '--network', 'host', '--pull', 'never', '--health-interval', 'disable']
  if (memory) args.push('--memory', memory)
  args.push(image, 'sidecar', '--sidecar-for', 'api', '--consul-addr', consulAddr)
  return start('podman', args, { logFile: join(work, `container${memory ? `-${memory}` : ''}.log`), env })
}

/** Stops the container with SIGTERM as Nomad would; returns ms until it was gone. */
async function stopContainer(proc) {
  const started = Date.now()
  spawnSync('podman', ['stop', '--time', '15', NAME], { env })
  await proc.exited
  return Date.now() - started
}

/** Memory of the container's processes and cgroup, and of the host web sidecar's, right now. */
function snapshot(cg, webPid) {
  const procs = cg.pids().map(processMemory)
  const web = [webPid, ...childrenDeep(webPid)].map(processMemory)
  const s = cg.stat()
  return { cgroup: cg.usage(), rss: s.total_rss / MB, cache: s.total_cache / MB, procs, web }
}

/** Every descendant of `pid` (HAProxy master and workers under meshplate). */
function childrenDeep(pid) {
  return childrenOf(pid).flatMap((k) => [k, ...childrenDeep(k)])
}

/** Load through web for LOAD_SECONDS while the cgroup's peak is recorded. */
async function loadPeak(cg, upstream) {
  cg.resetPeak()
  const load = keepAliveLoad(upstream)
  await sleep(LOAD_SECONDS * 1000)
  const stats = await load.stop()
  return { ...stats, peak: cg.peak(), failcnt: cg.failcnt() }
}

/** A new container on a page cache without the node binary (as on a fresh machine): its cgroup's usage idle, and under load when `upstream` is given. */
async function freshContainer(image, consulAddr, work, answers, memory, upstream) {
  dropNodeFromPageCache(image)
  const container = startContainer(image, consulAddr, work, memory)
  try {
    await until(answers, 60_000, `web -> api through a new container${memory ? ` limited to ${memory}` : ''}`)
    const cg = cgroupOf(NAME)
    await sleep(5_000)
    const idle = { usage: cg.usage(), stat: cg.stat() }
    return { memory, idle, ...(upstream ? await loadPeak(cg, upstream) : {}) }
  } finally {
    await stopContainer(container)
  }
}

/** The sidecar's `memory` (MB) in nomad/meshplate-mesh-docker.nomad.hcl. */
function nomadReservation() {
  const hcl = readFileSync(join(root, 'nomad/meshplate-mesh-docker.nomad.hcl'), 'utf8')
  return Number(/sidecar_task \{[\s\S]*?memory\s*=\s*(\d+)/.exec(hcl)[1])
}

/** The mesh: Consul, two apps, web's sidecar on the host, api's in the container. */
async function meshMemory(image, bins, work) {
  const consul = await startConsul(bins.consul, work)
  const apps = { api: await app('api'), web: await app('web') }
  const [apiPublic, webPublic, upstream] = await freePorts(3)
  await consul.register({ name: 'api', port: apps.api.port, sidecarPort: apiPublic, protocol: 'http' })
  await consul.register({ name: 'web', port: apps.web.port, sidecarPort: webPublic, protocol: 'http', upstreams: [{ DestinationName: 'api', LocalBindPort: upstream }] })
  const web = start(process.execPath, [join(root, 'dist/cli.js'), 'sidecar', '--sidecar-for', 'web', '--consul-addr', consul.addr, '--dir', join(work, 'web')], { logFile: join(work, 'web.log') })
  const answers = () =>
    new Promise((r) => {
      const req = request({ host: '127.0.0.1', port: upstream, path: '/', agent: false, timeout: 2000 }, (res) => (res.resume(), r(res.statusCode === 200)))
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', () => r(false))
      req.end()
    })
  try {
    const container = startContainer(image, consul.addr, work)
    await until(answers, 60_000, 'web -> api through the container')
    const cg = cgroupOf(NAME)
    await sleep(5_000)
    const idle = snapshot(cg, web.pid)
    cg.resetPeak()
    const started = Date.now()
    for (let i = 0; i < 3; i++) run('podman', ['healthcheck', 'run', NAME], 'podman healthcheck run')
    const health = { ms: (Date.now() - started) / 3, peak: cg.peak() }
    const loaded = await loadPeak(cg, upstream)
    const afterLoad = snapshot(cg, web.pid)
    const stopMs = await stopContainer(container)
    const natural = await freshContainer(image, consul.addr, work, answers)
    // The docker job's reservation, and the 128 MB the raw_exec and exec jobs reserve.
    const limited = []
    for (const limit of [...new Set([nomadReservation(), 128])]) limited.push(await freshContainer(image, consul.addr, work, answers, `${limit}m`, upstream))
    return { idle, health, loaded, afterLoad, stopMs, natural, limited }
  } finally {
    await stopAll()
    await Promise.all([apps.api.close(), apps.web.close()])
  }
}

const mb = (x) => x.toFixed(1)
const sum = (xs, k) => xs.reduce((a, p) => a + p[k], 0)

/** The markdown section for bench/RESULTS.md. */
function section(m, image, builds, sizes, mem) {
  const procRow = (label, ps) => `| ${label} | ${ps.map((p) => `${p.comm} ${mb(p.rss)}/${mb(p.pss)}/${mb(p.anon)}`).join(', ')} | ${mb(sum(ps, 'rss'))} | ${mb(sum(ps, 'pss'))} | ${mb(sum(ps, 'anon'))} |`
  return [
    '## Container image',
    '',
    `${new Date().toISOString().slice(0, 10)}, \`node bench/image/run.mjs${COLD ? '' : ' --no-cold'}\`, ${image}, commit ${m.commit}, ${m.nproc} cores, podman ${run('podman', ['--version'], 'podman').replace('podman version ', '')}, ${m.consul}.`,
    '',
    '| build | seconds |',
    '|---|---|',
    ...builds.map(([what, s]) => `| ${what} | ${s.toFixed(1)} |`),
    '',
    `Size: **${mb(sizes.uncompressed)} MB** uncompressed (\`podman image inspect --format '{{.Size}}'\`), **${mb(sizes.compressed)} MB** compressed (\`podman save --format docker-archive | gzip -6 | wc -c\`; goal ≤ 150 MB). Its parts (MB, uncompressed; \`du\` inside the image):`,
    '',
    '| part | MB |',
    '|---|---|',
    ...sizes.parts.map(([what, size]) => `| ${what} | ${mb(size)} |`),
    '',
    `Memory (MB) of the container as api's sidecar (HAProxy 3.0 from the image, Node ${run('podman', ['run', '--rm', '--network', 'host', '--pull', 'never', '--entrypoint', 'node', image, '--version'], 'node --version')}), next to web's sidecar run on the host (Node ${process.version}), http, ${LOAD_SECONDS} s of 4 keep-alive loops web -> api. Per process: RSS/PSS/anonymous; the cgroup charges each file page to the first cgroup that read it, so its usage leaves out pages of the node binary an earlier container already read.`,
    '',
    '| | processes: RSS/PSS/anonymous | RSS | PSS | anonymous |',
    '|---|---|---|---|---|',
    procRow('container, idle', mem.idle.procs),
    procRow(`container, after load`, mem.afterLoad.procs),
    procRow('web sidecar on the host, idle', mem.idle.web),
    '',
    '| cgroup of the container | MB |',
    '|---|---|',
    `| usage, idle (rss ${mb(mem.idle.rss)} + page cache ${mb(mem.idle.cache)}) | ${mb(mem.idle.cgroup)} |`,
    `| peak while \`podman healthcheck run\` ran 3 times (${Math.round(mem.health.ms)} ms each) | ${mb(mem.health.peak)} |`,
    `| peak under load (${mem.loaded.ok} requests, ${mem.loaded.failed} failed) | ${mb(mem.loaded.peak)} |`,
    `| a new container, the node binary dropped from the page cache first (as on a fresh machine): usage idle (rss ${mb(mem.natural.idle.stat.total_rss / MB)} + page cache ${mb(mem.natural.idle.stat.total_cache / MB)}) | ${mb(mem.natural.idle.usage)} |`,
    ...mem.limited.flatMap((l, i) => [
      `| the same with \`--memory ${l.memory}\`${i === 0 ? " (the docker Nomad example's reservation)" : ' (what the raw_exec and exec jobs reserve)'}: usage idle (rss ${mb(l.idle.stat.total_rss / MB)} + page cache ${mb(l.idle.stat.total_cache / MB)}) | ${mb(l.idle.usage)} |`,
      `| and under load: peak; times the limit was hit; requests / failed | ${mb(l.peak)}; ${l.failcnt}; ${l.ok} / ${l.failed} |`,
    ]),
    '',
    `SIGTERM (\`podman stop --time 15\`) to gone: ${mem.stopMs} ms, exit 0 (test/e2e/image.test.ts asserts it).`,
    '',
  ].join('\n')
}

async function main() {
  const bins = requirePeers(root)
  if (spawnSync('podman', ['--version'], { env }).status !== 0) throw new Error('podman not found: run `bash scripts/provision`')
  buildDist(root, 'bench/image')
  const m = machine(root, bins)
  const builds = []
  if (COLD) {
    builds.push(['base: debootstrap --variant=minbase trixie + podman import (`make-base --refresh`)', timed([join(root, 'scripts/image/make-base'), '--refresh'], 'make-base')])
    builds.push(['cold: every layer from the base (`scripts/image/build --no-cache`)', timed([join(root, 'scripts/image/build'), '--no-cache'], 'cold build')])
  }
  // Brings the image up to this checkout first, so the timed build below really changes nothing.
  const image = run('bash', [join(root, 'scripts/image/build')], 'build').split('\n').pop()
  builds.push(['cached: nothing changed (`scripts/image/build` again)', timed([join(root, 'scripts/image/build')], 'cached build')])
  const sizes = {
    uncompressed: Number(run('podman', ['image', 'inspect', '--format', '{{.Size}}', image], 'inspect')) / MB,
    compressed: (await compressedSize(image)) / MB,
    parts: components(image, run('bash', [join(root, 'scripts/image/make-base')], 'make-base')),
  }
  const work = mkdtempSync(join(tmpdir(), 'mp-image-bench-'))
  try {
    const mem = await meshMemory(image, bins, work)
    const text = section(m, image, builds, sizes, mem)
    console.log(text)
    writeSection(join(root, 'bench/RESULTS.md'), 'Container image', text)
  } catch (err) {
    for (const log of readdirSync(work).filter((f) => f.endsWith('.log'))) console.error(`--- ${log} (last lines)\n${readFileSync(join(work, log), 'utf8').slice(-2500)}`)
    throw err
  } finally {
    spawnSync('podman', ['rm', '--force', '--time', '0', NAME], { env })
    rmSync(work, { recursive: true, force: true })
  }
}

process.on('exit', killAllNow)
main().catch((err) => {
  console.error(`bench/image: ${err.message}`)
  process.exitCode = 1
})
