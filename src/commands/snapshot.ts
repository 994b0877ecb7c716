/**
 * `--record FILE`: saves the data a complete render used, in the format
 * `--data FILE` reads. The snapshot holds the leaf's private key when the
 * templates use one, so it is written 0600, atomically.
 */
import { atomicWrite } from '../render/atomic-write.ts'
import type { Session } from './setup.ts'

/** Writes the snapshot of what the last batch used. */
export async function recordSnapshot(session: Session, file: string): Promise<void> {
  const snap = session.runner.deps.brain.snapshot(session.runner.usedIds(), session.proxyId)
  await atomicWrite(JSON.stringify(snap, null, 2) + '\n', { destination: file, perms: 0o600, backup: false, checkTimeoutMs: 0 })
}
