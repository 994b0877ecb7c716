/**
 * Every command's flags, kept out of cli.ts so the switch stays thin. Consul
 * and logging flags are shared by `run`, `once` and `sidecar`; names follow
 * consul-template where one exists.
 */
import type { Argv } from 'yargs'

/** Consul address and ACL token flags. */
export function consulFlags(y: Argv) {
  return y
    .option('consul-addr', { type: 'string', describe: 'Consul agent: host:port, http://, https:// or unix:// (CONSUL_HTTP_ADDR)' })
    .option('consul-token', { type: 'string', describe: 'ACL token (CONSUL_HTTP_TOKEN); prefer --consul-token-file' })
    .option('consul-token-file', { type: 'string', describe: 'file holding the ACL token (CONSUL_HTTP_TOKEN_FILE)' })
}

/** Quiescence, snapshot and logging flags. */
export function commonFlags(y: Argv) {
  return consulFlags(y)
    .option('wait', { type: 'string', describe: 'quiescence MIN[:MAX] across all templates, e.g. 1s:5s (default 0)' })
    .option('data', { type: 'string', describe: 'render from a snapshot file instead of Consul' })
    .option('record', { type: 'string', describe: 'write a snapshot of the data used (0600)' })
    .option('log-level', { type: 'string', choices: ['debug', 'info', 'warn', 'error'] })
    .option('log-format', { type: 'string', choices: ['text', 'json'] })
}

/** Flags of `run` and `once`. */
export function renderFlags(y: Argv) {
  return commonFlags(y)
    .option('config', { alias: 'c', type: 'string', array: true, describe: 'JSON config file (repeatable)' })
    .option('template', { alias: 't', type: 'string', array: true, describe: '"src:dest[:command]" (repeatable)' })
    .option('proxy-id', { type: 'string', describe: 'service id of the connect proxy for connectProxy()' })
    .option('sidecar-for', { type: 'string', describe: 'find the proxy registered for this service id (or name)' })
    .option('dry', { type: 'boolean', describe: 'print renders to stdout, write nothing' })
}

/** Exec-mode flags of `run`. */
export function execFlags(y: Argv) {
  return y
    .option('exec', { type: 'string', describe: 'child command to supervise (argv, no shell)' })
    .option('exec-reload-signal', { type: 'string', describe: 'signal sent after a batch that changed files (default SIGHUP)' })
    .option('exec-kill-signal', { type: 'string', describe: 'signal forwarded on stop (default SIGTERM)' })
    .option('exec-kill-timeout', { type: 'string', describe: 'grace before SIGKILL (default 30s)' })
}

/** Flags of `meshplate sidecar`. */
export function sidecarFlags(y: Argv) {
  return commonFlags(y)
    .option('sidecar-for', { type: 'string', describe: 'service id (or name) whose connect proxy this is' })
    .option('proxy-id', { type: 'string', describe: 'the connect proxy service id' })
    .option('dir', { type: 'string', describe: 'folder for rendered files and sockets (default ./.meshplate/<service>)' })
    .option('template-dir', { type: 'string', describe: 'your own copies of templates/haproxy' })
    .option('override-dir', { type: 'string', describe: 'folder watched for a per-service haproxy.cfg.njk that extends the shipped one (e.g. ${NOMAD_ALLOC_DIR}/meshplate)' })
    .option('lua-dir', { type: 'string', describe: 'folder holding authorize.lua and the modules it loads (default: the shipped lua/; checked at start)' })
    .option('haproxy', { type: 'string', default: 'haproxy', describe: 'HAProxy binary' })
    .option('var', { type: 'string', array: true, describe: 'extra template variable key=value (vars.key)' })
    .option('once', { type: 'boolean', describe: 'render and check the files once, start no HAProxy (CI)' })
    .option('timeout', { type: 'string', describe: 'with --once: give up after this long (default 30s)' })
    .check((a) => {
      if (!a['sidecar-for'] === !a['proxy-id']) throw new Error('give exactly one of --sidecar-for or --proxy-id')
      return true
    })
}
