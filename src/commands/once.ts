/**
 * `meshplate once`: render every template once, run its commands, exit.
 * It never hangs (consul-template #319, #361, #1000): after --timeout it
 * exits non-zero and lists the data still missing with the last error seen
 * for each, and the destinations are left as they were.
 */
import type { RawConfig } from '../config/raw.ts'
import { resolveConfig } from '../config/resolve.ts'
import { errorLine, MeshplateError } from '../errors.ts'
import type { BatchResult } from '../runner/runner.ts'
import { rawFromArgs, setup, type CliArgs } from './setup.ts'
import { recordSnapshot } from './snapshot.ts'

/** Runs the once mode; resolves to the exit code. */
export function once(args: CliArgs): Promise<number> {
  return renderOnce(rawFromArgs(args))
}

/** Renders the given configuration once (also used by `sidecar --once`). */
export async function renderOnce(raw: RawConfig): Promise<number> {
  const config = resolveConfig(raw)
  const deadline = AbortSignal.timeout(config.timeoutMs)
  const session = await setup(config, deadline)
  const { runner, log } = session
  try {
    const result = await untilDone(session.runner, deadline)
    if (result?.complete && result.errors.length === 0) {
      if (config.recordFile) await recordSnapshot(session, config.recordFile)
      log.info('all templates rendered', { templates: config.templates.length })
      return 0
    }
    if (result && result.errors.length > 0) return 1
    const missing = [...(result?.missing ?? [])].map((id) => {
      const err = runner.lastErrors.get(id)
      return err ? `${id} (${errorLine(err)})` : id
    })
    const err = new MeshplateError('TIMEOUT', `gave up after ${config.timeoutMs} ms; missing data: ${missing.join(', ') || 'none'}`)
    log.error(err.message)
    return 1
  } finally {
    await runner.stop()
    await session.client?.close()
  }
}

/** Batches until one is complete or has errors, or the deadline passes. */
function untilDone(runner: import('../runner/runner.ts').Runner, deadline: AbortSignal): Promise<BatchResult | undefined> {
  return new Promise((resolve) => {
    let last: BatchResult | undefined
    const finish = (r: BatchResult | undefined) => {
      runner.off('batch', onBatch)
      deadline.removeEventListener('abort', onAbort)
      resolve(r)
    }
    const onBatch = (r: BatchResult) => {
      last = r
      if (r.complete || r.errors.length > 0) finish(r)
    }
    const onAbort = () => finish(last)
    runner.on('batch', onBatch)
    deadline.addEventListener('abort', onAbort, { once: true })
    if (!runner.watcher) void runner.batch().then(finish)
    else void runner.batch()
  })
}
