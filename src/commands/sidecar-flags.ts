/**
 * Flags of `meshplate sidecar`, kept apart so `--help` of the other commands
 * does not load them. Consul and logging flags are the same as `run`'s.
 */
import type { Argv } from 'yargs'

export function sidecarFlags(y: Argv) {
  return y
    .option('sidecar-for', { type: 'string', describe: 'service id (or name) whose connect proxy this is' })
    .option('proxy-id', { type: 'string', describe: 'the connect proxy service id' })
    .option('dir', { type: 'string', describe: 'folder for rendered files and sockets (default ./.meshplate/<service>)' })
    .option('template-dir', { type: 'string', describe: 'your own copies of templates/haproxy' })
    .option('lua-dir', { type: 'string', describe: 'folder holding authorize.lua (default: the shipped lua/)' })
    .option('haproxy', { type: 'string', default: 'haproxy', describe: 'HAProxy binary' })
    .option('var', { type: 'string', array: true, describe: 'extra template variable key=value (vars.key)' })
    .option('consul-addr', { type: 'string', describe: 'Consul agent address (CONSUL_HTTP_ADDR)' })
    .option('consul-token', { type: 'string', describe: 'ACL token (CONSUL_HTTP_TOKEN)' })
    .option('consul-token-file', { type: 'string', describe: 'file holding the ACL token (CONSUL_HTTP_TOKEN_FILE)' })
    .option('wait', { type: 'string', describe: 'quiescence MIN[:MAX] (default 0: apply changes at once)' })
    .option('once', { type: 'boolean', describe: 'render and check the files once, start no HAProxy (CI)' })
    .option('timeout', { type: 'string', describe: 'with --once: give up after this long (default 30s)' })
    .option('data', { type: 'string', describe: 'render from a snapshot file instead of Consul' })
    .option('record', { type: 'string', describe: 'write a snapshot of the data used (0600)' })
    .option('log-level', { type: 'string', choices: ['debug', 'info', 'warn', 'error'] })
    .option('log-format', { type: 'string', choices: ['text', 'json'] })
    .check((a) => {
      if (!a['sidecar-for'] === !a['proxy-id']) throw new Error('give exactly one of --sidecar-for or --proxy-id')
      return true
    })
}
