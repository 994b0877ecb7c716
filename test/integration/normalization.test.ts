/**
 * What the shipped `l7.normalize` macro does to request paths, for every
 * setting of the mesh entry's HTTP.Incoming.RequestNormalization, in a real
 * HAProxy (the system's 2.6 and, when built, 3.0). Consul 1.14 cannot carry
 * these settings, so the e2e tests only see the defaults; here the macro is
 * rendered from each setting (through requestNormalization, as the shipped
 * template does) into a frontend that answers with the path it ended up
 * with, and raw requests show what a rule and the app would see.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { connectExtension } from '../../src/connect/index.ts'
import { requestNormalization } from '../../src/connect/normalization.ts'
import { SlotTable } from '../../src/haproxy/slots.ts'
import { createEnvironment } from '../../src/template/environment.ts'
import { binary, repoRoot } from '../support/binaries.ts'
import { freePort } from '../support/ports.ts'
import { eventually } from '../support/process.ts'

/** The macro's lines for one RequestNormalization object, rendered by the shipped template. */
function normalizeLines(setting: object): string {
  const env = createEnvironment({ tracker: undefined, proxyId: undefined, env: {} }, [join(repoRoot, 'templates')], {}, [connectExtension({ slots: new SlotTable() })])
  const n = requestNormalization({ Kind: 'mesh', Name: 'mesh', HTTP: { Incoming: { RequestNormalization: setting } } })
  return env.renderString('{% import "haproxy/macros/l7.njk" as l7 %}{{ l7.normalize(n) }}\n', { n })
}

/** Sends one raw HTTP/1.1 request line and headers; resolves with the status and body. */
function raw(port: number, path: string, headers = ''): Promise<{ status: number; body: string; location: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n${headers}connection: close\r\n\r\n`))
    let text = ''
    sock.on('data', (d) => (text += d))
    sock.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]), body: text.split('\r\n\r\n')[1] ?? '', location: /\r\nlocation: ([^\r]*)/i.exec(text)?.[1] ?? '' }))
    sock.on('error', reject)
  })
}

const SETTINGS: Array<[string, object, Array<[string, string, number, string]>]> = [
  ['defaults (no entry)', {}, [
    ['/public/../admin', '', 200, '/admin'], ['/public/%2e%2E/admin', '', 200, '/admin'], ['/a//b', '', 200, '/a//b'],
    ['/a%2Fb', '', 200, '/a%2Fb'], ['/%zz', '', 400, ''], ['/x', 'x_y: 1\r\n', 200, '/x'], ['/%41dmin', '', 200, '/Admin'],
  ]],
  ['InsecureDisablePathNormalization', { InsecureDisablePathNormalization: true }, [['/public/../admin', '', 200, '/public/../admin']]],
  ['MergeSlashes', { MergeSlashes: true }, [['/a//b///c', '', 200, '/a/b/c'], ['//admin', '', 200, '/admin']]],
  ['REJECT_REQUEST (escaped slashes)', { PathWithEscapedSlashesAction: 'REJECT_REQUEST' }, [['/a%2Fb', '', 400, ''], ['/a%5cb', '', 400, ''], ['/a/b', '', 200, '/a/b']]],
  ['UNESCAPE_AND_FORWARD', { PathWithEscapedSlashesAction: 'UNESCAPE_AND_FORWARD' }, [['/a%2Fb', '', 200, '/a/b'], ['/public/..%2fadmin', '', 200, '/admin'], ['/a%5Cb', '', 400, '']]],
  ['UNESCAPE_AND_REDIRECT', { PathWithEscapedSlashesAction: 'UNESCAPE_AND_REDIRECT' }, [['/a%2Fb?q=1', '', 307, '/a/b?q=1'], ['/a%2fb', '', 307, '/a/b'], ['/a%5cb', '', 400, '']]],
  ['HeadersWithUnderscoresAction REJECT_REQUEST', { HeadersWithUnderscoresAction: 'REJECT_REQUEST' }, [['/x', 'x_y: 1\r\n', 400, ''], ['/x', 'x-y: 1\r\n', 200, '/x']]],
]

const haproxies = [binary('haproxy'), join(repoRoot, '.cache/bin/haproxy-3.0')].filter((b, i, all) => existsSync(b) && all.indexOf(b) === i)

for (const haproxy of haproxies) {
  for (const [name, setting, cases] of SETTINGS) {
    t.test(`${haproxy}: ${name}`, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'mp-norm-'))
      const port = await freePort()
      writeFileSync(join(dir, 'h.cfg'), [
        'global', '    expose-experimental-directives',
        'defaults', '    mode http', '    timeout client 5s', '    timeout server 5s', '    timeout connect 5s',
        'frontend f', `    bind 127.0.0.1:${port}`,
        normalizeLines(setting),
        '    http-request return status 200 content-type text/plain lf-string "%[path]"', '',
      ].join('\n'))
      const proc = spawn(haproxy, ['-db', '-f', join(dir, 'h.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      proc.stderr!.on('data', (d) => (stderr += d))
      t.teardown(() => {
        proc.kill('SIGKILL')
        rmSync(dir, { recursive: true, force: true })
      })
      await eventually(() => raw(port, '/ready').catch(() => undefined), 5_000, `HAProxy up (${stderr.slice(-300)})`)
      for (const [path, headers, status, want] of cases) {
        const a = await raw(port, path, headers)
        t.equal(a.status, status, `${path} ${JSON.stringify(headers)}: status`)
        if (status === 200) t.equal(a.body, want, `${path}: the path rules and the app see`)
        if (status === 307) t.equal(a.location, want, `${path}: redirected to`)
      }
    })
  }
}
