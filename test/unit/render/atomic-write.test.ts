/**
 * The writer is the last step before HAProxy (or anything else) reads a file.
 * A reader must only ever see the old file or the new one, an unchanged
 * render must not touch the file (no reload storms), modes must be what the
 * user asked for (keys 0600), and a failing check must leave the live file
 * exactly as it was, with no temp files lying around. Real files, real
 * `node -e` check commands, in a test directory.
 */
import t from 'tap'
import { chmodSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { atomicWrite, type WriteTarget } from '../../../src/render/atomic-write.ts'

const target = (destination: string, over: Partial<WriteTarget> = {}): WriteTarget => ({ destination, backup: false, checkTimeoutMs: 10_000, ...over })
const mode = (file: string) => statSync(file).mode & 0o7777
/** `node -e <script> <args...>` as an argv. */
const node = (script: string, ...args: string[]) => [process.execPath, '-e', script, ...args]

t.test('a new file is written with mode 0644 by default', async (t) => {
  const dir = t.testdir({})
  const dest = join(dir, 'haproxy.cfg')
  t.same(await atomicWrite('global\n  maxconn 100\n', target(dest)), { changed: true })
  t.equal(readFileSync(dest, 'utf8'), 'global\n  maxconn 100\n')
  t.equal(mode(dest), 0o644)
  t.same(readdirSync(dir), ['haproxy.cfg'], 'no temp file left behind')
})

t.test('perms 0600 are honoured for a new and for an existing file', async (t) => {
  const dir = t.testdir({ 'leaf.pem': 'old key' })
  const fresh = join(dir, 'new.pem')
  await atomicWrite('-----BEGIN EC PRIVATE KEY-----\n', target(fresh, { perms: 0o600 }))
  t.equal(mode(fresh), 0o600)
  const existing = join(dir, 'leaf.pem')
  chmodSync(existing, 0o644)
  await atomicWrite('new key', target(existing, { perms: 0o600 }))
  t.equal(mode(existing), 0o600)
  t.equal(readFileSync(existing, 'utf8'), 'new key')
})

t.test('equal bytes are not rewritten', async (t) => {
  const dir = t.testdir({ 'roots.pem': 'same bytes\n' })
  const dest = join(dir, 'roots.pem')
  const past = new Date('2020-01-01T00:00:00Z')
  utimesSync(dest, past, past)
  const before = statSync(dest)
  t.same(await atomicWrite('same bytes\n', target(dest)), { changed: false })
  const after = statSync(dest)
  t.equal(after.ino, before.ino, 'same inode: not replaced')
  t.equal(after.mtimeMs, before.mtimeMs, 'mtime unchanged')
})

t.test('equal bytes with different perms only fix the mode', async (t) => {
  const dir = t.testdir({ 'leaf.pem': 'key\n' })
  const dest = join(dir, 'leaf.pem')
  chmodSync(dest, 0o644)
  const before = statSync(dest)
  t.same(await atomicWrite('key\n', target(dest, { perms: 0o600 })), { changed: false })
  t.equal(mode(dest), 0o600)
  t.equal(statSync(dest).ino, before.ino)
})

t.test('an existing file keeps its mode when no perms are given', async (t) => {
  const dir = t.testdir({ 'app.conf': 'v1\n' })
  const dest = join(dir, 'app.conf')
  chmodSync(dest, 0o640)
  const before = statSync(dest)
  t.same(await atomicWrite('v2\n', target(dest)), { changed: true })
  t.equal(readFileSync(dest, 'utf8'), 'v2\n')
  t.equal(mode(dest), 0o640)
  t.not(statSync(dest).ino, before.ino, 'replaced by rename, never rewritten in place')
})

t.test('backup keeps the previous content in .bak', async (t) => {
  const dir = t.testdir({ 'haproxy.cfg': 'old config\n' })
  const dest = join(dir, 'haproxy.cfg')
  await atomicWrite('new config\n', target(dest, { backup: true }))
  t.equal(readFileSync(dest, 'utf8'), 'new config\n')
  t.equal(readFileSync(`${dest}.bak`, 'utf8'), 'old config\n')

  const fresh = join(dir, 'first.cfg')
  await atomicWrite('first\n', target(fresh, { backup: true }))
  t.notOk(readdirSync(dir).includes('first.cfg.bak'), 'nothing to back up for a new file')

  const noBackup = join(dir, 'nobak.cfg')
  writeFileSync(noBackup, 'a')
  await atomicWrite('b', target(noBackup))
  t.notOk(readdirSync(dir).includes('nobak.cfg.bak'), 'no .bak unless asked')
})

t.test('missing parent folders are created', async (t) => {
  const dir = t.testdir({})
  const dest = join(dir, 'run', 'meshplate', 'web', 'leaf.pem')
  await atomicWrite('pem', target(dest, { perms: 0o600 }))
  t.equal(readFileSync(dest, 'utf8'), 'pem')
})

t.test('the check runs on the temp file, via {{path}}, before the rename', async (t) => {
  const root = t.testdir({ live: { 'haproxy.cfg': 'old\n' }, out: {} })
  const dir = join(root, 'live')
  const dest = join(dir, 'haproxy.cfg')
  const record = join(root, 'out', 'check.json')
  const script = `const fs = require('fs'); const p = process.argv[1];
    fs.writeFileSync(process.argv[2], JSON.stringify({ path: p, content: fs.readFileSync(p, 'utf8'), mode: fs.statSync(p).mode & 0o7777, live: fs.readFileSync(process.argv[3], 'utf8') }))`
  t.same(await atomicWrite('new\n', target(dest, { check: node(script, '{{path}}', record, dest) })), { changed: true })
  const seen = JSON.parse(readFileSync(record, 'utf8'))
  t.not(seen.path, dest, 'the check saw a temp file, not the destination')
  t.equal(dirname(seen.path), dir, 'the temp file is in the destination’s folder (same filesystem for rename)')
  t.equal(seen.content, 'new\n', 'the temp file holds the new content')
  t.equal(seen.mode, 0o600, 'the temp file is private while it is checked')
  t.equal(seen.live, 'old\n', 'the live file is untouched while the check runs')
  t.equal(readFileSync(dest, 'utf8'), 'new\n')
  t.same(readdirSync(dir), ['haproxy.cfg'], 'the temp file became the destination')
})

t.test('checkNeeded can skip the check for a change it knows is safe, never for a first write', async (t) => {
  const dir = t.testdir({})
  const dest = join(dir, 'haproxy.cfg')
  const failing = node('process.exit(1)')
  const seen: Array<[string, string]> = []
  const onlySafe = (old: string, next: string) => (seen.push([old, next]), !next.startsWith('safe'))
  await t.rejects(atomicWrite('safe first\n', target(dest, { check: failing, checkNeeded: onlySafe })), { code: 'CHECK_FAILED' }, 'no file yet: checked')
  writeFileSync(dest, 'old\n')
  t.same(await atomicWrite('safe change\n', target(dest, { check: failing, checkNeeded: onlySafe })), { changed: true }, 'a safe change is written without the check')
  t.same(seen, [['old\n', 'safe change\n']], 'asked with the file on disk and the new content')
  await t.rejects(atomicWrite('risky\n', target(dest, { check: failing, checkNeeded: onlySafe })), { code: 'CHECK_FAILED' }, 'anything else is checked')
  t.equal(readFileSync(dest, 'utf8'), 'safe change\n')
})

t.test('a failing check is CHECK_FAILED and leaves the destination unchanged', async (t) => {
  const dir = t.testdir({ 'haproxy.cfg': 'good config\n' })
  const dest = join(dir, 'haproxy.cfg')
  chmodSync(dest, 0o644)
  const before = statSync(dest)
  const check = node(`console.log('[NOTICE] parsing'); console.error('[ALERT] parsing [' + process.argv[1] + ':3]: unknown keyword'); process.exit(1)`, '{{path}}')
  const err = await atomicWrite('bad config\n', target(dest, { check, backup: true, perms: 0o600 })).catch((e: unknown) => e)
  t.match(err, { code: 'CHECK_FAILED' })
  t.match((err as Error).message, `${dest}: check "`)
  t.match((err as Error).message, `failed, file kept: [ALERT] parsing [${dest}:3]: unknown keyword`, 'the alert line is shown, naming the destination instead of the temp file')
  t.equal(readFileSync(dest, 'utf8'), 'good config\n')
  t.equal(statSync(dest).ino, before.ino)
  t.equal(mode(dest), 0o644, 'not even the mode changed')
  t.same(readdirSync(dir), ['haproxy.cfg'], 'no temp file and no .bak left behind')
})

t.test('a check that exits non-zero silently, hangs, or does not exist is CHECK_FAILED', async (t) => {
  const dir = t.testdir({ 'a.cfg': 'keep\n' })
  const dest = join(dir, 'a.cfg')
  const silent = await atomicWrite('x', target(dest, { check: node('process.exit(3)') })).catch((e: unknown) => e)
  t.match(silent, { code: 'CHECK_FAILED', message: /failed, file kept: exit 3$/ })

  const started = Date.now()
  const hung = await atomicWrite('x', target(dest, { check: node('setTimeout(() => {}, 60000)'), checkTimeoutMs: 300 })).catch((e: unknown) => e)
  t.match(hung, { code: 'CHECK_FAILED', message: /failed, file kept: timed out$/ })
  t.ok(Date.now() - started < 10_000, 'the check timeout is enforced')

  const absent = await atomicWrite('x', target(dest, { check: ['meshplate-no-such-checker', '{{path}}'] })).catch((e: unknown) => e)
  t.match(absent, { code: 'CHECK_FAILED', message: /failed, file kept: .*ENOENT/ })

  t.equal(readFileSync(dest, 'utf8'), 'keep\n')
  t.same(readdirSync(dir), ['a.cfg'])
})

t.test('a destination that cannot be replaced is WRITE_FAILED, with no temp left', async (t) => {
  const dir = t.testdir({ 'is-a-dir': { 'inside.txt': 'x' } })
  const err = await atomicWrite('content', target(join(dir, 'is-a-dir'))).catch((e: unknown) => e)
  t.match(err, { code: 'WRITE_FAILED', message: new RegExp(`^${join(dir, 'is-a-dir')}: `) })
  t.same(readdirSync(dir), ['is-a-dir'])
})
