#!/usr/bin/env node
/**
 * The thin CLI switch (the tap pattern): yargs parses flags, each command is
 * imported lazily, and errors become one line plus `process.exitCode`
 * instead of a stack trace or a `process.exit()` deep inside.
 */
import yargs, { type Argv } from 'yargs'
import { hideBin } from 'yargs/helpers'
import { sidecarFlags } from './commands/sidecar-flags.ts'
import { updateFlags } from './commands/update-flags.ts'
import { MeshplateError } from './errors.ts'

function renderFlags(y: Argv) {
  return y
    .option('config', { alias: 'c', type: 'string', array: true, describe: 'JSON config file (repeatable)' })
    .option('template', { alias: 't', type: 'string', array: true, describe: '"src:dest[:command]" (repeatable)' })
    .option('consul-addr', { type: 'string', describe: 'Consul agent: host:port, http://, https:// or unix:// (CONSUL_HTTP_ADDR)' })
    .option('consul-token', { type: 'string', describe: 'ACL token (CONSUL_HTTP_TOKEN); prefer --consul-token-file' })
    .option('consul-token-file', { type: 'string', describe: 'file holding the ACL token (CONSUL_HTTP_TOKEN_FILE)' })
    .option('proxy-id', { type: 'string', describe: 'service id of the connect proxy for connectProxy()' })
    .option('sidecar-for', { type: 'string', describe: 'find the proxy registered for this service id (or name)' })
    .option('wait', { type: 'string', describe: 'quiescence MIN[:MAX] across all templates, e.g. 1s:5s' })
    .option('dry', { type: 'boolean', describe: 'print renders to stdout, write nothing' })
    .option('data', { type: 'string', describe: 'render from a snapshot file instead of Consul' })
    .option('record', { type: 'string', describe: 'write a snapshot of the data used (0600)' })
    .option('log-level', { type: 'string', choices: ['debug', 'info', 'warn', 'error'] })
    .option('log-format', { type: 'string', choices: ['text', 'json'] })
}

function execFlags(y: Argv) {
  return y
    .option('exec', { type: 'string', describe: 'child command to supervise (argv, no shell)' })
    .option('exec-reload-signal', { type: 'string', describe: 'signal sent after a batch that changed files (default SIGHUP)' })
    .option('exec-kill-signal', { type: 'string', describe: 'signal forwarded on stop (default SIGTERM)' })
    .option('exec-kill-timeout', { type: 'string', describe: 'grace before SIGKILL (default 30s)' })
}

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
    .command('haproxy-update', false, (y) => updateFlags(y), async (a) => {
      code = await (await import('./commands/haproxy-update.ts')).haproxyUpdate(a)
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
