/**
 * HAProxy's Lua must ask the agent with the token meshplate chose, never with
 * the task-identity token Nomad leaves in CONSUL_HTTP_TOKEN, and the value
 * must reach it only as a file: the chosen file itself, or a 0600 copy that
 * does not outlive the sidecar.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { haproxyTokenEnv, tokenCopyPath } from '../../../src/sidecar/token-file.ts'

const taskEnv = { PATH: '/usr/bin', CONSUL_HTTP_TOKEN: 'task-identity', CONSUL_TOKEN: 'task-identity', CONSUL_HTTP_TOKEN_FILE: '/elsewhere', MESHPLATE_AGENT_URL: 'http://127.0.0.1:8500' }

t.test('a token from a file: HAProxy gets that file, and no token variable', async (t) => {
  const dir = t.testdir({ secrets: { si_token: 'si\n' }, mesh: {} })
  const si = join(dir, 'secrets/si_token')
  const { env, cleanup } = haproxyTokenEnv(taskEnv, { token: 'si', tokenFile: si }, join(dir, 'mesh'))
  t.same(env, { PATH: '/usr/bin', MESHPLATE_AGENT_URL: 'http://127.0.0.1:8500', CONSUL_HTTP_TOKEN_FILE: si })
  t.notOk(existsSync(tokenCopyPath(join(dir, 'mesh'))), 'no copy')
  cleanup()
  t.ok(existsSync(si), 'the source file is never removed')
})

t.test('a token that is not in a file of its own: a 0600 copy, removed by cleanup', async (t) => {
  const mesh = join(t.testdir({}), 'mesh') // made by the copy
  const { env, cleanup } = haproxyTokenEnv(taskEnv, { token: 'from-envoy-bootstrap', tokenFile: undefined }, mesh)
  const copy = tokenCopyPath(mesh)
  t.same(env, { PATH: '/usr/bin', MESHPLATE_AGENT_URL: 'http://127.0.0.1:8500', CONSUL_HTTP_TOKEN_FILE: copy })
  t.equal(readFileSync(copy, 'utf8'), 'from-envoy-bootstrap\n')
  t.equal(statSync(copy).mode & 0o777, 0o600)
  t.notMatch(JSON.stringify(env), /from-envoy-bootstrap/, 'the value is not in the environment')
  cleanup()
  t.notOk(existsSync(copy))
})

t.test('a copy left by a killed sidecar is replaced, not reused with its old mode', async (t) => {
  const mesh = t.testdir({ 'consul-token': 'stale\n' })
  const copy = tokenCopyPath(mesh)
  writeFileSync(copy, 'stale\n', { mode: 0o644 })
  haproxyTokenEnv(taskEnv, { token: 'fresh', tokenFile: undefined }, mesh)
  t.equal(readFileSync(copy, 'utf8'), 'fresh\n')
  t.equal(statSync(copy).mode & 0o777, 0o600)
})

t.test('no token: no token variable at all, and a stale copy goes', async (t) => {
  const mesh = t.testdir({ 'consul-token': 'stale\n' })
  const { env } = haproxyTokenEnv(taskEnv, { token: undefined, tokenFile: undefined }, mesh)
  t.same(env, { PATH: '/usr/bin', MESHPLATE_AGENT_URL: 'http://127.0.0.1:8500' })
  t.notOk(existsSync(tokenCopyPath(mesh)))
})

t.test('an operator token file that happens to be at the copy path is left alone', async (t) => {
  const mesh = t.testdir({ 'consul-token': 'operator\n' })
  const copy = tokenCopyPath(mesh)
  const { env, cleanup } = haproxyTokenEnv(taskEnv, { token: 'operator', tokenFile: copy }, mesh)
  cleanup()
  t.equal(env.CONSUL_HTTP_TOKEN_FILE, copy)
  t.equal(readFileSync(copy, 'utf8'), 'operator\n')
})
