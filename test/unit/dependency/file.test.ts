/**
 * `file(path)` is a blocking dependency over a local file: the first read
 * answers at once, a read at the current version waits for the next change
 * (chokidar) and answers within the write-settling time, a missing file is a
 * FileReadError the view retries within 1 s, and stopping the view (its
 * signal) closes the watch.
 */
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { FileDependency } from '../../../src/dependency/file.ts'
import { FileReadError } from '../../../src/errors.ts'
import { retryCapMs } from '../../../src/watch/backoff.ts'

const none = undefined as never

t.test('reads, then waits for a change and reads again', async (t) => {
  const dir = t.testdir({ 'motd.txt': 'hello\n' })
  const file = join(dir, 'motd.txt')
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  const dep = new FileDependency(file)
  t.equal(dep.id, `file(${file})`)
  const first = await dep.fetch(none, { waitMs: 5_000, signal: stop.signal })
  t.same(first, { data: 'hello\n', index: 1 })
  const started = Date.now()
  const next = dep.fetch(none, { index: first.index, waitMs: 5_000, signal: stop.signal })
  setTimeout(() => writeFileSync(file, 'bye\n'), 100)
  const second = await next
  t.equal(second.data, 'bye\n')
  t.ok(second.index! > first.index!, 'a new version')
  t.ok(Date.now() - started < 1_000, `answered within a second (${Date.now() - started} ms)`)
})

t.test('with nothing changed, the wait times out on the same version', async (t) => {
  const dir = t.testdir({ 'a.txt': 'a' })
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  const dep = new FileDependency(join(dir, 'a.txt'))
  const first = await dep.fetch(none, { waitMs: 5_000, signal: stop.signal })
  const again = await dep.fetch(none, { index: first.index, waitMs: 150, signal: stop.signal })
  t.same(again, first, 'same index: the view loops again')
})

t.test('a missing file is an error naming it, retried within a second, and found once written', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'later.txt')
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  const dep = new FileDependency(file)
  const err = await dep.fetch(none, { waitMs: 5_000, signal: stop.signal }).catch((e: unknown) => e)
  t.ok(err instanceof FileReadError)
  t.equal((err as FileReadError).code, 'FILE_READ')
  t.equal((err as Error).message, `file ${file}: no such file`)
  t.equal(retryCapMs(err), 1_000, 'the view retries within a second')
  writeFileSync(file, 'now\n')
  t.equal((await dep.fetch(none, { waitMs: 5_000, signal: stop.signal })).data, 'now\n')
  rmSync(file)
  const gone = await dep.fetch(none, { index: 1, waitMs: 2_000, signal: stop.signal }).catch((e: unknown) => e)
  t.ok(gone instanceof FileReadError, 'a deleted file is an error again (the view keeps the last good text)')
})

t.test('the id keeps the path as written', async (t) => {
  t.equal(new FileDependency('conf/a.txt').id, 'file(conf/a.txt)')
  t.not(new FileDependency('a.txt').id, new FileDependency('b.txt').id)
})
