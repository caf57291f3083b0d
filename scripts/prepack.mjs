#!/usr/bin/env node
// `npm pack` / `npm publish` hooks (package.json scripts.prepack and scripts.postpack). See
// docs/packaging.md.
//
//   node scripts/prepack.mjs           (prepack) ESM build (tsc), CommonJS build (dist/cjs/),
//                                      prebuilt addon (prebuildify: prebuilds/<platform>-<arch>/),
//                                      and the static rush client copied over bin/rush.
//   node scripts/prepack.mjs postpack  put the repo's bin/rush launcher back.
//
// In git, bin/rush is a POSIX sh launcher for build/Release/rush (so the `bin` entry exists before
// anything is built). In the tarball it is the native client itself: npm links bins before the
// install script runs, and install scripts may not run at all (--ignore-scripts).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const binRush = path.join(root, 'bin', 'rush')
// Outside `files` and ignored by git; not under build/ (node-gyp rebuild empties it).
const launcherBackup = path.join(root, 'node_modules', '.cache', 'fdwire', 'rush-launcher.sh')

function run(cmd, args) {
  console.log(`fdwire prepack: ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`fdwire prepack: ${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})`)
    process.exit(1)
  }
}

function isLauncher(file) {
  return fs.existsSync(file) && fs.readFileSync(file).subarray(0, 2).toString('latin1') === '#!'
}

function restore() {
  if (!fs.existsSync(launcherBackup)) return
  fs.copyFileSync(launcherBackup, binRush)
  fs.chmodSync(binRush, 0o755)
  fs.rmSync(launcherBackup)
  console.log('fdwire postpack: bin/rush is the launcher again')
}

if (process.argv[2] === 'postpack') {
  restore()
  process.exit(0)
}
if (process.platform !== 'linux' && process.platform !== 'darwin') {
  console.error(`fdwire prepack: cannot build the native parts on ${process.platform}`)
  process.exit(1)
}
// A failed earlier pack may have left the binary in place: start from the launcher.
restore()

const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
run(process.execPath, [tsc, '-p', 'tsconfig.json'])
run(process.execPath, [path.join(root, 'scripts', 'prepack-cjs.mjs')])
// `npm run prebuild`: prebuildify --napi --strip, for this platform and arch (node-gyp rebuild,
// which also builds the rush client into build/Release/rush).
run('npm', ['run', 'prebuild'])

const client = path.join(root, 'build', 'Release', 'rush')
const v = spawnSync(client, ['--version'], { encoding: 'utf8' })
if (v.status !== 0) {
  console.error(`fdwire prepack: ${client} --version failed`)
  process.exit(1)
}
if (!isLauncher(binRush)) {
  console.error(`fdwire prepack: ${binRush} is not the launcher script; refusing to overwrite it`)
  process.exit(1)
}
fs.mkdirSync(path.dirname(launcherBackup), { recursive: true })
fs.copyFileSync(binRush, launcherBackup)
const tmp = `${binRush}.tmp`
fs.copyFileSync(client, tmp)
spawnSync('strip', [tmp]) // smaller tarball; optional (no strip, no harm)
fs.chmodSync(tmp, 0o755)
fs.renameSync(tmp, binRush)
console.log(`fdwire prepack: bin/rush is the native client (${v.stdout.trim()}, ${fs.statSync(binRush).size} bytes)`)
