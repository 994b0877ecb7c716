import type { Argv } from 'yargs'
export function sidecarFlags(y: Argv) { return y }
