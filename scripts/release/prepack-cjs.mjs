#!/usr/bin/env node
// Builds the CommonJS entry (dist/cjs/) that `require('fdwire')` loads. See docs/packaging.md.
//
// The sources are ESM and src/binding.ts uses `import.meta.url`, which does not exist in CommonJS.
// So: copy src/ to dist/.cjs-src/ (with a {"type":"commonjs"} package.json, so tsc's nodenext
// mode compiles it as CommonJS) and replace each `import.meta.url` with the URL of the same
// module's ESM build (dist/<same path>.js), computed from __dirname, and drop a top-level
// `const require = createRequire(import.meta.url)` (CommonJS has its own `require`, and may not
// redeclare it; it resolves from dist/cjs/ exactly as the ESM one does from dist/). Every URL a module derives
// from its own location (the package root, a worker script) is then the same in both builds, and
// no source file needs a per-format variant. Then `tsc -p tsconfig.cjs.json` compiles the graph of
// src/index.ts into dist/cjs/, which gets its own {"type":"commonjs"} package.json.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const src = path.join(root, 'src')
const stage = path.join(root, 'dist', '.cjs-src')
const out = path.join(root, 'dist', 'cjs')

fs.rmSync(stage, { recursive: true, force: true })
fs.rmSync(out, { recursive: true, force: true })
fs.mkdirSync(stage, { recursive: true })
fs.writeFileSync(path.join(stage, 'package.json'), '{ "type": "commonjs" }\n')

for (const rel of fs.readdirSync(src, { recursive: true })) {
  const from = path.join(src, rel)
  const to = path.join(stage, rel)
  if (fs.statSync(from).isDirectory()) {
    fs.mkdirSync(to, { recursive: true })
    continue
  }
  if (!rel.endsWith('.ts')) continue
  let text = fs.readFileSync(from, 'utf8')
  if (text.includes('import.meta')) {
    text = text.replace(/^const require = createRequire\(import\.meta\.url\)\s*$/m, '')
    const jsRel = rel.replace(/\.ts$/, '.js').split(path.sep).join('/')
    const up = Array(jsRel.split('/').length).fill('..').join('/')
    const esmTwin = `require('node:url').pathToFileURL(require('node:path').join(__dirname, ${JSON.stringify(up)}, ` + `${JSON.stringify(jsRel)})).href`
    text = text.replaceAll('import.meta.url', esmTwin)
    if (text.includes('import.meta')) throw new Error(`${rel}: import.meta other than import.meta.url`)
  }
  fs.writeFileSync(to, text)
}

const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.cjs.json')], { stdio: 'inherit' })
fs.rmSync(stage, { recursive: true, force: true })
if (r.status !== 0) process.exit(r.status ?? 1)
fs.writeFileSync(path.join(out, 'package.json'), '{ "type": "commonjs" }\n')
console.log(`fdwire: CommonJS build in ${path.relative(root, out)}/`)
