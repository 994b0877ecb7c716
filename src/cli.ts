#!/usr/bin/env -S node --max-semi-space-size=1
/**
 * The thin CLI switch (the tap pattern): yargs parses flags, each command is
 * imported lazily, and errors become one line plus `process.exitCode`
 * instead of a stack trace or a `process.exit()` deep inside.
 */
import { setFlagsFromString } from 'node:v8'
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { execFlags, renderFlags, sidecarFlags } from './commands/flags.ts'
import { MeshplateError } from './errors.ts'

// The shebang's --max-semi-space-size=1 (MB) keeps V8's young generation small: a daemon that
// allocates little per second does not need 16 MB semi-spaces (docs/performance.md: "Footprint"). Launchers
// that run `node dist/cli.js` pass it themselves (the Nomad jobs, the demo, tests, benchmarks).
// undici parses HTTP with llhttp compiled to WebAssembly. V8's optimising tier for it costs
// about 34 MB of peak RSS (bench/RESULTS.md) for no gain at a few requests per second; the
// baseline compiler is enough. Set before any command (and so undici) is imported.
setFlagsFromString('--liftoff-only')

/** Parses argv and runs one command; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  let code = 0
  await yargs(argv)
    .scriptName('meshplate')
    .strict()
    .command('run', 'watch Consul and re-render until SIGINT/SIGTERM', (y) => execFlags(renderFlags(y)), async (a) => {
      code = await (await import('./commands/run.ts')).run(a)
    })
    .command('once', 'render every template once, run commands, exit', (y) => renderFlags(y).option('timeout', { type: 'string', describe: 'give up after this long (default 30s)' }), async (a) => {
      code = await (await import('./commands/once.ts')).once(a)
    })
    .command('sidecar', 'the HAProxy Consul Connect sidecar preset', (y) => sidecarFlags(y), async (a) => {
      code = await (await import('./commands/sidecar.ts')).sidecar(a)
    })
    .demandCommand(1, 'give a command: run, once or sidecar')
    .fail((msg, err) => {
      throw err ?? new MeshplateError('CONFIG_INVALID', msg)
    })
    .help()
    .parseAsync()
  return code
}

main(hideBin(process.argv)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    const line = err instanceof MeshplateError ? `meshplate: ${err.message}` : `meshplate: ${(err as Error)?.message ?? err}`
    process.stderr.write(line.split('\n')[0] + '\n')
    if (process.env.MESHPLATE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`)
    process.exitCode = err instanceof MeshplateError && err.code === 'CONFIG_INVALID' ? 2 : 1
  },
)
