/**
 * `resolveConfig` is the one place defaults live, so these tests spell out
 * what a user gets when they say nothing, which source wins when they say
 * something twice (flag, token file, environment), and that every refusal
 * names the flag or template that was wrong.
 */
import t from 'tap'
import { join, resolve } from 'node:path'
import type { RawConfig } from '../../../src/config/raw.ts'
import { resolveConfig } from '../../../src/config/resolve.ts'

const tpl = { source: 'in.njk', destination: 'out.cfg' }
const base = (extra: RawConfig = {}): RawConfig => ({ templates: [tpl], ...extra })

t.test('defaults when the user only gives a template', async (t) => {
  const c = resolveConfig(base(), {})
  t.same(c.consul, {
    address: '127.0.0.1:8500',
    addressSource: 'default',
    token: undefined,
    tls: { force: false, insecure: false, caFile: undefined, certFile: undefined, keyFile: undefined, serverName: undefined },
  })
  t.same(c.templates, [
    {
      source: resolve('in.njk'),
      destination: resolve('out.cfg'),
      perms: undefined,
      backup: false,
      command: undefined,
      commandTimeoutMs: 30_000,
      check: undefined,
      checkTimeoutMs: 30_000,
      reloadExec: true,
    },
  ])
  t.same(c.wait, { minMs: 0, maxMs: 0 })
  t.equal(c.timeoutMs, 30_000)
  t.equal(c.dry, false)
  t.equal(c.exec, undefined)
  t.equal(c.proxyId, undefined)
  t.equal(c.sidecarFor, undefined)
  t.equal(c.dataFile, undefined)
  t.equal(c.recordFile, undefined)
  t.same(c.log, { level: 'info', format: 'text' })
  t.same(c.vars, {})
})

t.test('the config is frozen', async (t) => {
  const c = resolveConfig(base({ vars: { a: '1' } }), {})
  t.ok(Object.isFrozen(c))
  t.ok(Object.isFrozen(c.vars))
  t.throws(() => {
    ;(c as { dry: boolean }).dry = true
  }, TypeError)
})

t.test('given values are resolved: wait, timeout, paths, commands', async (t) => {
  const c = resolveConfig(
    {
      wait: '2s:10s',
      timeout: '1m',
      dry: true,
      data: 'snap.json',
      record: 'out/rec.json',
      proxyId: 'web-sidecar-proxy',
      logLevel: 'debug',
      logFormat: 'json',
      vars: { env: 'prod' },
      templates: [
        {
          source: '/t/a.njk',
          destination: '/o/a.cfg',
          backup: true,
          command: 'systemctl reload "my service"',
          commandTimeout: '5s',
          check: ['haproxy', '-c', '-f', '{{path}}'],
          checkTimeout: 2,
          reloadExec: false,
        },
      ],
    },
    {},
  )
  t.same(c.wait, { minMs: 2_000, maxMs: 10_000 })
  t.equal(c.timeoutMs, 60_000)
  t.equal(c.dry, true)
  t.equal(c.dataFile, resolve('snap.json'))
  t.equal(c.recordFile, resolve('out/rec.json'))
  t.equal(c.proxyId, 'web-sidecar-proxy')
  t.same(c.log, { level: 'debug', format: 'json' })
  t.same(c.vars, { env: 'prod' })
  t.match(c.templates[0], {
    backup: true,
    command: ['systemctl', 'reload', 'my service'],
    commandTimeoutMs: 5_000,
    check: ['haproxy', '-c', '-f', '{{path}}'],
    checkTimeoutMs: 2_000,
    reloadExec: false,
  })
})

t.test('CONSUL_HTTP_* environment is used when config says nothing', async (t) => {
  const c = resolveConfig(base(), {
    CONSUL_HTTP_ADDR: 'https://consul.internal:8501',
    CONSUL_HTTP_TOKEN: 'env-token',
    CONSUL_HTTP_SSL: 'true',
    CONSUL_HTTP_SSL_VERIFY: 'false',
    CONSUL_CACERT: '/etc/consul/ca.pem',
    CONSUL_CLIENT_CERT: '/etc/consul/client.pem',
    CONSUL_CLIENT_KEY: '/etc/consul/client-key.pem',
    CONSUL_TLS_SERVER_NAME: 'server.dc1.consul',
  })
  t.same(c.consul, {
    address: 'https://consul.internal:8501',
    addressSource: 'env CONSUL_HTTP_ADDR',
    token: 'env-token',
    tls: {
      force: true,
      insecure: true,
      caFile: '/etc/consul/ca.pem',
      certFile: '/etc/consul/client.pem',
      keyFile: '/etc/consul/client-key.pem',
      serverName: 'server.dc1.consul',
    },
  })
})

t.test('config values beat the environment', async (t) => {
  const c = resolveConfig(
    base({ consul: { address: '10.0.0.9:8500', token: 'flag-token', ssl: false, sslVerify: true, caFile: '/mine/ca.pem' } }),
    { CONSUL_HTTP_ADDR: '127.0.0.1:1', CONSUL_HTTP_TOKEN: 'env-token', CONSUL_HTTP_SSL: 'true', CONSUL_HTTP_SSL_VERIFY: 'false', CONSUL_CACERT: '/env/ca.pem' },
  )
  t.equal(c.consul.address, '10.0.0.9:8500')
  t.equal(c.consul.token, 'flag-token')
  t.equal(c.consul.tls?.force, false)
  t.equal(c.consul.tls?.insecure, false)
  t.equal(c.consul.tls?.caFile, '/mine/ca.pem')
})

t.test('a token file beats a token, and its content is trimmed', async (t) => {
  const dir = t.testdir({ token: '  file-token\n', envtoken: 'env-file-token\n' })
  const fromConfig = resolveConfig(base({ consul: { token: 'flag-token', tokenFile: join(dir, 'token') } }), { CONSUL_HTTP_TOKEN: 'env-token' })
  t.equal(fromConfig.consul.token, 'file-token', '--consul-token-file beats --consul-token')

  const fromEnv = resolveConfig(base(), { CONSUL_HTTP_TOKEN: 'env-token', CONSUL_HTTP_TOKEN_FILE: join(dir, 'envtoken') })
  t.equal(fromEnv.consul.token, 'env-file-token', 'CONSUL_HTTP_TOKEN_FILE beats CONSUL_HTTP_TOKEN')

  const flagBeatsEnvFile = resolveConfig(base({ consul: { token: 'flag-token' } }), { CONSUL_HTTP_TOKEN_FILE: join(dir, 'envtoken') })
  t.equal(flagBeatsEnvFile.consul.token, 'flag-token', 'a token given in config beats the environment’s token file')
})

t.test("inside a Nomad allocation, the sidecar's Service Identity token is used when no token was given", async (t) => {
  const secrets = t.testdir({ si_token: 'si-token\n' })
  t.equal(resolveConfig(base(), { NOMAD_SECRETS_DIR: secrets }).consul.token, 'si-token', '${NOMAD_SECRETS_DIR}/si_token')
  t.equal(resolveConfig(base(), { NOMAD_SECRETS_DIR: secrets, CONSUL_HTTP_TOKEN: 'env' }).consul.token, 'env', 'CONSUL_HTTP_TOKEN wins')
  t.equal(resolveConfig(base({ consul: { token: 'flag' } }), { NOMAD_SECRETS_DIR: secrets }).consul.token, 'flag', '--consul-token wins')
  t.equal(resolveConfig(base(), { NOMAD_SECRETS_DIR: t.testdir({}) }).consul.token, undefined, 'no si_token (Consul without ACLs): no token')
})

t.test('the address says where it came from, for the unreachable-agent message', async (t) => {
  t.equal(resolveConfig(base(), {}).consul.addressSource, 'default')
  t.equal(resolveConfig(base(), { CONSUL_HTTP_ADDR: 'http://10.0.0.1:8500' }).consul.addressSource, 'env CONSUL_HTTP_ADDR')
  t.equal(resolveConfig(base({ consul: { address: '127.0.0.1:1' } }), { CONSUL_HTTP_ADDR: 'x:1' }).consul.addressSource, '--consul-addr or config')
})

t.test('an empty token means no token', async (t) => {
  t.equal(resolveConfig(base({ consul: { token: '' } }), {}).consul.token, undefined)
  const dir = t.testdir({ empty: '\n' })
  t.equal(resolveConfig(base({ consul: { tokenFile: join(dir, 'empty') } }), { CONSUL_HTTP_TOKEN: 'env' }).consul.token, undefined)
})

t.test('an unreadable token file is an error naming the flag and the path', async (t) => {
  const dir = t.testdir({})
  const missing = join(dir, 'no-such-token')
  t.throws(() => resolveConfig(base({ consul: { tokenFile: missing } }), {}), {
    code: 'CONFIG_INVALID',
    message: new RegExp(`^--consul-token-file ${missing.replace(/[.]/g, '\\.')}: .*ENOENT`),
  })
})

t.test('perms accept octal strings and JSON numbers written as octal', async (t) => {
  const perms = (p: string | number) => resolveConfig(base({ templates: [{ ...tpl, perms: p }] }), {}).templates[0]!.perms
  t.equal(perms('0600'), 0o600)
  t.equal(perms('600'), 0o600)
  t.equal(perms('0755'), 0o755)
  t.equal(perms('2750'), 0o2750)
  t.equal(perms(600), 0o600, 'a JSON number 600 means 0600, not decimal 600')
  t.equal(perms(644), 0o644)
})

t.test('bad perms name the template field', async (t) => {
  for (const bad of ['rw-r--r--', '0999', '64', '0o600', '12345', '', 'u+rw', 384]) {
    t.throws(
      () => resolveConfig(base({ templates: [tpl, { ...tpl, perms: bad }] }), {}),
      { code: 'CONFIG_INVALID', message: /^templates\[1\]\.perms: .* is not an octal mode like 0600/ },
      JSON.stringify(bad),
    )
  }
})

t.test('exec: command split, signals upper-cased, defaults', async (t) => {
  const c = resolveConfig(base({ exec: { command: 'haproxy -W -f "/etc/haproxy/haproxy.cfg"', reloadSignal: 'sigusr2' } }), {})
  t.same(c.exec, {
    command: ['haproxy', '-W', '-f', '/etc/haproxy/haproxy.cfg'],
    reloadSignal: 'SIGUSR2',
    killSignal: 'SIGTERM',
    killTimeoutMs: 30_000,
    restarts: 0,
  })
  t.equal(resolveConfig(base({ exec: { command: 'x', restarts: 5 } }), {}).exec?.restarts, 5)
  t.throws(() => resolveConfig(base({ exec: { command: 'x', restarts: -1 } }), {}), { code: 'CONFIG_INVALID', message: /^exec\.restarts: "-1" is not a whole number/ })
  const d = resolveConfig(base({ exec: { command: ['sleep', '100'] } }), {})
  t.equal(d.exec?.reloadSignal, 'SIGHUP', 'reload signal defaults to SIGHUP')
  const e = resolveConfig(base({ exec: { command: ['x'], killSignal: 'SIGQUIT', killTimeout: '5s' } }), {})
  t.equal(e.exec?.killSignal, 'SIGQUIT')
  t.equal(e.exec?.killTimeoutMs, 5_000)
  t.equal(resolveConfig(base({ exec: { reloadSignal: 'SIGUSR2' } }), {}).exec, undefined, 'no exec without a command')
})

t.test('exec: unknown signals are refused at start, naming the flag', async (t) => {
  t.throws(() => resolveConfig(base({ exec: { command: 'x', reloadSignal: 'USR2' } }), {}), {
    code: 'CONFIG_INVALID',
    message: '--exec-reload-signal: "USR2" is not a signal name like SIGUSR2',
  })
  t.throws(() => resolveConfig(base({ exec: { command: 'x', reloadSignal: 'SIGUSR3' } }), {}), {
    code: 'CONFIG_INVALID',
    message: /^--exec-reload-signal: "SIGUSR3"/,
  })
  t.throws(() => resolveConfig(base({ exec: { command: 'x', killSignal: 'kill -9' } }), {}), {
    code: 'CONFIG_INVALID',
    message: /^--exec-kill-signal: "KILL -9"/,
  })
  t.throws(() => resolveConfig(base({ exec: { command: 'x', killTimeout: 'forever' } }), {}), { code: 'CONFIG_INVALID', message: /^--exec-kill-timeout: / })
  t.throws(() => resolveConfig(base({ exec: { command: '"unterminated' } }), {}), { code: 'CONFIG_INVALID', message: /^--exec: unterminated " quote/ })
})

t.test('haproxyRuntime pushes the written file through an absolute socket path', async (t) => {
  const c = resolveConfig(base({ templates: [{ source: 'leaf.pem.njk', destination: 'run/leaf.pem', haproxyRuntime: { socket: 'run/admin.sock', kind: 'ssl-cert' } }] }), {})
  t.same(c.templates[0]!.haproxyRuntime, { socket: resolve('run/admin.sock'), kind: 'ssl-cert', file: resolve('run/leaf.pem') })
  t.equal(resolveConfig(base(), {}).templates[0]!.haproxyRuntime, undefined, 'no push unless asked')
  t.throws(() => resolveConfig(base({ templates: [{ ...tpl, haproxyRuntime: { kind: 'map' } }] }), {}), {
    code: 'CONFIG_INVALID',
    message: 'templates[0].haproxyRuntime: missing socket',
  })
  t.throws(() => resolveConfig(base({ templates: [{ ...tpl, haproxyRuntime: { socket: 's', kind: 'acl' } }] }), {}), {
    code: 'CONFIG_INVALID',
    message: 'templates[0].haproxyRuntime: kind "acl" is not one of ssl-cert, ssl-ca-file, map',
  })
})

t.test('errors name what was wrong', async (t) => {
  const cases: Array<[RawConfig, RegExp]> = [
    [{ templates: [] }, /^no templates: give -t src:dest/],
    [{}, /^no templates/],
    [base({ logLevel: 'verbose' }), /^--log-level: "verbose" is not one of debug, info, warn, error$/],
    [base({ logFormat: 'yaml' }), /^--log-format: "yaml" is not text or json$/],
    [base({ proxyId: 'p', sidecarFor: 's' }), /^--proxy-id and --sidecar-for are exclusive/],
    [base({ timeout: 'never' }), /^--timeout: /],
    [base({ wait: '5s:1s' }), /^--wait: max 1s is below min 5s/],
    [{ templates: [{ destination: 'out' }] }, /^templates\[0\]: missing source$/],
    [{ templates: [tpl, { source: 'b.njk' }] }, /^templates\[1\] \(b\.njk\): missing destination$/],
    [{ templates: [{ ...tpl, commandTimeout: '5 minutes' }] }, /^templates\[0\]\.commandTimeout: /],
    [{ templates: [{ ...tpl, checkTimeout: 'x' }] }, /^templates\[0\]\.checkTimeout: /],
    [{ templates: [{ ...tpl, command: "echo 'oops" }] }, /^templates\[0\]\.command: unterminated ' quote/],
    [{ templates: [{ ...tpl, check: [] }] }, /^templates\[0\]\.check: expected a command string or a non-empty array/],
  ]
  for (const [raw, message] of cases) {
    t.throws(() => resolveConfig(raw, {}), { name: 'ConfigError', code: 'CONFIG_INVALID', message }, String(message))
  }
})
