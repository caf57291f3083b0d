/** A daemon's socket file left behind: told apart from a live one by connecting to it. */
import * as fs from 'node:fs'
import * as os from 'node:os'
import { debuglog } from 'node:util'
import { native } from '../binding.js'
import { FdwireError } from '../errors.js'
import { resolveAddress } from '../transport/address.js'

const debug = debuglog('fdwire')

export function alreadyRunning(socketPath: string, pid: number | undefined): FdwireError {
  return new FdwireError('ERR_FDWIRE_DAEMON_RUNNING', `a daemon is already running${pid ? ` (pid ${pid})` : ''} on ${socketPath}; stop it first`)
}

/**
 * Removes the socket file if nobody answers on it. A live listener is never touched: the error
 * names its pid (from the kernel's peer credentials).
 */
export function removeStaleSocket(socketPath: string): void {
  let stat: fs.Stats
  try {
    stat = fs.lstatSync(socketPath)
  } catch {
    return
  }
  if (!stat.isSocket()) {
    throw new FdwireError('ERR_FDWIRE_INSECURE_DIR', `${socketPath} exists and is not a socket; remove it`)
  }
  const address = resolveAddress(socketPath, false, 'connect')
  const fd = native.connect(address.name, false)
  if (fd >= 0) {
    const credentials = native.peerCredentials(fd)
    native.close(fd)
    throw alreadyRunning(socketPath, typeof credentials === 'number' ? undefined : credentials[0])
  }
  if (fd === -os.constants.errno.EAGAIN) throw alreadyRunning(socketPath, undefined) // backlog full: very much alive
  debug('removing stale socket %s', socketPath)
  fs.unlinkSync(socketPath)
}
