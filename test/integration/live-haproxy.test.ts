/**
 * haproxy/live.ts against a real HAProxy in master-worker mode: server
 * slots and a map pushed into the same worker; a leaf pushed or reloaded as
 * policy.ts says for this version; a CA file and a new listener reloaded,
 * each reload awaited until the new worker answers; a refused reload reported at once with the old worker serving;
 * and a worker meshplate did not start met with a reload, not with pushes.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import t from 'tap'
import { LiveHaproxy, type FileChange } from '../../src/haproxy/live.ts'
import { canPush } from '../../src/haproxy/policy.ts'
import { showProc } from '../../src/haproxy/runtime-api.ts'
import { silentLogger } from '../../src/log.ts'
import { binary } from '../support/binaries.ts'
import { freePorts } from '../support/ports.ts'
import { eventually } from '../support/process.ts'
import { httpGet } from '../support/traffic.ts'

/** A self-signed leaf (cert + key in one PEM) and its serial. */
function selfSigned(dir: string, cn: string): { pem: string; serial: string } {
  const key = join(dir, `${cn}.key`)
  const crt = join(dir, `${cn}.crt`)
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', `/CN=${cn}`], { stdio: 'ignore' })
  const serial = execFileSync('openssl', ['x509', '-in', crt, '-noout', '-serial'], { encoding: 'utf8' }).trim().split('=')[1]!
  return { pem: readFileSync(crt, 'utf8') + readFileSync(key, 'utf8'), serial: serial.toUpperCase() }
}

const atomicWrite = (file: string, content: string) => {
  writeFileSync(`${file}.tmp`, content)
  renameSync(`${file}.tmp`, file)
}

/** The serial the TLS listener on `port` serves. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(sock.getPeerCertificate().serialNumber.toUpperCase())
      sock.destroy()
    })
    sock.on('error', reject)
  })
}

t.test('pushes into one worker, reloads when it must, and waits for the new worker', async (t) => {
  // Short: unix socket paths hold about 100 bytes.
  const dir = mkdtempSync(join(tmpdir(), 'mp-live-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const [front, tlsPort, extra, appA, appB] = await freePorts(5)
  const apps = [appA!, appB!].map((port, i) => createServer((_q, r) => r.end(`app${i}\n`)).listen(port, '127.0.0.1'))
  t.teardown(() => apps.forEach((a) => a.close()))
  const files = { cfg: join(dir, 'haproxy.cfg'), map: join(dir, 'values.map'), leaf: join(dir, 'leaf.pem'), roots: join(dir, 'roots.pem') }
  const leaf1 = selfSigned(dir, 'one')
  writeFileSync(files.leaf, leaf1.pem)
  writeFileSync(files.roots, leaf1.pem.split('-----BEGIN PRIVATE KEY-----')[0]!)
  writeFileSync(files.map, 'color red\n')
  const config = (servers: string, more = '') => `global
    master-worker
    stats socket ${dir}/haproxy.sock mode 600 level admin expose-fd listeners
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend front
    bind 127.0.0.1:${front}
    http-request return status 200 content-type text/plain lf-string "%[str(color),map(${files.map})]\\n" if { path /color }
    default_backend app
frontend tls
    bind 127.0.0.1:${tlsPort} ssl crt ${files.leaf} ca-file ${files.roots} verify optional
    http-request return status 200 content-type text/plain string "tls\\n"
${more}backend app
    balance roundrobin
${servers}
`
  const slotA = `    server s1 127.0.0.1:${appA} weight 1`
  const spareB = `    server s2 0.0.0.0:1 weight 1 disabled`
  const slotB = `    server s2 127.0.0.1:${appB} weight 1`
  writeFileSync(files.cfg, config(`${slotA}\n${spareB}`))
  const master = join(dir, 'master.sock')
  const haproxy = spawn(binary('haproxy'), ['-W', '-db', '-S', `${master},mode,600`, '-f', files.cfg], { stdio: 'ignore' })
  t.teardown(() => haproxy.kill('SIGTERM'))
  const live = new LiveHaproxy({ masterSocket: master, reload: () => haproxy.kill('SIGUSR2'), log: silentLogger, readyTimeoutMs: 10_000 })
  await live.started(Object.values(files))
  const worker = async () => (await showProc(master)).worker
  const first = await worker()
  const answers = async () => {
    const seen = new Set<string>()
    for (let i = 0; i < 6; i++) {
      const o = await httpGet(front!)
      if (o.ok) seen.add(o.body.trim())
    }
    return [...seen].sort()
  }
  t.same(await answers(), ['app0'], 'only the filled slot serves')

  const change = (...c: FileChange[]) => live.apply(c)
  writeFileSync(files.cfg, config(`${slotA}\n${slotB}`))
  t.equal(await change({ file: files.cfg, kind: 'servers' }), 'pushed', 'a filled spare slot is pushed')
  t.same(await answers(), ['app0', 'app1'], 'and serves at once')
  writeFileSync(files.cfg, config(`${slotA.replace(/.*/, '    server s1 0.0.0.0:1 weight 1 disabled')}\n${slotB}`))
  t.equal(await change({ file: files.cfg, kind: 'servers' }), 'pushed', 'an emptied slot is pushed')
  t.same(await answers(), ['app1'], 'and gets no more requests')

  atomicWrite(files.map, 'color blue\n')
  t.equal(await change({ file: files.map, kind: 'map' }), 'pushed', 'a map is pushed')
  t.match(await httpGet(front!, '/color'), { body: 'blue\n' }, 'the map holds the new value')

  t.equal(await worker(), first, 'all of that in the first worker')

  const leaf2 = selfSigned(dir, 'two')
  atomicWrite(files.leaf, leaf2.pem)
  const version = (await showProc(master)).version
  const leafWay = canPush('ssl-cert', version) ? 'pushed' : 'reloaded'
  t.equal(await change({ file: files.leaf, kind: 'ssl-cert' }), leafWay, `a leaf is ${leafWay} on ${version} (policy.ts)`)
  t.equal(await servedSerial(tlsPort!), leaf2.serial, 'the new leaf is served as soon as apply returns')
  const second = await worker()
  if (leafWay === 'reloaded') t.not(second, first, 'by a new worker')
  else t.equal(second, first, 'by the same worker')
  atomicWrite(files.roots, leaf2.pem.split('-----BEGIN PRIVATE KEY-----')[0]!)
  atomicWrite(files.map, 'color green\n')
  t.equal(await change({ file: files.map, kind: 'map' }, { file: files.roots, kind: 'ssl-ca-file' }), 'reloaded', 'a CA file with a map in one batch: one reload')
  t.not(await worker(), second, 'a new worker, already answering when apply returned')
  t.match(await httpGet(front!, '/color'), { body: 'green\n' }, 'which read the new map from disk')
  const afterCa = await worker()
  const leaf3 = selfSigned(dir, 'three')
  atomicWrite(files.leaf, leaf3.pem)
  t.equal(await change({ file: files.leaf, kind: 'ssl-cert' }), leafWay, `after the CA reload, a leaf is ${leafWay} again`)
  t.equal(await servedSerial(tlsPort!), leaf3.serial, 'and served')
  if (leafWay === 'pushed') t.equal(await worker(), afterCa, 'by the worker the CA reload started (it has never seen a CA commit)')

  writeFileSync(files.cfg, config(`${slotA}\n${slotB}`, `frontend extra\n    bind 127.0.0.1:${extra}\n    default_backend app\n`))
  t.equal(await change({ file: files.cfg, kind: 'servers' }), 'reloaded', 'a new listener reloads')
  t.ok((await httpGet(extra!)).ok, 'and the new listener answers')

  const ours = await worker()
  haproxy.kill('SIGUSR2')
  await eventually(async () => (await worker().catch(() => ours)) !== ours, 10_000, 'a worker started behind meshplate')
  writeFileSync(files.cfg, config(`${slotA}\n${spareB}`, `frontend extra\n    bind 127.0.0.1:${extra}\n    default_backend app\n`))
  t.equal(await change({ file: files.cfg, kind: 'servers' }), 'reloaded', 'a worker meshplate did not start is not pushed to: it reloads')

  const before = await worker()
  writeFileSync(files.cfg, 'global\n    no-such-keyword\n')
  const started = Date.now()
  await t.rejects(change({ file: files.cfg, kind: 'servers' }), /HAProxy refused the reload; its old worker \d+ keeps serving/)
  t.ok(Date.now() - started < 5_000, `reported in ${Date.now() - started} ms, not at the ready timeout`)
  t.equal(await worker(), before, 'the old worker still runs')
  t.ok((await httpGet(front!)).ok, 'and serves')
})
