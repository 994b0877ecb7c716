import type { Argv } from 'yargs'
export function updateFlags(y: Argv) { return y }
export async function haproxyUpdate(_a: unknown): Promise<number> { return 1 }
