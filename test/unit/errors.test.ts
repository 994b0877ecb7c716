/**
 * The error hierarchy is an interface: the CLI and scripts branch on `err.code`
 * and users read one line per error. These tests pin the codes and the shape of
 * the messages a user sees, so a refactor cannot silently change either.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import {
  ConfigError,
  ConnectConfigError,
  ConsulHttpError,
  ConsulResponseError,
  ConsulUnreachableError,
  errorLine,
  IntentionRuleError,
  MeshplateError,
  ProxySettingsError,
  RegexError,
  RouteError,
  TemplateError,
  TokenError,
  type ErrorCode,
} from '../../src/errors.ts'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const read = (rel: string) => readFileSync(join(root, rel), 'utf8')
const tsFiles = (dir: string): string[] =>
  readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : []))

t.test('each error class carries its stable code and its own name', async (t) => {
  const cases: Array<[MeshplateError, string, string]> = [
    [new ConfigError('x'), 'CONFIG_INVALID', 'ConfigError'],
    [new ConsulHttpError('GET /v1/agent/self', 500, 'boom'), 'CONSUL_HTTP', 'ConsulHttpError'],
    [new ConsulUnreachableError('GET /v1/agent/self', 'connect ECONNREFUSED'), 'CONSUL_UNREACHABLE', 'ConsulUnreachableError'],
    [new ConsulResponseError('GET /v1/agent/self', 'Config is not an object'), 'CONSUL_RESPONSE_INVALID', 'ConsulResponseError'],
    [new TemplateError('TEMPLATE_SYNTAX', 'a.njk', 3, 'bad'), 'TEMPLATE_SYNTAX', 'TemplateError'],
    [new TemplateError('TEMPLATE_RUNTIME', 'a.njk', 3, 'bad'), 'TEMPLATE_RUNTIME', 'TemplateError'],
    [new TemplateError('PROXY_CONFIG_INVALID', 'a.njk', 3, 'bad'), 'PROXY_CONFIG_INVALID', 'TemplateError'],
    [new ConnectConfigError('x'), 'PROXY_CONFIG_INVALID', 'ConnectConfigError'],
    [new ProxySettingsError('x'), 'PROXY_CONFIG_INVALID', 'ProxySettingsError'],
    [new IntentionRuleError('x'), 'PROXY_CONFIG_INVALID', 'IntentionRuleError'],
    [new RouteError('x'), 'PROXY_CONFIG_INVALID', 'RouteError'],
    [new RegexError('x'), 'PROXY_CONFIG_INVALID', 'RegexError'],
    [new MeshplateError('CHECK_FAILED', 'x'), 'CHECK_FAILED', 'MeshplateError'],
    [new TokenError('no usable Consul token'), 'TOKEN_UNUSABLE', 'TokenError'],
  ]
  for (const [err, code, name] of cases) {
    t.equal(err.code, code, `${name} has code ${code}`)
    t.equal(err.name, name)
    t.ok(err instanceof MeshplateError && err instanceof Error, `${name} is a MeshplateError`)
  }
})

t.test('the mesh configuration errors are one family, apart from the renderer’s', async (t) => {
  for (const err of [new ProxySettingsError('a'), new IntentionRuleError('b'), new RouteError('c'), new RegexError('d')]) {
    t.ok(err instanceof ConnectConfigError, `${err.name} is a ConnectConfigError`)
  }
  t.notOk(new ConfigError('x') instanceof ConnectConfigError, 'a bad flag or config file is CONFIG_INVALID, not the mesh’s')
  const cause = new RegexError('regex "(" at offset 1: missing )')
  const route = new RouteError(`service-router api route 0: ${cause.message}`, { cause })
  t.equal(route.cause, cause, 'a wrapping error keeps its cause')
})

t.test('every code is thrown somewhere in src/ (a code nobody throws is no interface)', async (t) => {
  const codes: ErrorCode[] = ['CONFIG_INVALID', 'CONSUL_HTTP', 'CONSUL_UNREACHABLE', 'CONSUL_RESPONSE_INVALID', 'PROXY_NOT_FOUND', 'TOKEN_UNUSABLE',
    'TEMPLATE_SYNTAX', 'TEMPLATE_RUNTIME', 'PROXY_CONFIG_INVALID', 'CHECK_FAILED', 'COMMAND_FAILED', 'WRITE_FAILED', 'TIMEOUT', 'SNAPSHOT_INVALID', 'FILE_READ']
  const declared = [...read('src/errors.ts').matchAll(/^\s+\| '([A-Z_]+)'$/gm)].map((m) => m[1])
  t.same(declared.sort(), [...codes].sort(), 'the codes above are exactly the declared ones')
  const sources = tsFiles('src').filter((f) => f !== 'src/errors.ts').map(read).join('\n')
  // Each class of errors.ts: its name, its base, and the code it fixes (its own, or its base's).
  const classes = [...read('src/errors.ts').matchAll(/^export class (\w+) extends (\w+) \{([\s\S]*?)^\}/gm)].map((m) => ({ name: m[1]!, base: m[2]!, code: /super\('([A-Z_]+)'/.exec(m[3]!)?.[1] }))
  const codeOf = (name: string): string | undefined => {
    const c = classes.find((k) => k.name === name)
    return c && (c.code ?? codeOf(c.base))
  }
  for (const code of codes) {
    // Written out elsewhere, or fixed by a class of errors.ts that src/ constructs.
    const thrown = sources.includes(`'${code}'`) || classes.some((c) => codeOf(c.name) === code && sources.includes(`new ${c.name}(`))
    t.ok(thrown, `${code} is thrown`)
  }
})

t.test('ConsulHttpError names endpoint, status and the first line of Consul’s body', async (t) => {
  const body = 'Permission denied: token with AccessorID \'0c3f\' lacks permission \'service:read\' on "api"\nsecond line\n'
  const err = new ConsulHttpError('GET /v1/health/connect/api', 403, body, 77)
  t.equal(err.message, 'consul GET /v1/health/connect/api: 403 Permission denied: token with AccessorID \'0c3f\' lacks permission \'service:read\' on "api"')
  t.notMatch(err.message, /second line/)
  t.equal(err.body, body, 'the whole body stays available')
  t.equal(err.status, 403)
  t.equal(err.index, 77)
  t.equal(err.endpoint, 'GET /v1/health/connect/api')
})

t.test('ConsulHttpError with an empty body still says something', async (t) => {
  const err = new ConsulHttpError('GET /v1/kv/missing', 404, '  \n')
  t.equal(err.message, 'consul GET /v1/kv/missing: 404 (empty body)')
  t.equal(err.index, undefined)
})

t.test('unreachable and response errors name the endpoint and keep the cause', async (t) => {
  const cause = new Error('socket hang up')
  const unreachable = new ConsulUnreachableError('GET /v1/agent/connect/ca/roots', 'socket hang up', { cause })
  t.equal(unreachable.message, 'consul GET /v1/agent/connect/ca/roots: socket hang up')
  t.equal(unreachable.cause, cause)
  const invalid = new ConsulResponseError('GET /v1/agent/connect/ca/roots', 'TrustDomain is not a string')
  t.equal(invalid.message, 'consul GET /v1/agent/connect/ca/roots: invalid response: TrustDomain is not a string')
})

t.test('TemplateError prints file:line, or just the file when the line is unknown', async (t) => {
  const withLine = new TemplateError('TEMPLATE_SYNTAX', '/etc/mp/haproxy.cfg.njk', 12, 'unexpected token: %}')
  t.equal(withLine.message, '/etc/mp/haproxy.cfg.njk:12: unexpected token: %}')
  t.equal(withLine.file, '/etc/mp/haproxy.cfg.njk')
  t.equal(withLine.line, 12)
  const noLine = new TemplateError('TEMPLATE_RUNTIME', '/etc/mp/a.njk', undefined, 'filter not found: x')
  t.equal(noLine.message, '/etc/mp/a.njk: filter not found: x')
})

t.test('errorLine gives one printable line for anything thrown', async (t) => {
  t.equal(errorLine(new Error('first\nsecond')), 'first')
  t.equal(errorLine(new ConfigError('--wait: "x" is not min[:max]')), '--wait: "x" is not min[:max]')
  t.equal(errorLine('plain string'), 'plain string')
  t.equal(errorLine(42), '42')
  t.equal(errorLine(undefined), 'undefined')
})
