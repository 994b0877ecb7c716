/**
 * Component-tagged logging with levels and a text or JSON format. Every line
 * goes to stderr so that `--dry` output on stdout stays clean. Secrets never
 * reach this module: callers log ids and names, not tokens or key material.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type LogFormat = 'text' | 'json'

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  /** A logger for a sub-component: `[view] health.connect(api)`. */
  child(component: string): Logger
}

interface Sink {
  level: LogLevel
  format: LogFormat
  write: (line: string) => void
}

/** Creates the root logger; `write` defaults to stderr. */
export function createLogger(
  level: LogLevel = 'info',
  format: LogFormat = 'text',
  write: (line: string) => void = (line) => process.stderr.write(line + '\n'),
): Logger {
  return makeLogger({ level, format, write }, 'meshplate')
}

function makeLogger(sink: Sink, component: string): Logger {
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[level] < RANK[sink.level]) return
    const time = new Date().toISOString()
    if (sink.format === 'json') {
      sink.write(JSON.stringify({ time, level, component, msg, ...fields }))
      return
    }
    const extra = fields
      ? ' ' + Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')
      : ''
    sink.write(`${time} ${level.toUpperCase().padEnd(5)} [${component}] ${msg}${extra}`)
  }
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (c) => makeLogger(sink, c),
  }
}

/** A logger that drops everything (tests, benches). */
export const silentLogger: Logger = createLogger('error', 'text', () => {})
