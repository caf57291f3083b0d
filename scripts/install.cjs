#!/usr/bin/env node
'use strict'
/**
 * fdwire's `install` script (package.json "scripts.install"). See docs/packaging.md.
 *
 * The published tarball ships everything needed at run time prebuilt, for linux-x64/arm64 (glibc
 * and musl) and darwin-x64/arm64: the N-API addon under prebuilds/<platform>-<arch>/ and a native
 * `rush` client beside it. bin/rush is a small sh launcher that finds that client, so installing
 * with scripts disabled (`--ignore-scripts`, or npm blocking dependency install scripts) still
 * gives a working package; this script only makes it faster, and builds what is missing.
 *
 *   1. Not Linux/macOS (e.g. Windows): print why fdwire cannot work there and exit 0: a dependency
 *      that cannot be used must not break the whole `npm install`.
 *   2. The addon loads (prebuilt, or an earlier build under build/Release) and a rush client runs:
 *      copy that client over bin/rush, so `rush` is the native client with no shell in front.
 *   3. Otherwise build from source with node-gyp (`node-gyp rebuild`: addon + rush client), then 2.
 *   4. The build failed: say what was tried and how to fix it; exit 1 only if the addon is
 *      unusable (a working addon with no rush client is a warning, not a failed install).
 *
 * In a git checkout bin/rush is tracked: it stays the launcher, which runs build/Release/rush.
 * `npm_config_build_from_source` (`npm install --build-from-source`) forces step 3.
 */
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { pathToFileURL } = require('node:url')

const root = path.resolve(__dirname, '..')
const SUPPORTED = ['linux', 'darwin']

function log(msg) {
  process.stderr.write(`fdwire: ${msg}\n`)
}

/** The message for a platform fdwire cannot support, or null when it is supported. */
function unsupportedMessage(platform) {
  if (SUPPORTED.includes(platform)) return null
  const name = platform === 'win32' ? 'Windows' : platform
  return (
    `${name} is not supported: it needs Unix domain sockets with SCM_RIGHTS fd passing (Linux, macOS). ` +
    'Nothing was built; importing fdwire on this platform throws ERR_FDWIRE_UNSUPPORTED.'
  )
}

/** A git checkout: dist/ may be older than src/ (install runs before `prepare`), bin/rush is tracked. */
function gitCheckout() {
  return fs.existsSync(path.join(root, '.git'))
}

/**
 * Whether the addon loads here, tested in a child process through the package's own loader
 * (dist/binding.js) when it is built, else the source build directly (a git checkout, before
 * `prepare` has compiled the TypeScript).
 */
function addonStatus() {
  const loader = path.join(root, 'dist', 'binding.js')
  const built = path.join(root, 'build', 'Release', 'fdwire.node')
  const r =
    fs.existsSync(loader) && !gitCheckout()
      ? spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(loader).href)})`], {
          encoding: 'utf8',
          env: { ...process.env, NODE_DEBUG: 'fdwire', FDWIRE_ADDON: '' },
        })
      : spawnSync(process.execPath, ['-e', 'require(process.argv[1])', built], { encoding: 'utf8' })
  if (r.status === 0) {
    const file = /addon: (.*)/.exec(r.stderr)?.[1] ?? built
    return { ok: true, file }
  }
  const lines = r.stderr.split('\n')
  const why = lines.find((l) => /^\w*Error\b/.test(l)) || lines.find((l) => l.trim()) || `exit status ${r.status}`
  return { ok: false, why: firstLine(why) }
}

/** Whether `file --version` runs and says it is rush. */
function runs(file) {
  if (!fs.existsSync(file)) return false
  const r = spawnSync(file, ['--version'], { encoding: 'utf8', timeout: 10000 })
  return r.status === 0 && /^rush /.test(r.stdout)
}

/** The native clients that could serve here, best first: a source build, then the prebuilt one. */
function clientCandidates() {
  return [path.join(root, 'build', 'Release', 'rush'), path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'rush')]
}

function isLauncher(file) {
  try {
    const fd = fs.openSync(file, 'r')
    const buf = Buffer.alloc(2)
    fs.readSync(fd, buf, 0, 2, 0)
    fs.closeSync(fd)
    return buf.toString('latin1') === '#!'
  } catch {
    return false
  }
}

/** Replaces `dest` by a copy of `src` through a rename, so a running rush never sees half a file. */
function replaceFile(src, dest) {
  const tmp = `${dest}.tmp-${process.pid}`
  fs.copyFileSync(src, tmp)
  fs.chmodSync(tmp, 0o755)
  fs.renameSync(tmp, dest)
}

/**
 * Puts the native client that runs here at bin/rush (keeping the launcher at bin/.rush-launcher,
 * so a later install on a machine with no client can put it back). Returns { ok, client, why }.
 */
function installClient() {
  const bin = path.join(root, 'bin', 'rush')
  const saved = path.join(root, 'bin', '.rush-launcher')
  const client = clientCandidates().find(runs)
  if (gitCheckout()) {
    // A git checkout: bin/rush is the tracked launcher and stays so.
    return client ? { ok: true, client: bin } : { ok: false, why: 'no rush client is built (build/Release/rush)' }
  }
  if (isLauncher(bin) && !fs.existsSync(saved)) fs.copyFileSync(bin, saved)
  if (!client) {
    if (!isLauncher(bin) && fs.existsSync(saved)) replaceFile(saved, bin) // a client from another machine
    return { ok: false, why: `no rush client runs here (tried ${clientCandidates().join(', ')})` }
  }
  replaceFile(client, bin)
  return { ok: true, client }
}

function firstLine(x) {
  return String(x instanceof Error ? x.message : x)
    .trim()
    .split('\n')[0]
}

function forcedFromSource() {
  const v = process.env.npm_config_build_from_source
  return v === 'true' || v === '' || v === 'fdwire'
}

/** node-gyp as npm provides it to install scripts, else from PATH. */
function nodeGypCommand() {
  const js = process.env.npm_config_node_gyp
  if (js && fs.existsSync(js)) return { cmd: process.execPath, args: [js], label: `node ${js}` }
  return { cmd: 'node-gyp', args: [], label: 'node-gyp (from PATH)' }
}

function buildFromSource() {
  const gyp = nodeGypCommand()
  log(`building from source: ${gyp.label} rebuild (in ${root})`)
  const r = spawnSync(gyp.cmd, [...gyp.args, 'rebuild'], { cwd: root, stdio: 'inherit' })
  if (r.error) return { ok: false, tried: `${gyp.label} rebuild`, why: r.error.message }
  if (r.status !== 0) return { ok: false, tried: `${gyp.label} rebuild`, why: `exit status ${r.status}` }
  return { ok: true }
}

function main() {
  const unsupported = unsupportedMessage(process.platform)
  if (unsupported) {
    log(unsupported)
    return 0
  }
  const force = forcedFromSource()
  let addon = addonStatus()
  let rush = installClient()
  if (!force && addon.ok && rush.ok) return 0

  const tried = []
  if (force) tried.push('--build-from-source was requested')
  else {
    if (!addon.ok) tried.push(`addon for ${process.platform}-${process.arch}: ${addon.why}`)
    if (!rush.ok) tried.push(`rush client: ${rush.why}`)
  }
  const built = buildFromSource()
  if (!built.ok) tried.push(`${built.tried}: ${built.why}`)
  addon = addonStatus()
  rush = installClient()
  if (addon.ok && rush.ok) return 0
  const fix =
    'Fix: install a C/C++ toolchain and python3 (Debian/Ubuntu: `apt-get install python3 make g++`; ' +
    'Alpine: `apk add python3 make g++`; macOS: `xcode-select --install`), then run `npm rebuild fdwire`.'
  log(`could not set up the native parts for ${process.platform}-${process.arch} (Node ${process.version}).`)
  log(`tried:\n  - ${tried.join('\n  - ')}`)
  log(fix)
  if (addon.ok) {
    log(`the addon works (${addon.file}); only the rush client is unusable: ${rush.why}`)
    return 0
  }
  return 1
}

module.exports = { unsupportedMessage, SUPPORTED }

if (require.main === module) process.exitCode = main()
