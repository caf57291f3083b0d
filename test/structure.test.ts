/**
 * The seam between the library and rush: rush is an application of fdwire and reaches it only
 * through the package's public entry (`'fdwire'`); the library, and its tests, know nothing of
 * rush. A deep or internal import on either side fails here, naming the file, line and specifier.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { root } from './helpers.js'

/** Every file under `dir` (relative to the repo root) whose name ends with one of `extensions` (default: .ts). */
function sources(dir: string, extensions: readonly string[] = ['.ts']): string[] {
  return fs
    .readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && extensions.some((x) => e.name.endsWith(x)))
    .map((e) => path.relative(root, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)))
}

/** Each static or dynamic import/export specifier of a file, with its line. */
function specifiers(file: string): { line: number; spec: string }[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8')
  const out: { line: number; spec: string }[] = []
  const pattern = /(?:^|\s)(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\s)import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm
  for (const m of text.matchAll(pattern)) {
    // The match may start with the whitespace (a newline) before `import`: count from `import`.
    const at = m.index + (m[0].length - m[0].trimStart().length)
    out.push({ line: text.slice(0, at).split('\n').length, spec: (m[1] ?? m[2] ?? m[3])! })
  }
  return out
}

/** The imports of `dir`'s files that `allowed` rejects, as "file:line: spec". */
function violations(dir: string, allowed: (spec: string, file: string) => boolean, extensions?: readonly string[]): string[] {
  const bad: string[] = []
  for (const file of sources(dir, extensions)) {
    for (const { line, spec } of specifiers(file)) if (!allowed(spec, file)) bad.push(`${file}:${line}: ${spec}`)
  }
  return bad
}

const inside = (spec: string, file: string, dir: string): boolean => {
  const target = path.resolve(root, path.dirname(file), spec)
  return target === path.join(root, dir) || target.startsWith(path.join(root, dir) + path.sep)
}

t.test("rush/src imports the library only through 'fdwire'", async (t) => {
  t.ok(sources('rush/src').length > 10, 'rush/src has its sources')
  const bad = violations(
    'rush/src',
    (spec, file) => spec === 'fdwire' || spec.startsWith('node:') || spec === 'flatbuffers' || (spec.startsWith('.') && inside(spec, file, 'rush/src')),
  )
  t.same(bad, [], 'no deep or internal import (allowed: fdwire, node:*, flatbuffers, and rush/src itself)')
})

t.test('the library does not import rush', async (t) => {
  const bad = violations('src', (spec, file) => !spec.startsWith('.') || inside(spec, file, 'src'))
  t.same(bad, [], 'src/ stays within src/ (and packages)')
  const exported = await import('../src/index.js')
  t.notOk('rush' in exported.protocol, 'the protocol namespace has no rush messages')
  t.notOk('RushRoots' in exported.protocol)
})

t.test('the check itself catches a deep import', async (t) => {
  const dir = fs.mkdtempSync(path.join(root, 'rush', 'src', '.structure-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(path.join(dir, 'x.ts'), "import { native } from '../../../src/binding.js'\nexport { native }\n")
  const rel = path.relative(root, dir)
  const bad = violations(rel, (spec, file) => spec === 'fdwire' || (spec.startsWith('.') && inside(spec, file, 'rush/src')))
  t.same(bad, [`${rel}/x.ts:1: ../../../src/binding.js`])
})

/** Every kind of script the library's tests are written in (tests, helpers, fixtures, type checks). */
const scripts = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs']

/**
 * Files (or folders, ending in '/') under test/ that may import from rush/: those whose job is the
 * package as a whole, which ships rush, each with the reason. Every other test of the library runs
 * without rush (rush's own tests are in rush/test/).
 */
const wholePackage: Record<string, string> = {
  'test/docs/examples.test.ts': 'runs the code blocks of every doc the package ships, rush/docs/*.md included',
  'test/packaging/': 'smoke tests of the packed tarball (scripts/ci/pack-test.sh), which ships rush with the library',
}
const exempt = (file: string): boolean => Object.keys(wholePackage).some((e) => (e.endsWith('/') ? file.startsWith(e) : file === e))

/** Whether `file` (from the repo root) imports from rush/ with `spec`. */
const intoRush = (spec: string, file: string): boolean => spec.startsWith('.') && inside(spec, file, 'rush')

t.test("the library's tests do not import rush", async (t) => {
  t.ok(sources('test', scripts).length > 30, 'test/ has its sources')
  const bad = violations('test', (spec, file) => exempt(file) || !intoRush(spec, file), scripts)
  t.same(bad, [], 'nothing under test/ imports from rush/ (rush is tested in rush/test/)')
  for (const file of Object.keys(wholePackage)) t.ok(fs.existsSync(path.join(root, file)), `exempted path exists: ${file}`)
})

t.test('the check itself catches a test importing rush', async (t) => {
  const dir = fs.mkdtempSync(path.join(root, 'test', '.structure-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(path.join(dir, 'x.ts'), "// a test\nimport { RushRoots } from '../../rush/src/protocol/descriptors.js'\nexport { RushRoots }\n")
  fs.writeFileSync(path.join(dir, 'y.mjs'), "const m = await import('../../rush/src/constants.js')\nexport default m\n")
  const rel = path.relative(root, dir)
  const bad = violations(rel, (spec, file) => !intoRush(spec, file), scripts)
  t.same(bad.sort(), [`${rel}/x.ts:2: ../../rush/src/protocol/descriptors.js`, `${rel}/y.mjs:1: ../../rush/src/constants.js`])
})
