#!/usr/bin/env node
// `npm run prebuild:all`: builds the addon and the rush client for every shipped platform on this
// machine (linux-x64), with zig as the cross compiler, into prebuilds/. Then checks each file
// (scripts/release/inspect.mjs): right format and architecture, GLIBC needs, exports.
//
//   node scripts/release/build.mjs [--only linux-x64-glibc,darwin-arm64] [--no-check]
//
// Why not node-gyp here: node-gyp compiles for the machine it runs on (its macOS flags exist only
// when it runs on macOS), and cross-compiling through it means faking a gyp configuration per
// target. The sources, defines and flags come from binding.gyp (scripts/release/gyp.mjs), so the
// two builds cannot drift apart in what they compile; binding.gyp stays the from-source build on
// users' machines.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { readGyp } from './gyp.mjs'
import { inspectTarget } from './inspect.mjs'
import { TARGETS } from './targets.mjs'
import { ensureZig, nodeApiHeaders } from './toolchain.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** Defines as compiler flags; `<!(...)` command expansions are resolved the way gyp would for ours. */
function defineFlags(defines) {
  const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version
  return defines.map((d) => `-D${d.replace(/<!\(node -p "require\('\.\/package\.json'\)\.version"\)/, version)}`)
}

function addonCommand(target, gyp, headers) {
  const addonApi = path.dirname(fileURLToPath(import.meta.resolve('node-addon-api/package.json')))
  const flags = [
    'c++',
    '-target',
    target.zigTarget,
    '-std=c++17',
    '-O2',
    '-fPIC',
    '-fvisibility=hidden',
    '-fno-exceptions',
    '-fno-rtti',
    '-Wall',
    '-Wextra',
    '-Werror',
    ...defineFlags(gyp.fdwire.defines),
    '-DNODE_GYP_MODULE_NAME=fdwire',
    '-DBUILDING_NODE_EXTENSION',
    `-I${headers}`,
    `-I${addonApi}`,
    '-shared',
    '-s',
  ]
  // A Mach-O bundle leaves the napi_* symbols to the host process (node) at load time.
  // zig links a dylib (not a bundle); dlopen takes either. Its install name would otherwise be the
  // build machine's output path.
  if (target.platform === 'darwin') flags.push('-Wl,-undefined,dynamic_lookup', '-Wl,-install_name,@rpath/fdwire.node')
  return [...flags, ...gyp.fdwire.sources.map((s) => path.join(root, s))]
}

function rushCommand(target, gyp) {
  const flags = ['cc', '-target', target.rushTarget, '-std=c11', '-O2', '-Wall', '-Wextra', '-Werror']
  flags.push(...defineFlags(gyp.rush.defines), '-s')
  // Static on Linux (musl): no loader, no shared libc, the same file on glibc and musl systems.
  // macOS has no static libc: the client links libSystem, as every macOS program does.
  if (target.platform === 'linux') flags.push('-static')
  return [...flags, ...gyp.rush.sources.map((s) => path.join(root, s))]
}

function run(zig, args, label) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const child = spawn(zig, args, { cwd: root, stdio: ['ignore', 'inherit', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) {
        if (stderr) process.stderr.write(stderr)
        console.log(`  built ${label} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
        resolve()
      } else reject(new Error(`${label}: zig ${args.slice(0, 3).join(' ')} … exited ${code}\n${stderr}`))
    })
  })
}

/** Builds into a temporary name beside the destination, then renames: never a half-written file. */
async function build(zig, args, dest, label) {
  const out = path.join(root, dest)
  fs.mkdirSync(path.dirname(out), { recursive: true })
  const tmp = `${out}.tmp-${process.pid}`
  try {
    await run(zig, [...args, '-o', tmp], label)
    fs.chmodSync(tmp, dest.endsWith('.node') ? 0o644 : 0o755)
    fs.renameSync(tmp, out)
  } finally {
    fs.rmSync(tmp, { force: true })
  }
}

/** Runs jobs with at most `limit` at a time; rejects with the first failure once all settled. */
async function pool(jobs, limit) {
  const errors = []
  let next = 0
  async function worker() {
    while (next < jobs.length) {
      const job = jobs[next++]
      try {
        await job()
      } catch (error) {
        errors.push(error)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker))
  if (errors.length) throw new Error(errors.map((e) => e.message).join('\n'))
}

function parseArgs(argv) {
  const options = { only: null, check: true }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--only') options.only = (argv[++i] ?? '').split(',').filter(Boolean)
    else if (argv[i] === '--no-check') options.check = false
    else throw new Error(`unknown argument ${argv[i]} (usage: build.mjs [--only key,...] [--no-check])`)
  }
  const keys = TARGETS.map((t) => t.key)
  for (const key of options.only ?? []) {
    if (!keys.includes(key)) throw new Error(`unknown target ${key}; targets: ${keys.join(', ')}`)
  }
  return options
}

async function main() {
  const options = parseArgs(process.argv.slice(2))
  const targets = TARGETS.filter((t) => !options.only || options.only.includes(t.key))
  const zig = ensureZig()
  const headers = nodeApiHeaders()
  const gyp = readGyp()
  const started = Date.now()
  // A full build starts from an empty prebuilds/, so nothing stale ever ships.
  if (!options.only) fs.rmSync(path.join(root, 'prebuilds'), { recursive: true, force: true })
  console.log(`fdwire prebuild: ${targets.map((t) => t.key).join(', ')} with ${zig}`)
  const jobs = []
  for (const t of targets) {
    jobs.push(() => build(zig, addonCommand(t, gyp, headers), t.addon, `${t.key} addon -> ${t.addon}`))
    if (t.rushTarget) jobs.push(() => build(zig, rushCommand(t, gyp), t.rush, `${t.key} rush -> ${t.rush}`))
  }
  await pool(jobs, Math.max(1, os.availableParallelism()))
  console.log(`fdwire prebuild: built in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  if (!options.check) return
  let failed = 0
  for (const t of targets) {
    for (const line of inspectTarget(root, t)) {
      console.log(line.ok ? `  ok    ${line.text}` : `  FAIL  ${line.text}`)
      if (!line.ok) failed++
    }
  }
  if (failed) throw new Error(`${failed} check(s) failed`)
}

main().catch((error) => {
  console.error(`fdwire prebuild: ${error.message}`)
  process.exit(1)
})
