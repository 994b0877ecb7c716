/**
 * The docs name files, flags and each other, and every one of those names goes stale silently
 * when code moves. This reads README.md, docs/*.md and bench/README.md as a reader would and
 * fails on what they promise that the repository no longer has:
 * - a repository path written in backticks (`src/…`, `test/…`, `lua/…`, `templates/…`,
 *   `scripts/…`, `bench/…`, `nomad/…`, `docs/…`; globs allowed) that does not exist;
 * - a `--flag` in a flags table (a table whose first column is "flag") that the yargs builders
 *   of the command that table documents do not define, and, the other way, a flag the CLI
 *   defines that no flags table lists;
 * - a link to a local file, or to a heading in one, that does not resolve;
 * - a file under src/, lua/ or templates/ without its line in docs/development.md's map.
 * The commands' flags come from the real builders in src/commands/flags.ts, applied as
 * src/cli.ts wires them (read from its source, since importing cli.ts runs the CLI).
 */
import t from 'tap'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import yargs, { type Argv } from 'yargs'
import * as builders from '../../src/commands/flags.ts'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const read = (rel: string) => readFileSync(join(root, rel), 'utf8')

/** The pages checked, as repository-relative paths. */
const docs = ['README.md', 'bench/README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]

/** Which commands each page's flags tables document. A flags table anywhere else fails: say here what it documents. */
const tableCommands: Record<string, string[]> = { 'docs/renderer.md': ['run', 'once'], 'docs/sidecar.md': ['sidecar'] }

/** A page's text with fenced code blocks blanked (line numbers kept), since they hold shell and HCL, not references. */
function prose(text: string): string {
  let fenced = false
  return text
    .split('\n')
    .map((line) => {
      if (/^\s*```/.test(line)) {
        fenced = !fenced
        return ''
      }
      return fenced ? '' : line
    })
    .join('\n')
}

/** Inline code spans, which may wrap across lines; `\|` is a pipe escaped for a table. */
const codeSpans = (text: string) => [...prose(text).matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\\\|/g, '|'))

const repoPath = /^(?:src|test|lua|templates|scripts|bench|nomad|docs)\//

/** Repository paths written inside one code span: each whitespace-separated word that starts like one. */
function pathsIn(span: string): string[] {
  return span
    .split(/\s+/)
    .map((w) => w.replace(/[,;.)]+$/, '').replace(/:\d[\d-]*$/, ''))
    .filter((w) => repoPath.test(w))
}

/** Every file and folder under `dir` (repository-relative), folders with a trailing slash. */
function walk(dir: string): string[] {
  const abs = join(root, dir)
  if (!existsSync(abs) || !statSync(abs).isDirectory()) return []
  return readdirSync(abs, { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`
    return e.isDirectory() ? [`${rel}/`, ...walk(rel)] : [rel]
  })
}

/** Whether a path, possibly a glob (`*`, `?`, `[..]`, `{a,b}`), names something in the repository. */
function exists(path: string): boolean {
  if (!/[*?[{]/.test(path)) return existsSync(join(root, path))
  const fixed = path.slice(0, path.search(/[*?[{]/))
  const base = fixed.slice(0, fixed.lastIndexOf('/'))
  const source = path
    .replace(/[.+^$()|\\]/g, '\\$&')
    .replace(/\*\*/g, '\u0000')
    .replace(/\*/g, '[^/]*')
    .replace(/\u0000/g, '.*')
    .replace(/\?/g, '[^/]')
    .replace(/\{([^}]*)\}/g, (_, alts: string) => `(?:${alts.split(',').join('|')})`)
  const re = new RegExp(`^${source}/?$`)
  return walk(base).some((p) => re.test(p) || re.test(p.replace(/\/$/, '')))
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  const text = heading
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
  return text.replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
}

/** The anchors a page's headings get, duplicates numbered as GitHub numbers them. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const m of prose(text).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const s = slug(m[1]!)
    const n = seen.get(s) ?? 0
    seen.set(s, n + 1)
    out.add(n ? `${s}-${n}` : s)
  }
  return out
}

/** Rows of every table whose header's first cell is "flag". */
function flagRows(text: string): string[] {
  const rows: string[] = []
  let inTable = false
  for (const line of prose(text).split('\n')) {
    if (!line.startsWith('|')) {
      inTable = false
      continue
    }
    if (/^\|\s*flag\s*\|/.test(line)) inTable = true
    else if (inTable && !/^\|[-|\s:]+\|$/.test(line)) rows.push(line)
  }
  return rows
}

/**
 * The flags a row names: every one in its first cell (`-c, --config FILE`, `--log-format text\|json`),
 * and in the other cells each code span that is itself a flag (`--exec-reload-signal`), not a
 * command that has one (`haproxy -c`).
 */
function flagsIn(row: string): string[] {
  const [first = '', ...rest] = row.replace(/\\\|/g, '\u0000').split('|').slice(1, -1)
  const words = (span: string) => [...span.matchAll(/(?:^|[\s,/])(--?[a-z][a-z0-9-]*)/g)].map((m) => m[1]!)
  return [...codeSpans(first).flatMap(words), ...codeSpans(rest.join('|')).filter((s) => s.startsWith('--')).flatMap(words)]
}

/**
 * Each command's flags: the builders src/cli.ts applies in its `.command(...)` call, plus any
 * `.option('name'` written there, run on a fresh yargs to read what they define.
 */
function commandFlags(): Map<string, Set<string>> {
  const cli = read('src/cli.ts')
  const parts = cli.split(/\.command\(/).slice(1)
  const out = new Map<string, Set<string>>()
  for (const part of parts) {
    const name = /^'([a-z-]+)'/.exec(part)?.[1]
    if (!name) continue
    const segment = part.split(/\.demandCommand\(/)[0]!
    let y = yargs([]) as unknown as Argv
    for (const [fn, build] of Object.entries(builders)) {
      if (new RegExp(`\\b${fn}\\(`).test(segment)) y = (build as (a: Argv) => Argv)(y)
    }
    for (const m of segment.matchAll(/\.option\('([a-z][a-z0-9-]*)'/g)) y = y.option(m[1]!, { type: 'string' })
    const opts = (y as unknown as { getOptions(): { key: Record<string, unknown>; alias: Record<string, string[]> } }).getOptions()
    const names = new Set<string>()
    for (const key of Object.keys(opts.key)) if (key !== 'help' && key !== 'version') names.add(key.length === 1 ? `-${key}` : `--${key}`)
    out.set(name, names)
  }
  return out
}

t.test('every repository path written in backticks exists', async (t) => {
  let count = 0
  for (const doc of docs) {
    for (const span of codeSpans(read(doc))) {
      for (const path of pathsIn(span)) {
        count++
        t.ok(exists(path), `${doc}: \`${path}\``)
      }
    }
  }
  t.ok(count > 100, `the check saw the docs' paths (${count})`)
})

t.test('every local link resolves, to the file and to the heading', async (t) => {
  let count = 0
  for (const doc of docs) {
    const text = read(doc)
    const withoutCode = prose(text).replace(/`[^`]*`/g, '')
    for (const m of withoutCode.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
      const target = m[1]!
      if (/^[a-z]+:/.test(target)) continue
      count++
      const [file, anchor] = target.split('#') as [string, string | undefined]
      const abs = file ? resolve(join(root, dirname(doc)), file) : join(root, doc)
      const rel = relative(root, abs)
      if (!t.ok(existsSync(abs), `${doc}: link to ${target} (${rel})`)) continue
      if (anchor !== undefined && abs.endsWith('.md')) t.ok(anchors(readFileSync(abs, 'utf8')).has(anchor), `${doc}: heading #${anchor} in ${rel}`)
    }
  }
  t.ok(count > 30, `the check saw the docs' links (${count})`)
})

t.test('the flags tables list exactly the flags the CLI defines', async (t) => {
  const byCommand = commandFlags()
  t.same([...byCommand.keys()].sort(), ['once', 'run', 'sidecar'], 'the commands read from src/cli.ts')
  const documented = new Set<string>()
  for (const doc of docs) {
    const rows = flagRows(read(doc))
    if (!rows.length) continue
    const commands = tableCommands[doc]
    if (!t.ok(commands, `${doc} has a flags table: tableCommands says which commands it documents`)) continue
    const known = new Set(commands!.flatMap((c) => [...(byCommand.get(c) ?? [])]))
    for (const row of rows) {
      for (const flag of flagsIn(row)) {
        documented.add(flag)
        t.ok(known.has(flag), `${doc}: ${flag} is a flag of ${commands!.join(' or ')}`)
      }
    }
  }
  for (const [command, flags] of byCommand) {
    for (const flag of flags) t.ok(documented.has(flag), `${command} ${flag} is in a flags table`)
  }
})

t.test('the development map has a line for every file of src, lua and templates', async (t) => {
  const map = new Set(codeSpans(read('docs/development.md')))
  const files = ['src', 'lua', 'templates'].flatMap(walk).filter((p) => !p.endsWith('/'))
  t.ok(files.length > 50, `files found (${files.length})`)
  for (const file of files) t.ok(map.has(file), `docs/development.md: \`${file}\``)
})

t.test("README's quick start gives `npm test` as the test command (CI runs it)", async (t) => {
  const readme = read('README.md')
  const block = /## Quick start[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? ''
  t.match(block, /^npm test\s/m)
  t.match(JSON.parse(read('package.json')).scripts.test, /\S/, 'package.json defines it')
})
