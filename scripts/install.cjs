#!/usr/bin/env node
'use strict'
/**
 * fdwire's `install` script (package.json "scripts.install"). See docs/packaging.md.
 *
 * The published tarball ships everything needed at run time prebuilt: the N-API addon under
 * prebuilds/<platform>-<arch>/ and the static `rush` client at bin/rush. So this script usually
 * does nothing, and installing with scripts disabled (`--ignore-scripts`, or npm blocking
 * dependency install scripts) gives a working package on the prebuilt platforms.
 *
 *   1. Not Linux/macOS (e.g. Windows): print why fdwire cannot work there and exit 0: a dependency
 *      that cannot be used must not break the whole `npm install`.
 *   2. The addon loads (prebuilt, or an earlier build under build/Release) and the rush client
 *      runs: nothing to do.
 *   3. Otherwise build from source with node-gyp (`node-gyp rebuild`: addon + rush client). If
 *      bin/rush is a foreign binary (a prebuilt for another platform), replace it with the one just
 *      built; if it is the repo's launcher script (a git checkout), leave it: it runs
 *      build/Release/rush.
 *   4. The build failed: say what was tried and how to fix it; exit 1 only if nothing usable
 *      exists (a working addon with a broken client is a warning, not a failed install).
 *
 * `npm_config_build_from_source` (`npm install --build-from-source`) forces step 3, as it does
 * for node-gyp-build.
 */
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

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

/** Path of the addon node-gyp-build would load, or null. Load-tested in a child process. */
function addonStatus() {
  let file
  try {
    file = require('node-gyp-build').path(root)
  } catch (err) {
    return { ok: false, why: firstLine(err) }
  }
  const r = spawnSync(process.execPath, ['-e', 'require(process.argv[1])', file], { encoding: 'utf8' })
  if (r.status === 0) return { ok: true, file }
  return { ok: false, file, why: firstLine(r.stderr.split('\n').find((l) => /Error/.test(l)) || r.stderr) }
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

/** Whether `file --version` runs and says it is rush. */
function runs(file) {
  const r = spawnSync(file, ['--version'], { encoding: 'utf8', timeout: 10000 })
  return r.status === 0 && /^rush /.test(r.stdout)
}

function rushStatus() {
  const bin = path.join(root, 'bin', 'rush')
  if (!fs.existsSync(bin)) return { ok: false, launcher: false, why: `${bin} is missing` }
  const launcher = isLauncher(bin)
  if (runs(bin)) return { ok: true, launcher }
  return {
    ok: false,
    launcher,
    why: launcher ? `${bin} is the launcher and build/Release/rush is not built` : `${bin} does not run here`,
  }
}

function firstLine(x) {
  return String(x instanceof Error ? x.message : x).trim().split('\n')[0]
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
  let rush = rushStatus()
  if (!force && addon.ok && rush.ok) return 0

  const tried = []
  if (force) tried.push('--build-from-source was requested')
  else {
    if (!addon.ok) tried.push(`prebuilt addon for ${process.platform}-${process.arch}: ${addon.why}`)
    if (!rush.ok) tried.push(`rush client: ${rush.why}`)
  }
  const built = buildFromSource()
  if (built.ok) {
    const client = path.join(root, 'build', 'Release', 'rush')
    const bin = path.join(root, 'bin', 'rush')
    if (!rush.launcher && fs.existsSync(client)) {
      // A foreign prebuilt (or missing) client: replace it with the one just built. Copy to a
      // temp file and rename, so a concurrently running rush is never half-written.
      fs.copyFileSync(client, `${bin}.tmp`)
      fs.chmodSync(`${bin}.tmp`, 0o755)
      fs.renameSync(`${bin}.tmp`, bin)
    }
    addon = addonStatus()
    rush = rushStatus()
    if (addon.ok && rush.ok) return 0
  } else {
    tried.push(`${built.tried}: ${built.why}`)
    addon = addonStatus()
    rush = rushStatus()
  }
  const fix =
    'Fix: install a C/C++ toolchain and python3 (Debian/Ubuntu: `apt-get install python3 make g++`; ' +
    'macOS: `xcode-select --install`), then run `npm rebuild fdwire`.'
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
