/**
 * The seam between the library and rush: rush is an application of fdwire and reaches it only
 * through the package's public entry (`'fdwire'`); the library knows nothing of rush. A deep or
 * internal import on either side fails here, naming the file, line and specifier.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { root } from './helpers.js'

/** Every .ts file under `dir` (relative to the repo root), skipping generated code's own folder check. */
function sources(dir: string): string[] {
  return fs
    .readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(root, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)))
}

/** Each static or dynamic import/export specifier of a file, with its line. */
function specifiers(file: string): { line: number; spec: string }[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8')
  const out: { line: number; spec: string }[] = []
  const pattern = /(?:^|\s)(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\s)import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm
  for (const m of text.matchAll(pattern)) {
    out.push({ line: text.slice(0, m.index).split('\n').length, spec: (m[1] ?? m[2] ?? m[3])! })
  }
  return out
}

/** The imports of `dir`'s files that `allowed` rejects, as "file:line: spec". */
function violations(dir: string, allowed: (spec: string, file: string) => boolean): string[] {
  const bad: string[] = []
  for (const file of sources(dir)) {
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
