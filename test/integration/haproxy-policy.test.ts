/**
 * policy.ts says which files the runtime API may carry; this checks that
 * against the installed HAProxy. A certificate shaped like a Consul leaf (no
 * subject, no DNS name, a SPIFFE URI) is committed with `set`/`commit ssl
 * cert` into a bind with `verify required`: if HAProxy then stops asking for
 * client certificates (2.6.12 does), the policy must not push leaves. If a
 * future HAProxy keeps verify, the test says so, and the policy can change.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import t from 'tap'
import { canPush } from '../../src/haproxy/policy.ts'
import { showProc, socketSender, updateCert } from '../../src/haproxy/runtime-api.ts'
import { binary } from '../support/binaries.ts'
import { freePort } from '../support/ports.ts'
import { eventually } from '../support/process.ts'

const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' })

/** A CA and leaves shaped like Consul's: empty subject, only a URI SAN. */
function consulLikeCerts(dir: string) {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'), '-days', '1', '-subj', '/CN=test-ca', '-addext', 'basicConstraints=critical,CA:true')
  const leaf = (name: string) => {
    const [key, csr, crt] = ['key', 'csr', 'crt'].map((x) => join(dir, `${name}.${x}`)) as [string, string, string]
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/', '-addext', `subjectAltName=URI:spiffe://test/ns/default/dc/dc1/svc/${name}`)
    openssl('x509', '-req', '-in', csr, '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-out', crt, '-days', '1', '-copy_extensions', 'copy')
    return { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') }
  }
  return { ca: readFileSync(join(dir, 'ca.pem'), 'utf8'), one: leaf('one'), two: leaf('two'), client: leaf('client') }
}

/** True if a client with no certificate completes the handshake (and so is not refused by TLS). */
function certlessHandshake(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
    sock.on('secureConnect', () => sock.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'))
    sock.on('data', () => {
      sock.destroy()
      resolve(true)
    })
    sock.on('error', () => resolve(false))
    sock.on('close', () => resolve(false))
  })
}

t.test('a leaf commit into a verify-required bind: the policy matches what this HAProxy does', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-policy-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const certs = consulLikeCerts(dir)
  const leaf = join(dir, 'leaf.pem')
  writeFileSync(leaf, certs.one.cert + certs.one.key)
  writeFileSync(join(dir, 'roots.pem'), certs.ca)
  const port = await freePort()
  writeFileSync(join(dir, 'haproxy.cfg'), `global
    master-worker
    stats socket ${dir}/haproxy.sock mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend public
    bind 127.0.0.1:${port} ssl crt ${leaf} ca-file ${dir}/roots.pem verify required
    http-request return status 200 content-type text/plain string "ok\\n"
`)
  const haproxy = spawn(binary('haproxy'), ['-W', '-db', '-S', `${dir}/master.sock,mode,600`, '-f', join(dir, 'haproxy.cfg')], { stdio: 'ignore' })
  t.teardown(() => haproxy.kill('SIGTERM'))
  const view = await eventually(() => showProc(join(dir, 'master.sock')).catch(() => undefined), 10_000, 'HAProxy up')
  t.equal(await certlessHandshake(port), false, `before any commit, ${view.version} refuses a client without a certificate`)

  await updateCert(socketSender(join(dir, 'haproxy.sock')), leaf, certs.two.cert + certs.two.key)
  const keepsVerify = !(await certlessHandshake(port))
  t.comment(`HAProxy ${view.version}: after commit ssl cert of a Consul-shaped leaf, verify required is ${keepsVerify ? 'kept' : 'LOST'}`)
  t.ok(keepsVerify || !canPush('ssl-cert', view.version), `policy.ts ${canPush('ssl-cert', view.version) ? 'pushes' : 'reloads'} leaf changes on ${view.version}, which ${keepsVerify ? 'keeps' : 'loses'} verify after a commit`)
})
