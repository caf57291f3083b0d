/**
 * Closing fds a daemon inherited by accident. A daemon outlives whoever started it; any fd above 2
 * that came without close-on-exec (a caller's lock file, the write end of a pipe someone waits on)
 * would be held for the daemon's whole life (chg closes them for the same reason). Node opens its
 * own fds close-on-exec, so "inherited" is "above 2 and not close-on-exec".
 */
import * as fs from 'node:fs'
import { native } from '../binding.js'

/** Set in a daemon's environment by `startDetached`; the Server then closes inherited fds. */
export const DETACHED_ENV = 'FDWIRE_DETACHED'

/** Closes every fd above 2 that is not close-on-exec, except Node's IPC channel. Returns them. */
export function closeInheritedFds(): number[] {
  const dir = fs.existsSync('/proc/self/fd') ? '/proc/self/fd' : '/dev/fd'
  const keep = new Set([0, 1, 2, Number(process.env['NODE_CHANNEL_FD'] ?? -1)])
  const closed: number[] = []
  for (const name of fs.readdirSync(dir)) {
    const fd = Number(name)
    if (!Number.isInteger(fd) || keep.has(fd)) continue
    if (native.isCloexec(fd) === 0) {
      native.close(fd)
      closed.push(fd)
    }
  }
  return closed
}
