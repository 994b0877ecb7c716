/**
 * `resolveConfig` is the one place defaults live, so these tests spell out
 * what a user gets when they say nothing, which source wins when they say
 * something twice (flag, token file, environment), and that every refusal
 * names the flag or template that was wrong.
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { RawConfig } from '../../../src/config/raw.ts'
import { resolveConfig } from '../../../src/config/resolve.ts'
import { NOMAD_RELEASES, nomadTaskEnv, type NomadTokens } from '../../support/nomad-secrets.ts'

const tpl = { source: 'in.njk', destination: 'out.cfg' }
const base = (extra: RawConfig = {}): RawConfig => ({ templates: [tpl], ...extra })

t.test('defaults when the user only gives a template', async (t) => {
  const c = resolveConfig(base(), {})
  const { rereadToken, tokenPlaces, ...consul } = c.consul
  t.type(rereadToken, 'function')
  t.match(tokenPlaces, /NOMAD_SECRETS_DIR is not set/)
  t.same(consul, {
    address: '127.0.0.1:8500',
    addressSource: 'default',
    token: undefined,
    tokenSource: 'none',
    tokenFile: undefined,
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
  const { rereadToken: _reread, tokenPlaces: _places, ...consul } = c.consul
  t.same(consul, {
    address: 'https://consul.internal:8501',
    addressSource: 'env CONSUL_HTTP_ADDR',
    token: 'env-token',
    tokenSource: 'env CONSUL_HTTP_TOKEN',
    tokenFile: undefined,
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

const fakeTokens: NomadTokens = { SI_TOKEN: 'si-0001', TASK_TOKEN: 'task-0002', ENVOY_TOKEN: 'envoy-0003' }

for (const release of NOMAD_RELEASES) {
  t.test(`Nomad ${release}: the sidecar's own token wins over the task-identity token in the environment`, async (t) => {
    const nomad = nomadTaskEnv(release, fakeTokens, t.testdir({}))
    t.comment(nomad.release)
    const c = resolveConfig(base(), { ...nomad.env, CONSUL_HTTP_ADDR: 'http://10.0.0.5:8500' }).consul
    t.equal(c.token, nomad.expectToken)
    t.match(c.tokenSource, new RegExp(`^${nomad.expectSource} ${nomad.env.NOMAD_SECRETS_DIR}/`))
    t.notMatch(c.tokenSource, /si-0001|task-0002|envoy-0003/, 'the source never carries the value')
    t.equal(c.tokenFile, nomad.expectSource === 'nomad si_token' ? join(nomad.env.NOMAD_SECRETS_DIR!, 'si_token') : undefined, 'HAProxy is handed si_token itself, or nothing (the sidecar writes a copy)')
    t.match(c.tokenPlaces, `${nomad.env.NOMAD_SECRETS_DIR}/si_token, ${nomad.env.NOMAD_SECRETS_DIR}/envoy_bootstrap.json`)
  })

  t.test(`Nomad ${release}: a token the operator names beats every Nomad file`, async (t) => {
    const nomad = nomadTaskEnv(release, fakeTokens, t.testdir({}))
    const byFlag = resolveConfig(base({ consul: { token: 'operator-token' } }), nomad.env).consul
    t.same([byFlag.token, byFlag.tokenSource], ['operator-token', '--consul-token/consul.token'])
    const file = join(t.testdir({ mine: 'operator-file-token\n' }), 'mine')
    const byFile = resolveConfig(base({ consul: { tokenFile: file } }), nomad.env).consul
    t.same([byFile.token, byFile.tokenSource, byFile.tokenFile], ['operator-file-token', `--consul-token-file/consul.tokenFile ${file}`, file])
  })
}

t.test('Nomad 2.0.4 without workload identity and without a token in the env: the bootstrap token', async (t) => {
  const nomad = nomadTaskEnv('2.0.4-no-wi', fakeTokens, t.testdir({}))
  delete nomad.env.CONSUL_HTTP_TOKEN
  t.equal(resolveConfig(base(), nomad.env).consul.token, 'envoy-0003')
})

t.test('inside Nomad with neither si_token nor a bootstrap token, the environment is used, CONSUL_HTTP_TOKEN before CONSUL_TOKEN', async (t) => {
  const secrets = t.testdir({ 'envoy_bootstrap.json': JSON.stringify({ dynamic_resources: { ads_config: { grpc_services: { initial_metadata: [{ key: 'x-consul-token', value: '' }] } } } }) })
  const c = resolveConfig(base(), { NOMAD_SECRETS_DIR: secrets, CONSUL_HTTP_TOKEN: 'http-token', CONSUL_TOKEN: 'ct-token' }).consul
  t.same([c.token, c.tokenSource], ['http-token', 'env CONSUL_HTTP_TOKEN'], 'an empty x-consul-token (ACLs off) is no token')
  const d = resolveConfig(base(), { NOMAD_SECRETS_DIR: secrets, CONSUL_TOKEN: 'ct-token' }).consul
  t.same([d.token, d.tokenSource], ['ct-token', 'env CONSUL_TOKEN'])
  const none = resolveConfig(base(), { NOMAD_SECRETS_DIR: t.testdir({}) }).consul
  t.same([none.token, none.tokenSource], [undefined, 'none'], 'Consul without ACLs: no token')
})

t.test('an empty si_token is passed over for the bootstrap token', async (t) => {
  const secrets = t.testdir({ si_token: '\n', 'envoy_bootstrap.json': JSON.stringify({ dynamic_resources: { ads_config: { grpc_services: [{ initial_metadata: [{ key: 'x-consul-token', value: 'boot' }] }] } } }) })
  t.equal(resolveConfig(base(), { NOMAD_SECRETS_DIR: secrets }).consul.token, 'boot', 'grpc_services as a list (Envoy’s schema) is read too')
})

t.test('a malformed envoy_bootstrap.json is an error naming the file', async (t) => {
  for (const [content, why] of [
    ['{"dynamic_resources": ', /not an Envoy bootstrap: .*JSON/],
    ['[]', /the document is not an object/],
    ['{"dynamic_resources": {"ads_config": "x"}}', /dynamic_resources\.ads_config is not an object/],
    ['{"dynamic_resources": {"ads_config": {"grpc_services": {"initial_metadata": {}}}}}', /dynamic_resources\.ads_config\.grpc_services\.initial_metadata is not a list/],
    ['{"dynamic_resources": {"ads_config": {"grpc_services": [{"initial_metadata": [{"key": "x-consul-token", "value": 7}]}]}}}', /dynamic_resources\.ads_config\.grpc_services\[0\]\.initial_metadata\[0\]\.value is not a string/],
  ] as const) {
    const secrets = t.testdir({ 'envoy_bootstrap.json': content })
    const file = join(secrets, 'envoy_bootstrap.json')
    t.throws(() => resolveConfig(base(), { NOMAD_SECRETS_DIR: secrets, CONSUL_HTTP_TOKEN: 'env' }), { code: 'CONFIG_INVALID', message: new RegExp(`^${file.replace(/[.]/g, '\\.')}: ${why.source}`) }, content)
  }
})

t.test('the token is re-read from its sources on demand (a Nomad re-mint)', async (t) => {
  const secrets = t.testdir({ si_token: 'first\n' })
  const c = resolveConfig(base(), { NOMAD_SECRETS_DIR: secrets, CONSUL_HTTP_TOKEN: 'task' }).consul
  t.equal(c.token, 'first')
  writeFileSync(join(secrets, 'si_token'), 'second\n')
  t.same(c.rereadToken?.(), { token: 'second', source: `nomad si_token ${join(secrets, 'si_token')}`, file: join(secrets, 'si_token') })
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
    message: new RegExp(`^--consul-token-file/consul\\.tokenFile ${missing.replace(/[.]/g, '\\.')}: .*ENOENT`),
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
