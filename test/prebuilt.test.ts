/**
 * Which prebuilt addon a machine loads (src/prebuilt.ts): the C library is read from the Node
 * executable's program interpreter, so a musl Node loads the musl file on any distro.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { addonCandidates, linuxLibc, prebuiltAddon, programInterpreter } from '../src/prebuilt.js'
import { tempDir } from './helpers.js'

/** A minimal ELF file whose only program header is PT_INTERP naming `interpreter`. */
function elfWithInterpreter(interpreter: string, bits: 32 | 64 = 64): Buffer {
  const is64 = bits === 64
  const ehsize = is64 ? 64 : 52
  const phentsize = is64 ? 56 : 32
  const name = Buffer.from(`${interpreter}\0`, 'latin1')
  const file = Buffer.alloc(ehsize + phentsize + name.length)
  file.writeUInt32BE(0x7f454c46, 0)
  file[4] = is64 ? 2 : 1 // ELFCLASS
  file[5] = 1 // little-endian
  file[6] = 1 // EV_CURRENT
  file.writeUInt16LE(2, 16) // ET_EXEC
  if (is64) {
    file.writeBigUInt64LE(BigInt(ehsize), 32) // e_phoff
    file.writeUInt16LE(phentsize, 54)
    file.writeUInt16LE(1, 56)
    const ph = ehsize
    file.writeUInt32LE(3, ph) // PT_INTERP
    file.writeBigUInt64LE(BigInt(ehsize + phentsize), ph + 8) // p_offset
    file.writeBigUInt64LE(BigInt(name.length), ph + 32) // p_filesz
  } else {
    file.writeUInt32LE(ehsize, 28)
    file.writeUInt16LE(phentsize, 42)
    file.writeUInt16LE(1, 44)
    const ph = ehsize
    file.writeUInt32LE(3, ph)
    file.writeUInt32LE(ehsize + phentsize, ph + 4)
    file.writeUInt32LE(name.length, ph + 16)
  }
  name.copy(file, ehsize + phentsize)
  return file
}

t.test('the C library comes from the program interpreter of the Node executable', async (t) => {
  const dir = tempDir(t)
  const cases: [string, string, 32 | 64, string][] = [
    ['alpine-x64', '/lib/ld-musl-x86_64.so.1', 64, 'musl'],
    ['alpine-arm64', '/lib/ld-musl-aarch64.so.1', 64, 'musl'],
    ['void-musl-armhf', '/lib/ld-musl-armhf.so.1', 32, 'musl'],
    ['debian-x64', '/lib64/ld-linux-x86-64.so.2', 64, 'glibc'],
    ['debian-arm64', '/lib/ld-linux-aarch64.so.1', 64, 'glibc'],
  ]
  for (const [name, interpreter, bits, libc] of cases) {
    const file = path.join(dir, name)
    fs.writeFileSync(file, elfWithInterpreter(interpreter, bits))
    t.equal(programInterpreter(file), interpreter, `${name}: reads ${interpreter}`)
    t.equal(linuxLibc(file), libc, `${name}: ${libc}`)
  }
  if (process.platform === 'linux') {
    const own = programInterpreter(process.execPath)
    t.ok(own === null || own.startsWith('/'), `this Node's interpreter: ${own}`)
    const expected = process.report.getReport() as { header?: { glibcVersionRuntime?: string } }
    t.equal(linuxLibc(), expected.header?.glibcVersionRuntime ? 'glibc' : 'musl', 'this Node: agrees with process.report')
  }
})

t.test('not an ELF file, a truncated one, or none: no interpreter', async (t) => {
  const dir = tempDir(t)
  const text = path.join(dir, 'script')
  fs.writeFileSync(text, '#!/bin/sh\necho hi\n')
  t.equal(programInterpreter(text), null, 'a script')
  const truncated = path.join(dir, 'truncated')
  fs.writeFileSync(truncated, elfWithInterpreter('/lib/ld-musl-x86_64.so.1').subarray(0, 70))
  t.equal(programInterpreter(truncated), null, 'program headers cut off')
  t.equal(programInterpreter(path.join(dir, 'missing')), null, 'no such file')
})

t.test('each platform, CPU and C library has its own file, named as node-gyp-build names them', async (t) => {
  const root = '/pkg'
  t.equal(
    prebuiltAddon(root, 'linux', 'x64', () => 'glibc'),
    '/pkg/prebuilds/linux-x64/fdwire.glibc.node',
  )
  t.equal(
    prebuiltAddon(root, 'linux', 'x64', () => 'musl'),
    '/pkg/prebuilds/linux-x64/fdwire.musl.node',
  )
  t.equal(
    prebuiltAddon(root, 'linux', 'arm64', () => 'musl'),
    '/pkg/prebuilds/linux-arm64/fdwire.musl.node',
  )
  t.equal(prebuiltAddon(root, 'darwin', 'arm64'), '/pkg/prebuilds/darwin-arm64/fdwire.node')
  t.equal(prebuiltAddon(root, 'darwin', 'x64'), '/pkg/prebuilds/darwin-x64/fdwire.node')
  t.equal(prebuiltAddon(root, 'freebsd', 'x64'), null, 'no prebuilt file where none ships')
  const candidates = addonCandidates(root)
  t.equal(candidates[0], '/pkg/build/Release/fdwire.node', 'a source build is tried first')
  t.equal(candidates.length, 2, 'then the prebuilt one')
})
