/**
 * Which addon file fits this machine. The package ships one per platform, CPU and (on Linux) C
 * library, named as node-gyp-build and prebuildify name them:
 * `prebuilds/<platform>-<arch>/fdwire.<glibc|musl>.node` on Linux, `fdwire.node` on macOS.
 *
 * The C library is the one this Node process runs on, read from the program interpreter its
 * executable names (PT_INTERP, elf(5)): `ld-musl-*` is musl, anything else glibc. Checking for
 * `/etc/alpine-release`, as node-gyp-build does, picks the glibc file on every other musl distro;
 * asking `process.report` costs milliseconds at every import.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

export type Libc = 'glibc' | 'musl'

const PT_INTERP = 3

/** The program interpreter named by an ELF executable, or null (static, unreadable, not ELF). */
export function programInterpreter(file: string): string | null {
  let fd: number | undefined
  try {
    fd = fs.openSync(file, 'r')
    const header = Buffer.alloc(64)
    if (fs.readSync(fd, header, 0, 64, 0) < 64 || header.readUInt32BE(0) !== 0x7f454c46) return null
    const is64 = header[4] === 2
    const le = header[5] === 1
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o))
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o))
    const word = (b: Buffer, o: number) => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o))
    const phoff = word(header, is64 ? 32 : 28)
    const phentsize = u16(header, is64 ? 54 : 42)
    const phnum = u16(header, is64 ? 56 : 44)
    if (phnum === 0 || phentsize === 0 || phnum > 256) return null
    const table = Buffer.alloc(phentsize * phnum)
    if (fs.readSync(fd, table, 0, table.length, phoff) < table.length) return null
    for (let i = 0; i < phnum; i++) {
      const entry = table.subarray(i * phentsize)
      if (u32(entry, 0) !== PT_INTERP) continue
      const offset = word(entry, is64 ? 8 : 4)
      const size = word(entry, is64 ? 32 : 16)
      if (size <= 0 || size > 4096) return null
      const name = Buffer.alloc(size)
      fs.readSync(fd, name, 0, size, offset)
      return name.toString('latin1').replace(/\0.*$/s, '')
    }
    return null
  } catch {
    return null
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}

/** The C library of this Node process (Linux only). */
export function linuxLibc(executable = process.execPath): Libc {
  const interpreter = programInterpreter(executable)
  if (interpreter !== null) return /ld-musl-/.test(path.basename(interpreter)) ? 'musl' : 'glibc'
  // A static or unreadable executable: ask Node itself (slow, but only here).
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
  return report?.header?.glibcVersionRuntime ? 'glibc' : 'musl'
}

/** The prebuilt addon's path inside the package for a platform, or null where none is shipped. */
export function prebuiltAddon(
  packageRoot: string,
  platform: NodeJS.Platform = process.platform,
  arch: string = process.arch,
  libc: () => Libc = linuxLibc,
): string | null {
  const dir = path.join(packageRoot, 'prebuilds', `${platform}-${arch}`)
  if (platform === 'linux') return path.join(dir, `fdwire.${libc()}.node`)
  if (platform === 'darwin') return path.join(dir, 'fdwire.node')
  return null
}

/**
 * The files to try, in order: an addon built from source at install (`npm rebuild`, or a
 * platform without a prebuilt binary) wins over the prebuilt one, as with node-gyp-build.
 */
export function addonCandidates(packageRoot: string): string[] {
  const built = path.join(packageRoot, 'build', 'Release', 'fdwire.node')
  const prebuilt = prebuiltAddon(packageRoot)
  return prebuilt === null ? [built] : [built, prebuilt]
}
