/**
 * `meshplate run`: watch Consul and re-render until SIGINT or SIGTERM. It
 * re-renders when a template file is edited (chokidar), re-reads config and
 * templates on SIGHUP, and in exec mode hands each batch to the supervisor
 * (exec/supervisor.ts): the child starts after the first complete render and
 * takes every later change, the HAProxy way when the config names HAProxy's
 * sockets (haproxy/target.ts); its own exit, past its restarts, ends
 * meshplate with the same code.
 */
import { watch } from 'chokidar'
import { resolveConfig } from '../config/resolve.ts'
import type { RawConfig } from '../config/raw.ts'
import { errorLine } from '../errors.ts'
import { Child } from '../exec/child.ts'
import { Supervisor } from '../exec/supervisor.ts'
import { haproxyChild } from '../haproxy/target.ts'
import { preferSmallHeap } from '../runner/idle-gc.ts'
import type { BatchResult } from '../runner/runner.ts'
import { rawFromArgs, setup, type CliArgs, type Session, type SetupOptions } from './setup.ts'
import { recordSnapshot } from './snapshot.ts'

/** `meshplate run` from CLI flags; resolves to the exit code. */
export function run(args: CliArgs): Promise<number> {
  return runWatching(() => rawFromArgs(args))
}

/**
 * Runs until a stop signal or the child's exit; `loadRaw` is re-called on SIGHUP and
 * whenever a file under one of `reloadOn` is added, changed or removed (each folder's parent must exist).
 */
export async function runWatching(loadRaw: () => RawConfig, childEnv: NodeJS.ProcessEnv = process.env, reloadOn: string[] = [], setupOptions: SetupOptions = {}): Promise<number> {
  preferSmallHeap()
  const stop = new AbortController()
  let session = await setup(resolveConfig(loadRaw()), stop.signal, undefined, setupOptions)
  const log = session.log
  let resolveExit!: (code: number) => void
  const exited = new Promise<number>((r) => (resolveExit = r))
  const child = session.config.exec ? new Child(session.config.exec, log.child('exec'), childEnv) : undefined
  const supervisor = child ? new Supervisor(child, log, stop.signal, (exit) => resolveExit(exit.code), haproxyChild(child, log)) : undefined

  const onBatch = (result: BatchResult) => {
    if (result.complete && session.config.recordFile) {
      recordSnapshot(session, session.config.recordFile).catch((err) => log.error(errorLine(err)))
    }
  }
  let fileWatcher = watchTemplates(session)
  const attach = (s: Session) => {
    s.runner.on('batch', onBatch)
    if (supervisor) s.runner.applyWith(supervisor.hook(s.config.templates))
    void s.runner.batch()
  }
  attach(session)

  const reload = async (why: string) => {
    log.info(`${why}: re-reading config and templates`)
    try {
      const next = await setup(resolveConfig(loadRaw()), stop.signal, session.slots, setupOptions)
      await session.runner.stop()
      await fileWatcher.close()
      await session.client?.close()
      session = next
      fileWatcher = watchTemplates(session)
      attach(session)
    } catch (err) {
      log.error(`${why}: kept the running config: ${errorLine(err)}`)
    }
  }
  // Reloads run one at a time, in the order asked for.
  let reloading: Promise<void> = Promise.resolve()
  const queueReload = (why: string) => (reloading = reloading.then(() => reload(why)))
  const onSighup = () => void queueReload('SIGHUP')
  const folderWatcher = reloadOn.length ? watchFolders(reloadOn, (path) => void queueReload(`${path} changed`)) : undefined
  const onStop = (sig: NodeJS.Signals) => {
    log.info(`${sig}: stopping`)
    stop.abort()
    resolveExit(0)
  }
  process.on('SIGHUP', onSighup)
  process.on('SIGINT', onStop)
  process.on('SIGTERM', onStop)
  try {
    return await exited
  } finally {
    process.off('SIGHUP', onSighup)
    process.off('SIGINT', onStop)
    process.off('SIGTERM', onStop)
    stop.abort()
    await folderWatcher?.close()
    await reloading
    await fileWatcher.close()
    await session.runner.stop()
    await child?.stop()
    await session.client?.close()
  }
}

/** Re-renders when a template file changes; a broken edit keeps the last good template. */
function watchTemplates(session: Session) {
  const files = session.config.templates.map((t) => t.source)
  const watcher = watch(files, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 20 } })
  watcher.on('all', (event, path) => {
    const template = session.templates.find((t) => t.file === path)
    if (!template) return
    try {
      template.load()
      session.log.info('template changed', { file: path, event })
      void session.runner.batch()
    } catch (err) {
      session.log.error(errorLine(err))
    }
  })
  return watcher
}

/** Calls `onChange` for any file added, changed or removed under `folders`. */
function watchFolders(folders: string[], onChange: (path: string) => void) {
  const watcher = watch(folders, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 20 } })
  watcher.on('all', (_event, path) => onChange(path))
  return watcher
}
