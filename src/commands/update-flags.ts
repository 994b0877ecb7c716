/**
 * Flags of the hidden `meshplate haproxy-update` command, which the sidecar
 * preset runs after writing a certificate, CA bundle or map.
 */
import type { Argv } from 'yargs'

export function updateFlags(y: Argv) {
  return y
    .option('socket', { type: 'string', demandOption: true, describe: 'HAProxy stats socket (level admin)' })
    .option('cert', { type: 'string', describe: 'certificate file to push (set/commit ssl cert)' })
    .option('ca-file', { type: 'string', describe: 'CA file to push (set/commit ssl ca-file)' })
    .option('map', { type: 'string', describe: 'map file to push (prepare/add/commit map)' })
}
