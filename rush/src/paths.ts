/**
 * Where rushd lives. The C client (rush/client) applies the same rule; keep them in step:
 * `$RUSH_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/rush` when that directory is ours and private,
 * else `/tmp/rush-<uid>`.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'

export function rushRuntimeDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['RUSH_RUNTIME_DIR']
  if (explicit) return path.resolve(explicit)
  const xdg = env['XDG_RUNTIME_DIR']
  const uid = process.getuid?.() ?? 0
  if (xdg) {
    try {
      const stat = fs.statSync(xdg)
      if (stat.isDirectory() && stat.uid === uid && (stat.mode & 0o077) === 0) return path.join(xdg, 'rush')
    } catch {
      // Not usable.
    }
  }
  return `/tmp/rush-${uid}`
}

/** The package's root directory (dist/rush/.. /..). */
export const packageRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..')

/**
 * The rush command to show users: the package's bin/rush (the native client once the install
 * script has put it there, else a launcher that finds it), or `rush` from PATH.
 */
export function rushClientPath(): string {
  const bin = path.join(packageRoot, 'bin', 'rush')
  try {
    fs.accessSync(bin, fs.constants.X_OK)
    return bin
  } catch {
    return 'rush'
  }
}
