/**
 * The error hierarchy is an interface: the CLI and scripts branch on `err.code`
 * and users read one line per error. These tests pin the codes and the shape of
 * the messages a user sees, so a refactor cannot silently change either.
 */
import t from 'tap'
import {
  ConfigError,
  ConsulHttpError,
  ConsulResponseError,
  ConsulUnreachableError,
  errorLine,
  MeshplateError,
  TemplateError,
  TokenError,
} from '../../src/errors.ts'

t.test('each error class carries its stable code and its own name', async (t) => {
  const cases: Array<[MeshplateError, string, string]> = [
    [new ConfigError('x'), 'CONFIG_INVALID', 'ConfigError'],
    [new ConsulHttpError('GET /v1/agent/self', 500, 'boom'), 'CONSUL_HTTP', 'ConsulHttpError'],
    [new ConsulUnreachableError('GET /v1/agent/self', 'connect ECONNREFUSED'), 'CONSUL_UNREACHABLE', 'ConsulUnreachableError'],
    [new ConsulResponseError('GET /v1/agent/self', 'Config is not an object'), 'CONSUL_RESPONSE_INVALID', 'ConsulResponseError'],
    [new TemplateError('TEMPLATE_SYNTAX', 'a.njk', 3, 'bad'), 'TEMPLATE_SYNTAX', 'TemplateError'],
    [new TemplateError('TEMPLATE_RUNTIME', 'a.njk', 3, 'bad'), 'TEMPLATE_RUNTIME', 'TemplateError'],
    [new TemplateError('TEMPLATE_MISSING_DATA', 'a.njk', undefined, 'bad'), 'TEMPLATE_MISSING_DATA', 'TemplateError'],
    [new MeshplateError('CHECK_FAILED', 'x'), 'CHECK_FAILED', 'MeshplateError'],
    [new TokenError('no usable Consul token'), 'TOKEN_UNUSABLE', 'TokenError'],
  ]
  for (const [err, code, name] of cases) {
    t.equal(err.code, code, `${name} has code ${code}`)
    t.equal(err.name, name)
    t.ok(err instanceof MeshplateError && err instanceof Error, `${name} is a MeshplateError`)
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
