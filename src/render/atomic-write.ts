/**
 * Puts rendered bytes on disk so that readers only ever see the old file or
 * the new one (consul-template's `renderer.go`, plus a check step): equal
 * bytes are skipped; otherwise a temp file in the same folder is written and
 * fsynced, the optional check command runs on it, then mode, backup, rename.
 */
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { chmod, copyFile, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { MeshplateError } from '../errors.ts'

export interface WriteTarget {
  destination: string
  /** File mode; undefined keeps the existing mode, else 0644. */
  perms?: number
  backup: boolean
  /** argv run on the temp file before it replaces the destination; `{{path}}` is replaced by the temp path. */
  check?: string[]
  checkTimeoutMs: number
  /**
   * When given and false for (file on disk, new content), the check is skipped: the change
   * cannot make the already-checked file invalid (haproxy.cfg's server-slot changes).
   */
  checkNeeded?: (existing: string, next: string) => boolean
}

export interface WriteResult {
  changed: boolean
}

/** Writes `content` to `target.destination` atomically; throws CHECK_FAILED or WRITE_FAILED and leaves the old file. */
export async function atomicWrite(content: string, target: WriteTarget): Promise<WriteResult> {
  const dest = target.destination
  const existing = await readExisting(dest)
  const mode = target.perms ?? existing?.mode ?? 0o644
  if (existing && existing.content.equals(Buffer.from(content))) {
    if (existing.mode !== mode) await chmod(dest, mode)
    return { changed: false }
  }
  const check = target.check && !(existing && target.checkNeeded?.(existing.content.toString('utf8'), content) === false) ? target.check : undefined
  const dir = dirname(dest)
  const temp = join(dir, `.${basename(dest)}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    await mkdir(dir, { recursive: true })
    // Created 0600 so secrets are never readable, even for an instant (nor while checked); the
    // final mode is set before the rename. Like consul-template, the folder is not fsynced: the rename is atomic,
    // and after a power loss the old file may come back, never a partial one.
    const handle = await open(temp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600)
    try {
      await handle.writeFile(content)
      if (!check) await handle.chmod(mode)
      await handle.sync()
    } finally {
      await handle.close()
    }
    if (check) {
      await runCheck(check, temp, dest, target.checkTimeoutMs)
      await chmod(temp, mode)
    }
    if (target.backup && existing) await copyFile(dest, `${dest}.bak`)
    await rename(temp, dest)
    return { changed: true }
  } catch (err) {
    await unlink(temp).catch(() => {})
    if (err instanceof MeshplateError) throw err
    throw new MeshplateError('WRITE_FAILED', `${dest}: ${(err as Error).message}`, { cause: err })
  }
}

async function readExisting(file: string): Promise<{ content: Buffer; mode: number } | undefined> {
  try {
    const [content, st] = await Promise.all([readFile(file), stat(file)])
    return { content, mode: st.mode & 0o7777 }
  } catch {
    return undefined
  }
}

async function runCheck(argv: string[], temp: string, dest: string, timeoutMs: number): Promise<void> {
  const [file, ...args] = argv.map((a) => a.replaceAll('{{path}}', temp))
  const { execa } = await import('execa') // loaded only when a check runs
  const result = await execa(file!, args, { timeout: timeoutMs, reject: false, all: true, stdin: 'ignore' })
  if (result.exitCode === 0 && !result.timedOut) return
  const lines = (result.all ?? '').split('\n').map((l) => l.trim()).filter(Boolean)
  const why = lines.find((l) => /\[ALERT\]/.test(l)) ?? lines.find((l) => /alert|error|fatal/i.test(l)) ?? lines[0] ?? (result.timedOut ? 'timed out' : result.exitCode === undefined ? (result.shortMessage ?? '').split('\n')[0]! : `exit ${result.exitCode}`)
  throw new MeshplateError('CHECK_FAILED', `${dest}: check "${argv.join(' ')}" failed, file kept: ${why.replaceAll(temp, dest)}`)
}

