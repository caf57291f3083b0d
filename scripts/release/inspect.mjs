#!/usr/bin/env node
// Checks that every prebuilt binary is what its platform needs, without running it:
//   - format and CPU from the file's own header (ELF e_machine, Mach-O cputype), and its kind
//     (a shared object / Mach-O bundle for the addon, an executable for rush);
//   - linux glibc: no symbol version above GLIBC_2.17, no GLIBCXX/CXXABI (libc++ is linked in);
//   - linux musl: needs musl's libc.so only;
//   - the rush client on Linux: static (no interpreter, no shared libraries);
//   - the addon exports napi_register_module_v1 (what Node looks up when it loads it).
// Uses readelf (binutils, any ELF architecture) and llvm-nm / llvm-objdump (Mach-O).
//
//   node scripts/release/inspect.mjs [--only key,...]     exit 1 if any check fails
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { MAX_GLIBC, TARGETS } from './targets.mjs'

const ELF_MACHINE = { x64: 62, arm64: 183 } // EM_X86_64, EM_AARCH64
const MACHO_CPU = { x64: 0x01000007, arm64: 0x0100000c } // CPU_TYPE_X86_64, CPU_TYPE_ARM64
const MH_EXECUTE = 2
const MH_DYLIB = 6 // what zig links with -shared; Node's dlopen takes it as it takes a bundle
const MH_BUNDLE = 8 // what node-gyp links on a Mac
const ET_EXEC = 2
const ET_DYN = 3

/** Format, CPU and kind read from the first bytes of the file. */
export function readHeader(file) {
  const fd = fs.openSync(file, 'r')
  const b = Buffer.alloc(64)
  try {
    fs.readSync(fd, b, 0, 64, 0)
  } finally {
    fs.closeSync(fd)
  }
  if (b.readUInt32BE(0) === 0x7f454c46) {
    if (b[5] !== 1) return { format: 'ELF big-endian' }
    return { format: 'ELF', elfType: b.readUInt16LE(16), machine: b.readUInt16LE(18) }
  }
  if (b.readUInt32LE(0) === 0xfeedfacf) return { format: 'Mach-O', cpu: b.readUInt32LE(4), fileType: b.readUInt32LE(12) }
  if (b.readUInt32BE(0) === 0xcafebabe) return { format: 'Mach-O universal' }
  return { format: 'unknown' }
}

function tool(names) {
  for (const name of names) {
    const r = spawnSync(name, ['--version'], { encoding: 'utf8' })
    if (r.status === 0) return name
  }
  const llvm = fs.existsSync('/usr/lib')
    ? fs
        .readdirSync('/usr/lib')
        .filter((d) => /^llvm-\d+$/.test(d))
        .sort()
    : []
  for (const dir of llvm.reverse()) {
    for (const name of names) {
      const p = path.join('/usr/lib', dir, 'bin', name)
      if (fs.existsSync(p)) return p
    }
  }
  return null
}

function output(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`)
  return r.stdout
}

function versionKey(v) {
  return v
    .split('.')
    .map(Number)
    .reduce((acc, n, i) => acc + n * 1000 ** (2 - i), 0)
}

/** ELF facts through readelf: needed libraries, interpreter, symbol versions, exports. */
export function elfFacts(file) {
  const dynamic = output('readelf', ['-d', '-W', file])
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1])
  const programs = output('readelf', ['-l', '-W', file])
  const interpreter = /Requesting program interpreter: ([^\]]+)\]/.exec(programs)?.[1] ?? null
  const versions = output('readelf', ['-V', '-W', file])
  const glibc = [...new Set([...versions.matchAll(/Name: GLIBC_([0-9.]+)/g)].map((m) => m[1]))]
  const cxx = [...new Set([...versions.matchAll(/Name: ((?:GLIBCXX|CXXABI)_[0-9.]+)/g)].map((m) => m[1]))]
  const symbols = output('readelf', ['--dyn-syms', '-W', file])
  const exports = symbols
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && f[6] !== 'UND' && (f[4] === 'GLOBAL' || f[4] === 'WEAK'))
    .map((f) => f[7].replace(/@.*/, ''))
  const maxGlibc = glibc.sort((a, b) => versionKey(a) - versionKey(b)).at(-1) ?? null
  return { needed, interpreter, maxGlibc, cxx, exports }
}

/** Mach-O facts through llvm: exported symbols and linked dylibs. */
export function machoFacts(file) {
  const nm = tool(['llvm-nm'])
  const objdump = tool(['llvm-objdump'])
  if (!nm || !objdump) throw new Error('llvm-nm and llvm-objdump are needed to check Mach-O files (apt-get install llvm)')
  const exports = output(nm, ['-g', '--defined-only', '-j', file]).split('\n').filter(Boolean)
  const id = output(objdump, ['--macho', '--dylib-id', file]).split('\n')[1]?.trim() ?? ''
  const loads = output(objdump, ['--macho', '--dylibs-used', file])
  const dylibs = loads
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(' ')[0])
    .filter((name) => name && name !== id)
  // N-API functions must be looked up in the process that loads the addon (flat namespace), not
  // in a library of their own: the symbols that name a `napi_` function, and how each is bound.
  const binds = output(objdump, ['--macho', '--bind', '--lazy-bind', file])
  const napiBinds = binds.split('\n').filter((l) => /\s_napi_\w+$/.test(l))
  const signed = output(objdump, ['--macho', '--private-headers', file]).includes('LC_CODE_SIGNATURE')
  return { exports, dylibs, napiBinds, id, signed }
}

function check(lines, ok, text) {
  lines.push({ ok: Boolean(ok), text })
}

function kb(file) {
  return `${(fs.statSync(file).size / 1024).toFixed(0)} KB`
}

/** Every check for one target, as lines { ok, text }. */
export function inspectTarget(root, target) {
  const lines = []
  const addon = path.join(root, target.addon)
  const rush = path.join(root, target.rush)
  const files = [[addon, 'addon']]
  if (target.rushTarget) files.push([rush, 'rush'])
  for (const [file, what] of files) {
    const name = path.relative(root, file)
    if (!fs.existsSync(file)) {
      check(lines, false, `${name}: missing`)
      continue
    }
    const h = readHeader(file)
    if (target.platform === 'linux') {
      const kind = what === 'addon' ? ET_DYN : null
      const right = h.format === 'ELF' && h.machine === ELF_MACHINE[target.arch] && (kind === null || h.elfType === kind)
      check(lines, right, `${name}: ELF ${target.arch} ${what === 'addon' ? 'shared object' : 'executable'} (${kb(file)})`)
      if (!right) continue
      const f = elfFacts(file)
      if (what === 'rush') {
        check(
          lines,
          f.interpreter === null && f.needed.length === 0 && (h.elfType === ET_EXEC || h.elfType === ET_DYN),
          `${name}: static (interpreter ${f.interpreter ?? 'none'}, needs ${f.needed.join(' ') || 'nothing'})`,
        )
        continue
      }
      check(lines, f.exports.includes('napi_register_module_v1'), `${name}: exports napi_register_module_v1`)
      check(
        lines,
        f.cxx.length === 0 && !f.needed.some((n) => /c\+\+|stdc\+\+/.test(n)),
        `${name}: no C++ runtime needed (${f.cxx.join(' ') || 'no GLIBCXX/CXXABI'}; needs ${f.needed.join(' ')})`,
      )
      if (target.libc === 'glibc') {
        check(lines, f.maxGlibc !== null && versionKey(f.maxGlibc) <= versionKey(MAX_GLIBC), `${name}: needs at most GLIBC_${f.maxGlibc} (limit ${MAX_GLIBC})`)
      } else {
        check(
          lines,
          f.maxGlibc === null && f.needed.every((n) => n === 'libc.so'),
          `${name}: musl only (needs ${f.needed.join(' ')}; GLIBC ${f.maxGlibc ?? 'none'})`,
        )
      }
    } else {
      const kinds = what === 'addon' ? [MH_DYLIB, MH_BUNDLE] : [MH_EXECUTE]
      const right = h.format === 'Mach-O' && h.cpu === MACHO_CPU[target.arch] && kinds.includes(h.fileType)
      check(lines, right, `${name}: Mach-O ${target.arch} ${what === 'addon' ? 'loadable library' : 'executable'} (${kb(file)})`)
      if (!right) continue
      const f = machoFacts(file)
      if (what === 'addon') {
        check(lines, f.exports.includes('_napi_register_module_v1'), `${name}: exports napi_register_module_v1`)
        check(lines, f.id === '' || f.id === '@rpath/fdwire.node', `${name}: install name ${f.id || 'none'}`)
        check(
          lines,
          f.napiBinds.length > 0 && f.napiBinds.every((l) => l.includes('flat-namespace')),
          `${name}: its ${f.napiBinds.length} napi_* imports resolve from the loading process (flat namespace)`,
        )
      }
      // Apple silicon runs only signed code; zig signs ad hoc, as Apple's linker does.
      if (target.arch === 'arm64') check(lines, f.signed, `${name}: signed (LC_CODE_SIGNATURE)`)
      check(
        lines,
        f.dylibs.every((d) => d.startsWith('/usr/lib/libSystem')),
        `${name}: links only libSystem (${f.dylibs.join(' ')})`,
      )
    }
  }
  return lines
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const i = process.argv.indexOf('--only')
  const only = i > 0 ? process.argv[i + 1].split(',') : null
  let failed = 0
  for (const t of TARGETS.filter((t) => !only || only.includes(t.key))) {
    for (const line of inspectTarget(root, t)) {
      console.log(line.ok ? `ok    ${line.text}` : `FAIL  ${line.text}`)
      if (!line.ok) failed++
    }
  }
  if (failed) {
    console.error(`prebuild inspect: ${failed} check(s) failed`)
    process.exit(1)
  }
}
