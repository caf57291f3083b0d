#!/usr/bin/env node
// `npm pack` / `npm publish` hook (package.json scripts.prepack). See docs/packaging.md.
//
// Builds what the tarball carries: the ESM build (tsc, without source maps), the CommonJS build
// (dist/cjs/), and the addon and rush client for all six platforms (`npm run prebuild:all`, which
// cross-compiles with zig and checks every file). bin/rush stays the sh launcher: the install script puts the native
// client for the user's machine in its place, and without install scripts the launcher finds it.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

function run(cmd, args) {
  console.log(`fdwire prepack: ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`fdwire prepack: ${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})`)
    process.exit(1)
  }
}

const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
// A fresh dist/ without source maps: the tarball ships no TypeScript sources for them to point at.
fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true })
run(process.execPath, [tsc, '-p', 'tsconfig.json', '--sourceMap', 'false'])
// rush is an application of the library: it compiles against the library's own declarations.
run(process.execPath, [tsc, '-p', 'rush/tsconfig.json', '--sourceMap', 'false'])
run(process.execPath, [path.join(root, 'scripts', 'release', 'prepack-cjs.mjs')])
run(process.execPath, [path.join(root, 'scripts', 'release', 'build.mjs')])
