/**
 * The runtime directory a daemon keeps its socket, pid file and log in. Socket security rests on
 * it: created 0700, and refused unless it is a real directory (not a symlink) owned by us with no
 * group/other bits — so nobody else can reach, replace or pre-create the socket. The directory is
 * the guard because a socket file's own mode is not one everywhere: connect(2) needs write
 * permission on the socket on Linux, but POSIX leaves it open and older BSDs ignore it (unix(7));
 * and a socket file in a directory others can write to can be unlinked and replaced under us.
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { FdwireError } from '../errors.js'
import { checkString } from '../validate.js'

/**
 * Creates `dir` (mode 0700, parents too) if missing, then checks it. Throws
 * `ERR_FDWIRE_INSECURE_DIR` naming what is wrong.
 */
export function ensureRuntimeDir(dir: string): string {
  checkString('runtimeDir', dir, true)
  const absolute = path.resolve(dir)
  try {
    fs.mkdirSync(absolute, { recursive: true, mode: 0o700 })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
  checkRuntimeDir(absolute)
  return absolute
}

/** Checks an existing runtime dir without creating anything. */
export function checkRuntimeDir(dir: string): void {
  const stat = fs.lstatSync(dir)
  const insecure = (why: string, fix: string) => new FdwireError('ERR_FDWIRE_INSECURE_DIR', `refusing runtime directory ${dir}: ${why}; ${fix}`)
  if (stat.isSymbolicLink()) throw insecure('it is a symbolic link', 'use the real path or remove the link')
  if (!stat.isDirectory()) throw insecure('it is not a directory', 'remove it or choose another directory')
  const uid = process.getuid?.()
  if (uid !== undefined && stat.uid !== uid) {
    throw insecure(`it is owned by uid ${stat.uid}, not by us (uid ${uid})`, 'choose a directory of your own')
  }
  if ((stat.mode & 0o077) !== 0) {
    throw insecure(`its mode is ${(stat.mode & 0o777).toString(8).padStart(4, '0')}, open to group or others`, `run: chmod 700 ${dir}`)
  }
}

/**
 * Where `name`'s daemon lives by default: `$XDG_RUNTIME_DIR/<name>` when that directory is ours
 * and private, else `<tmpdir>/<name>-<uid>`.
 */
export function defaultRuntimeDir(name: string): string {
  const xdg = process.env['XDG_RUNTIME_DIR']
  if (xdg) {
    try {
      const stat = fs.statSync(xdg)
      if (stat.isDirectory() && stat.uid === process.getuid?.() && (stat.mode & 0o077) === 0) return path.join(xdg, name)
    } catch {
      // Not usable: fall through.
    }
  }
  return path.join(os.tmpdir(), `${name}-${process.getuid?.() ?? 'user'}`)
}
