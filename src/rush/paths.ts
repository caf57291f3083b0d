/**
 * Where rushd lives. The C client (native/rush) applies the same rule; keep them in step:
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

/** The rush client binary: the packaged one, else the one built from source. */
export function rushClientPath(): string {
  for (const candidate of [path.join(packageRoot, 'bin', 'rush'), path.join(packageRoot, 'build', 'Release', 'rush')]) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      const stat = fs.statSync(candidate)
      if (stat.isFile() && stat.size > 4096) return candidate // bin/rush may be a placeholder script
    } catch {
      // Try the next one.
    }
  }
  return 'rush'
}
