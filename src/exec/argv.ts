/**
 * Commands are argv lists, never shell strings: data never meets a shell.
 * A config may still write a command as one string; it is split here with
 * simple quoting rules ('single', "double", backslash). Use `sh -c` explicitly
 * if a shell is really wanted.
 */
import { ConfigError } from '../errors.ts'

/** Splits a command line into argv without any expansion. */
export function splitArgs(line: string, field = 'command'): string[] {
  const out: string[] = []
  let cur = ''
  let quote: '"' | "'" | undefined
  let inWord = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (quote) {
      if (ch === quote) quote = undefined
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i]
      else cur += ch
    } else if (ch === '"' || ch === "'") {
      quote = ch
      inWord = true
    } else if (ch === '\\' && i + 1 < line.length) {
      cur += line[++i]
      inWord = true
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur)
      cur = ''
      inWord = false
    } else {
      cur += ch
      inWord = true
    }
  }
  if (quote) throw new ConfigError(`${field}: unterminated ${quote} quote in "${line}"`)
  if (inWord) out.push(cur)
  if (out.length === 0) throw new ConfigError(`${field}: empty command`)
  return out
}

/** Accepts a string or an argv array from config. */
export function toArgv(value: unknown, field: string): string[] {
  if (typeof value === 'string') return splitArgs(value, field)
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) return [...value]
  throw new ConfigError(`${field}: expected a command string or a non-empty array of strings`)
}
