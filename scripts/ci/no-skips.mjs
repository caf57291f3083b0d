#!/usr/bin/env node
// CI check after `npm test` (.ci/run): no test was skipped. A skip under CI is a check that was
// not made (CI installs every tool, creates the test user and runs as root), so it fails CI like a
// failed test would. Reads the TAP that tap saved for each test file (.tap/test-results/), and
// fails too when a test file has no saved results (it did not run, or tap saves them elsewhere
// now: this check must not pass because it read nothing).
// Todo tests (`# TODO`: known divergences, each with its reason) are listed, not failed: they run
// and report, and removing one is a decision about the code, not about the environment.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const resultsDir = path.join(root, '.tap', 'test-results')

function walk(dir, keep) {
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name)
    return e.isDirectory() ? walk(full, keep) : keep(e.name) ? [full] : []
  })
}

const testFiles = walk(path.join(root, 'test'), (name) => name.endsWith('.test.ts'))
  .map((f) => path.relative(root, f))
  .sort()
const missing = testFiles.filter((f) => !fs.existsSync(path.join(resultsDir, `${f}.tap`)))
// A test point with a directive: `ok 3 - name # SKIP why`; `\#` in a name is escaped by tap. A whole
// file or subtest can be skipped by its plan: `1..0 # SKIP why`.
const directive = /^\s*(?:(?:not )?ok\b.*?|1\.\.0\s*)(?<!\\)#\s*(SKIP|TODO)\b\S*\s*(.*)$/i
const skips = []
const todos = []
for (const file of testFiles) {
  const tap = path.join(resultsDir, `${file}.tap`)
  if (!fs.existsSync(tap)) continue
  for (const line of fs.readFileSync(tap, 'utf8').split('\n')) {
    const m = directive.exec(line)
    if (!m) continue
    const entry = `${file}: ${line.trim()}`
    if (m[1].toUpperCase() === 'SKIP') skips.push(entry)
    else todos.push(entry)
  }
}

if (todos.length) console.log(`no-skips: ${todos.length} todo (known divergences, allowed):\n  ${todos.join('\n  ')}`)
let failed = false
if (testFiles.length === 0) {
  console.error('no-skips: FAIL: found no test files under test/')
  failed = true
}
if (missing.length) {
  console.error(`no-skips: FAIL: no saved results for ${missing.length} of ${testFiles.length} test files (did they run?):\n  ${missing.join('\n  ')}`)
  failed = true
}
if (skips.length) {
  console.error(`no-skips: FAIL: ${skips.length} skipped under CI (CI must provide what they need; each says how):\n  ${skips.join('\n  ')}`)
  failed = true
}
if (!failed) console.log(`no-skips: ${testFiles.length} test files ran, none skipped anything`)
process.exitCode = failed ? 1 : 0
