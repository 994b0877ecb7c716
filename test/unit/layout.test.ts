/**
 * The direction of the dependencies is the architecture (docs/development.md): the renderer
 * never imports the sidecar. Nothing under the engine's folders (template, runner, render,
 * watch, dependency, consul, config, exec) nor errors.ts or log.ts imports src/connect/ or
 * src/haproxy/; the mesh's functions and filters reach templates through the engine's
 * extension point, and HAProxy's file rules reach the runner and the supervisor as
 * interfaces, both handed over by src/commands/ (which, with src/sidecar/, may compose the
 * halves). src/haproxy/ (HAProxy's words and process) does not import src/connect/ (the
 * mesh), and src/connect/ stays pure: no file, socket, process or HTTP module. Read from the
 * sources, so a new import that crosses a line fails here, naming the file and the import.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

const ENGINE = ['src/template/', 'src/runner/', 'src/render/', 'src/watch/', 'src/dependency/', 'src/consul/', 'src/config/', 'src/exec/', 'src/errors.ts', 'src/log.ts']
const SIDECAR = ['src/connect/', 'src/haproxy/']
/** What `pure` means for src/connect/: none of these, directly. */
const IO = ['node:fs', 'node:fs/promises', 'node:net', 'node:child_process', 'node:http', 'node:https', 'node:dgram', 'undici', 'execa', 'chokidar', 'src/consul/client.ts', 'src/consul/undici.ts']

/** Every .ts file under src/, repository-relative. */
function sources(dir = 'src'): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`
    return e.isDirectory() ? sources(rel) : rel.endsWith('.ts') ? [rel] : []
  })
}

/** What a file imports: relative imports as repository paths, packages as written. Static, dynamic and type-only alike. */
function importsOf(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)].map((m) => m[1]!)
  return specs.map((s) => (s.startsWith('.') ? relative(root, resolve(root, dirname(file), s)) : s))
}

/** The rules `file` breaks by importing `target`. */
function violations(file: string, target: string): string[] {
  const under = (p: string, folders: string[]) => folders.some((f) => p === f || p.startsWith(f))
  const out: string[] = []
  if (under(file, ENGINE) && under(target, SIDECAR)) out.push('the engine imports the sidecar')
  if (under(file, ['src/haproxy/']) && under(target, ['src/connect/'])) out.push('src/haproxy/ imports src/connect/')
  if (under(file, ['src/connect/']) && IO.includes(target)) out.push('src/connect/ does I/O')
  return out
}

t.test('the checker sees every kind of import, and each rule', async (t) => {
  const text = `import { a } from '../connect/index.ts'\nimport type { B } from "../haproxy/slots.ts"\nconst c = await import('../connect/functions.ts')\nimport 'node:fs'\n`
  t.same(importsOf('src/template/x.ts', text), ['src/connect/index.ts', 'src/haproxy/slots.ts', 'src/connect/functions.ts', 'node:fs'])
  t.same(violations('src/runner/write.ts', 'src/haproxy/server-plan.ts'), ['the engine imports the sidecar'])
  t.same(violations('src/exec/supervisor.ts', 'src/haproxy/live.ts'), ['the engine imports the sidecar'])
  t.same(violations('src/haproxy/target.ts', 'src/connect/index.ts'), ['src/haproxy/ imports src/connect/'])
  t.same(violations('src/connect/expose.ts', 'node:fs'), ['src/connect/ does I/O'])
  t.same(violations('src/commands/setup.ts', 'src/connect/index.ts'), [], 'commands/ composes the halves')
  t.same(violations('src/connect/functions.ts', 'src/template/functions.ts'), [], 'the sidecar builds on the engine')
})

t.test('no file breaks the layout', async (t) => {
  const files = sources()
  t.ok(files.length > 60, `source files found (${files.length})`)
  t.ok(files.some((f) => f.startsWith('src/connect/')) && files.some((f) => f.startsWith('src/haproxy/')), 'both sidecar folders exist')
  let imports = 0
  for (const file of files) {
    for (const target of importsOf(file, readFileSync(join(root, file), 'utf8'))) {
      imports++
      for (const rule of violations(file, target)) t.fail(`${file} imports ${target}: ${rule}`)
    }
  }
  t.ok(imports > 300, `imports read (${imports})`)
})
